/** Kubernetes resource quantities. */
import { BerthError } from '../common/index.js';

/** Kubernetes quantity → number (bytes for memory, cores for cpu). */
export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|e[+-]?\d+)?$/.exec(q.trim());
  if (!m) throw new BerthError('InvalidArgument', `invalid quantity "${q}"`);
  const n = Number(m[1]);
  const suffix = m[2] ?? '';
  const mult: Record<string, number> = {
    '': 1,
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    P: 1e15,
    E: 1e18,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    Pi: 2 ** 50,
    Ei: 2 ** 60,
  };
  if (suffix.startsWith('e')) return n * 10 ** Number(suffix.slice(1));
  return n * mult[suffix]!;
}

export function parseCpuMillis(q: string | number): number {
  return Math.round(parseQuantity(q) * 1000);
}
