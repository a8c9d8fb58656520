/**
 * Finite-difference checks of gradient rules. A case builds a tiny graph around the op under test; the
 * harness differentiates it with explicit random output seeds R (a vector-Jacobian product, so the loss
 * itself needs no other rule), runs it in ONNX Runtime, and compares each parameter's gradient with central
 * differences of f(p) = sum_k <R_k, out_k(p)> computed from forward runs of the same graph. It also checks
 * that each gradient has exactly its parameter's dims and that no backward node repeats a forward node.
 */
import assert from 'node:assert/strict';
import type ort from 'onnxruntime-node';
import { differentiate } from '../../src/autodiff/differentiate.js';
import { Builder } from '../../src/ir/builder.js';
import { newModel } from '../../src/ir/convert.js';
import { Graph, type Value } from '../../src/ir/graph.js';
import { DataType } from '../../src/onnx/dtype.js';
import { makeTensor, typedFromNumbers } from '../../src/onnx/tensor.js';
import { recomputedNodes } from './graph.js';
import { rng, uniform } from './rng.js';
import { session, tensor, toNumbers, type Feed } from './ort.js';
import { eliminateDeadCode } from '../../src/ir/passes.js';

type ConstDtype = 'int64' | 'float64' | 'float32' | 'bool' | 'int32';
const DT: Record<ConstDtype, DataType> = {
  int64: DataType.INT64, float64: DataType.DOUBLE, float32: DataType.FLOAT, bool: DataType.BOOL, int32: DataType.INT32,
};

export interface ParamSpec {
  shape: number[];
  /** Explicit values (default: seeded uniform in [lo, hi)). */
  data?: number[];
  lo?: number;
  hi?: number;
}

export interface GradCase {
  opset?: number;
  /** float64 unless the op has no float64 kernel in ORT (Erf, Gelu). */
  dtype?: 'float64' | 'float32';
  /** Differentiable graph inputs: name -> shape (or a spec). */
  params: Record<string, number[] | ParamSpec>;
  /** Non-differentiable tensors (indices, shapes, masks), stored as initializers. */
  consts?: Record<string, { dtype: ConstDtype; shape: number[]; data: number[] }>;
  /** Non-differentiable runtime inputs (fed, not stored), e.g. to hide a shape from inference. */
  feeds?: Record<string, { dtype: ConstDtype; shape: number[]; data: number[] }>;
  /** Declare param inputs with symbolic dims, so only run-time shapes are known (dynamic code paths). */
  dynamic?: boolean;
  /** Builds the op(s) under test. */
  forward: (b: Builder, v: Record<string, Value>) => Value | Value[];
  /** Params to check (default all). Others are inputs without gradients. */
  wrt?: string[];
  rtol?: number;
  atol?: number;
  eps?: number;
  /** Elements per parameter checked by finite differences (default 30, sampled). */
  maxChecks?: number;
  seed?: number;
}

export interface GradcheckReport {
  maxAbsErr: number;
  maxRelErr: number;
  checked: number;
  backwardNodes: number;
  forwardNodes: number;
}

const specOf = (p: number[] | ParamSpec): ParamSpec => (Array.isArray(p) ? { shape: p } : p);
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

export async function gradcheck(c: GradCase): Promise<GradcheckReport> {
  const opset = c.opset ?? 17;
  const dtype = c.dtype ?? 'float64';
  const elemType = dtype === 'float64' ? DataType.DOUBLE : DataType.FLOAT;
  const r = rng(c.seed ?? 1234);
  const params = Object.entries(c.params).map(([name, p]) => {
    const s = specOf(p);
    return { name, shape: s.shape, data: s.data ?? uniform(r, size(s.shape), s.lo ?? -1, s.hi ?? 1) };
  });
  const wrtNames = c.wrt ?? params.map((p) => p.name);

  const build = () => {
    const g = new Graph('gradcheck');
    const vals: Record<string, Value> = {};
    for (const p of params) {
      const v = g.value(p.name);
      v.type = { elemType, shape: c.dynamic ? p.shape.map((_, i) => `${p.name}_d${i}`) : [...p.shape] };
      g.appendInputs(v);
      vals[p.name] = v;
    }
    for (const [name, k] of Object.entries(c.consts ?? {})) {
      vals[name] = g.addInitializer(makeTensor(name, DT[k.dtype], k.shape, typedFromNumbers(DT[k.dtype], k.data)));
      vals[name].type = { elemType: DT[k.dtype], shape: [...k.shape] };
    }
    for (const [name, k] of Object.entries(c.feeds ?? {})) {
      const v = g.value(name);
      v.type = { elemType: DT[k.dtype], shape: k.shape.map((_, i) => `${name}_d${i}`) };
      g.appendInputs(v);
      vals[name] = v;
    }
    const b = new Builder(g, { opset, prefix: 'fwd/' });
    const outs = [c.forward(b, vals)].flat();
    g.setOutputs(outs);
    return { g, vals, outs };
  };

  const baseFeed = (): Feed => {
    const f: Feed = {};
    for (const p of params) f[p.name] = tensor(dtype, p.shape, p.data);
    for (const [name, k] of Object.entries(c.feeds ?? {})) f[name] = tensor(k.dtype, k.shape, k.data);
    return f;
  };

  // Forward model: output shapes, and the function for finite differences.
  const fwd = build();
  const forwardNodes = fwd.g.nodes.length;
  const fwdSession = await session(newModel(fwd.g, opset));
  const base = await fwdSession.run(baseFeed());
  const outNames = fwd.outs.map((o) => o.name);
  const seeds = outNames.map((n) => {
    const t = base[n]!;
    return { dims: [...t.dims], data: uniform(r, t.size) };
  });
  const objective = (res: ort.InferenceSession.OnnxValueMapType) =>
    outNames.reduce((acc, n, k) => {
      const y = toNumbers(res[n] as ort.Tensor);
      return acc + y.reduce((s, v, i) => s + v * seeds[k]!.data[i]!, 0);
    }, 0);

  // Backward model: same forward, plus gradients with the seeds as inputs.
  const bwd = build();
  const seedMap = new Map<Value, Value>();
  bwd.outs.forEach((o, k) => {
    const s = bwd.g.value(`seed_${k}`);
    s.type = { elemType, shape: c.dynamic ? seeds[k]!.dims.map((_, i) => `seed_${k}_d${i}`) : seeds[k]!.dims };
    bwd.g.appendInputs(s);
    seedMap.set(o, s);
  });
  const nodesBefore = bwd.g.nodes.length;
  const result = differentiate(bwd.g, { seeds: seedMap, wrt: wrtNames.map((n) => bwd.vals[n]!), opset });
  assert.deepEqual(recomputedNodes(bwd.g.nodes, nodesBefore), [], 'the backward pass recomputes forward nodes');
  assert.deepEqual(result.unreached.map((v) => v.name), [], 'every checked parameter must receive a gradient');
  const gradNames = wrtNames.map((n) => result.gradients.get(n)!);
  bwd.g.setOutputs([...gradNames]);
  eliminateDeadCode(bwd.g);
  const bwdSession = await session(newModel(bwd.g, opset));
  const feed = baseFeed();
  seeds.forEach((s, k) => (feed[`seed_${k}`] = tensor(dtype, s.dims, s.data)));
  const grads = await bwdSession.run(feed);

  const eps = c.eps ?? (dtype === 'float64' ? 1e-6 : 1e-2);
  const rtol = c.rtol ?? (dtype === 'float64' ? 1e-5 : 2e-2);
  const atol = c.atol ?? (dtype === 'float64' ? 1e-8 : 2e-3);
  const report: GradcheckReport = { maxAbsErr: 0, maxRelErr: 0, checked: 0, backwardNodes: result.nodesAdded, forwardNodes };
  for (const [k, name] of wrtNames.entries()) {
    const p = params.find((q) => q.name === name)!;
    const gradTensor = grads[gradNames[k]!.name] as ort.Tensor;
    assert.deepEqual([...gradTensor.dims], p.shape, `gradient of '${name}' has dims [${gradTensor.dims}], expected [${p.shape}]`);
    const analytic = toNumbers(gradTensor);
    assert.equal(analytic.length, p.data.length, `gradient of '${name}' has ${analytic.length} elements, expected ${p.data.length}`);
    const n = p.data.length;
    const max = c.maxChecks ?? 30;
    const picks = n <= max ? [...Array(n).keys()] : Array.from({ length: max }, () => Math.floor(r() * n));
    for (const i of picks) {
      const orig = p.data[i]!;
      const f = async (x: number) => {
        p.data[i] = x;
        const res = await fwdSession.run(baseFeed());
        p.data[i] = orig;
        return objective(res);
      };
      const numeric = ((await f(orig + eps)) - (await f(orig - eps))) / (2 * eps);
      const err = Math.abs(analytic[i]! - numeric);
      report.maxAbsErr = Math.max(report.maxAbsErr, err);
      report.maxRelErr = Math.max(report.maxRelErr, err / Math.max(Math.abs(numeric), 1e-12));
      report.checked++;
      assert.ok(
        err <= atol + rtol * Math.abs(numeric),
        `d/d${name}[${i}]: analytic ${analytic[i]} vs finite difference ${numeric} (|diff| ${err.toExponential(2)})`,
      );
    }
  }
  return report;
}
