/** The evaluation metrics (src/eval/metrics.ts) against hand-computed values. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ClassificationStats, accuracy, argmaxRows, causalTargets, latencyStats, macroF1, perplexity, quantile, tokenAccuracy,
} from '../src/eval/metrics.js';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

describe('metrics (hand-computed)', () => {
  it('argmax takes the first maximum on ties', () => {
    assert.deepEqual([...argmaxRows([1, 3, 3, 0, 0, 0, -1, -2, 5], 3)], [1, 0, 2]);
  });

  it('accuracy skips -100 rows', () => {
    // predictions 0, 1, 0, (0); labels 0, 1, 1, -100 -> 2 of 3
    close(accuracy([2, 1, 0, 3, 1, 0, 5, 5], [0, 1, 1, -100], 2), 2 / 3);
  });

  it('macro-F1: mean over classes seen in labels or predictions; never-predicted class counts 0, absent class excluded', () => {
    // y = 0 0 1 1 1 2, p = 0 1 1 1 0 0, 4 classes (class 3 never labeled, never predicted)
    // class 0: TP 1, FP 2, FN 1 -> 2/5; class 1: TP 2, FP 1, FN 1 -> 4/6; class 2: TP 0, FN 1 -> 0
    const p = [0, 1, 1, 1, 0, 0];
    const logits = p.flatMap((c) => [0, 1, 2, 3].map((k) => (k === c ? 1 : 0)));
    const y = [0, 0, 1, 1, 1, 2];
    close(macroF1(logits, y, 4), (2 / 5 + 4 / 6 + 0) / 3);
    const s = new ClassificationStats(4).update(logits, y);
    assert.deepEqual(s.perClassF1().map((v) => (v === null ? null : Number(v.toFixed(6)))), [0.4, 0.666667, 0, null]);
    close(s.accuracy(), 3 / 6);
    // Streaming in two parts gives the same counts as one.
    const two = new ClassificationStats(4).update(logits.slice(0, 12), y.slice(0, 3)).update(logits.slice(12), y.slice(3));
    assert.deepEqual(two.counts, s.counts);
    assert.ok(Number.isNaN(macroF1([1, 0], [-100], 2)), 'nothing counted: NaN');
  });

  it('token accuracy over [B, S, C] ignores -100 positions', () => {
    // 2 x 3 positions, 2 classes; predictions 1 0 1 / 0 0 1
    const logits = [0, 1, 1, 0, 0, 1, 1, 0, 1, 0, 0, 1];
    close(tokenAccuracy(logits, [1, 1, -100, 0, -100, 1], 2), 3 / 4);
  });

  it('perplexity = exp(mean CE): ln 3 and ln 2 -> sqrt(6)', () => {
    // V = 3: [0, 0, 0] -> p = 1/3 (CE ln 3); [ln 2, 0, 0] target 0 -> p = 2/4 (CE ln 2); third row ignored
    close(perplexity([0, 0, 0, Math.log(2), 0, 0, 9, 9, 9], [1, 0, -100], 3), Math.sqrt(6));
  });

  it('causal targets: next token where the next position is attended, -100 elsewhere', () => {
    assert.deepEqual([...causalTargets([5, 6, 7, 8, 9, 0], [1, 1, 1, 1, 1, 0], 2, 3)], [6, 7, -100, 9, -100, -100]);
  });

  it('quantiles interpolate linearly between order statistics (numpy default)', () => {
    close(quantile([4, 1, 3, 2], 0.5), 2.5);
    close(quantile([4, 1, 3, 2], 0.95), 3.85);
    assert.deepEqual(latencyStats([2, 4]), { batches: 2, meanMs: 3, p50Ms: 3, p95Ms: 3.9 });
  });
});
