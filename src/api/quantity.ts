/** Kubernetes resource quantities: the suffixes and their value, for every parser of one. */

/** Multiplier of each quantity suffix (decimal SI and binary). */
export const QUANTITY_MULTIPLIERS: Readonly<Record<string, number>> = {
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

/** The number a quantity's digits and suffix stand for: a suffix is a multiplier or a decimal exponent (`e3`, `E3`). */
export function quantityValue(n: number, suffix: string): number {
  if (/^[eE][+-]?\d+$/.test(suffix)) return n * 10 ** Number(suffix.slice(1));
  return n * (QUANTITY_MULTIPLIERS[suffix] ?? 1);
}
