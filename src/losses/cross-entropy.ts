/**
 * Cross-entropy as PyTorch's `F.cross_entropy(logits, labels, ignore_index=-100)` with mean reduction:
 * the mean over positions whose label is not `ignoreIndex` of -log softmax(logits)[label], classes on the
 * last axis. Built from standard ops (LogSoftmax, GatherElements, ...) so it differentiates with our rules.
 *
 * One deliberate difference: when no position counts (a batch of unlabeled rows in distillation), PyTorch
 * returns NaN (0/0); we return 0, so the KD term alone trains those rows.
 */
import type { Builder } from '../ir/builder.js';
import type { Value } from '../ir/graph.js';

export interface CrossEntropy {
  /** Scalar mean loss over counted positions. */
  loss: Value;
  /** Scalar number of counted positions (float, same type as the logits). */
  count: Value;
  /** Float mask, 1 where a position counts, shaped like the labels. */
  mask: Value;
}

export function crossEntropy(b: Builder, logits: Value, labels: Value, ignoreIndex = -100): CrossEntropy {
  const logProbs = b.op('LogSoftmax', [logits], { axis: -1 });
  // Everything derived from the labels comes from `ignored` alone: under a GPU provider the int64 nodes run
  // on the CPU where the labels are, and a Not (which it runs on the GPU) would send its result back.
  const ignored = b.op('Equal', [labels, b.int64([ignoreIndex], true)]);
  // Ignored positions gather class 0 (any valid index) and are then masked out.
  const safeLabels = b.op('Where', [ignored, b.int64([0], true), labels]);
  const picked = b.op('GatherElements', [logProbs, b.unsqueeze(safeLabels, [-1])], { axis: -1 });
  const nll = b.neg(b.squeeze(picked, [-1]));
  const mask = b.op('Where', [ignored, b.scalarLike(0, logits), b.scalarLike(1, logits)]);
  const total = b.reduceSum(b.mul(nll, mask), [], false);
  const count = b.reduceSum(mask, [], false);
  const loss = b.div(total, b.op('Max', [count, b.scalarLike(1, logits)]));
  return { loss, count, mask };
}
