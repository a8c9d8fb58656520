/**
 * Tree-structured Parzen Estimator, the sampler Optuna uses by default (Bergstra et al. 2011; Optuna's
 * TPESampler with its defaults: independent per parameter, 10 random startup trials, gamma(n) =
 * min(ceil(0.1 n), 25), 24 candidates, a prior component, "magic clip" bandwidths).
 *
 * After the startup trials, finished trials are split into the best gamma(n) ("below", density l) and the
 * rest ("above", density g; pruned trials always count here). Each parameter draws 24 candidates from l and
 * keeps the one with the largest l(x) / g(x). Both densities are mixtures of normals truncated to the
 * range, one per observation plus a wide prior, in the internal coordinates (log for log ranges).
 *
 * Reproducible: trial t draws from its own generator seeded by (seed, t), so a resumed search proposes
 * the same parameters as an uninterrupted one given the same finished trials.
 */
import { mulberry32 } from '../data/batches.js';
import { type ParamRange, bounds, fromInternal, toInternal } from './space.js';

export interface Observation {
  params: Record<string, number>;
  /** Higher is better (the search negates metrics to minimize). */
  value: number;
  /** Pruned trials carry their last intermediate value and always count among the worse ones. */
  pruned?: boolean;
}

export interface TpeOptions {
  seed: number;
  startupTrials?: number;
  candidates?: number;
}

/** Standard normal CDF through erf (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7). */
function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** A mixture of normals truncated to [low, high], equal weights (the prior's included). */
export class ParzenEstimator {
  readonly mus: number[];
  readonly sigmas: number[];

  constructor(points: readonly number[], readonly low: number, readonly high: number) {
    const range = high - low;
    const prior = (low + high) / 2;
    const mus = [...points, prior];
    const order = mus.map((_, i) => i).sort((a, b) => mus[a]! - mus[b]!);
    const sorted = order.map((i) => mus[i]!);
    const sigmas = new Array<number>(mus.length);
    // Bandwidth: the larger gap to a neighbour (the range's ends bound the outermost), clipped to
    // [range / min(100, 1 + n), range]; the prior keeps the whole range.
    const minSigma = range / Math.min(100, 1 + mus.length);
    order.forEach((idx, k) => {
      const left = k > 0 ? sorted[k]! - sorted[k - 1]! : sorted[k]! - low;
      const right = k < sorted.length - 1 ? sorted[k + 1]! - sorted[k]! : high - sorted[k]!;
      sigmas[idx] = Math.min(range, Math.max(minSigma, left, right));
    });
    sigmas[mus.length - 1] = range;
    this.mus = mus;
    this.sigmas = sigmas;
  }

  sample(rng: () => number): number {
    const k = Math.floor(rng() * this.mus.length);
    for (let tries = 0; tries < 100; tries++) {
      // Box-Muller; redrawn until inside the range (the truncation).
      const z = Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
      const x = this.mus[k]! + this.sigmas[k]! * z;
      if (x >= this.low && x <= this.high) return x;
    }
    return Math.min(this.high, Math.max(this.low, this.mus[k]!));
  }

  logPdf(x: number): number {
    let p = 0;
    for (let k = 0; k < this.mus.length; k++) {
      const mu = this.mus[k]!;
      const s = this.sigmas[k]!;
      const mass = normalCdf((this.high - mu) / s) - normalCdf((this.low - mu) / s);
      p += Math.exp(-0.5 * ((x - mu) / s) ** 2) / (s * Math.sqrt(2 * Math.PI) * Math.max(mass, 1e-12));
    }
    return Math.log(p / this.mus.length);
  }
}

export const gamma = (n: number): number => Math.min(Math.ceil(0.1 * n), 25);

export class TpeSampler {
  private readonly startup: number;
  private readonly candidates: number;

  constructor(private readonly space: readonly ParamRange[], private readonly o: TpeOptions) {
    this.startup = o.startupTrials ?? 10;
    this.candidates = o.candidates ?? 24;
  }

  /** Parameters for trial `trial` (0-based), given the finished trials so far. */
  sample(trial: number, history: readonly Observation[]): Record<string, number> {
    const rng = mulberry32((Math.imul(this.o.seed, 0x9e3779b1) ^ (trial + 1) * 0x85ebca6b) >>> 0);
    const ranked = [...history].sort((a, b) => Number(!!a.pruned) - Number(!!b.pruned) || b.value - a.value);
    const completed = history.filter((h) => !h.pruned).length;
    const nBelow = Math.min(gamma(history.length), completed);
    const useTpe = history.length >= this.startup && nBelow > 0 && history.length > nBelow;
    const out: Record<string, number> = {};
    for (const r of this.space) {
      const [lo, hi] = bounds(r);
      if (!useTpe) {
        out[r.name] = fromInternal(r, lo + rng() * (hi - lo));
        continue;
      }
      const coords = (hs: readonly Observation[]) => hs.map((h) => toInternal(r, h.params[r.name]!));
      const l = new ParzenEstimator(coords(ranked.slice(0, nBelow)), lo, hi);
      const g = new ParzenEstimator(coords(ranked.slice(nBelow)), lo, hi);
      let best = NaN;
      let bestScore = -Infinity;
      for (let c = 0; c < this.candidates; c++) {
        const x = l.sample(rng);
        const score = l.logPdf(x) - g.logPdf(x);
        if (score > bestScore) [best, bestScore] = [x, score];
      }
      out[r.name] = fromInternal(r, best);
    }
    return out;
  }
}
