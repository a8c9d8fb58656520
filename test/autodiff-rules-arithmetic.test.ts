import { describe, it } from 'node:test';
import { gradcheck } from './helpers/gradcheck.js';

describe('gradient rules: Add, Sub, Mul, Div', () => {
  for (const op of ['Add', 'Sub', 'Mul', 'Div']) {
    it(`${op} with broadcasting across leading and inner axes`, async () => {
      await gradcheck({
        params: { a: [2, 3, 4], b: { shape: [3, 1], lo: 0.5, hi: 1.5 } },
        forward: (b, v) => b.op(op, [v.a!, v.b!]),
      });
    });
    it(`${op} with run-time shapes only (dynamic unbroadcast)`, async () => {
      await gradcheck({
        dynamic: true,
        params: { a: { shape: [4], lo: 0.5, hi: 1.5 }, b: { shape: [2, 1, 4], lo: 0.5, hi: 1.5 } },
        forward: (b, v) => b.op(op, [v.a!, v.b!]),
      });
    });
  }
  it('fan-out: a value used twice accumulates both gradients', async () => {
    await gradcheck({
      params: { a: [3, 2] },
      forward: (b, v) => b.mul(v.a!, b.add(v.a!, v.a!)),
    });
  });
});
