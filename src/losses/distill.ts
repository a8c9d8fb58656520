/**
 * The distillation loss, appended to a student graph:
 *   loss = alpha * CE(student, labels) + (1 - alpha) * T^2 * KL(softmax(teacher/T) || softmax(student/T))
 * (to be implemented: see the contract below).
 */
import type { Builder } from '../ir/builder.js';
import type { Value } from '../ir/graph.js';

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
  void b; void task; void inputs;
  throw new Error("distillationLoss: not implemented yet");
}
