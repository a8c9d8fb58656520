import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { attr } from '../src/ir/attributes.js';
import { gradcheck } from './helpers/gradcheck.js';

describe('gradient rules: Gemm', () => {
  for (const [ta, tb] of [[0, 0], [1, 0], [0, 1], [1, 1]] as const) {
    for (const dynamic of [false, true]) {
      it(`transA=${ta} transB=${tb}, alpha 0.7, beta 1.3, C [N]${dynamic ? ' (dynamic shapes)' : ''}`, async () => {
        await gradcheck({
          dynamic,
          params: { a: ta ? [4, 3] : [3, 4], b: tb ? [5, 4] : [4, 5], c: [5] },
          forward: (b, v) => b.op('Gemm', [v.a!, v.b!, v.c!], { transA: ta, transB: tb, alpha: attr.float(0.7), beta: attr.float(1.3) }),
        });
      });
    }
  }
  for (const cShape of [[], [1, 5], [3, 1], [3, 5], [1]]) {
    for (const dynamic of [false, true]) {
      it(`C of shape [${cShape}] broadcast to [3,5]${dynamic ? ' (dynamic shapes)' : ''}`, async () => {
        await gradcheck({
          dynamic,
          params: { a: [3, 4], b: [5, 4], c: cShape },
          forward: (b, v) => b.op('Gemm', [v.a!, v.b!, v.c!], { transB: 1, beta: attr.float(0.5) }),
        });
      });
    }
  }
  it('without C (nn.Linear without bias), default alpha/beta, opset 13', async () => {
    await gradcheck({ opset: 13, params: { a: [3, 4], b: [4, 2] }, forward: (b, v) => b.op('Gemm', [v.a!, v.b!]) });
  });
  it('each operand gradient is a single Gemm', async () => {
    const rep = await gradcheck({
      params: { a: [3, 4], b: [5, 4], c: [5] },
      forward: (b, v) => b.op('Gemm', [v.a!, v.b!, v.c!], { transB: 1 }),
    });
    assert.equal(rep.backwardNodes, 4); // Gemm, Gemm, ReduceSum + its axes constant
  });
});
