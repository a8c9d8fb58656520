/**
 * Median pruning (Optuna's MedianPruner defaults: 5 startup trials, no warm-up steps): stop a trial at an
 * evaluation when its best intermediate value so far is worse than the median of the completed trials'
 * values at the same step. Steps are optimizer steps, so trials with the same data and batch size
 * compare like with like.
 */

export interface TrialCurve {
  /** Intermediate values by step (higher is better). */
  intermediate: Record<number, number>;
  complete: boolean;
}

export interface MedianPrunerOptions {
  startupTrials?: number;
  warmupSteps?: number;
}

/** numpy.median: the middle value, or the mean of the two middle values. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function shouldPrune(trials: readonly TrialCurve[], current: Record<number, number>, step: number, o: MedianPrunerOptions = {}): boolean {
  const completed = trials.filter((t) => t.complete);
  if (completed.length < (o.startupTrials ?? 5) || step < (o.warmupSteps ?? 0)) return false;
  const atStep = completed.map((t) => t.intermediate[step]).filter((v): v is number => v !== undefined && !Number.isNaN(v));
  if (atStep.length === 0) return false;
  const seen = Object.entries(current).filter(([s]) => Number(s) <= step).map(([, v]) => v);
  if (seen.length === 0) return false;
  return Math.max(...seen) < median(atStep);
}
