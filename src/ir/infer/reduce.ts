/** Inference rules: reductions and ArgMax/ArgMin, with axes as an attribute or (by opset) an input. */
import { DataType } from '../../onnx/dtype.js';
import { opsWith } from '../../onnx/ops.js';
import type { Dim } from '../graph.js';
import { type InferRule, normAxis, set } from './context.js';

/** Reductions that took `axes` as an input from this opset on (the others from opset 18). */
const REDUCE_AXES_INPUT_SINCE: Record<string, number> = { ReduceSum: 13 };

export const rules: readonly InferRule[] = [
  {
    ops: [...opsWith('reduction')],
    infer: ({ node, xt, out, A, op, opset, constIn }) => {
      const s = xt.shape;
      const keep = A.int('keepdims', 1) === 1;
      const arg = op.startsWith('Arg');
      const axesFromInput = opset >= (REDUCE_AXES_INPUT_SINCE[op] ?? 18) && !arg;
      let axes: number[] | undefined = arg
        ? [A.int('axis', 0)]
        : axesFromInput ? (node.inputs[1] ? (constIn(1) as number[] | undefined) : []) : A.ints('axes', []);
      let shape: Dim[] | undefined;
      if (s && axes) {
        if (axes.length === 0) axes = A.int('noop_with_empty_axes', 0) ? [] : s.map((_, i) => i);
        const norm = axes.map((a) => normAxis(a, s.length));
        shape = keep ? s.map((d, i) => (norm.includes(i) ? 1 : d)) : s.filter((_, i) => !norm.includes(i));
      } else if (s && keep) {
        shape = s.map(() => null); // run-time axes: the rank survives keepdims
      }
      set(out, { elemType: arg ? DataType.INT64 : xt.elemType, shape });
    },
  },
];
