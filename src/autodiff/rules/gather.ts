/**
 * Gather and GatherElements: the data gradient scatters dy back into zeros shaped like the data, ADDING
 * where an index repeats (an embedding table whose token ids repeat in a batch): ScatterND /
 * ScatterElements with reduction="add", which needs opset >= 16.
 *
 * Gather(x, I, axis=a): y = x.shape[:a] + I.shape + x.shape[a+1:]. For a = 0, ScatterND with index tuples
 * I[..., None] and updates dy adds each dy row to x[I]. For a > 0 the axis is moved to the front (dy's I
 * axes first, zeros of x's permuted shape), scattered, and moved back; with a rank unknown at build time a
 * rank-free [P, D, R] view and ScatterElements do it instead. Scalar indices (a CLS token pick) and indices
 * of any rank work the same way. Indices are cast to int64; negative ones need no normalizing, since
 * ScatterND and ScatterElements count negative indices from the end just as Gather does.
 *
 * Below opset 16 (no reduction attribute) a plain ScatterND is still exact when the indices cannot repeat
 * (a single index, or constant distinct indices); anything else is a GraphError.
 */
import { GraphError } from '../../errors.js';
import { DataType } from '../../onnx/dtype.js';
import { tensorToNumbers } from '../../onnx/tensor.js';
import type { Value } from '../../ir/graph.js';
import { knownIntValues } from '../../ir/infer.js';
import type { GradContext, GradRule } from '../rule.js';
import { staticDims, typedLike, zerosLike, zerosOfShape } from './reshape.js';

/** Values of a constant integer tensor (initializer, Constant node, or tracked shape arithmetic). */
function constantInts(v: Value): number[] | undefined {
  try {
    if (v.initializer) return tensorToNumbers(v.initializer);
    const p = v.producer;
    if (p && p.opType === 'Constant' && p.attrs.tensor('value')) return tensorToNumbers(p.attrs.tensor('value')!);
  } catch {
    return undefined;
  }
  const k = knownIntValues(v);
  return k && k.every((d): d is number => typeof d === 'number') ? k : undefined;
}

const gather: GradRule = {
  ops: ['Gather'],
  differentiable: [0],
  backward: (c) => {
    if (!c.needs(0)) return [null];
    const { b, node } = c;
    const x = c.x(0);
    const dy = c.dy(0)!;
    const r = x.rank;
    const q = c.x(1).rank;
    const axisAttr = node.attrs.int('axis', 0);
    const axis = axisAttr < 0 && r !== undefined ? axisAttr + r : axisAttr;
    const dim = axis >= 0 ? x.type.shape?.[axis] : undefined;
    const reduction = reductionFor(c, typeof dim === 'number' ? dim : undefined);
    // ScatterND/ScatterElements take int64 indices, negative ones counting from the end (as Gather's do).
    let ind = c.x(1);
    if (ind.type.elemType !== DataType.INT64) ind = b.op('Cast', [ind], { to: DataType.INT64 });

    if (axis === 0) {
      const out = b.op('ScatterND', [zerosLike(b, x), b.unsqueeze(ind, [-1]), dy], { reduction });
      return [typedLike(out, x)];
    }
    if (r === undefined || q === undefined || axis < 0) return [typedLike(gatherBackFlat(c, ind, axisAttr, reduction), x)];
    // Axis a > 0: dy's index axes [a, a+q) go first; x's axis a goes first; scatter; move it back.
    const dyPerm = [...range(axis, axis + q), ...range(0, axis), ...range(axis + q, r + q - 1)];
    const dyT = dyPerm.every((p, i) => p === i) ? dy : b.transpose(dy, dyPerm);
    const xPerm = [axis, ...range(0, axis), ...range(axis + 1, r)];
    const xs = staticDims(x);
    const zShape = xs ? b.int64(xPerm.map((p) => xs[p]!)) : b.op('Gather', [b.shape(x), b.int64(xPerm)], { axis: 0 });
    const zeros = zerosOfShape(b, zShape, x, x.type.shape ? xPerm.map((p) => x.type.shape![p]!) : undefined);
    const scattered = b.op('ScatterND', [zeros, b.unsqueeze(ind, [-1]), dyT], { reduction });
    const inv: number[] = [];
    xPerm.forEach((p, i) => (inv[p] = i));
    return [typedLike(b.transpose(scattered, inv), x)];
  },
};

/**
 * Gather on an axis other than 0 when a rank is unknown at build time: view x as [P, D, R] and dy as
 * [P, N, R] (P = prod(dims before the axis), N = number of indices) with Flatten + Reshape, which need no
 * rank, and add dy into zeros along axis 1 with ScatterElements (indices broadcast to dy's view).
 */
function gatherBackFlat(c: GradContext, ind: Value, axis: number, reduction: string | undefined): Value {
  const { b } = c;
  const x = c.x(0);
  const n = staticDims(ind);
  const count = n ? b.int64([n.reduce((p, q) => p * q, 1)]) : b.reshape(b.op('Size', [ind]), [1]);
  const dy3 = b.reshape(b.op('Flatten', [c.dy(0)!], { axis }), b.op('Concat', [b.int64([0]), count, b.int64([-1])], { axis: 0 }));
  const d = b.op('Gather', [b.shape(x), b.int64([axis])], { axis: 0 });
  const z3 = b.reshape(b.op('Flatten', [zerosLike(b, x)], { axis }), b.op('Concat', [b.int64([0]), d, b.int64([-1])], { axis: 0 }));
  const i3 = b.op('Expand', [b.reshape(ind, [1, -1, 1]), b.shape(dy3)]);
  const out = b.op('ScatterElements', [z3, i3, dy3], { axis: 1, reduction });
  return b.reshape(out, b.shape(x));
}

const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

/** reduction="add" from opset 16; below, only indices that cannot repeat can be scattered exactly. */
function reductionFor(c: GradContext, dim: number | undefined): string | undefined {
  if (c.opset >= 16) return 'add';
  const ind = c.x(1);
  const count = staticDims(ind)?.reduce((p, q) => p * q, 1);
  if (count === 1 || count === 0) return undefined;
  const values = constantInts(ind);
  if (values && (values.every((v) => v >= 0) || dim !== undefined)) {
    const norm = values.map((v) => (v < 0 ? v + dim! : v));
    if (new Set(norm).size === norm.length) return undefined;
  }
  throw new GraphError(
    `${c.node.describe()}: the gradient of Gather with indices that may repeat (e.g. embedding lookups) needs ai.onnx opset >= 16 (ScatterND reduction="add"); the model has opset ${c.opset}: re-export it with opset >= 16`,
  );
}

/**
 * GatherElements(x, I, axis): y[i][j][k] = x[I[i][j][k]][j][k] (for axis 0), so dx is
 * ScatterElements(zeros, I, dy, axis, reduction="add"); ScatterElements accepts negative indices.
 */
const gatherElements: GradRule = {
  ops: ['GatherElements'],
  differentiable: [0],
  backward: (c) => {
    if (!c.needs(0)) return [null];
    if (c.opset < 16) {
      throw new GraphError(
        `${c.node.describe()}: the gradient of GatherElements needs ai.onnx opset >= 16 (ScatterElements reduction="add"); the model has opset ${c.opset}: re-export it with opset >= 16`,
      );
    }
    const { b } = c;
    const x = c.x(0);
    const out = b.op('ScatterElements', [zerosLike(b, x), c.x(1), c.dy(0)!], {
      axis: c.node.attrs.int('axis', 0),
      reduction: 'add',
    });
    return [typedLike(out, x)];
  },
};

export const rules: readonly GradRule[] = [gather, gatherElements];
