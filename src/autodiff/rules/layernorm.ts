/**
 * LayerNormalization (opset 17): Y = xhat * Scale + B with xhat = (X - Mean) * InvStdDev, the statistics taken
 * over the normalized axes [axis, ..., rank-1]. The rule reuses the forward node's Mean and InvStdDev outputs
 * (added to the node when the model left them out). Those are of `stash_type` (float32 by default, also for a
 * float64 or float16 X: ORT computes in double but stashes float32), so they are cast to X's type first.
 *
 *   g      = dY * Scale
 *   dX     = InvStdDev * (g - mean(g) - xhat * mean(g * xhat))      (means over the normalized axes)
 *   dScale = unbroadcast(dY * xhat, Scale),  dB = unbroadcast(dY, B)  (sums over the leading axes)
 *
 * Gradients flowing into the Mean / InvStdDev outputs themselves are not supported.
 */
import { GraphError } from '../../errors.js';
import type { Value } from '../../ir/graph.js';
import type { GradRule } from '../rule.js';

const layerNorm: GradRule = {
  ops: ['LayerNormalization'],
  differentiable: [0, 1, 2],
  backward: (c) => {
    const { b, node } = c;
    if (c.dy(1) || c.dy(2)) {
      throw new GraphError(`${node.describe()}: gradients through the Mean / InvStdDev outputs are not supported (only through Y)`);
    }
    const g = c.dy(0)!;
    const x = c.x(0);
    const scale = c.x(1);
    const bias = node.inputs[2] ?? null;
    const xType = x.type.elemType;
    const toX = (v: Value): Value => {
      if (xType !== undefined && v.type.elemType === xType) return v;
      return xType !== undefined ? b.op('Cast', [v], { to: xType }) : b.op('CastLike', [v, x]);
    };
    const stat = c.y(1);
    const mean = toX(stat);
    const invStd = toX(c.y(2));
    const xhat = b.mul(b.sub(x, mean), invStd);

    let dx: Value | null = null;
    if (c.needs(0)) {
      const r = x.rank;
      const axis0 = node.attrs.int('axis', -1);
      const axis = r !== undefined && axis0 < 0 ? axis0 + r : axis0;
      let meanOver: (t: Value) => Value;
      if (r !== undefined || axis < 0) {
        // Static axes; a negative axis names the same trailing axes whatever the rank.
        const end = r ?? 0;
        const axes = Array.from({ length: end - axis }, (_, i) => axis + i);
        meanOver = (t) => b.reduceMean(t, axes, true);
      } else {
        // Non-negative axis, unknown rank: axes = Range(axis, rank), count = Size(X) / Size(Mean).
        const rank = b.op('Size', [b.shape(x)]);
        const axes = b.op('Range', [b.int64([axis], true), rank, b.int64([1], true)]);
        const n = b.op('Div', [b.op('Size', [x]), b.op('Size', [stat])]);
        const nf = xType !== undefined ? b.op('Cast', [n], { to: xType }) : b.op('CastLike', [n, x]);
        meanOver = (t) => b.div(b.op('ReduceSum', [t, axes], { keepdims: 1 }), nf);
      }
      const gs = b.mul(g, scale);
      const m1 = meanOver(gs);
      const m2 = meanOver(b.mul(gs, xhat));
      dx = b.mul(b.sub(b.sub(gs, m1), b.mul(xhat, m2)), invStd);
    }
    const dScale = c.needs(1) ? c.unbroadcast(b.mul(g, xhat), scale) : null;
    const dB = bias && c.needs(2) ? c.unbroadcast(g, bias) : null;
    return [dx, dScale, dB];
  },
};

export const rules: readonly GradRule[] = [layerNorm];
