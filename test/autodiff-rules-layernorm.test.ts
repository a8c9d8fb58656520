import { describe, it } from 'node:test';
import { attr } from '../src/ir/attributes.js';
import { gradcheck } from './helpers/gradcheck.js';
import { NONE, hideRank } from './helpers/rule-cases.js';

// Mean / InvStdDev are float32 even for a float64 X (stash_type 1; ORT has no double stash), so float64
// gradients carry float32 rounding of the statistics (~1e-7 relative): atol 1e-6.
const LN_TOL = { atol: 1e-6, rtol: 1e-5 };

describe('gradient rules: LayerNormalization', () => {
  const cases: [string, number[], number[], number | undefined, boolean][] = [
    ['axis -1 with B', [2, 3, 4], [4], -1, true],
    ['default axis, without B', [2, 3, 4], [4], undefined, false],
    ['axis -2 (last two axes) with B', [2, 3, 4], [3, 4], -2, true],
    ['axis 1 (positive) of rank 3, with B', [2, 3, 4], [3, 4], 1, true],
    ['axis -1 of rank 2 without B', [3, 5], [5], -1, false],
    ['axis -2 with Scale and B [1,4] broadcast over the normalized axis of size 3', [2, 3, 4], [1, 4], -2, true],
  ];
  for (const [name, xs, ss, axis, withB] of cases) {
    for (const dynamic of [false, true]) {
      it(`${name}${dynamic ? ' (dynamic shapes)' : ''}`, async () => {
        await gradcheck({
          ...LN_TOL,
          dynamic,
          params: { x: xs, s: { shape: ss, lo: 0.5, hi: 1.5 }, ...(withB ? { bias: ss } : {}) },
          forward: (b, v) => b.op('LayerNormalization', withB ? [v.x!, v.s!, v.bias!] : [v.x!, v.s!], { axis, epsilon: attr.float(1e-5) }),
        });
      });
    }
  }
  it('float32 X (stats need no cast), opset 18', async () => {
    await gradcheck({
      dtype: 'float32', opset: 18,
      params: { x: [2, 3, 4], s: { shape: [4], lo: 0.5, hi: 1.5 }, bias: [4] },
      forward: (b, v) => b.op('LayerNormalization', [v.x!, v.s!, v.bias!]),
    });
  });
  it('forward node that already outputs Mean and InvStdDev', async () => {
    await gradcheck({
      ...LN_TOL,
      params: { x: [2, 3, 4], s: { shape: [4], lo: 0.5, hi: 1.5 }, bias: [4] },
      forward: (b, v) => b.opN('LayerNormalization', [v.x!, v.s!, v.bias!], 3)[0]!,
    });
  });
  it('only Scale and B need gradients (X frozen)', async () => {
    await gradcheck({
      ...LN_TOL,
      wrt: ['s', 'bias'],
      params: { x: [2, 3, 4], s: { shape: [4], lo: 0.5, hi: 1.5 }, bias: [4] },
      forward: (b, v) => b.op('LayerNormalization', [v.x!, v.s!, v.bias!]),
    });
  });
  for (const axis of [1, -2]) {
    it(`X of unknown rank, axis ${axis} (run-time normalized axes when positive)`, async () => {
      await gradcheck({
        ...LN_TOL,
        feeds: NONE,
        params: { x: [2, 3, 4], s: { shape: [3, 4], lo: 0.5, hi: 1.5 }, bias: [3, 4] },
        forward: (b, v) => b.op('LayerNormalization', [hideRank(b, v.x!, v.none!), v.s!, v.bias!], { axis }),
      });
    });
  }
});
