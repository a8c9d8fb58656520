/**
 * Undoing numpy-style broadcasting: the gradient of a broadcast operand is the output gradient summed over
 * the axes that broadcasting stretched. With static (or symbolically equal) shapes we emit at most a
 * ReduceSum and a Squeeze; where shapes are only known at run time we compute the axes at run time with
 * standard ops (no BroadcastGradientArgs: that is a training-only contrib op).
 */
import { DataType } from '../onnx/dtype.js';
import { makeTensor } from '../onnx/tensor.js';
import type { Builder } from '../ir/builder.js';
import type { Dim, Value } from '../ir/graph.js';

/** Whether two dims are known to be equal (same number, or the same symbol). */
const sameDim = (a: Dim, b: Dim) => a !== null && a === b;

export function unbroadcast(b: Builder, grad: Value, like: Value): Value {
  const xs = like.type.shape;
  const gs = grad.type.shape;
  if (xs && gs && gs.length >= xs.length) {
    const lead = gs.length - xs.length;
    const axes: number[] = [];
    let decided = true;
    for (let i = 0; i < lead; i++) axes.push(i);
    xs.forEach((d, i) => {
      const g = gs[lead + i]!;
      if (sameDim(d, g) || g === 1) return; // nothing was stretched along this axis
      if (d === 1) axes.push(lead + i); // reducing an axis that is 1 in the gradient too is harmless
      else if (typeof d === 'number' && typeof g === 'number') return; // both static, not 1: equal by validity
      else if (typeof d === 'number' && d > 1) return; // x's axis is >1, so broadcasting could not stretch it
      else decided = false;
    });
    if (decided) {
      if (axes.length === 0) return grad;
      if (axes.length === lead) return b.reduceSum(grad, axes, false);
      const summed = b.reduceSum(grad, axes, true);
      return lead ? b.squeeze(summed, axes.slice(0, lead)) : summed;
    }
  }
  if (xs && gs && xs.length === gs.length) return sameRankUnbroadcast(b, grad, like);
  return dynamicUnbroadcast(b, grad, like);
}

/**
 * Same rank, some dims unknown at build time: sum over the axes where x is 1 at run time (summing an axis
 * that is 1 in the gradient too changes nothing), keeping dims, which leaves exactly x's shape.
 */
function sameRankUnbroadcast(b: Builder, grad: Value, like: Value): Value {
  const ones = b.op('NonZero', [b.op('Equal', [b.shape(like), b.int64([1])])]);
  return b.op('ReduceSum', [grad, b.reshape(ones, [-1])], { keepdims: 1, noop_with_empty_axes: 1 });
}

/** Run-time version: pad x's shape with leading 1s to the gradient's rank, reduce where it is 1. */
function dynamicUnbroadcast(b: Builder, grad: Value, like: Value): Value {
  const sx = b.shape(like);
  const sg = b.shape(grad);
  const pad = b.op('Sub', [b.op('Size', [sg]), b.op('Size', [sx])]);
  const one = makeTensor('', DataType.INT64, [1], BigInt64Array.from([1n]));
  const ones = b.op('ConstantOfShape', [b.unsqueeze(pad, [0])], { value: one });
  const padded = b.op('Concat', [ones, sx], { axis: 0 });
  const where = b.op('NonZero', [b.op('Equal', [padded, b.int64([1])])]);
  const axes = b.reshape(where, [-1]);
  const summed = b.op('ReduceSum', [grad, axes], { keepdims: 1, noop_with_empty_axes: 1 });
  return b.reshape(summed, sx);
}
