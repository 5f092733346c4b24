/**
 * InvalidSpec and SourceError events for the pods the input issues hold (the same pods
 * `statusRows` marks): a pod's document is invalid (its key), its whole file could not be
 * read (a YAML syntax error: a file-wide issue, unless the pod's document loaded), or its
 * source cannot be read. An issue is emitted when it appears (and again when it comes back
 * after being fixed), not at every sync.
 */
import type { SpecIssue } from '../api/types.js';
import { inSource } from './desired.js';
import type { PodEventInput } from './events.js';
import type { Host } from './host.js';
import type { PodRecord } from './records.js';
import { isPodKey } from './status.js';

const where = (i: SpecIssue) => `${i.file}${i.line ? `:${i.line}:${i.column ?? 1}` : ''}: ${i.path ? `${i.path}: ` : ''}`;

/** The events the issues mean for these pods (pure). */
export function issueEvents(issues: SpecIssue[], records: PodRecord[], loaded: string[] = []): PodEventInput[] {
  const fresh = new Set(loaded);
  const out: PodEventInput[] = [];
  for (const r of records) {
    for (const i of issues) {
      if (i.severity !== 'error' && i.reason !== 'SourceError') continue;
      const base = { uid: r.uid, podName: r.key, type: 'Warning' as const };
      if (i.reason === 'SourceError') {
        if (i.file === r.source.file || inSource(r.source.file, i.file))
          out.push({ ...base, reason: 'SourceError', message: `${i.message} (the pod is kept as it is)` });
      } else if (isPodKey(i.key) ? i.key === r.key : i.key === undefined && i.file === r.source.file && !fresh.has(`${r.key}@${r.hash}`)) {
        out.push({ ...base, reason: 'InvalidSpec', message: `${where(i)}${i.message} (the last good spec keeps running)` });
      }
    }
  }
  return out;
}

/** Emits each pod's issue events once while they last. */
export class IssueEventTracker {
  private seen = new Set<string>();
  constructor(private readonly host: Host) {}

  report(issues: SpecIssue[], records: PodRecord[], loaded?: string[]): void {
    const now = new Set<string>();
    for (const ev of issueEvents(issues, records, loaded)) {
      const sig = `${ev.uid}\0${ev.reason}\0${ev.message}`;
      now.add(sig);
      if (!this.seen.has(sig)) this.host.events.emit(ev);
    }
    this.seen = now;
  }
}
