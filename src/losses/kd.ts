/**
 * The knowledge-distillation term of Hinton et al., as the seed implementation computes it with PyTorch:
 *
 *   kd = T^2 * nn.KLDivLoss(reduction="batchmean")(F.log_softmax(student / T, -1), F.softmax(teacher / T, -1))
 *
 * i.e. T^2 times the mean over rows of KL(p_t || p_s) = sum_c p_t * (log p_t - log p_s), classes on the last
 * axis. Both log-probabilities come from LogSoftmax (no log of a softmax), and p_t = Exp(log p_t).
 * Standard ops only (Div, LogSoftmax, Exp, Sub, Mul, ReduceSum, ...), so the result differentiates with our
 * rules; the teacher is an input like any other and gets no gradient unless asked for.
 */
import type { Builder } from '../ir/builder.js';
import type { Value } from '../ir/graph.js';

export interface KdOptions {
  /**
   * Float mask shaped like the logits without the class axis, 1 where a row counts. With a mask, kd is the
   * sum of KL over counted rows divided by their number (`count`), and 0 when none counts. Without one,
   * every row counts (batchmean over all rows).
   */
  mask?: Value;
  /** Number of counted rows (the mask's sum), if the caller already has it. */
  count?: Value;
  /**
   * Without a mask: the number of rows as a float scalar, counted from a tensor the runtime holds on the host
   * (the labels). Default: Size of the per-row KL, which a GPU provider would copy to the host to count.
   */
  rows?: Value;
}

/** T^2 * batchmean KL(softmax(teacher / T) || softmax(student / T)); `temperature` is a float scalar of any float type. */
export function kdLoss(b: Builder, student: Value, teacher: Value, temperature: Value, options: KdOptions = {}): Value {
  const t = b.castLike(temperature, student);
  const logPs = b.op('LogSoftmax', [b.div(student, t)], { axis: -1 });
  const logPt = b.op('LogSoftmax', [b.div(b.castLike(teacher, student), t)], { axis: -1 });
  const pt = b.op('Exp', [logPt]);
  const rowKl = b.reduceSum(b.mul(pt, b.sub(logPt, logPs)), [-1], false);

  // batchmean: the KL summed over the rows that count, divided by their number.
  const { mask } = options;
  const total = b.reduceSum(mask ? b.mul(rowKl, mask) : rowKl, [], false);
  const count = mask
    ? b.op('Max', [options.count ?? b.reduceSum(mask, [], false), b.scalarLike(1, student)]) // 0, not NaN, when none counts
    : options.rows ?? b.castLike(b.op('Size', [rowKl]), student);
  const mean = b.div(total, count);
  return b.mul(b.mul(t, t), mean);
}
