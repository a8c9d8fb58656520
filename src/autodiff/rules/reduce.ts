/**
 * ReduceSum (axes an input from opset 13) and ReduceMean (axes an attribute before opset 18, an input from
 * 18): the gradient is dY broadcast back over the reduced axes, divided by the number of reduced elements
 * for the mean.
 *
 *   keepdims=1 (or reduce-all): dX = Expand(dY, Shape(X))
 *   keepdims=0:                 dX = Expand(Unsqueeze(dY, axes), Shape(X))
 *   ReduceMean:                 dY / n, n = prod of the reduced dims (static) or Size(X) / Size(Y) (run time)
 *
 * Axes known at build time (attribute or constant input) give static Unsqueeze axes. Axes that are a
 * run-time input with keepdims=0 give the keepdims shape at run time: Shape(X) with 1 scattered at the axes
 * (all ones when the axes are empty and noop_with_empty_axes=0), and dY is reshaped to it. Empty axes with
 * noop_with_empty_axes=1 make the op an identity, and the gradient dY itself.
 */
import { DataType } from '../../onnx/dtype.js';
import { makeTensor } from '../../onnx/tensor.js';
import type { Value } from '../../ir/graph.js';
import { knownIntValues } from '../../ir/infer.js';
import type { GradContext, GradRule } from '../rule.js';

function reduceBackward(c: GradContext, mean: boolean): Value {
  const { b, node } = c;
  const g = c.dy(0)!;
  const x = c.x(0);
  const keep = node.attrs.int('keepdims', 1) !== 0;
  const axesIsInput = c.opset >= (node.opType === 'ReduceSum' ? 13 : 18);
  const noop = axesIsInput && node.attrs.int('noop_with_empty_axes', 0) !== 0;

  // Axes: a static list, or a run-time Value.
  let axes: number[] | Value;
  if (!axesIsInput) axes = node.attrs.ints('axes', []);
  else if (!node.inputs[1]) axes = [];
  else {
    const known = knownIntValues(node.inputs[1]);
    axes = known && known.every((d) => typeof d === 'number') ? (known as number[]) : node.inputs[1];
  }
  if (Array.isArray(axes) && axes.length === 0 && noop) return g; // identity

  const shape = x.type.shape;
  const r = shape?.length;
  const xType = x.type.elemType ?? g.type.elemType;
  const castF = (v: Value) => (xType !== undefined ? b.op('Cast', [v], { to: xType }) : b.op('CastLike', [v, g]));

  let scaled = g;
  if (mean) {
    let n: number | null = null;
    if (Array.isArray(axes) && shape) {
      const list = axes.map((a) => (a < 0 ? a + shape.length : a));
      const dims = shape.filter((_, i) => list.length === 0 || list.includes(i));
      n = dims.every((d) => typeof d === 'number') ? (dims as number[]).reduce((p, q) => p * q, 1) : null;
    }
    const count = n !== null ? b.scalarLike(n, g) : castF(b.div(b.op('Size', [x]), b.op('Size', [c.y(0)])));
    scaled = b.div(g, count);
  }

  let shaped = scaled; // dY with the rank of X (reduced axes of size 1), or a scalar for reduce-all
  if (!keep && Array.isArray(axes) && axes.length) {
    const sameSign = axes.every((a) => a < 0) || axes.every((a) => a >= 0);
    if (r !== undefined || sameSign) {
      // All non-negative or all negative axes are Unsqueeze positions in the rank-r result as they stand.
      const norm = r !== undefined ? axes.map((a) => (a < 0 ? a + r : a)) : [...axes];
      shaped = b.unsqueeze(scaled, norm.sort((p, q) => p - q));
    } else axes = b.int64(axes);
  }
  if (!keep && !Array.isArray(axes)) {
    const one = makeTensor('', DataType.INT64, [1], BigInt64Array.from([1n]));
    const ones = b.op('ConstantOfShape', [b.shape(axes)], { value: one });
    let kshape = b.op('ScatterElements', [b.shape(x), axes, ones], { axis: 0 });
    if (!noop) kshape = b.op('Where', [b.op('Equal', [b.op('Size', [axes]), b.int64([0], true)]), b.int64([1], true), kshape]);
    shaped = b.reshape(scaled, kshape);
  }
  return b.op('Expand', [shaped, b.shape(x)]);
}

const reduceSum: GradRule = {
  ops: ['ReduceSum'],
  differentiable: [0],
  backward: (c) => [reduceBackward(c, false)],
};

const reduceMean: GradRule = {
  ops: ['ReduceMean'],
  differentiable: [0],
  backward: (c) => [reduceBackward(c, true)],
};

export const rules: readonly GradRule[] = [reduceSum, reduceMean];
