/**
 * The distillation loss, appended to a student graph:
 *   loss = alpha * CE(student, labels) + (1 - alpha) * T^2 * KL(softmax(teacher/T) || softmax(student/T))
 * as the seed implementation (NLP with Transformers, DistillationTrainer.compute_loss) computes it in PyTorch.
 * Per task, the rows both terms use:
 *   seq-cls    [B, C] against labels [B]: CE over labelled rows; KD over all B rows (an unlabelled row,
 *              label -100, still learns from the teacher).
 *   token-cls  [B, S, C] against labels [B, S]: both terms over the positions whose label is not -100.
 *   causal-lm  logits[:, :-1] against input_ids[:, 1:]: both terms over the targets that are neither -100
 *              nor padding (attention_mask[:, 1:] == 0).
 * alpha and T are graph inputs (float scalars of any float type), so one graph serves any schedule.
 */
import type { Builder } from '../ir/builder.js';
import type { Value } from '../ir/graph.js';
import { crossEntropy } from './cross-entropy.js';
import { kdLoss } from './kd.js';

export type Task = 'seq-cls' | 'token-cls' | 'causal-lm';
export const TASKS: readonly Task[] = ['seq-cls', 'token-cls', 'causal-lm'];

export interface DistillLossInputs {
  /** Student logits: [B, C] (seq-cls), [B, S, C] (token-cls), [B, S, V] (causal-lm). */
  student: Value;
  /** Teacher logits, same shape as the student's. Absent: plain fine-tuning (loss = CE, kd = 0). */
  teacher?: Value;
  /** int64 labels: [B] (seq-cls), [B, S] (token-cls), both with -100 = ignore; causal-lm: the input ids [B, S]. */
  labels: Value;
  /** int64 [B, S] attention mask; causal-lm uses it to ignore padded targets. */
  attentionMask?: Value;
  /** Float scalars (graph inputs): weight of CE, and the softmax temperature. */
  alpha: Value;
  temperature: Value;
}

export interface DistillLoss {
  /** alpha * ce + (1 - alpha) * kd (just ce without a teacher). */
  loss: Value;
  /** Mean cross-entropy over counted positions. */
  ce: Value;
  /** T^2 * KL, batchmean over the rows (seq-cls) or counted positions (token-cls, causal-lm); 0 without teacher. */
  kd: Value;
}

export function distillationLoss(b: Builder, task: Task, inputs: DistillLossInputs): DistillLoss {
  let { student, teacher, labels } = inputs;
  if (task === 'causal-lm') {
    // Position i predicts token i + 1: drop the last logits and the first target.
    const lastOff = (x: Value) => b.op('Slice', [x, b.int64([0]), b.int64([-1]), b.int64([1])]);
    student = lastOff(student);
    teacher = teacher && lastOff(teacher);
    labels = b.op('Slice', [labels, b.int64([1]), b.int64([Number.MAX_SAFE_INTEGER]), b.int64([1])]);
    if (inputs.attentionMask) {
      const maskNext = b.op('Slice', [inputs.attentionMask, b.int64([1]), b.int64([Number.MAX_SAFE_INTEGER]), b.int64([1])]);
      const padded = b.op('Equal', [maskNext, b.int64([0], true)]);
      labels = b.op('Where', [padded, b.int64([-100], true), labels]);
    }
  }
  const ce = crossEntropy(b, student, labels);
  // No teacher: plain fine-tuning. `loss` is its own value (an Identity of ce), so both can be graph outputs.
  if (!teacher) return { loss: b.op('Identity', [ce.loss]), ce: ce.loss, kd: b.scalarLike(0, student) };

  // seq-cls distils every row; token-cls and causal-lm only the positions CE counts.
  const kd = task === 'seq-cls'
    ? kdLoss(b, student, teacher, inputs.temperature, { rows: b.castLike(b.op('Size', [labels]), student) })
    : kdLoss(b, student, teacher, inputs.temperature, { mask: ce.mask, count: ce.count });
  const alpha = b.castLike(inputs.alpha, student);
  const loss = b.add(b.mul(alpha, ce.loss), b.mul(b.sub(b.scalarLike(1, student), alpha), kd));
  return { loss, ce: ce.loss, kd };
}
