/**
 * Stage 5, clipping: the global gradient norm and the one scalar every gradient is to be multiplied by. The
 * window's mean gradient is sum / n: 1/n joins the clipping coefficient, which the optimizer folds into its own
 * coefficients, so neither the mean nor the clipping costs a pass over the gradients (optim/clip.ts).
 */
import { type ClipCoefficient, clipCoefficient } from '../../optim/clip.js';
import type { Accumulated } from './accumulation.js';
import type { StepContext } from './context.js';

export function clip(ctx: StepContext, { sums }: Accumulated): ClipCoefficient {
  return clipCoefficient(ctx.b, sums, ctx.io.maxGradNorm, ctx.io.apply ? 1 / ctx.accumulation : 1);
}
