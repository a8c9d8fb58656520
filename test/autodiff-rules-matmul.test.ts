import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { attr } from '../src/ir/attributes.js';
import type { Builder } from '../src/ir/builder.js';
import type { Value } from '../src/ir/graph.js';
import { GraphError } from '../src/errors.js';
import { gradcheck } from './helpers/gradcheck.js';

/** An empty int64 axes feed: ReduceSum(v, none, noop_with_empty_axes=1) is v, but inference loses its rank. */
const NONE = { none: { dtype: 'int64' as const, shape: [0], data: [] } };
// An identity whose output rank inference cannot know: ReduceSum over run-time (empty) axes, keepdims=0.
const hideRank = (b: Builder, v: Value, none: Value) => b.op('ReduceSum', [v, none], { keepdims: 0, noop_with_empty_axes: 1 });

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

describe('gradient rules: Einsum', () => {
  const cases: [string, Record<string, number[]>][] = [
    ['bhqd,bhkd->bhqk', { a: [2, 2, 3, 4], b: [2, 2, 5, 4] }],
    ['bhqk,bhkd->bhqd', { a: [2, 2, 3, 5], b: [2, 2, 5, 4] }],
    ['bij,bjk->bik', { a: [2, 3, 4], b: [2, 4, 5] }],
    ['ij,jk->ik', { a: [3, 4], b: [4, 2] }],
    ['bsh,oh->bso', { a: [2, 3, 4], b: [5, 4] }],
    ['ij->ji', { a: [3, 4] }],
    ['ij->i', { a: [3, 4] }],
    ['ij,jk', { a: [3, 4], b: [4, 2] }], // implicit output 'ik'
    ['ij,jk,kl->il', { a: [2, 3], b: [3, 4], c: [4, 2] }],
    ['ij,jk->k', { a: [3, 4], b: [4, 2] }], // i summed away: only in operand a
    ['i,j->ij', { a: [3], b: [4] }], // outer product
    ['ij,ij->', { a: [3, 4], b: [3, 4] }], // full contraction to a scalar
    ['ij->', { a: [3, 4] }], // sum of all elements
    ['bhqd , bhkd -> bhkq', { a: [2, 1, 3, 2], b: [2, 1, 4, 2] }], // spaces, output transposed
  ];
  for (const [eq, params] of cases) {
    for (const dynamic of [false, true]) {
      it(`'${eq}'${dynamic ? ' (dynamic shapes)' : ''}`, async () => {
        await gradcheck({ dynamic, params, forward: (b, v) => b.op('Einsum', Object.keys(params).map((k) => v[k]!), { equation: eq }) });
      });
    }
  }
  it("'ij->ij' needs no backward node", async () => {
    const rep = await gradcheck({ params: { a: [3, 4] }, forward: (b, v) => b.op('Einsum', [v.a!], { equation: 'ij->ij' }) });
    assert.equal(rep.backwardNodes, 0);
  });
  for (const [eq, shape, why] of [['...ij->...ji', [2, 3, 4], /ellipsis/], ['ii->i', [3, 3], /diagonal/]] as const) {
    it(`'${eq}' is a GraphError (${why.source})`, async () => {
      await assert.rejects(
        gradcheck({ params: { a: [...shape] }, forward: (b, v) => b.op('Einsum', [v.a!], { equation: eq }) }),
        (e: unknown) => e instanceof GraphError && why.test(e.message) && e.message.includes('Einsum node'),
      );
    });
  }
});
