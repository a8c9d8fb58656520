/**
 * Evaluation metrics as pure functions over logits and labels (row-major arrays, as ORT returns them), and
 * the streaming accumulators the evaluator feeds batch by batch (so a metric over a data set is computed
 * over all of it, never averaged over batches). Definitions (docs/EVAL.md):
 *
 *   prediction     argmax over the last axis; ties go to the first maximum (numpy.argmax)
 *   accuracy       correct / counted, over rows (seq-cls) or positions (token-cls) whose label is not -100
 *   macro-F1       unweighted mean over classes c of F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c), taken over the
 *                  classes that occur among the counted labels or predictions (sklearn's
 *                  f1_score(average="macro") with labels=None): a class never labeled and never predicted is
 *                  left out; one labeled but never predicted (or the reverse) counts with F1 = 0
 *   perplexity     exp(mean cross-entropy) over the counted positions; causal-lm targets are the next token
 *                  (position t predicts input_ids[t + 1]) where attention_mask[t + 1] = 1, as HF's
 *                  GPT2LMHeadModel loss with padded positions set to -100
 * Empty sets give NaN. Sums run in float64.
 */

/** PyTorch's ignore_index: rows / positions with this label do not count. */
export const IGNORE = -100;

type Labels = ArrayLike<number> | BigInt64Array;
const labelAt = (labels: Labels, i: number): number => Number(labels[i]!);

/** Index of the largest value of each row of a row-major [rows, width] array (first one on ties). */
export function argmaxRows(values: ArrayLike<number>, width: number): Int32Array {
  if (width <= 0 || values.length % width !== 0) throw new RangeError(`argmaxRows: ${values.length} values are not rows of ${width}`);
  const rows = values.length / width;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    let max = values[r * width]!;
    for (let c = 1; c < width; c++) {
      const v = values[r * width + c]!;
      if (v > max) {
        max = v;
        best = c;
      }
    }
    out[r] = best;
  }
  return out;
}

/** Confusion counts of a classifier over every batch seen (labels -100 skipped). */
export class ClassificationStats {
  /** counts[label * classes + prediction] */
  readonly counts: Float64Array;

  constructor(readonly classes: number) {
    this.counts = new Float64Array(classes * classes);
  }

  /** Adds a batch: logits [rows, classes] (rows = B for seq-cls, B*S for token-cls), one label per row. */
  update(logits: ArrayLike<number>, labels: Labels): this {
    const preds = argmaxRows(logits, this.classes);
    if (preds.length !== labels.length) throw new RangeError(`${preds.length} logit rows but ${labels.length} labels`);
    for (let i = 0; i < preds.length; i++) {
      const y = labelAt(labels, i);
      if (y === IGNORE) continue;
      if (!Number.isInteger(y) || y < 0 || y >= this.classes) throw new RangeError(`label ${y} is outside 0..${this.classes - 1}`);
      this.counts[y * this.classes + preds[i]!]! += 1;
    }
    return this;
  }

  /** Rows / positions counted. */
  get counted(): number {
    return this.counts.reduce((a, b) => a + b, 0);
  }

  accuracy(): number {
    let correct = 0;
    for (let c = 0; c < this.classes; c++) correct += this.counts[c * this.classes + c]!;
    return correct / this.counted;
  }

  /** F1 of each class, or null for a class that was neither labeled nor predicted. */
  perClassF1(): (number | null)[] {
    const k = this.classes;
    return Array.from({ length: k }, (_, c) => {
      let labeled = 0;
      let predicted = 0;
      for (let j = 0; j < k; j++) {
        labeled += this.counts[c * k + j]!;
        predicted += this.counts[j * k + c]!;
      }
      const tp = this.counts[c * k + c]!;
      const denom = labeled + predicted; // = 2TP + FP + FN
      return denom === 0 ? null : (2 * tp) / denom;
    });
  }

  macroF1(): number {
    const f1 = this.perClassF1().filter((v): v is number => v !== null);
    return f1.length === 0 ? NaN : f1.reduce((a, b) => a + b, 0) / f1.length;
  }
}

/** Summed cross-entropy of a language model over every batch seen. */
export class LanguageModelStats {
  nll = 0;
  counted = 0;

  constructor(readonly vocab: number) {}

  /** Adds a batch: logits [positions, vocab] and one target per position (-100: not counted). */
  update(logits: ArrayLike<number>, targets: Labels): this {
    const V = this.vocab;
    if (logits.length !== targets.length * V) throw new RangeError(`${logits.length / V} logit rows but ${targets.length} targets`);
    for (let p = 0; p < targets.length; p++) {
      const y = labelAt(targets, p);
      if (y === IGNORE) continue;
      if (!Number.isInteger(y) || y < 0 || y >= V) throw new RangeError(`target ${y} is outside the vocabulary 0..${V - 1}`);
      const base = p * V;
      let max = -Infinity;
      for (let v = 0; v < V; v++) if (logits[base + v]! > max) max = logits[base + v]!;
      let sum = 0;
      for (let v = 0; v < V; v++) sum += Math.exp(logits[base + v]! - max);
      this.nll += max + Math.log(sum) - logits[base + y]!;
      this.counted++;
    }
    return this;
  }

  /** Mean cross-entropy (nats). */
  loss(): number {
    return this.nll / this.counted;
  }

  perplexity(): number {
    return Math.exp(this.loss());
  }
}

/**
 * Next-token targets of a causal LM batch, [B, S] flattened: position t gets input_ids[t + 1] when
 * attention_mask[t + 1] is 1 (no mask: all ones), else -100; the last position gets -100.
 */
export function causalTargets(inputIds: Labels, attentionMask: Labels | null, batch: number, seq: number): Int32Array {
  const out = new Int32Array(batch * seq).fill(IGNORE);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t + 1 < seq; t++) {
      const next = b * seq + t + 1;
      if (attentionMask === null || labelAt(attentionMask, next) === 1) out[b * seq + t] = labelAt(inputIds, next);
    }
  }
  return out;
}

/** seq-cls accuracy: logits [B, classes], labels [B]. */
export function accuracy(logits: ArrayLike<number>, labels: Labels, classes: number): number {
  return new ClassificationStats(classes).update(logits, labels).accuracy();
}

/** seq-cls macro-F1 (see the module comment): logits [B, classes], labels [B]. */
export function macroF1(logits: ArrayLike<number>, labels: Labels, classes: number): number {
  return new ClassificationStats(classes).update(logits, labels).macroF1();
}

/** token-cls accuracy: logits [B, S, classes], labels [B, S] (-100 positions ignored). */
export function tokenAccuracy(logits: ArrayLike<number>, labels: Labels, classes: number): number {
  return accuracy(logits, labels, classes);
}

/** Perplexity: logits [positions, vocab], targets per position (-100 ignored), e.g. from causalTargets. */
export function perplexity(logits: ArrayLike<number>, targets: Labels, vocab: number): number {
  return new LanguageModelStats(vocab).update(logits, targets).perplexity();
}

/** The q-quantile (0..1) of the values, by linear interpolation between order statistics (numpy's default). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const at = q * (s.length - 1);
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return s[lo]! + (s[hi]! - s[lo]!) * (at - lo);
}

export interface LatencyStats {
  /** Batches timed. */
  batches: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
}

export function latencyStats(ms: readonly number[]): LatencyStats {
  return {
    batches: ms.length,
    meanMs: ms.length ? ms.reduce((a, b) => a + b, 0) / ms.length : NaN,
    p50Ms: quantile(ms, 0.5),
    p95Ms: quantile(ms, 0.95),
  };
}
