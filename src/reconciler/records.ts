/**
 * The pod record: what the host cannot tell about a pod (the applied spec, the network
 * lists it was attached with, restart counts, back-off, the last reason), kept in
 * `<state>/pods/<uid>/pod.json`. Written on change only; everything else is observed.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { readdirIfExists, readJsonIfExists, writeJsonAtomic } from '../common/fs.js';
import type { Pod } from '../api/pod.js';
import type { PodNetworkRef, SourceRef } from '../api/types.js';
import type { AppSummary } from '../state-machines/app.machine.js';
import type { Attachment, PodStateValue, StepError } from '../state-machines/pod.machine.js';
import { podDir, podsDir, type Layout } from './layout.js';
import { unmountAtOrBelow } from '../runtime/volume-paths.js';

export interface NetworkAttachmentPlan extends PodNetworkRef {
  /** the network configuration list's JSON, as attached (teardown works without the Network spec) */
  conflist: string;
}

export interface AppRecord extends Partial<AppSummary> {
  image: string;
  imageDigest?: string;
  containerId: string;
  init?: boolean;
  /** the container spec hash its current execution was started from (pod-changes.ts) */
  specHash?: string;
}

/** Something that happened to a pod's network (a repair), handed to the event sink (events.ts). */
export interface RecordedEvent {
  at: number;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  network?: string;
  interface?: string;
}

export interface PodRecord {
  version: 1;
  uid: string;
  key: string;
  namespace: string;
  name: string;
  hash: string;
  source: SourceRef;
  pod: Pod;
  networks: NetworkAttachmentPlan[];
  createdAt: number;
  updatedAt: number;
  phase: PodStateValue | 'pending';
  lastError: StepError | null;
  netns: string | null;
  attachments: Attachment[];
  initDone: boolean;
  apps: Record<string, AppRecord>;
  /** events of older versions (now in `<state>/events/<uid>.json`, events.ts): dropped at the next write */
  events?: RecordedEvent[];
}

const recordPath = (l: Layout, uid: string) => join(podDir(l, uid), 'pod.json');

export async function readRecord(l: Layout, uid: string): Promise<PodRecord | undefined> {
  return readJsonIfExists<PodRecord>(recordPath(l, uid));
}

export async function writeRecord(l: Layout, rec: PodRecord): Promise<void> {
  await writeJsonAtomic(recordPath(l, rec.uid), rec, 0o600);
}

export async function listRecords(l: Layout): Promise<PodRecord[]> {
  const out: PodRecord[] = [];
  for (const n of await readdirIfExists(podsDir(l))) {
    const r = await readRecord(l, n).catch(() => undefined);
    if (r) out.push(r);
  }
  return out;
}

/**
 * Remove the pod's directory; the record goes with it, so this is the last teardown step.
 * Whatever is still mounted below it (volume pins, a rootfs after a crash) is unmounted
 * first, and nothing is removed while a mount is left: a recursive removal through a bind
 * mount would delete the volume's or the host's files.
 */
export async function removePodDir(l: Layout, uid: string): Promise<void> {
  await unmountAtOrBelow(podDir(l, uid));
  await rm(podDir(l, uid), { recursive: true, force: true });
}
