/**
 * Gradient clipping by global L2 norm with torch.nn.utils.clip_grad_norm_ semantics (norm_type 2), as the
 * Hugging Face Trainer applies it with `max_grad_norm`:
 *
 *   total_norm = || (||g_1||, ..., ||g_n||) ||    (the L2 norm of all gradients together; PyTorch takes the
 *                                                    norm of the per-tensor norms, and so does the graph)
 *   clip_coef  = max_norm / (total_norm + 1e-6), clamped to at most 1
 *   g_i        = g_i * clip_coef
 *
 * `maxNorm` is a graph input (a float scalar, cast to the gradients' type). A value <= 0 disables clipping
 * (coefficient 1, gradients unchanged): the HF Trainer skips clipping when max_grad_norm is 0 or None
 * (`if args.max_grad_norm is not None and args.max_grad_norm > 0`), whereas clip_grad_norm_ itself would
 * zero the gradients for max_norm 0. The returned `norm` is the pre-clip total norm either way (HF logs it
 * as `grad_norm` when it clips).
 */
import { GraphError } from '../errors.js';
import type { Builder } from '../ir/builder.js';
import type { Value } from '../ir/graph.js';

export interface ClipCoefficient {
  /** The scalar every gradient is to be multiplied by: prescale * clip_coef. */
  scale: Value;
  /** Total L2 norm of the prescaled gradients, before clipping. */
  norm: Value;
}

/**
 * The clipping coefficient alone, for gradients `prescale * g_i` (a build-time constant, e.g. 1/n for the
 * mean of n accumulated micro-batches), without touching the gradients. The training step hands `scale` to
 * the optimizer, which folds it into its own per-step scalars: multiplying every gradient first would be one
 * more full pass over all of them per step (see docs/PERFORMANCE.md).
 */
export function clipCoefficient(b: Builder, grads: Value[], maxNorm: Value, prescale = 1): ClipCoefficient {
  if (grads.length === 0) throw new GraphError('clipCoefficient: no gradients to clip');
  const like = grads[0]!;
  // torch.linalg.vector_norm per gradient, then the norm of the stacked norms.
  const norms = grads.map((g) => b.reshape(b.castLike(b.op('ReduceL2', [g], { keepdims: 0 }), like), [1]));
  const stacked = norms.length === 1 ? norms[0]! : b.op('Concat', norms, { axis: 0 });
  const rawNorm = b.op('ReduceL2', [stacked], { keepdims: 0 }, prescale === 1 ? 'clip_total_norm' : undefined);
  // ||prescale * g|| = prescale * ||g|| for prescale > 0.
  const norm = prescale === 1 ? rawNorm : b.op('Mul', [rawNorm, b.scalarLike(prescale, like)], {}, 'clip_total_norm');
  const max = b.castLike(maxNorm, like);
  const one = b.scalarLike(1, like);
  // clip_coef = max_norm / (total_norm + 1e-6); torch.clamp(clip_coef, max=1.0)
  const coef = b.op('Min', [b.div(max, b.add(norm, b.scalarLike(1e-6, like))), one]);
  const enabled = b.op('Greater', [max, b.scalarLike(0, like)]);
  const clip = b.op('Where', [enabled, coef, one], {}, 'clip_coef');
  return { scale: prescale === 1 ? clip : b.mul(clip, b.scalarLike(prescale, like)), norm };
}

/** clip_grad_norm_: the clipped gradients themselves (one multiply per gradient) and the pre-clip norm. */
export function clipGradNorm(b: Builder, grads: Value[], maxNorm: Value): { grads: Value[]; norm: Value } {
  const { scale, norm } = clipCoefficient(b, grads, maxNorm);
  return { grads: grads.map((g) => b.mul(g, b.castLike(scale, g))), norm };
}
