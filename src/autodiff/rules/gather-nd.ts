/**
 * GatherND (batch_dims 0): y[i] = x[I[i, 0], ..., I[i, k-1]] (a slice of x's remaining dims). Decoder
 * classifiers exported by dynamo pick each row's last token this way: `logits[arange(B), last]`.
 *
 * dx adds each dy slice into zeros at the slice's position, adding where positions repeat. Like Gather's
 * rule (gather.ts) this is a ScatterElements with reduction "add" over a flat view, not ScatterND, whose CPU
 * kernel loses updates when indices repeat: the k index columns become one row number
 * L = sum_j I[.., j] * stride_j into x viewed as [prod(x.shape[:k]), x.shape[k:]...] (negative indices
 * counted from the end first), and dy viewed as [N, x.shape[k:]...] is scattered along axis 0 at L.
 * The indices are never differentiated. Needs opset >= 16 (the reduction attribute).
 */
import { GraphError } from '../../errors.js';
import type { GradRule } from '../rule.js';
import { shapeOf, typedLike, zerosOfShape } from './reshape.js';

const gatherND: GradRule = {
  ops: ['GatherND'],
  differentiable: [0],
  backward: (c) => {
    if (!c.needs(0)) return [null];
    const { b, node } = c;
    const x = c.x(0);
    const ind = c.x(1);
    const where = `GatherND node '${node.name}'`;
    if (node.attrs.int('batch_dims', 0) !== 0) throw new GraphError(`${where}: batch_dims > 0 has no gradient rule; freeze the parameters before it`);
    if (c.opset < 16) throw new GraphError(`${where}: its gradient needs opset >= 16 (ScatterElements with reduction); re-export with a newer opset`);
    const k = ind.type.shape?.[ind.type.shape.length - 1];
    const rank = x.type.shape?.length;
    if (typeof k !== 'number' || rank === undefined) {
      throw new GraphError(`${where}: the index depth or the data's rank is unknown, so its gradient cannot be laid out; export with static ranks`);
    }
    const xShape = shapeOf(b, x);
    const lead = b.op('Slice', [xShape, b.int64([0]), b.int64([k])]);
    const rest = b.op('Slice', [xShape, b.int64([k]), b.int64([rank])]);
    // Row-major strides of the k indexed dims: stride_{k-1} = 1, stride_j = stride_{j+1} * lead[j+1].
    const strides: ReturnType<typeof b.int64>[] = [b.int64([1])];
    for (let j = k - 2; j >= 0; j--) strides.unshift(b.mul(strides[0]!, b.op('Slice', [lead, b.int64([j + 1]), b.int64([j + 2])])));
    const strideV = k === 1 ? strides[0]! : b.op('Concat', strides, { axis: 0 });
    const i64 = b.op('Cast', [ind], { to: 7 });
    const positive = b.op('Where', [b.op('Less', [i64, b.int64([0], true)]), b.add(i64, lead), i64]);
    const rows = b.op('ReduceSum', [b.mul(positive, strideV), b.int64([-1])], { keepdims: 0 });
    const restRank = rank - k;
    const dyView = b.reshape(c.dy(0)!, b.op('Concat', [b.int64([-1]), rest], { axis: 0 }));
    const at = b.op('Expand', [b.reshape(rows, [-1, ...Array<number>(restRank).fill(1)]), b.shape(dyView)]);
    const zeros = zerosOfShape(b, b.op('Concat', [b.op('ReduceProd', [lead], { keepdims: 1 }), rest], { axis: 0 }), x);
    const flat = b.op('ScatterElements', [zeros, at, dyView], { axis: 0, reduction: 'add' });
    return [typedLike(b.reshape(flat, xShape), x)];
  },
};

export const rules: readonly GradRule[] = [gatherND];
