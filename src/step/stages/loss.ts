/** Stage 2, loss: the distillation loss (losses/distill.ts) on the student's logits: loss, ce and kd. */
import type { Value } from '../../ir/graph.js';
import { distillationLoss } from '../../losses/distill.js';
import type { StepContext } from './context.js';

export interface LossTerms {
  loss: Value;
  ce: Value;
  kd: Value;
}

export function addLoss(ctx: StepContext): LossTerms {
  const { b, g, options, student, io } = ctx;
  return distillationLoss(b, options.task, {
    student,
    teacher: io.teacher,
    labels: io.labels,
    attentionMask: g.get('attention_mask'),
    alpha: io.alpha,
    temperature: io.temperature,
  });
}
