/**
 * Gather and GatherElements: the data gradient scatters dy back into zeros shaped like the data, ADDING
 * where an index repeats (an embedding table whose token ids repeat in a batch), with ScatterElements and
 * reduction="add", which needs opset >= 16.
 *
 * Gather(x, I, axis=a): y = x.shape[:a] + I.shape + x.shape[a+1:]. Viewed as x: [P, D, R] and dy: [P, N, R]
 * (P = prod(x.shape[:a]), D = x.shape[a], N = I.size, R = the rest), which Flatten + Reshape give for any
 * rank and axis, dx[p, I[n], r] += dy[p, n, r] is one ScatterElements along axis 1 with I broadcast to dy's
 * view. Scalar indices (a CLS token pick) and indices of any rank work the same way. Indices are cast to
 * int64; negative ones need no normalizing, since ScatterElements counts them from the end as Gather does.
 *
 * Not ScatterND, although ScatterND(zeros, I[..., None], dy) says the same for axis 0 in one node: ONNX
 * Runtime's CPU ScatterND with reduction="add" loses updates to a race between its threads when indices
 * repeat and rows are wide (measured with onnxruntime-node 1.30, 2 threads: 1,024 updates of one 768-wide
 * row came out wrong in 760 of its elements, differently from run to run). That is exactly an embedding
 * gradient, so it would train on wrong gradients without any error. ScatterElements was exact in every case
 * on the CPU and WebGPU execution providers (test/autodiff-rules-gather.test.ts checks it at that size).
 *
 * Short tables (at most ONE_HOT_MAX_ROWS entries along the axis: position and token-type embeddings) take
 * a matrix product instead: dx[p] = onehot(I)^T · dy[p], with onehot(I) the [N, D] 0/1 matrix of the
 * indices. ORT's ScatterElements adds one element at a time on one thread (~11 ns each here): BERT-base's
 * token-type gradient, 1,024 x 768 updates of a 2-row table, took 20 ms per step, the product well under
 * 1 ms. The product costs 2·D·N·R flops, so it only pays while D is small; a 30,522-row vocabulary stays
 * with the scatter. It needs no reduction attribute, so short tables train at any opset.
 *
 * Below opset 16 (no reduction attribute) a plain scatter is still exact when the indices cannot repeat
 * (a single index, or constant distinct indices); anything else is a GraphError.
 */
import { GraphError } from '../../errors.js';
import { DataType } from '../../onnx/dtype.js';
import { tensorToNumbers } from '../../onnx/tensor.js';
import type { Value } from '../../ir/graph.js';
import { knownIntValues } from '../../ir/infer.js';
import type { GradContext, GradRule } from '../rule.js';
import { staticDims, typedLike, zerosLike } from './reshape.js';

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

/**
 * Tables up to this many entries along the gathered axis take the one-hot product (see above). At ~400
 * GFLOP/s against ~11 ns per scattered element the product wins below ~2,000 rows; 1,024 leaves margin.
 */
export const ONE_HOT_MAX_ROWS = 1024;

/**
 * Node metadata naming the row of a Gather's table that gets no gradient from this Gather: PyTorch's
 * nn.Embedding(padding_idx) never updates that row through the lookup, although padded positions read it.
 * Only this use is masked: a tied LM head's gradient still reaches the row, as in PyTorch.
 */
export const PADDING_IDX_KEY = 'onnx_distill.padding_idx';

/** The context with dy(0) zeroed at the positions whose index is the padding row, when the node names one. */
function withoutPaddingRow(c: GradContext): GradContext {
  const row = c.node.extras.metadataProps?.find((p) => p.key === PADDING_IDX_KEY)?.value;
  if (row === undefined || c.dy(0) === null) return c;
  const { b } = c;
  let ind = c.x(1);
  if (ind.type.elemType !== DataType.INT64) ind = b.op('Cast', [ind], { to: DataType.INT64 });
  const dy = c.dy(0)!;
  const atPad = b.unsqueeze(b.op('Equal', [ind, b.int64([Number(row)], true)]), [-1]);
  const masked = b.op('Where', [atPad, b.scalarLike(0, dy), dy]);
  return Object.assign(Object.create(c) as GradContext, { dy: (i: number) => (i === 0 ? masked : c.dy(i)) });
}

const gather: GradRule = {
  ops: ['Gather'],
  differentiable: [0],
  backward: (ctx) => {
    if (!ctx.needs(0)) return [null];
    const c = withoutPaddingRow(ctx);
    const { b, node } = c;
    const x = c.x(0);
    const r = x.rank;
    const axisAttr = node.attrs.int('axis', 0);
    const axis = axisAttr < 0 && r !== undefined ? axisAttr + r : axisAttr;
    const dim = axis >= 0 ? x.type.shape?.[axis] : undefined;
    let ind = c.x(1);
    if (ind.type.elemType !== DataType.INT64) ind = b.op('Cast', [ind], { to: DataType.INT64 });
    if (typeof dim === 'number' && dim <= ONE_HOT_MAX_ROWS) return [typedLike(gatherBackOneHot(c, ind, axis, dim), x)];
    const reduction = reductionFor(c, typeof dim === 'number' ? dim : undefined);
    // ScatterElements takes int64 indices, negative ones counting from the end (as Gather's do).
    return [typedLike(gatherBackFlat(c, ind, axis, reduction), x)];
  },
};

/** dy as [P, N, R] (see gatherBackFlat), whatever the ranks. */
function dyView(c: GradContext, ind: Value, axis: number): Value {
  const { b } = c;
  const n = staticDims(ind);
  // dy has the index axes where x has `axis`: a negative axis (x's rank unknown) counts past q - 1 more of them.
  const q = ind.rank;
  if (axis < 0 && q === undefined) {
    throw new GraphError(`${c.node.describe()}: the gradient of Gather with a negative axis needs the rank of its data or of its indices; run shape inference on the model first`);
  }
  const dyAxis = axis >= 0 ? axis : axis - (q! - 1);
  const count = n ? b.int64([n.reduce((p, q) => p * q, 1)]) : b.reshape(b.op('Size', [ind]), [1]);
  return b.reshape(b.op('Flatten', [c.dy(0)!], { axis: dyAxis }), b.op('Concat', [b.int64([0]), count, b.int64([-1])], { axis: 0 }));
}

/**
 * dx viewed as [P, D, R] = onehot^T [D, N] · dy [P, N, R] (MatMul broadcasts over P), then x's shape.
 * Negative indices count from the end, as in Gather.
 */
function gatherBackOneHot(c: GradContext, ind: Value, axis: number, rows: number): Value {
  const { b } = c;
  const x = c.x(0);
  const flat = b.reshape(ind, [-1]);
  const wrapped = b.op('Where', [b.op('Less', [flat, b.int64([0], true)]), b.add(flat, b.int64([rows], true)), flat]);
  const entries = b.int64(Array.from({ length: rows }, (_, r) => r));
  const hits = b.op('Equal', [b.unsqueeze(entries, [1]), b.unsqueeze(wrapped, [0])]); // [D, N]
  const dy3 = dyView(c, ind, axis);
  const oneHot = b.castLike(hits, dy3);
  return b.reshape(b.op('MatMul', [oneHot, dy3]), b.shape(x));
}

/**
 * View x as [P, D, R] and dy as [P, N, R] (P = prod(dims before the axis), N = number of indices) with
 * Flatten + Reshape, which need no rank, and add dy into zeros along axis 1 with ScatterElements (indices
 * broadcast to dy's view).
 */
function gatherBackFlat(c: GradContext, ind: Value, axis: number, reduction: string | undefined): Value {
  const { b } = c;
  const x = c.x(0);
  const width = x.type.shape?.[1];
  if (axis === 0 && x.rank === 2 && typeof width === 'number') return tableBack(c, ind, width, reduction);
  const dy3 = dyView(c, ind, axis);
  const d = b.op('Gather', [b.shape(x), b.int64([axis])], { axis: 0 });
  const z3 = b.reshape(b.op('Flatten', [zerosLike(b, x)], { axis }), b.op('Concat', [b.int64([0]), d, b.int64([-1])], { axis: 0 }));
  const i3 = b.op('Expand', [b.reshape(ind, [1, -1, 1]), b.shape(dy3)]);
  const out = b.op('ScatterElements', [z3, i3, dy3], { axis: 1, reduction });
  return b.reshape(out, b.shape(x));
}

/**
 * The embedding-table case, x [D, R] (R known) gathered along axis 0: the scatter runs in x's own shape, so
 * its result is the gradient itself. After the [P, D, R] view a Reshape back would remain, and where the
 * gradient is a model output (low-memory mode's train_grad.onnx) ORT runs that Reshape as a copy of the whole
 * table into the output's buffer: 94 MB per step for BERT-base's word embeddings.
 */
function tableBack(c: GradContext, ind: Value, width: number, reduction: string | undefined): Value {
  const { b } = c;
  const x = c.x(0);
  const dy2 = b.reshape(c.dy(0)!, [-1, width]);
  const i2 = b.op('Expand', [b.reshape(ind, [-1, 1]), b.shape(dy2)]);
  return b.op('ScatterElements', [zerosLike(b, x), i2, dy2], { axis: 0, reduction });
}

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
    `${c.node.describe()}: the gradient of Gather with indices that may repeat (e.g. embedding lookups) needs ai.onnx opset >= 16 (ScatterElements reduction="add"); the model has opset ${c.opset}: re-export it with opset >= 16`,
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
