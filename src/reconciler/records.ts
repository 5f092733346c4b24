/**
 * The pod record: what the host cannot tell about a pod (the applied spec, the network
 * lists it was attached with, restart counts, back-off, the last reason), kept in
 * `<state>/pods/<uid>/pod.json`. Written on change only; everything else is observed.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { readdirIfExists, readTextIfExists, writeJsonAtomic } from '../common/fs.js';
import { BerthError, errorMessage, wrap } from '../common/errors.js';
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

/**
 * A pod whose record exists but cannot be read (not JSON, not a record of this pod, not
 * readable): it is held, never treated as absent. The reconciler does not create a pod over
 * it, clean-up keeps every host object that may be its own, and status shows it as Unknown
 * with the reason, until a human repairs or removes `path`.
 */
export interface HeldRecord {
  uid: string;
  path: string;
  /** code DataLoss */
  error: BerthError;
}

/** The pod's record; undefined when it has none; a DataLoss BerthError when it has one berth cannot use. */
export async function readRecord(l: Layout, uid: string): Promise<PodRecord | undefined> {
  const path = recordPath(l, uid);
  const corrupt = (why: string, cause?: unknown) =>
    new BerthError('DataLoss', `pod record ${path}: ${why}; the pod is held until the file is repaired or removed`, {
      cause,
      details: { uid, path },
    });
  let text: string | undefined;
  try {
    text = await readTextIfExists(path);
  } catch (err) {
    throw corrupt(`cannot be read (${errorMessage(err)})`, err);
  }
  if (text === undefined) return undefined;
  let rec: Partial<PodRecord> | null;
  try {
    rec = JSON.parse(text) as Partial<PodRecord> | null;
  } catch (err) {
    throw corrupt(`not JSON (${errorMessage(err)})`, err);
  }
  if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) throw corrupt('not a JSON object');
  if (rec.uid !== uid) throw corrupt(`names pod ${JSON.stringify(rec.uid)}, not the pod of its directory`);
  if (typeof rec.key !== 'string' || typeof rec.pod !== 'object' || rec.pod === null || typeof rec.apps !== 'object' || rec.apps === null) {
    throw corrupt('not a complete pod record (key, pod or apps missing)');
  }
  return rec as PodRecord;
}

/**
 * Write the pod's record. Only the pod's creation (`create`) makes its directory: a write that
 * comes late, after the teardown removed the directory, fails with ENOENT instead of bringing
 * a removed pod back (the next relist would tear it down again, and a crash in between left
 * its directory behind).
 */
export async function writeRecord(l: Layout, rec: PodRecord, o: { create?: boolean } = {}): Promise<void> {
  await writeJsonAtomic(recordPath(l, rec.uid), rec, 0o600, { makeParents: o.create ?? false });
}

/** Every pod record, and the pods held because their record cannot be read (see HeldRecord). */
export async function readRecords(l: Layout): Promise<{ records: PodRecord[]; held: HeldRecord[] }> {
  const records: PodRecord[] = [];
  const held: HeldRecord[] = [];
  for (const uid of await readdirIfExists(podsDir(l))) {
    try {
      const r = await readRecord(l, uid);
      if (r) records.push(r);
    } catch (err) {
      held.push(holdFor(l, uid, err));
    }
  }
  return { records, held };
}

/**
 * Every pod record, for a caller that acts on what no record names (image gc, image rm): with
 * a pod held it cannot know what that pod uses, so it fails with DataLoss naming the file.
 */
export async function allRecords(l: Layout, what: string): Promise<PodRecord[]> {
  const { records, held } = await readRecords(l);
  if (held.length) {
    throw new BerthError('DataLoss', `${what}: refused while a pod is held: ${held.map((h) => h.error.message).join('; ')}`, {
      cause: held[0]!.error,
      details: { held: held.map((h) => h.uid) },
    });
  }
  return records;
}

/** The hold of a pod whose record exists but cannot be read; undefined when it has a good record or none. */
export async function heldRecord(l: Layout, uid: string): Promise<HeldRecord | undefined> {
  return readRecord(l, uid).then(
    () => undefined,
    (err: unknown) => holdFor(l, uid, err),
  );
}

const holdFor = (l: Layout, uid: string, err: unknown): HeldRecord => ({
  uid,
  path: recordPath(l, uid),
  error: err instanceof BerthError ? err : wrap(err, `pod record ${recordPath(l, uid)}`, 'DataLoss'),
});

/** The readable pod records (callers that act on the host also need readRecords' held pods). */
export async function listRecords(l: Layout): Promise<PodRecord[]> {
  return (await readRecords(l)).records;
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
