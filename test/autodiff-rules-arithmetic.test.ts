/**
 * Gradient rules of the elementwise arithmetic family (src/autodiff/rules/arithmetic.ts: Add, Sub, Mul, Div,
 * Pow, Neg, Sum, Max, Min): finite differences (static and run-time shapes, broadcasting), plus direct checks
 * where a finite difference cannot decide (ties in Max/Min, the masked exponent gradient of Pow at
 * non-positive bases).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gradcheck } from './helpers/gradcheck.js';
import { scalarConst, gradsOnce } from './helpers/rule-cases.js';

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

describe('gradient rules: Pow', () => {
  it('Pow: both operands, positive bases, exponent broadcast over leading and inner axes', async () => {
    await gradcheck({
      params: { a: { shape: [2, 3, 4], lo: 0.3, hi: 2 }, e: { shape: [3, 1], lo: -1.5, hi: 2.5 } },
      forward: (b, v) => b.op('Pow', [v.a!, v.e!]),
    });
  });
  it('Pow: both operands with run-time shapes only, base broadcast against the exponent', async () => {
    await gradcheck({
      dynamic: true,
      params: { a: { shape: [4], lo: 0.3, hi: 2 }, e: { shape: [2, 1, 4], lo: -1.5, hi: 2.5 } },
      forward: (b, v) => b.op('Pow', [v.a!, v.e!]),
    });
  });
  for (const k of [2, 3]) {
    it(`Pow: base only, negative bases, constant integer-valued exponent ${k} (initializer, float64)`, async () => {
      const r = await gradcheck({
        params: { a: { shape: [3, 4], lo: -2, hi: -0.2 } },
        consts: { k: { dtype: 'float64', shape: [], data: [k] } },
        forward: (b, v) => b.op('Pow', [v.a!, v.k!]),
      });
      assert.ok(r.backwardNodes <= (k === 2 ? 2 : 5), `folded exponent: ${r.backwardNodes} backward nodes`);
    });
    it(`Pow: base only, negative bases, exponent ${k} fed at run time (int64 and float64), run-time shapes`, async () => {
      for (const dtype of ['int64', 'float64'] as const) {
        await gradcheck({
          dynamic: true,
          params: { a: { shape: [2, 3], lo: -2, hi: 2 } },
          feeds: { k: { dtype, shape: [1], data: [k] } },
          forward: (b, v) => b.op('Pow', [v.a!, v.k!]),
        });
      }
    });
  }
  it('Pow: base only, exponent from a Constant node (0.5 on positive bases, 1 and 0 folded)', async () => {
    await gradcheck({
      params: { a: { shape: [2, 5], lo: 0.2, hi: 3 } },
      forward: (b, v) => [b.op('Pow', [v.a!, scalarConst(b, 0.5)]), b.op('Pow', [v.a!, scalarConst(b, 1)]),
        b.add(v.a!, b.op('Pow', [v.a!, scalarConst(b, 0)]))],
    });
  });
  it('Pow: an int64 constant exponent (T2 differs from the base type) at opset 13 and 21', async () => {
    for (const opset of [13, 21]) {
      await gradcheck({
        opset,
        params: { a: { shape: [3, 2], lo: -2, hi: 2 } },
        consts: { k: { dtype: 'int64', shape: [], data: [3] } },
        forward: (b, v) => b.op('Pow', [v.a!, v.k!]),
      });
    }
  });
  it('Pow: exponent gradient is 0 (not NaN/inf) where the base is <= 0; base gradient 0 where exponent is 0', async () => {
    const a = [-2, -0.5, 0, 0, 1.5, 2];
    const e = [2, 3, 2, 0, 0.5, 0];
    const seed = [1, 2, 3, 4, 5, 6];
    const g = await gradsOnce({
      inputs: { a: { shape: [6], data: a }, e: { shape: [6], data: e } },
      wrt: ['a', 'e'],
      forward: (b, v) => b.op('Pow', [v.a!, v.e!]),
      seed,
    });
    const ge = a.map((x, i) => (x > 0 ? seed[i]! * x ** e[i]! * Math.log(x) : 0));
    const ga = a.map((x, i) => (e[i] === 0 ? 0 : seed[i]! * e[i]! * x ** (e[i]! - 1)));
    g.e!.forEach((v, i) => assert.ok(Math.abs(v - ge[i]!) < 1e-12, `de[${i}] = ${v}, expected ${ge[i]}`));
    g.a!.forEach((v, i) => assert.ok(Math.abs(v - ga[i]!) < 1e-12, `da[${i}] = ${v}, expected ${ga[i]}`));
  });
});

describe('gradient rules: Neg, Sum', () => {
  it('Neg, static and run-time shapes', async () => {
    for (const dynamic of [false, true]) {
      await gradcheck({ dynamic, params: { a: [2, 3] }, forward: (b, v) => b.neg(v.a!) });
    }
  });
  it('Sum: three operands broadcast over leading and inner axes (static shapes)', async () => {
    await gradcheck({
      params: { a: [2, 3, 4], b: [3, 1], c: [4] },
      forward: (b, v) => b.op('Sum', [v.a!, v.b!, v.c!]),
    });
  });
  it('Sum: three operands with run-time shapes only, one operand read twice', async () => {
    await gradcheck({
      dynamic: true,
      params: { a: [2, 1, 4], b: [3, 1], c: [] },
      forward: (b, v) => b.op('Sum', [v.a!, v.b!, v.c!, v.a!]),
    });
  });
  it('Sum: a single operand, and an operand without a gradient', async () => {
    await gradcheck({
      params: { a: [2, 3], b: [3] },
      wrt: ['a'],
      forward: (b, v) => [b.op('Sum', [v.a!]), b.op('Sum', [v.a!, v.b!])],
    });
  });
});

describe('gradient rules: Max, Min', () => {
  for (const op of ['Max', 'Min']) {
    it(`${op}: two operands broadcast over leading and inner axes (static shapes)`, async () => {
      await gradcheck({
        params: { a: [2, 3, 4], b: [3, 1] },
        forward: (b, v) => b.op(op, [v.a!, v.b!]),
      });
    });
    it(`${op}: three operands with run-time shapes only`, async () => {
      await gradcheck({
        dynamic: true,
        params: { a: [2, 1, 4], b: [3, 1], c: [4] },
        forward: (b, v) => b.op(op, [v.a!, v.b!, v.c!]),
      });
    });
    it(`${op}: a single operand is the identity; opset 13`, async () => {
      await gradcheck({ opset: 13, params: { a: [3, 2] }, forward: (b, v) => b.op(op, [v.a!]) });
    });
    it(`${op}: ties split the gradient evenly between the tied operands`, async () => {
      const a = [1, 2, 3, 4];
      const bb = [1, 5, 3, 0];
      const c = [1, 0, 0, 4];
      const seed = [6, 7, 8, 9];
      const g = await gradsOnce({
        inputs: { a: { shape: [4], data: a }, b: { shape: [4], data: bb }, c: { shape: [4], data: c } },
        wrt: ['a', 'b', 'c'],
        forward: (b, v) => b.op(op, [v.a!, v.b!, v.c!]),
        seed,
      });
      const pick = op === 'Max' ? Math.max : Math.min;
      const y = a.map((_, i) => pick(a[i]!, bb[i]!, c[i]!));
      const n = y.map((m, i) => [a, bb, c].filter((x) => x[i] === m).length);
      for (const [name, x] of [['a', a], ['b', bb], ['c', c]] as const) {
        const want = x.map((xi, i) => (xi === y[i] ? seed[i]! / n[i]! : 0));
        assert.deepEqual(g[name], want, `d${name}`);
      }
    });
  }
});
