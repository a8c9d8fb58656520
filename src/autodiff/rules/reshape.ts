/**
 * Reshape, Flatten, Squeeze, Unsqueeze: they only relabel the elements, so the gradient is the output
 * gradient reshaped back to the input's shape: dx = Reshape(dy, Shape(x)). Where the input's shape is static
 * but for dims that dy has at the same axes (0, copied) and one more (-1), the target is a constant, so no
 * Shape node keeps x alive until the backward.
 *
 * Also the small shape helpers the other data-movement rules (Concat, Split, Slice, Gather) share.
 */
import { DataType, byteSize, isFloatType } from '../../onnx/dtype.js';
import { makeTensor } from '../../onnx/tensor.js';
import type { Builder } from '../../ir/builder.js';
import type { Dim, Value } from '../../ir/graph.js';
import type { GradRule } from '../rule.js';

/** The dims of `v` if all are known numbers. */
export function staticDims(v: Value): number[] | undefined {
  const s = v.type.shape;
  return s && s.every((d) => typeof d === 'number') ? (s as number[]) : undefined;
}

/** `v`'s shape as an int64 1-D value: a constant when static, else Shape(v). */
export function shapeOf(b: Builder, v: Value): Value {
  const s = staticDims(v);
  return s ? b.int64(s) : b.shape(v);
}

/** Gives a gradient `g` the type of the value `x` it belongs to (inference on backward nodes may know less). */
export function typedLike(g: Value, x: Value): Value {
  g.type = { elemType: g.type.elemType ?? x.type.elemType, shape: x.type.shape ? [...x.type.shape] : g.type.shape };
  return g;
}

/**
 * Zeros shaped like `v`, of `like`'s float element type: ConstantOfShape with a zero of that type (not
 * Sub(v, v) or Mul(v, 0), which turn inf/NaN into NaN). Unknown type: float zeros, then CastLike.
 */
export function zerosLike(b: Builder, v: Value, like: Value = v): Value {
  return zerosOfShape(b, shapeOf(b, v), like, v.type.shape);
}

/** Zeros of the run-time or constant shape `shape`, of `like`'s element type. */
export function zerosOfShape(b: Builder, shape: Value, like: Value, staticShape?: Value['type']['shape']): Value {
  const dt = like.type.elemType;
  let z: Value;
  if (dt !== undefined && isFloatType(dt)) {
    z = b.op('ConstantOfShape', [shape], { value: makeTensor('', dt, [1], new Uint8Array(byteSize(dt, 1))) });
  } else {
    z = b.op('CastLike', [b.op('ConstantOfShape', [shape], { value: makeTensor('', DataType.FLOAT, [1], new Float32Array(1)) }), like]);
  }
  z.type = { elemType: dt, shape: staticShape ? [...staticShape] : z.type.shape };
  return z;
}

/** `g` reshaped to `x`'s shape (returned unchanged when the shapes are known to be equal). */
export function reshapeLike(b: Builder, g: Value, x: Value): Value {
  const xs = x.type.shape;
  const gs = g.type.shape;
  if (xs && gs && xs.length === gs.length && xs.every((d, i) => d !== null && d === gs[i])) return g;
  // A constant target where possible, so that x is not kept alive until the backward only for Shape(x): the
  // static dims, 0 ("copy g's dim") for a symbolic dim g has at the same axis (the batch and sequence axes
  // of a head split), and -1 for at most one other unknown dim. Shapes with a zero dim take the run-time
  // Shape, since Reshape reads a 0 as "copy".
  const target = xs && xs.every((d) => d !== 0) ? constantTarget(xs, gs) : undefined;
  return typedLike(b.reshape(g, target ?? b.shape(x)), x);
}

function constantTarget(xs: readonly Dim[], gs: readonly Dim[] | undefined): number[] | undefined {
  const target = xs.map((d, i) => (typeof d === 'number' ? d : typeof d === 'string' && gs?.[i] === d ? 0 : -1));
  return target.filter((d) => d === -1).length <= 1 ? target : undefined;
}

const reshapeFamily: GradRule = {
  ops: ['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze'],
  differentiable: [0],
  backward: (c) => [c.needs(0) ? reshapeLike(c.b, c.dy(0)!, c.x(0)) : null],
};

export const rules: readonly GradRule[] = [reshapeFamily];
