/**
 * Where berth's time goes: turn the NDJSON of one `reconcile --once` into per-pod milestones
 * (pod/app state transitions, CNI plugin execs, image events) and the phases between them.
 */
import { median } from './proc.mjs';

function milestoneOf(e) {
  if (e.msg === 'creating pod') return 'create';
  if (e.msg === 'deleting pod') return 'delete';
  if (e.msg === 'pod state') return `pod ${e.state}`;
  if (e.msg === 'pod removed') return 'pod gone';
  if (e.msg === 'app state') return `app ${e.app} ${e.state}`;
  if (e.msg === 'network attached') return `attached ${e.ifName}`;
  if (e.msg === 'cni plugin exec') return `cni ${e.plugin} ${e.verb}`;
  if ((e.msg === 'image pulled' || e.msg === 'image rendered') && e.pod) return e.msg;
  return undefined;
}

/**
 * @param lines NDJSON text
 * @param spawnMs Date.now() when the process was spawned
 * @param exitMs Date.now() when it exited
 */
export function timeline(text, spawnMs, exitMs) {
  const events = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      events.push(JSON.parse(line));
    } catch {
      /* not a log line */
    }
  }
  const t = (e) => Date.parse(e.time);
  const byShort = new Map(); // berth-<12 hex> → pod uid, for CNI lines keyed by container id
  const pods = new Map();
  for (const e of events) {
    if (e.pod && !byShort.has(e.pod)) byShort.set(`berth-${e.pod.replace(/-/g, '').slice(0, 12)}`, e.pod);
  }
  for (const e of events) {
    const uid = e.pod ?? (e.containerId ? byShort.get(e.containerId) : undefined);
    const m = milestoneOf(e);
    if (!uid || !m) continue;
    if (!pods.has(uid)) pods.set(uid, []);
    pods.get(uid).push({ m, t: t(e) });
  }
  const phases = {}; // "a → b": [ms per pod]
  for (const ms of pods.values()) {
    ms.sort((a, b) => a.t - b.t);
    for (let k = 1; k < ms.length; k++) {
      const key = `${ms[k - 1].m} → ${ms[k].m}`;
      (phases[key] ??= []).push(ms[k].t - ms[k - 1].t);
    }
  }
  // work the pod's steps log themselves (`ms`), next to the phases that include queueing:
  // "pod pulling → image pulled" also counts the wait for a setup-limiter slot
  const work = {};
  for (const e of events) {
    if (e.pod && typeof e.ms === 'number' && (e.msg === 'image pulled' || e.msg === 'image rendered'))
      (work[`${e.msg} (own ms)`] ??= []).push(e.ms);
  }
  const firstLog = events.length ? t(events[0]) : NaN;
  const lastLog = events.length ? t(events[events.length - 1]) : NaN;
  const firstPod = Math.min(...[...pods.values()].map((ms) => ms[0]?.t ?? Infinity));
  const lastPod = Math.max(...[...pods.values()].map((ms) => ms[ms.length - 1]?.t ?? -Infinity));
  return {
    events: events.length,
    pods: pods.size,
    wall: {
      'spawn → first log line': firstLog - spawnMs,
      'first log line → first pod event': firstPod - firstLog,
      'first pod event → last pod event': lastPod - firstPod,
      'last pod event → last log line': lastLog - lastPod,
      'last log line → exit': exitMs - lastLog,
    },
    phases,
    work,
    errors: events.filter((e) => e.level >= 50).map((e) => e.msg),
  };
}

/** Merge several timelines: medians of each wall segment and of each phase (per pod). */
export function mergeTimelines(tls) {
  const wall = {};
  const phases = {};
  const work = {};
  for (const tl of tls) {
    for (const [k, v] of Object.entries(tl.wall)) (wall[k] ??= []).push(v);
    for (const [k, v] of Object.entries(tl.phases)) (phases[k] ??= []).push(...v);
    for (const [k, v] of Object.entries(tl.work ?? {})) (work[k] ??= []).push(...v);
  }
  const out = { wall: {}, phases: {}, work: {} };
  for (const [k, v] of Object.entries(work)) out.work[k] = { medianPerPod: median(v), count: v.length };
  for (const [k, v] of Object.entries(wall)) out.wall[k] = median(v);
  for (const [k, v] of Object.entries(phases)) {
    const total = v.reduce((a, b) => a + b, 0) / tls.length;
    out.phases[k] = { medianPerPod: median(v), sumPerRun: total, count: v.length };
  }
  return out;
}
