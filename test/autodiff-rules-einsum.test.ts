import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GraphError } from '../src/errors.js';
import { gradcheck } from './helpers/gradcheck.js';

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
