/**
 * The progress display of `reconcile --once` on a terminal (issue 12 item 2): one line per pod
 * redrawn in place while pulls and starts run — the step it is in, the bytes of its image
 * layers, its apps — and the warnings and errors scrolling above it; then the summary table.
 *
 * The data is the logger's own stream (the pod/app state records the reconciler writes
 * anyway) plus the image pull's progress callback (the Host's pullProgress port): this module
 * is the pino destination, so there is one logger and nothing is logged twice.
 */
import type { PullProgress } from '../image/index.js';
import { humanFormatter } from './log-format.js';

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

interface PodLine {
  key: string;
  word: string;
  detail: string;
  since: number;
  apps: Map<string, string>;
  layers: Map<string, { size: number; bytes: number }>;
}

const mb = (n: number) => `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MB`;
const secs = (ms: number) => `${Math.max(0, Math.round(ms / 1000))}s`;

/** What each pod is doing, from log records and pull progress; pure (the clock is passed in). */
export class ProgressModel {
  private readonly pods = new Map<string, PodLine>();

  private pod(key: string, now: number): PodLine {
    let p = this.pods.get(key);
    if (!p) {
      p = { key, word: 'pending', detail: '', since: now, apps: new Map(), layers: new Map() };
      this.pods.set(key, p);
    }
    return p;
  }

  private set(p: PodLine, word: string, detail: string, now: number): void {
    if (p.word !== word) p.since = now;
    p.word = word;
    p.detail = detail;
  }

  /** One pino record (parsed NDJSON). */
  observe(r: Record<string, unknown>, now: number): void {
    const key = typeof r.podName === 'string' ? r.podName : undefined;
    if (!key || !key.includes('/')) return;
    const err = r.err as { message?: string } | undefined;
    const why = [r.reason, err?.message].filter((x) => typeof x === 'string' && x).join(': ');
    switch (r.msg) {
      case 'creating pod':
        this.set(this.pod(key, now), 'creating', '', now);
        break;
      case 'pod spec changed: replacing pod':
        this.set(this.pod(key, now), 'replacing', '', now);
        break;
      case 'deleting pod':
        this.set(this.pod(key, now), 'deleting', '', now);
        break;
      case 'pod state': {
        const p = this.pod(key, now);
        const state = String(r.state);
        if (state === 'setupBackoff')
          this.set(p, 'back-off', `${why}${typeof r.retryInMs === 'number' ? ` (retry in ${secs(r.retryInMs)})` : ''}`, now);
        else if (state === 'failed') this.set(p, 'failed', why, now);
        else this.set(p, state, state === 'pulling' ? '' : p.word === state ? p.detail : '', now);
        if (state !== 'pulling') p.layers.clear();
        break;
      }
      case 'app state': {
        const p = this.pod(key, now);
        if (typeof r.app === 'string') p.apps.set(r.app, typeof r.reason === 'string' ? String(r.reason) : String(r.state));
        break;
      }
      case 'pod did not converge':
        this.set(this.pod(key, now), String(r.state ?? 'not converged'), typeof r.message === 'string' ? r.message : '', now);
        break;
      default:
    }
  }

  /** The image pull's progress for one pod (Host.pullProgress). */
  pull(key: string, p: PullProgress, now: number): void {
    if (p.kind !== 'layer') return;
    const pod = this.pod(key, now);
    pod.layers.set(p.digest, { size: p.size, bytes: p.state === 'downloading' ? p.bytes : p.size });
  }

  /** One line per pod, in the order they appeared, each at most `width` characters. */
  lines(now: number, width = 120): string[] {
    const pods = [...this.pods.values()];
    const w = Math.min(40, Math.max(0, ...pods.map((p) => p.key.length)));
    return pods.map((p) => {
      const parts: string[] = [];
      if (p.word === 'pulling' && p.layers.size) {
        const ls = [...p.layers.values()];
        const done = ls.filter((l) => l.bytes >= l.size).length;
        parts.push(`${mb(ls.reduce((n, l) => n + l.bytes, 0))}/${mb(ls.reduce((n, l) => n + l.size, 0))}, ${done}/${ls.length} layers`);
      }
      if (p.detail) parts.push(p.detail);
      if (p.apps.size && !['pulling', 'verifying', 'rendering', 'sandbox', 'attaching'].includes(p.word))
        parts.push([...p.apps].map(([a, s]) => `${a} ${s}`).join(', '));
      const line = `${p.key.padEnd(w)}  ${p.word.padEnd(12)} ${parts.join('  ')}${parts.length ? '  ' : ''}${secs(now - p.since)}`;
      return line.length > width ? `${line.slice(0, Math.max(1, width - 1))}…` : line;
    });
  }
}

/** A terminal the display draws on (process.stdout). */
export interface Terminal {
  write(s: string): unknown;
  columns?: number;
}

/**
 * The pino destination that draws: every record updates the model; those at or above
 * `showLevel` are printed above the pod lines as human lines; the pod lines are redrawn in
 * place (at most every `intervalMs`).
 */
export class TtyProgress {
  readonly model = new ProgressModel();
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly human: (r: Record<string, unknown>) => string;
  private readonly show: number;

  constructor(
    private readonly term: Terminal,
    opts: { level: string; now?: () => number; intervalMs?: number },
  ) {
    this.human = humanFormatter(opts.level);
    // on a terminal with progress, info lines are what the pod lines show; --log-level debug shows everything
    this.show = Math.max(LEVELS[opts.level] ?? 30, (LEVELS[opts.level] ?? 30) <= 20 ? 0 : 40);
    this.now = opts.now ?? Date.now;
    this.timer = setInterval(() => this.draw(), opts.intervalMs ?? 200);
    this.timer.unref();
  }

  private readonly now: () => number;

  /** The level the logger must have for the model to see the pod records. */
  static loggerLevel(level: string): string {
    return (LEVELS[level] ?? 30) < 30 ? level : 'info';
  }

  /** pino's destination interface: one NDJSON line per call. */
  write(line: string): void {
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return; // not a pino record: nothing to show progress of
    }
    this.model.observe(r, this.now());
    if (typeof r.level === 'number' && r.level >= this.show) {
      this.clear();
      this.term.write(this.human(r));
      this.draw();
    }
  }

  /** Image pull progress of one pod. */
  pull(podKey: string, p: PullProgress): void {
    this.model.pull(podKey, p, this.now());
  }

  private clear(): void {
    if (this.drawn) this.term.write(`\x1b[${this.drawn}F\x1b[J`);
    this.drawn = 0;
  }

  draw(): void {
    if (!this.timer) return;
    const lines = this.model.lines(this.now(), Math.max(20, (this.term.columns ?? 120) - 1));
    this.clear();
    if (lines.length) this.term.write(`${lines.join('\n')}\n`);
    this.drawn = lines.length;
  }

  /** Stop drawing and take the pod lines away (the summary table follows). */
  finish(): void {
    if (this.timer) clearInterval(this.timer);
    this.clear();
    this.timer = undefined;
  }
}
