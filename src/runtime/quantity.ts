/** Kubernetes resource quantities. */
import { BerthError } from '../common/index.js';
import { quantityValue } from '../api/quantity.js';

/** Kubernetes quantity → number (bytes for memory, cores for cpu). */
export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|e[+-]?\d+)?$/.exec(q.trim());
  if (!m) throw new BerthError('InvalidArgument', `invalid quantity "${q}"`);
  return quantityValue(Number(m[1]), m[2] ?? '');
}

export function parseCpuMillis(q: string | number): number {
  return Math.round(parseQuantity(q) * 1000);
}
