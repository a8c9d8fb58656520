/**
 * Gradient rules of the unary math ops (src/autodiff/rules/unary.ts: Sqrt, Reciprocal, Exp, Log, Abs, Erf,
 * Tanh, Sigmoid, Sin, Cos), by finite differences with static and run-time shapes.
 * ORT has no float64 kernel for Erf: it runs in float32 with a larger step and tolerances.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gradcheck } from './helpers/gradcheck.js';

/** Op, and the input range where it is smooth enough for central differences. */
const UNARY: [string, number, number][] = [
  ['Sqrt', 0.2, 2], ['Reciprocal', 0.3, 2], ['Exp', -2, 2], ['Log', 0.2, 3], ['Abs', -1, 1], ['Tanh', -2, 2],
  ['Sigmoid', -3, 3], ['Sin', -3, 3], ['Cos', -3, 3],
];

describe('gradient rules: unary math', () => {
  for (const [op, lo, hi] of UNARY) {
    for (const dynamic of [false, true]) {
      it(`${op}: ${dynamic ? 'run-time' : 'static'} shapes, inputs in [${lo}, ${hi})`, async () => {
        const r = await gradcheck({ dynamic, params: { a: { shape: [2, 3, 4], lo, hi } }, forward: (b, v) => b.op(op, [v.a!]) });
        assert.ok(r.backwardNodes <= 4, `${op}: ${r.backwardNodes} backward nodes`);
      });
    }
  }
  it('Sqrt, Exp, Tanh, Sigmoid, Reciprocal at opset 13 and 21, chained (reads forward outputs)', async () => {
    for (const opset of [13, 21]) {
      await gradcheck({
        opset,
        params: { a: { shape: [3, 2], lo: 0.2, hi: 1.5 } },
        forward: (b, v) => b.op('Sigmoid', [b.op('Tanh', [b.op('Exp', [b.op('Reciprocal', [b.op('Sqrt', [v.a!])])])])]),
      });
    }
  });
  it('Abs: gradient 0 at exactly 0 (sign), negative and positive sides', async () => {
    await gradcheck({ params: { a: { shape: [5], data: [-0.7, -0.1, 0.2, 0.9, 0.5] } }, forward: (b, v) => b.op('Abs', [v.a!]) });
  });
  for (const dynamic of [false, true]) {
    it(`Erf (float32, no float64 kernel): ${dynamic ? 'run-time' : 'static'} shapes`, async () => {
      await gradcheck({
        dtype: 'float32', eps: 3e-3, rtol: 1e-2, atol: 1e-3, dynamic,
        params: { a: { shape: [3, 5], lo: -2, hi: 2 } },
        forward: (b, v) => b.op('Erf', [v.a!]),
      });
    });
  }
});
