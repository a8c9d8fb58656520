/** Seeded randomness for test data: the same mulberry32 generator the data module shuffles with. */
import { mulberry32 } from '../../src/data/batches.js';

/** A seeded PRNG so test data is the same on every run and machine. */
export const rng = (seed: number): (() => number) => mulberry32(seed);
/** n uniform values in [lo, hi). */
export function uniform(r: () => number, n: number, lo = -1, hi = 1): number[] {
  return Array.from({ length: n }, () => lo + (hi - lo) * r());
}
