/**
 * Watching the loss for divergence. A loss that is not finite ends the run (the trainer stops at that step);
 * a loss that stays finite but grows by orders of magnitude (AdamW at a learning rate of 1e6 reaches 7.8e5
 * from 0.7 without ever overflowing) is worth one warning, since the weights it leaves are useless.
 */

/** Losses averaged for the comparison: one spike is noise, ten in a row are a trend. */
export const DIVERGENCE_WINDOW = 10;
/** How many times the baseline the window's mean must reach: two orders of magnitude. */
export const DIVERGENCE_FACTOR = 100;
/**
 * The least baseline counted: a loss of exactly 0 (a student that starts equal to its teacher, alpha 0)
 * would make every later loss infinitely many times higher. 100 x 0.01 nats: a window mean above 1.
 */
export const DIVERGENCE_FLOOR = 0.01;

/**
 * Feeds on per-micro-batch losses; `add` returns a warning the first time the mean of the last
 * DIVERGENCE_WINDOW losses exceeds DIVERGENCE_FACTOR times the baseline (in this process: a resumed run
 * starts afresh), and null otherwise. The baseline is the lower of the first loss and the lowest window
 * mean so far. The first loss catches a run that explodes at once (at a learning rate of 1e6 the second
 * step's loss is already 1e6 times the first's, so every window is high); window means, not single losses,
 * because one batch's loss can come near 0 (a distillation term on a batch the student already matches,
 * measured 0.0016 in `distill demo`'s few-label run) and make any ordinary loss look 100 times higher.
 */
export class DivergenceWatch {
  private baseline = Infinity;
  private recent: number[] = [];
  private warned = false;

  add(step: number, loss: number): string | null {
    if (this.warned) return null;
    if (this.baseline === Infinity) this.baseline = loss;
    this.recent.push(loss);
    if (this.recent.length > DIVERGENCE_WINDOW) this.recent.shift();
    if (this.recent.length < DIVERGENCE_WINDOW) return null;
    const now = mean(this.recent);
    this.baseline = Math.min(this.baseline, now);
    const base = Math.max(this.baseline, DIVERGENCE_FLOOR);
    if (!(now > DIVERGENCE_FACTOR * base)) return null;
    this.warned = true;
    return `warning: the loss is diverging: ${now.toPrecision(3)} on average over the last ${DIVERGENCE_WINDOW} batches to step ${step}, `
      + `over ${DIVERGENCE_FACTOR} times its first loss or lowest ${DIVERGENCE_WINDOW}-batch mean (${base.toPrecision(3)}); lower --learning-rate`;
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** True when every value of every tensor is finite (a checkpoint of infinite weights is no checkpoint). */
export function allFinite(arrays: Iterable<ArrayLike<number>>): boolean {
  for (const a of arrays) for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}
