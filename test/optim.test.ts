/**
 * Optimizers and gradient clipping against PyTorch (models/optim/reference.safetensors, written by
 * scripts/fixtures/reference_optim.py): each case's update graph runs 6 steps in onnxruntime, its outputs (parameters
 * and state) fed back as the next step's inputs, and every parameter and state tensor after every step is
 * compared with torch.optim.SGD / torch.optim.AdamW; clip_grad_norm_ likewise. Float64 must agree to
 * round-off; float32 to about an ulp (PyTorch's CPU kernels fuse multiply-adds where ONNX cannot).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import type ort from 'onnxruntime-node';
import { InputError } from '../src/errors.js';
import { safeToFloat64, readSafetensors } from '../src/export/safetensors.js';
import { Builder } from '../src/ir/builder.js';
import { newModel } from '../src/ir/convert.js';
import { Graph, type Value } from '../src/ir/graph.js';
import { DataType } from '../src/onnx/dtype.js';
import { clipGradNorm, createAdamW, createOptimizer, createSgd, type Optimizer } from '../src/optim/index.js';
import { MODELS } from './helpers/fixtures.js';
import { session, tensor, toNumbers } from './helpers/ort.js';

interface RefCase {
  name: string;
  optimizer: 'sgd' | 'adamw';
  lr: number[];
  settings: Record<string, number | boolean>;
  states: string[];
}
interface RefMeta {
  steps: number;
  params: Record<string, number[]>;
  cases: RefCase[];
  clips: { name: string; max_norm: number }[];
}

const DIR = path.join(MODELS, 'optim');
const META = JSON.parse(fs.readFileSync(path.join(DIR, 'reference.json'), 'utf8')) as RefMeta;
const REF = readSafetensors(path.join(DIR, 'reference.safetensors'));
const PARAMS = Object.keys(META.params);

type Dt = 'f32' | 'f64';
const DTYPES: Dt[] = ['f32', 'f64'];
const ORT_TYPE = { f32: 'float32', f64: 'float64' } as const;
const ELEM = { f32: DataType.FLOAT, f64: DataType.DOUBLE } as const;

/**
 * Tolerances: |onnx - torch| <= max(rtol * |torch|, floor), floor = 2 ulps of the tensor's largest element
 * (2 * eps * max|torch|). Float64 agrees to round-off. Float32 differs by about an ulp per step (PyTorch's CPU
 * kernels fuse multiply-adds; ONNX has none), which is large relative to an element near zero after a
 * cancelling update: the floor covers those.
 */
const TOL = { f64: { rtol: 1e-10, eps: 2 ** -52 }, f32: { rtol: 1e-6, eps: 2 ** -23 } };
const FLOOR_ULPS = 2;

function ref(name: string): number[] {
  const t = REF.get(name);
  if (!t) throw new Error(`reference.safetensors has no tensor '${name}'`);
  return Array.from(safeToFloat64(t));
}

/** Row `k` of a [steps, ...shape] reference tensor. */
function refStep(name: string, k: number, shape: number[]): number[] {
  const n = shape.reduce((a, b) => a * b, 1);
  return ref(name).slice(k * n, (k + 1) * n);
}

/** Largest errors seen, for the diagnostics. */
interface Err { abs: number; rel: number; worst: number }
const newErr = (): Err => ({ abs: 0, rel: 0, worst: 0 });

/** Asserts |got - want| <= max(rtol |want|, floor) element-wise; records the largest errors. */
function assertClose(got: number[], want: number[], dt: Dt, what: string, err: Err): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const { rtol, eps } = TOL[dt];
  const atol = FLOOR_ULPS * eps * Math.max(...want.map(Math.abs));
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    const scale = Math.abs(want[i]!);
    err.abs = Math.max(err.abs, d);
    if (scale > 0) err.rel = Math.max(err.rel, d / scale);
    err.worst = Math.max(err.worst, d / Math.max(rtol * scale, atol));
    assert.ok(d <= Math.max(rtol * scale, atol), `${what}[${i}]: onnx ${got[i]} vs torch ${want[i]} (|diff| ${d.toExponential(3)})`);
  }
}

function input(g: Graph, name: string, elemType: number, shape: number[]): Value {
  const v = g.value(name);
  v.type = { elemType, shape: [...shape] };
  g.appendInputs(v);
  return v;
}

/** The update graph: inputs lr, step, <p>, <p>.grad, <p>.<state>; outputs new params then new states. */
function stepModel(opt: Optimizer, dt: Dt, opset = 17, withGradScale = false) {
  const g = new Graph(`${opt.name}_step`);
  const elem = ELEM[dt];
  const lr = input(g, 'lr', elem, []);
  const step = input(g, 'step', elem, []);
  const gradScale = withGradScale ? input(g, 'grad_scale', elem, []) : undefined;
  const b = new Builder(g, { opset, prefix: 'optim/' });
  const outputs: { feeds: string; value: Value }[] = [];
  for (const p of PARAMS) {
    const shape = META.params[p]!;
    const param = input(g, p, elem, shape);
    const grad = input(g, `${p}.grad`, elem, shape);
    const state = opt.stateSpecs().map((s) => input(g, `${p}.${s.suffix}`, elem, shape));
    const r = opt.update(b, { lr, step, gradScale }, { param, grad, state });
    outputs.push({ feeds: p, value: r.param });
    opt.stateSpecs().forEach((s, i) => outputs.push({ feeds: `${p}.${s.suffix}`, value: r.state[i]! }));
  }
  g.setOutputs(outputs.map((o) => o.value));
  return { model: newModel(g, opset), outputs, graph: g };
}

function scalarFeed(dt: Dt, x: number): ort.Tensor {
  return tensor(ORT_TYPE[dt], [], [x]);
}

/**
 * Runs the reference case for 6 steps, comparing every parameter and state tensor after every step. With
 * `gradScale` c, the graph gets the gradient divided by c and c as its gradScale input, which must give
 * PyTorch's update for the reference gradient (c is chosen so that g / c is exact).
 */
async function runCase(c: RefCase, dt: Dt, gradScale?: number): Promise<{ param: Err; state: Err }> {
  const opt = createOptimizer(c.optimizer, c.settings);
  assert.deepEqual(opt.stateSpecs().map((s) => s.suffix), c.states, 'state names as in PyTorch');
  const { model, outputs } = stepModel(opt, dt, 17, gradScale !== undefined);
  const sess = await session(model);
  const cur: Record<string, ort.Tensor> = {};
  for (const p of PARAMS) {
    const shape = META.params[p]!;
    cur[p] = tensor(ORT_TYPE[dt], shape, ref(`${dt}.init.${p}`));
    for (const s of opt.stateSpecs()) cur[`${p}.${s.suffix}`] = tensor(ORT_TYPE[dt], shape, new Array(shape.reduce((a, b) => a * b, 1)).fill(s.init));
  }
  const err = { param: newErr(), state: newErr() };
  for (let k = 0; k < META.steps; k++) {
    const feed: Record<string, ort.Tensor> = { ...cur, lr: scalarFeed(dt, c.lr[k]!), step: scalarFeed(dt, k + 1) };
    for (const p of PARAMS) {
      const grad = refStep(`${dt}.grad.${p}`, k, META.params[p]!);
      feed[`${p}.grad`] = tensor(ORT_TYPE[dt], META.params[p]!, gradScale === undefined ? grad : grad.map((x) => x / gradScale));
    }
    if (gradScale !== undefined) feed.grad_scale = scalarFeed(dt, gradScale);
    const res = await sess.run(feed);
    for (const o of outputs) {
      const got = res[o.value.name]!;
      const isParam = PARAMS.includes(o.feeds);
      const shape = META.params[isParam ? o.feeds : o.feeds.slice(0, o.feeds.indexOf('.'))]!;
      assertClose(toNumbers(got), refStep(`${dt}.${c.name}.${o.feeds}`, k, shape), dt, `${c.name} ${dt} step ${k + 1} ${o.feeds}`, isParam ? err.param : err.state);
      cur[o.feeds] = got;
    }
  }
  return err;
}

const fmt = (e: Err) => `max abs ${e.abs.toExponential(2)}, max rel ${e.rel.toExponential(2)}, worst/tol ${e.worst.toFixed(3)}`;

describe('optimizers vs PyTorch (6 steps, outputs fed back as inputs)', () => {
  for (const c of META.cases) {
    for (const dt of DTYPES) {
      const desc = `${c.optimizer} ${JSON.stringify(c.settings)}`;
      it(`${c.name} (${dt}): every parameter and ${c.states.length ? c.states.join(' + ') : 'no state'} after every step matches torch.optim ${desc}`, async (t) => {
        const err = await runCase(c, dt);
        t.diagnostic(`${c.name} ${dt} params: ${fmt(err.param)}${c.states.length ? `; state: ${fmt(err.state)}` : ''}`);
      });
    }
  }
});

describe('a gradient scale (clipping coefficient, accumulation mean) folded into the optimizer', () => {
  // 0.25 and 4 keep g / c exact in both float types, so the reference holds to the same tolerance; 0.3 checks a
  // scale that is not a power of two in float64.
  for (const c of META.cases) {
    for (const [dt, scale] of [['f32', 0.25], ['f64', 4], ['f64', 0.3]] as const) {
      it(`${c.name} (${dt}, scale ${scale}): update(g / scale, gradScale = scale) matches torch.optim on g`, async (t) => {
        const err = await runCase(c, dt, scale);
        t.diagnostic(`${c.name} ${dt} x${scale} params: ${fmt(err.param)}${c.states.length ? `; state: ${fmt(err.state)}` : ''}`);
      });
    }
  }

  it('AdamW spends 13 elementwise passes per parameter, and none on the scale', () => {
    // A second parameter of the same dtype reuses the shared per-step scalars and the scale's coefficients,
    // so every node it adds is a full pass over a parameter-sized tensor.
    const opt = createAdamW();
    const graph = new Graph('adamw_passes');
    const lr = input(graph, 'lr', DataType.FLOAT, []);
    const step = input(graph, 'step', DataType.FLOAT, []);
    const gradScale = input(graph, 'c', DataType.FLOAT, []);
    const b = new Builder(graph, { opset: 17 });
    const added: number[] = [];
    for (const name of ['w1', 'w2']) {
      const before = graph.nodes.length;
      const param = input(graph, name, DataType.FLOAT, [64, 32]);
      const grad = input(graph, `${name}.grad`, DataType.FLOAT, [64, 32]);
      const state = ['m', 'v'].map((s) => input(graph, `${name}.${s}`, DataType.FLOAT, [64, 32]));
      opt.update(b, { lr, step, gradScale }, { param, grad, state });
      added.push(graph.nodes.length - before);
    }
    assert.equal(added[1], 13, `nodes added for the second parameter: ${added[1]}`);
  });
});

describe('SGD momentum: the first step is decided in the graph from `step`', () => {
  // PyTorch creates the momentum buffer as a copy of the (weight-decayed) gradient on the first step, without
  // dampening, and applies buf = momentum * buf + (1 - dampening) * g from the second step on.
  const g = [1, -2, 0.5];
  const p0 = [0.3, 0.2, -0.1];
  const bufIn = [5, -3, 7]; // deliberately not zero: step 1 must ignore it
  const [momentum, dampening, lr] = [0.9, 0.5, 0.1];
  async function run(nesterov: boolean, step: number) {
    const opt = createSgd({ momentum, dampening: nesterov ? 0 : dampening, nesterov });
    const graph = new Graph('sgd_first');
    const lrV = input(graph, 'lr', DataType.DOUBLE, []);
    const stepV = input(graph, 'step', DataType.DOUBLE, []);
    const param = input(graph, 'p', DataType.DOUBLE, [3]);
    const grad = input(graph, 'g', DataType.DOUBLE, [3]);
    const buf = input(graph, 'buf', DataType.DOUBLE, [3]);
    const r = opt.update(new Builder(graph, { opset: 17 }), { lr: lrV, step: stepV }, { param, grad, state: [buf] });
    graph.setOutputs([r.param, r.state[0]!]);
    const res = await (await session(newModel(graph, 17))).run({
      lr: tensor('float64', [], [lr]), step: tensor('float64', [], [step]),
      p: tensor('float64', [3], p0), g: tensor('float64', [3], g), buf: tensor('float64', [3], bufIn),
    });
    return { p: toNumbers(res[r.param.name]!), buf: toNumbers(res[r.state[0]!.name]!) };
  }
  it('step == 1: new buffer = gradient (input buffer ignored, no dampening); p -= lr * buffer', async () => {
    const r = await run(false, 1);
    assert.deepEqual(r.buf, g);
    assert.deepEqual(r.p, p0.map((x, i) => x - lr * g[i]!));
  });
  for (const step of [2, 7]) {
    it(`step == ${step}: buffer = momentum * buffer + (1 - dampening) * gradient`, async () => {
      const r = await run(false, step);
      const want = bufIn.map((x, i) => x * momentum + g[i]! * (1 - dampening));
      assert.deepEqual(r.buf, want);
      assert.deepEqual(r.p, p0.map((x, i) => x - lr * want[i]!));
    });
  }
  it('nesterov, step == 1: buffer = gradient, p -= lr * (g + momentum * g); step 2 uses the decayed buffer', async () => {
    const r1 = await run(true, 1);
    assert.deepEqual(r1.buf, g);
    assert.deepEqual(r1.p, p0.map((x, i) => x - lr * (g[i]! + g[i]! * momentum)));
    const r2 = await run(true, 2);
    const want = bufIn.map((x, i) => x * momentum + g[i]!);
    assert.deepEqual(r2.buf, want);
    assert.deepEqual(r2.p, p0.map((x, i) => x - lr * (g[i]! + want[i]! * momentum)));
  });
});

describe('clipGradNorm vs torch.nn.utils.clip_grad_norm_', () => {
  function clipModel(dt: Dt, opset: number) {
    const graph = new Graph('clip');
    const elem = ELEM[dt];
    const maxNorm = input(graph, 'max_norm', elem, []);
    const grads = PARAMS.map((p) => input(graph, `${p}.grad`, elem, META.params[p]!));
    const r = clipGradNorm(new Builder(graph, { opset }), grads, maxNorm);
    graph.setOutputs([r.norm, ...r.grads]);
    return { model: newModel(graph, opset), r };
  }
  async function runClip(dt: Dt, opset: number, maxNorm: number) {
    const { model, r } = clipModel(dt, opset);
    const feed: Record<string, ort.Tensor> = { max_norm: scalarFeed(dt, maxNorm) };
    for (const p of PARAMS) feed[`${p}.grad`] = tensor(ORT_TYPE[dt], META.params[p]!, refStep(`${dt}.grad.${p}`, 0, META.params[p]!));
    const res = await (await session(model)).run(feed);
    return { norm: toNumbers(res[r.norm.name]!)[0]!, grads: r.grads.map((v) => toNumbers(res[v.name]!)) };
  }
  for (const c of META.clips) {
    for (const dt of DTYPES) {
      for (const opset of [13, 18]) {
        it(`${c.name} (max_norm ${c.max_norm}, ${dt}, opset ${opset}): pre-clip total norm and clipped gradients match`, async (t) => {
          const r = await runClip(dt, opset, c.max_norm);
          const err = newErr();
          assertClose([r.norm], ref(`${dt}.${c.name}.norm`), dt, `${c.name} norm`, err);
          PARAMS.forEach((p, i) => assertClose(r.grads[i]!, ref(`${dt}.${c.name}.${p}`), dt, `${c.name} ${p}`, err));
          t.diagnostic(`${c.name} ${dt} opset ${opset}: ${fmt(err)}`);
        });
      }
    }
  }
  it('max_norm <= 0 disables clipping (HF Trainer skips it for max_grad_norm 0/None): gradients unchanged, norm still returned', async () => {
    for (const maxNorm of [0, -1]) {
      const r = await runClip('f64', 17, maxNorm);
      PARAMS.forEach((p, i) => assert.deepEqual(r.grads[i], refStep(`f64.grad.${p}`, 0, META.params[p]!)));
      assertClose([r.norm], ref('f64.clip_below.norm'), 'f64', 'norm', newErr());
    }
  });
  it('an empty gradient list is an error', () => {
    const graph = new Graph('clip');
    assert.throws(() => clipGradNorm(new Builder(graph, { opset: 17 }), [], input(graph, 'm', DataType.FLOAT, [])), /no gradients/);
  });
});

describe('optimizer construction and graph shape', () => {
  it('state specs: SGD without momentum has none, with momentum one momentum_buffer; AdamW exp_avg + exp_avg_sq, all starting at 0', () => {
    assert.deepEqual(createSgd().stateSpecs(), []);
    assert.deepEqual(createSgd({ momentum: 0.9 }).stateSpecs(), [{ suffix: 'momentum_buffer', init: 0 }]);
    assert.deepEqual(createAdamW().stateSpecs(), [{ suffix: 'exp_avg', init: 0 }, { suffix: 'exp_avg_sq', init: 0 }]);
  });
  it('settings: PyTorch defaults filled in (AdamW weight decay 0.01), reported for the manifest', () => {
    assert.deepEqual(createOptimizer('sgd').settings, { momentum: 0, dampening: 0, nesterov: false, weightDecay: 0 });
    assert.deepEqual(createOptimizer('adamw', { beta2: 0.99 }).settings, { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.01 });
    assert.equal(createOptimizer('adamw').name, 'adamw');
  });
  it('invalid settings throw InputError: unknown key, nesterov without momentum or with dampening, beta >= 1, negative decay, unknown name', () => {
    assert.throws(() => createSgd({ weight_decay: 0.1 } as never), (e: unknown) => e instanceof InputError && /unknown setting 'weight_decay'/.test(e.message));
    assert.throws(() => createSgd({ nesterov: true }), InputError);
    assert.throws(() => createSgd({ nesterov: true, momentum: 0.9, dampening: 0.1 }), InputError);
    assert.throws(() => createAdamW({ beta1: 1 }), InputError);
    assert.throws(() => createAdamW({ weightDecay: -0.1 }), InputError);
    assert.throws(() => createOptimizer('sgd', { beta1: 0.9 } as never), /unknown setting 'beta1'/);
    assert.throws(() => createOptimizer('adam' as never), /unknown optimizer 'adam'/);
  });
  it('standard ai.onnx ops only, and the per-step scalars (bias corrections, cast lr, first-step flag) are built once per dtype', () => {
    for (const opt of [createAdamW(), createSgd({ momentum: 0.9, nesterov: true, weightDecay: 0.1 })]) {
      for (const dt of DTYPES) {
        const { graph } = stepModel(opt, dt);
        assert.ok(graph.nodes.every((n) => n.domain === ''), `${opt.name}: only the default domain`);
        const h = graph.opHistogram();
        if (opt.name === 'adamw') assert.equal(h.get('Pow'), 2, 'two bias corrections for all parameters');
        else assert.equal(h.get('Less'), 1, 'one first-step flag for all parameters');
      }
    }
  });
  it('a wrong number of state tensors is an InputError', () => {
    const graph = new Graph('bad');
    const x = input(graph, 'x', DataType.FLOAT, [2]);
    assert.throws(() => createAdamW().update(new Builder(graph, { opset: 17 }), { lr: x, step: x }, { param: x, grad: x, state: [x] }), InputError);
  });
});
