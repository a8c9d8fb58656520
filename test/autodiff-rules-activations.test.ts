/**
 * Gradient rules of the activations (src/autodiff/rules/activations.ts: Relu, LeakyRelu, Clip, Softplus, Gelu, and GELU
 * spelled out in ops as exporters write it), by finite differences with static and run-time shapes, and the
 * GELUs against their analytic derivative.
 * ORT has no float64 kernel for Erf, Gelu or Softplus: those run in float32 with a larger step and tolerances.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { differentiate } from '../src/autodiff/differentiate.js';
import { attr } from '../src/ir/attributes.js';
import { Builder } from '../src/ir/builder.js';
import { Graph, type Value } from '../src/ir/graph.js';
import { newModel } from '../src/ir/convert.js';
import { DataType } from '../src/onnx/dtype.js';
import { gradcheck } from './helpers/gradcheck.js';
import { session, tensor, toNumbers } from './helpers/ort.js';
import { rng, uniform } from './helpers/rng.js';
import { eliminateDeadCode } from '../src/ir/passes.js';

/** erf to ~1e-7 relative (Numerical Recipes' erfc Chebyshev fit), for reference derivatives. */
function erf(x: number): number {
  const t = 1 / (1 + 0.5 * Math.abs(x));
  const p = [-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587,
    -0.82215223, 0.17087277];
  const poly = p.reduceRight((acc, c) => c + t * acc, 0);
  const y = 1 - t * Math.exp(-x * x + poly);
  return x >= 0 ? y : -y;
}
const GELU_DERIV: Record<string, (x: number) => number> = {
  none: (x) => 0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp(-x * x / 2)) / Math.sqrt(2 * Math.PI),
  tanh: (x) => {
    const B = Math.sqrt(2 / Math.PI), K = 0.044715;
    const t = Math.tanh(B * (x + K * x ** 3));
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * B * (1 + 3 * K * x * x);
  },
};

describe('gradient rules: activations', () => {
  for (const dynamic of [false, true]) {
    const shapes = dynamic ? 'run-time' : 'static';
    it(`Relu: ${shapes} shapes, both signs`, async () => {
      await gradcheck({ dynamic, params: { a: [3, 4] }, forward: (b, v) => b.op('Relu', [v.a!]) });
    });
    it(`LeakyRelu: default alpha (0.01) and alpha=0.2, ${shapes} shapes`, async () => {
      await gradcheck({
        dynamic,
        params: { a: [3, 4] },
        forward: (b, v) => [b.op('LeakyRelu', [v.a!]), b.op('LeakyRelu', [v.a!], { alpha: attr.float(0.2) })],
      });
    });
    it(`Clip with both bounds, min only and max only (opset 13 inputs), ${shapes} shapes`, async () => {
      await gradcheck({
        dynamic,
        params: { a: { shape: [3, 4], lo: -2, hi: 2 } },
        forward: (b, v) => [
          b.op('Clip', [v.a!, b.scalarLike(-0.5, v.a!), b.scalarLike(0.7, v.a!)]),
          b.op('Clip', [v.a!, b.scalarLike(0.1, v.a!)]),
          b.op('Clip', [v.a!, null, b.scalarLike(-0.3, v.a!)]),
        ],
      });
    });
    it(`Softplus (float32, no float64 kernel): ${shapes} shapes`, async () => {
      await gradcheck({
        dtype: 'float32', eps: 3e-3, rtol: 1e-2, atol: 1e-3, dynamic,
        params: { a: { shape: [3, 4], lo: -4, hi: 4 } },
        forward: (b, v) => b.op('Softplus', [v.a!]),
      });
    });
    for (const approximate of ['none', 'tanh']) {
      it(`Gelu (opset 20, float32) approximate="${approximate}": ${shapes} shapes`, async () => {
        await gradcheck({
          opset: 20, dtype: 'float32', eps: 3e-3, rtol: 1e-2, atol: 1e-3, dynamic,
          params: { a: { shape: [2, 3, 4], lo: -3, hi: 3 } },
          forward: (b, v) => b.op('Gelu', [v.a!], approximate === 'none' ? {} : { approximate }),
        });
      });
    }
  }
  it('Gelu at opset 21 with explicit approximate="none", wide inputs', async () => {
    await gradcheck({
      opset: 21, dtype: 'float32', eps: 3e-3, rtol: 1e-2, atol: 1e-3,
      params: { a: { shape: [16], lo: -5, hi: 5 } },
      forward: (b, v) => b.op('Gelu', [v.a!], { approximate: 'none' }),
    });
  });
  for (const approximate of ['none', 'tanh']) {
    it(`Gelu approximate="${approximate}": gradient matches the analytic derivative to float32 precision`, async () => {
      // Finite differences in float32 cannot tell the two forms apart (their derivatives differ by < 1e-3).
      const r = rng(7);
      const xs = uniform(r, 64, -5, 5);
      const seed = uniform(r, 64, -1, 1);
      const g = new Graph('gelu');
      const a = g.value('a');
      a.type = { elemType: DataType.FLOAT, shape: [64] };
      const s = g.value('s');
      s.type = { elemType: DataType.FLOAT, shape: [64] };
      g.appendInputs(a, s);
      const y = new Builder(g, { opset: 20 }).op('Gelu', [a], { approximate });
      const res = differentiate(g, { seeds: new Map([[y, s]]), wrt: [a], opset: 20 });
      const grad = res.gradients.get('a')!;
      g.setOutputs([grad]);
      eliminateDeadCode(g);
      const out = await (await session(newModel(g, 20))).run({ a: tensor('float32', [64], xs), s: tensor('float32', [64], seed) });
      const got = toNumbers(out[grad.name]!);
      got.forEach((v, i) => {
        const want = Math.fround(seed[i]!) * GELU_DERIV[approximate]!(Math.fround(xs[i]!));
        assert.ok(Math.abs(v - want) <= 2e-6 + 1e-5 * Math.abs(want), `x=${xs[i]}: ${v} vs ${want}`);
      });
    });
  }

  /**
   * d(sum(seed * f(a)))/da for a graph `f` built on input `a`, run in ORT (float32); the backward's nodes.
   * The gradient is checked against `deriv` (float64 formula) to float32 precision.
   */
  async function analyticCheck(f: (b: Builder, a: Value) => Value[], deriv: (x: number) => number) {
    const r = rng(11);
    const xs = uniform(r, 64, -5, 5);
    const seed = uniform(r, 64, -1, 1);
    const g = new Graph('pattern');
    const a = g.addInput('a', { elemType: DataType.FLOAT, shape: [64] });
    const s = g.addInput('s', { elemType: DataType.FLOAT, shape: [64] });
    const b = new Builder(g, { opset: 17, prefix: 'fwd/' });
    const ys = f(b, a);
    const y = ys.length === 1 ? ys[0]! : b.op('Sum', ys);
    const res = differentiate(g, { seeds: new Map([[y, s]]), wrt: [a], opset: 17 });
    const grad = res.gradients.get('a')!;
    g.setOutputs([grad]);
    eliminateDeadCode(g);
    const out = await (await session(newModel(g, 17))).run({ a: tensor('float32', [64], xs), s: tensor('float32', [64], seed) });
    toNumbers(out[grad.name]!).forEach((v, i) => {
      const want = Math.fround(seed[i]!) * deriv(Math.fround(xs[i]!));
      assert.ok(Math.abs(v - want) <= 3e-6 + 1e-5 * Math.abs(want), `x=${xs[i]}: ${v} vs ${want}`);
    });
    return g.nodes.filter((n) => n.name.startsWith('grad/') && n.opType !== 'Constant').map((n) => n.opType);
  }
  const k = (b: Builder, v: number) => b.scalar(v, DataType.FLOAT);
  /** The spellings of x * 0.5 * (1 + erf(x / sqrt2)) that TorchScript, dynamo and hand-written graphs use. */
  const ERF_GELUS: [string, (b: Builder, x: Value) => Value][] = [
    ['(x * (1 + erf(x / sqrt2))) * 0.5 (TorchScript and dynamo exports)', (b, x) => b.mul(b.mul(x, b.add(b.op('Erf', [b.div(x, k(b, Math.SQRT2))]), k(b, 1))), k(b, 0.5))],
    ['0.5 * ((erf(x * (1/sqrt2)) + 1) * x)', (b, x) => b.mul(k(b, 0.5), b.mul(b.add(k(b, 1), b.op('Erf', [b.mul(k(b, Math.SQRT1_2), x)])), x))],
    ['(x * 0.5) * (1 + erf(x / sqrt2))', (b, x) => b.mul(b.mul(x, k(b, 0.5)), b.add(b.op('Erf', [b.div(x, k(b, Math.SQRT2))]), k(b, 1)))],
    ['x * ((1 + erf(x / sqrt2)) * 0.5)', (b, x) => b.mul(x, b.mul(b.add(k(b, 1), b.op('Erf', [b.div(x, k(b, Math.SQRT2))])), k(b, 0.5)))],
  ];
  for (const [form, gelu] of ERF_GELUS) {
    it(`GELU spelled out as ${form}: one pattern rule, the Gelu op's ten passes, no fan-in sum`, async () => {
      const ops = await analyticCheck((b, a) => [gelu(b, a)], GELU_DERIV.none!);
      assert.deepEqual(ops.sort(), ['Add', 'Add', 'Erf', 'Exp', 'Mul', 'Mul', 'Mul', 'Mul', 'Mul', 'Sub']);
    });
  }
  const B = Math.sqrt(2 / Math.PI);
  /** x + 0.044715 x^3 inside tanh, as Hugging Face's NewGELUActivation (GPT-2) is exported, and reordered. */
  const TANH_GELUS: [string, (b: Builder, x: Value) => Value][] = [
    ['(x * 0.5) * (1 + tanh(sqrt(2/pi) * (x + pow(x, 3) * 0.044715))) (GPT-2 export)', (b, x) =>
      b.mul(b.mul(x, k(b, 0.5)), b.add(b.op('Tanh', [b.mul(b.add(x, b.mul(b.op('Pow', [x, k(b, 3)]), k(b, 0.044715))), k(b, B))]), k(b, 1)))],
    ['((1 + tanh((0.044715 * pow(x, 3) + x) * sqrt(2/pi))) * x) * 0.5', (b, x) =>
      b.mul(b.mul(b.add(k(b, 1), b.op('Tanh', [b.mul(k(b, B), b.add(b.mul(k(b, 0.044715), b.op('Pow', [x, k(b, 3)])), x))])), x), k(b, 0.5))],
  ];
  for (const [form, gelu] of TANH_GELUS) {
    it(`tanh GELU spelled out as ${form}: one pattern rule, the Gelu op's passes, no Pow or fan-in sum`, async () => {
      const ops = await analyticCheck((b, a) => [gelu(b, a)], GELU_DERIV.tanh!);
      assert.deepEqual(ops.sort(), ['Add', 'Add', 'Add', 'Add', 'Mul', 'Mul', 'Mul', 'Mul', 'Mul', 'Mul', 'Mul', 'Mul', 'Mul', 'Sub', 'Tanh']);
    });
  }
  it('a tanh-GELU-shaped graph with another cubic coefficient (0.05) is not taken for GELU', async () => {
    const f = (x: number) => {
      const t = Math.tanh(B * (x + 0.05 * x ** 3));
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * B * (1 + 0.15 * x * x);
    };
    const ops = await analyticCheck((b, a) =>
      [b.mul(b.mul(a, k(b, 0.5)), b.add(b.op('Tanh', [b.mul(b.add(a, b.mul(b.op('Pow', [a, k(b, 3)]), k(b, 0.05))), k(b, B))]), k(b, 1)))], f);
    assert.ok(ops.includes('Sum') && ops.includes('Pow'), `per-op backward expected, got ${ops.join(' ')}`);
  });
  it('GELU spelled out, with its erf also read outside: the ops\' own rules, still exact', async () => {
    const erfDeriv = (x: number) => Math.sqrt(2 / Math.PI) * Math.exp(-x * x / 2);
    const ops = await analyticCheck((b, a) => {
      const e = b.op('Erf', [b.div(a, k(b, Math.SQRT2))]);
      return [b.mul(b.mul(a, b.add(e, k(b, 1))), k(b, 0.5)), e];
    }, (x) => GELU_DERIV.none!(x) + erfDeriv(x));
    assert.ok(ops.includes('Sum') && ops.includes('Div'), `per-op backward expected, got ${ops.join(' ')}`);
  });
  it('a GELU-shaped product with another constant (0.25) is not taken for GELU', async () => {
    const ops = await analyticCheck((b, a) => [b.mul(b.mul(a, b.add(b.op('Erf', [b.div(a, k(b, Math.SQRT2))]), k(b, 1))), k(b, 0.25))],
      (x) => 0.5 * GELU_DERIV.none!(x));
    assert.ok(ops.includes('Sum'), `per-op backward expected, got ${ops.join(' ')}`);
  });

  it('Relu at opset 13 and 21', async () => {
    for (const opset of [13, 21]) await gradcheck({ opset, params: { a: [5] }, forward: (b, v) => b.op('Relu', [v.a!]) });
  });
  it('Gelu with an unknown approximate value is rejected naming the node', async () => {
    // ORT itself refuses this variant, so the graph is only differentiated, not run.
    const g = new Graph('gelu');
    const a = g.value('a');
    a.type = { elemType: DataType.FLOAT, shape: [2] };
    g.appendInputs(a);
    const y = new Builder(g, { opset: 20 }).op('Gelu', [a], { approximate: 'fast' });
    assert.throws(() => differentiate(g, { loss: y, wrt: [a], opset: 20 }), /Gelu node 'Gelu'.*approximate="fast"/);
  });
});
