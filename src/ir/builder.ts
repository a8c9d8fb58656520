/**
 * Adds nodes to a graph with fresh unique names: `b.op('MatMul', [x, w])`. Helpers for the ops whose form
 * changed between opsets (reductions, Squeeze/Unsqueeze, Split take axes as an attribute or as an input)
 * emit the form the model's opset expects, so code that builds subgraphs need not care.
 */
import { GraphError } from '../errors.js';
import { DataType } from '../onnx/dtype.js';
import type { TensorProto } from '../onnx/proto.js';
import { makeTensor, typedFromNumbers } from '../onnx/tensor.js';
import { type AttrValue, makeAttribute } from './attributes.js';
import type { Graph, Node, Value } from './graph.js';
import { inferNode } from './infer.js';
import { isStandardDomain } from '../onnx/ops.js';

export type Attrs = Record<string, AttrValue | undefined>;

export interface BuilderOptions {
  /** ai.onnx opset of the model the nodes go into. */
  opset: number;
  /** Prefix for generated node and value names, e.g. 'grad/'. */
  prefix?: string;
}

export class Builder {
  readonly opset: number;
  readonly prefix: string;
  /** Nodes added by this builder, in order. */
  readonly added: Node[] = [];
  private readonly shapeCache = new Map<Value, Value>();
  private readonly constCache = new Map<string, Value>();

  constructor(readonly graph: Graph, options: BuilderOptions) {
    this.opset = options.opset;
    this.prefix = options.prefix ?? '';
  }

  /** Adds a node with one output and returns that output. */
  op(opType: string, inputs: (Value | null)[], attrs: Attrs = {}, name?: string): Value {
    return this.opN(opType, inputs, 1, attrs, name)[0]!;
  }

  /** Adds a node with `outputs` outputs. */
  opN(opType: string, inputs: (Value | null)[], outputs: number, attrs: Attrs = {}, name?: string): Value[] {
    const base = `${this.prefix}${name ?? opType}`;
    const outs = Array.from({ length: outputs }, (_, i) => this.graph.newValue(outputs === 1 ? `${base}_out` : `${base}_out${i}`));
    const attributes = Object.entries(attrs)
      .filter((e): e is [string, AttrValue] => e[1] !== undefined)
      .map(([k, v]) => makeAttribute(k, v));
    // Trailing omitted optional inputs are dropped; inner ones stay as '' (null).
    const ins = [...inputs];
    while (ins.length && ins[ins.length - 1] === null) ins.pop();
    const node = this.graph.addNode(opType, ins, outs, attributes, { name: base });
    this.added.push(node);
    inferNode(node, this.opset);
    return [...outs];
  }

  /** A copy of single-output `node` (op, domain, attributes) that reads `inputs`; returns its output. */
  copyOf(node: Node, inputs: (Value | null)[], name?: string): Value {
    const base = `${this.prefix}${name ?? node.opType}`;
    const out = this.graph.newValue(`${base}_out`);
    const copy = this.graph.addNode(node.opType, inputs, [out], node.attributes, { name: base, domain: node.domain });
    this.added.push(copy);
    inferNode(copy, this.opset);
    const original = node.outputs[0];
    if (original && out.type.shape === undefined) out.type = { ...original.type };
    return out;
  }

  /** A Constant node holding `tensor`. */
  constant(tensor: TensorProto, name = 'const'): Value {
    const v = this.op('Constant', [], { value: tensor }, name);
    v.type = { elemType: tensor.dataType, shape: tensor.dims.map(Number) };
    return v;
  }

  /** An int64 constant (1-D unless `scalar`), shared between uses by value. */
  int64(values: readonly number[], scalar = false): Value {
    const key = `i64:${scalar ? 's' : 'v'}:${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const dims = scalar ? [] : [values.length];
    const v = this.constant(makeTensor('', DataType.INT64, dims, typedFromNumbers(DataType.INT64, values)), 'int64');
    this.constCache.set(key, v);
    return v;
  }

  /**
   * A scalar constant with the element type of `like`. Uses the known type where inference found one and
   * CastLike otherwise, so one rule serves float32 and float64 graphs.
   */
  scalarLike(value: number, like: Value): Value {
    const t = like.type.elemType;
    if (t === DataType.FLOAT || t === DataType.DOUBLE) return this.scalar(value, t);
    const v = this.castLike(this.scalar(value, DataType.FLOAT), like);
    v.type = { elemType: like.type.elemType, shape: [] };
    return v;
  }

  /** `x` converted to the element type of `like`: a Cast when that type is known, else CastLike (opset 15+). */
  castLike(x: Value, like: Value): Value {
    const t = like.type.elemType;
    if (t !== undefined && t !== DataType.UNDEFINED) return x.type.elemType === t ? x : this.op('Cast', [x], { to: t });
    if (this.opset < 15) {
      throw new GraphError(`the element type of '${like.name}' is unknown and CastLike needs opset >= 15 (the model has ${this.opset})`);
    }
    return this.op('CastLike', [x, like]);
  }

  /** A scalar constant of a float or integer element type, shared between uses by value. */
  scalar(value: number, elemType: DataType): Value {
    const key = `s:${elemType}:${value}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const v = this.constant(makeTensor('', elemType, [], typedFromNumbers(elemType, [value])), 'scalar');
    this.constCache.set(key, v);
    return v;
  }

  /** Shape(x), built once per value; an existing full Shape(x) node of the graph is reused. */
  shape(x: Value): Value {
    let s = this.shapeCache.get(x) ?? x.uses.find((n) => n.opType === 'Shape' && isStandardDomain(n.domain) && n.attributes.length === 0)?.outputs[0] ?? undefined;
    if (s) this.shapeCache.set(x, s);
    if (!s) {
      s = this.op('Shape', [x]);
      s.type = { elemType: DataType.INT64, shape: [x.rank ?? null] };
      this.shapeCache.set(x, s);
    }
    return s;
  }

  /** ReduceSum over `axes` (an empty list keeps the input unchanged when noopWithEmptyAxes). */
  reduceSum(x: Value, axes: readonly number[] | Value, keepdims: boolean): Value {
    return this.reduce('ReduceSum', 13, x, axes, keepdims);
  }

  reduceMean(x: Value, axes: readonly number[] | Value, keepdims: boolean): Value {
    return this.reduce('ReduceMean', 18, x, axes, keepdims);
  }

  reduceMax(x: Value, axes: readonly number[] | Value, keepdims: boolean): Value {
    return this.reduce('ReduceMax', 18, x, axes, keepdims);
  }

  /** Reductions took `axes` as an attribute until `inputSince` and as an input from then on. */
  private reduce(op: string, inputSince: number, x: Value, axes: readonly number[] | Value, keepdims: boolean): Value {
    const kd = keepdims ? 1 : 0;
    if (this.opset >= inputSince) {
      const a = Array.isArray(axes) ? this.int64(axes as number[]) : (axes as Value);
      return this.op(op, [x, a], { keepdims: kd });
    }
    if (!Array.isArray(axes)) throw new GraphError(`${op} with runtime axes needs opset >= ${inputSince} (model has ${this.opset})`);
    return this.op(op, [x], { axes: axes as number[], keepdims: kd });
  }

  unsqueeze(x: Value, axes: readonly number[]): Value {
    return this.opset >= 13 ? this.op('Unsqueeze', [x, this.int64(axes)]) : this.op('Unsqueeze', [x], { axes });
  }

  squeeze(x: Value, axes: readonly number[]): Value {
    return this.opset >= 13 ? this.op('Squeeze', [x, this.int64(axes)]) : this.op('Squeeze', [x], { axes });
  }

  /** Reshape to a runtime shape (a Value) or to static dims (0 = copy, -1 = infer). */
  reshape(x: Value, shape: Value | readonly number[]): Value {
    const s = Array.isArray(shape) ? this.int64(shape as number[]) : (shape as Value);
    return this.op('Reshape', [x, s]);
  }

  /**
   * Transpose(x, perm). A transpose of a transpose becomes one transpose of the inner input, or none where the
   * two cancel: the backward of MatMul(x, Transpose(W)) then reads W instead of keeping W^T alive, and a
   * gradient produced transposed leaves without a copy.
   */
  transpose(x: Value, perm: readonly number[]): Value {
    const inner = x.producer;
    if (inner?.opType === 'Transpose' && isStandardDomain(inner.domain) && inner.attrs.has('perm')) {
      const first = inner.attrs.ints('perm');
      if (first.length === perm.length && inner.inputs[0]) {
        // y[i] = x[perm[i]] and x[j] = w[first[j]], so y[i] = w[first[perm[i]]].
        const composed = perm.map((p) => first[p]!);
        if (composed.every((p, i) => p === i)) return inner.inputs[0];
        return this.op('Transpose', [inner.inputs[0]], { perm: composed });
      }
    }
    return this.op('Transpose', [x], { perm });
  }

  add(a: Value, b: Value): Value { return this.op('Add', [a, b]); }
  sub(a: Value, b: Value): Value { return this.op('Sub', [a, b]); }
  mul(a: Value, b: Value): Value { return this.op('Mul', [a, b]); }
  div(a: Value, b: Value): Value { return this.op('Div', [a, b]); }
  neg(a: Value): Value { return this.op('Neg', [a]); }
}
