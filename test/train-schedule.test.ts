import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { learningRate } from '../src/train/schedule.js';

// Reference values: transformers.get_scheduler(name, AdamW(lr=1e-3), num_warmup_steps=2, num_training_steps=10)
// (printed by transformers 5.18 on 2026-11-27 and equal to these formulas),
// lr read before each optimizer step k = 0..9 (scheduler stepped k times), computed from HF's published formulas:
//   linear  k < w: k/w, else (N - k) / (N - w);  cosine: 0.5 (1 + cos(pi * (k - w) / (N - w)))
const N = 10;
const w = 2;
const expected: Record<string, number[]> = {
  linear: [0, 0.5, 1, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125].map((x) => x * 1e-3),
  constant: Array(10).fill(1e-3),
  constant_with_warmup: [0, 0.5, 1, 1, 1, 1, 1, 1, 1, 1].map((x) => x * 1e-3),
  cosine: [0, 0.5, ...[0, 1, 2, 3, 4, 5, 6, 7].map((k) => 0.5 * (1 + Math.cos((Math.PI * k) / 8)))].map((x) => x * 1e-3),
};

describe('learning-rate schedules (HF semantics)', () => {
  for (const [name, want] of Object.entries(expected)) {
    it(`${name} with 2 warmup steps over 10`, () => {
      const got = want.map((_, k) => learningRate({ name: name as 'linear', baseLr: 1e-3, warmupSteps: w, totalSteps: N }, k));
      got.forEach((g, k) => assert.ok(Math.abs(g - want[k]!) < 1e-15, `${name} step ${k}: ${g} vs ${want[k]}`));
    });
  }
});
