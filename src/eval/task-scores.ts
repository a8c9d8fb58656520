/**
 * The task metric over a run of batches, as both `distill eval` (evaluator.ts) and the trainer's evaluations
 * count it: accuracy and macro-F1 over rows (seq-cls) or labeled tokens (token-cls), perplexity over
 * next-token targets (causal-lm).
 */
import type { Task } from '../data/examples.js';
import { ClassificationStats, LanguageModelStats } from './metrics.js';

export interface EvalMetrics {
  /** seq-cls: accuracy over rows; token-cls: accuracy over labeled tokens. */
  accuracy?: number;
  /** Macro-F1 over rows (seq-cls) or labeled tokens (token-cls). */
  f1?: number;
  /** causal-lm: exp(loss). */
  perplexity?: number;
  /** causal-lm: mean next-token cross-entropy (nats). */
  loss?: number;
  /** Rows (seq-cls) or positions (token-cls, causal-lm) the metrics count. */
  counted: number;
}

export class TaskScores {
  private cls: ClassificationStats | null = null;
  private lm: LanguageModelStats | null = null;

  constructor(readonly task: Task) {}

  /** Adds a batch: logits with `width` classes (or vocabulary entries) per row, labels as EvalBatch lays them out. */
  add(logits: ArrayLike<number>, width: number, labels: Int32Array): void {
    if (this.task === 'causal-lm') (this.lm ??= new LanguageModelStats(width)).update(logits, labels);
    else (this.cls ??= new ClassificationStats(width)).update(logits, labels);
  }

  /** The metrics of every batch added; null before the first. */
  metrics(): EvalMetrics | null {
    if (this.lm) return { perplexity: this.lm.perplexity(), loss: this.lm.loss(), counted: this.lm.counted };
    if (this.cls) return { accuracy: this.cls.accuracy(), f1: this.cls.macroF1(), counted: this.cls.counted };
    return null;
  }
}
