/** Gradient rule of Where (src/autodiff/rules/where.ts): finite differences, static and run-time shapes, broadcasting. */
import { describe, it } from 'node:test';
import { gradcheck } from './helpers/gradcheck.js';

describe('gradient rules: Where', () => {
  const cond = { dtype: 'bool' as const, shape: [4], data: [1, 0, 0, 1] };
  it('Where: X and Y broadcast against the condition (static shapes)', async () => {
    await gradcheck({
      params: { x: [2, 3, 4], y: [3, 1] },
      consts: { c: cond },
      forward: (b, v) => b.op('Where', [v.c!, v.x!, v.y!]),
    });
  });
  it('Where: a condition wider than both branches, scalar Y, run-time shapes only', async () => {
    await gradcheck({
      dynamic: true,
      params: { x: [3, 1], y: [] },
      feeds: { c: { dtype: 'bool', shape: [2, 3, 4], data: Array.from({ length: 24 }, (_, i) => (i * 7) % 3 === 0 ? 1 : 0) } },
      forward: (b, v) => b.op('Where', [v.c!, v.x!, v.y!]),
    });
  });
  it('Where: only one branch needs a gradient; opset 13', async () => {
    await gradcheck({
      opset: 13,
      params: { x: [2, 4], y: [2, 4] },
      consts: { c: cond },
      wrt: ['y'],
      forward: (b, v) => b.op('Where', [v.c!, v.x!, v.y!]),
    });
  });
});
