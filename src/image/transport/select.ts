/** Which transport reads a reference: one per reference kind. */
import { BerthError } from '../../common/index.js';
import type { ImageReference } from '../types.js';
import type { Transport, TransportKind } from './types.js';

export type Transports = Record<TransportKind, Transport>;

export function transportFor(ref: ImageReference, transports: Transports): Transport {
  const t = transports[ref.transport];
  if (t.kind !== ref.transport) throw new BerthError('Internal', `the ${ref.transport} transport is registered as ${t.kind}`);
  return t;
}
