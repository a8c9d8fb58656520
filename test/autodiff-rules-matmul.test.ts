import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GraphError } from '../src/errors.js';
import { gradcheck } from './helpers/gradcheck.js';
import { NONE, hideRank } from './helpers/rule-cases.js';

describe('gradient rules: MatMul', () => {
  const cases: [string, number[], number[]][] = [
    ['[B,S,H] @ [H,O] weight sharing', [2, 3, 4], [4, 5]],
    ['[M,K] @ [K,N]', [3, 4], [4, 2]],
    ['batched with broadcast leading dims [2,1,3,4] @ [3,4,2]', [2, 1, 3, 4], [3, 4, 2]],
    ['attention-shaped [2,2,3,4] @ [2,2,4,3]', [2, 2, 3, 4], [2, 2, 4, 3]],
    ['2-D @ 3-D [3,4] @ [2,4,5]', [3, 4], [2, 4, 5]],
    ['vector-matrix [4] @ [4,5]', [4], [4, 5]],
    ['vector-batched matrix [4] @ [2,4,3]', [4], [2, 4, 3]],
    ['matrix-vector [3,4] @ [4]', [3, 4], [4]],
    ['batched matrix-vector [2,3,4] @ [4]', [2, 3, 4], [4]],
    ['vector-vector [4] @ [4]', [4], [4]],
  ];
  for (const [name, a, bShape] of cases) {
    for (const dynamic of [false, true]) {
      it(`${name}${dynamic ? ' (dynamic shapes)' : ''}`, async () => {
        await gradcheck({ dynamic, params: { a, b: bShape }, forward: (b, v) => b.op('MatMul', [v.a!, v.b!]) });
      });
    }
  }
  it('weight sharing [B,S,H] @ [H,O] costs 5 backward nodes (Transpose+MatMul, Flatten x2+Gemm)', async () => {
    const rep = await gradcheck({ params: { a: [2, 3, 4], b: [4, 5] }, forward: (b, v) => b.op('MatMul', [v.a!, v.b!]) });
    assert.equal(rep.backwardNodes, 5);
  });
  it('[B,S,H] @ Transpose(W), nn.Linear as exported: 4 backward nodes, no transposes (MatMul with W; Flatten x2 + Gemm for dW)', async () => {
    for (const dynamic of [false, true]) {
      const rep = await gradcheck({ dynamic, params: { a: [2, 3, 4], w: [5, 4] }, forward: (b, v) => b.op('MatMul', [v.a!, b.transpose(v.w!, [1, 0])]) });
      assert.equal(rep.backwardNodes, 4);
    }
  });
  it('at opset 13', async () => {
    await gradcheck({ opset: 13, params: { a: [2, 3, 4], b: [2, 4, 2] }, forward: (b, v) => b.op('MatMul', [v.a!, v.b!]) });
  });
  it('float32', async () => {
    await gradcheck({ dtype: 'float32', params: { a: [2, 3, 4], b: [4, 5] }, forward: (b, v) => b.op('MatMul', [v.a!, v.b!]) });
  });
  it('operand of unknown rank: rank deduced from the output (A hidden, [2,3,4] @ [4,5])', async () => {
    await gradcheck({
      params: { a: [2, 3, 4], b: [4, 5] }, feeds: NONE,
      forward: (b, v) => b.op('MatMul', [hideRank(b, v.a!, v.none!), v.b!]),
    });
  });
  it('operand of unknown rank >= 2: ellipsis transposes (B hidden, [2,3,4] @ [2,4,2])', async () => {
    await gradcheck({
      params: { a: [2, 3, 4], b: [2, 4, 2] }, feeds: NONE,
      forward: (b, v) => b.op('MatMul', [v.a!, hideRank(b, v.b!, v.none!)]),
    });
  });
  it('1-D operand of unknown rank ([4] hidden @ [2,4,3])', async () => {
    await gradcheck({
      params: { a: [4], b: [2, 4, 3] }, feeds: NONE,
      forward: (b, v) => b.op('MatMul', [hideRank(b, v.a!, v.none!), v.b!]),
    });
  });
  it('batch unbroadcast decided statically when only batch dims are known ([2,1,3,4] @ Tile(B) with null dims)', async () => {
    const rep = await gradcheck({
      wrt: ['a'],
      params: { a: [2, 1, 3, 4], b: [3, 4, 2] },
      consts: { reps: { dtype: 'int64', shape: [3], data: [1, 1, 1] } },
      forward: (b, v) => b.op('MatMul', [v.a!, b.op('Tile', [v.b!, v.reps!])]),
    });
    assert.equal(rep.backwardNodes, 4); // Transpose, MatMul, ReduceSum over axis 1 (keepdims) + axes constant
  });
  it('both ranks unknown is a GraphError naming the node', async () => {
    await assert.rejects(
      gradcheck({
        params: { a: [3, 4], b: [4, 2] }, feeds: NONE,
        forward: (b, v) => b.op('MatMul', [hideRank(b, v.a!, v.none!), hideRank(b, v.b!, v.none!)]),
      }),
      (e: unknown) => e instanceof GraphError && /MatMul node .*rank/.test(e.message),
    );
  });
});
