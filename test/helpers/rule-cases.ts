/**
 * Small pieces the gradient-rule tests (test/autodiff-rule*.test.ts) share: the static/run-time shape
 * switch, int64 constants that reach INT64_MAX, an identity that hides a rank from inference, and two ways to
 * run a rule without finite differences (a refusal, explicit seeds).
 */
import type ort from 'onnxruntime-node';
import { differentiate } from '../../src/autodiff/differentiate.js';
import { Builder } from '../../src/ir/builder.js';
import { newModel } from '../../src/ir/convert.js';
import { Graph, type Value } from '../../src/ir/graph.js';
import { DataType } from '../../src/onnx/dtype.js';
import { makeTensor, typedFromNumbers } from '../../src/onnx/tensor.js';
import { session, tensor, toNumbers } from './ort.js';
import { eliminateDeadCode } from '../../src/ir/passes.js';

export const INT64_MAX = 9223372036854775807n;
export const INT64_MIN = -9223372036854775808n;

/** An int64 constant from bigints (numbers cannot hold INT64_MAX, which exporters write as "to the end"). */
export const i64 = (b: Builder, values: (number | bigint)[]): Value =>
  b.constant(makeTensor('', DataType.INT64, [values.length], BigInt64Array.from(values, (v) => BigInt(v))));

export const scalarConst = (b: Builder, value: number, dt = DataType.DOUBLE) =>
  b.constant(makeTensor('', dt, [], typedFromNumbers(dt, [value])));

/** Static shapes, then run-time shapes (gradcheck's `dynamic`). */
export const both = [false, true] as const;
export const kind = (dynamic: boolean) => (dynamic ? 'run-time shapes' : 'static shapes');

export const DT = { int64: DataType.INT64, int32: DataType.INT32, float64: DataType.DOUBLE, float32: DataType.FLOAT, bool: DataType.BOOL };

/** An empty int64 axes feed: ReduceSum(v, none, noop_with_empty_axes=1) is v, but inference loses its rank. */
export const NONE = { none: { dtype: 'int64' as const, shape: [0], data: [] } };
// An identity whose output rank inference cannot know: ReduceSum over run-time (empty) axes, keepdims=0.
export const hideRank = (b: Builder, v: Value, none: Value) => b.op('ReduceSum', [v, none], { keepdims: 0, noop_with_empty_axes: 1 });

/** Builds x -> forward(x) and differentiates it (no ONNX Runtime), for rules that must refuse a node. */
export function differentiateOnly(shape: number[], forward: (b: Builder, x: Value) => Value, opset = 17): void {
  const g = new Graph('refuse');
  const x = g.value('x');
  x.type = { elemType: DataType.DOUBLE, shape };
  g.appendInputs(x);
  const y = forward(new Builder(g, { opset, prefix: 'fwd/' }), x);
  g.setOutputs([y]);
  differentiate(g, { loss: y, wrt: [x], opset });
}

/** Runs forward + backward once (float64) with explicit seeds; returns the gradients of `wrt` by name. */
export async function gradsOnce(c: {
  inputs: Record<string, { shape: number[]; data: number[] }>;
  wrt: string[];
  forward: (b: Builder, v: Record<string, Value>) => Value;
  seed: number[];
  opset?: number;
}): Promise<Record<string, number[]>> {
  const opset = c.opset ?? 17;
  const g = new Graph('direct');
  const v: Record<string, Value> = {};
  for (const [name, s] of Object.entries(c.inputs)) {
    v[name] = g.value(name);
    v[name].type = { elemType: DataType.DOUBLE, shape: [...s.shape] };
    g.appendInputs(v[name]);
  }
  const out = c.forward(new Builder(g, { opset, prefix: 'fwd/' }), v);
  const seed = g.value('seed');
  seed.type = { elemType: DataType.DOUBLE, shape: out.type.shape };
  g.appendInputs(seed);
  const res = differentiate(g, { seeds: new Map([[out, seed]]), wrt: c.wrt.map((n) => v[n]!), opset });
  const names = c.wrt.map((n) => res.gradients.get(n)!);
  g.setOutputs([...names]);
  eliminateDeadCode(g);
  const feed: Record<string, ort.Tensor> = {};
  for (const [name, s] of Object.entries(c.inputs)) feed[name] = tensor('float64', s.shape, s.data);
  feed.seed = tensor('float64', out.type.shape as number[], c.seed);
  const r = await (await session(newModel(g, opset))).run(feed);
  return Object.fromEntries(c.wrt.map((n, i) => [n, toNumbers(r[names[i]!.name] as ort.Tensor)]));
}
