/**
 * Watching the loss for divergence. A loss that is not finite ends the run (the trainer stops at that step);
 * a loss that stays finite but grows by orders of magnitude (AdamW at a learning rate of 1e6 reaches 7.8e5
 * from 0.7 without ever overflowing) is worth one warning, since the weights it leaves are useless.
 */

/** Steps whose mean loss is the baseline, and the length of the window compared with it. */
export const DIVERGENCE_WINDOW = 10;
/** How many times the baseline the window's mean loss must reach: two orders of magnitude. */
export const DIVERGENCE_FACTOR = 100;

/**
 * Feeds on per-step losses; `add` returns a warning the first time the mean of the last DIVERGENCE_WINDOW
 * steps exceeds DIVERGENCE_FACTOR times the mean of the first DIVERGENCE_WINDOW steps (of this process: a
 * resumed run takes its baseline afresh), and null otherwise.
 */
export class DivergenceWatch {
  private baseline: number[] = [];
  private recent: number[] = [];
  private warned = false;

  add(step: number, loss: number): string | null {
    if (this.warned) return null;
    if (this.baseline.length < DIVERGENCE_WINDOW) {
      this.baseline.push(loss);
      return null;
    }
    this.recent.push(loss);
    if (this.recent.length > DIVERGENCE_WINDOW) this.recent.shift();
    if (this.recent.length < DIVERGENCE_WINDOW) return null;
    const base = mean(this.baseline);
    const now = mean(this.recent);
    if (!(now > DIVERGENCE_FACTOR * Math.abs(base))) return null;
    this.warned = true;
    return `warning: the loss is diverging: ${now.toPrecision(3)} over the ${DIVERGENCE_WINDOW} steps to step ${step}, `
      + `${(now / base).toPrecision(2)} times its ${base.toPrecision(3)} over the first ${DIVERGENCE_WINDOW}; lower --learning-rate`;
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** True when every value of every tensor is finite (a checkpoint of infinite weights is no checkpoint). */
export function allFinite(arrays: Iterable<ArrayLike<number>>): boolean {
  for (const a of arrays) for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}
