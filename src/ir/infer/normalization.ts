/** Inference rules: LayerNormalization and its saved statistics. */
import { normAxis, set, type InferRule } from './context.js';

export const rules: readonly InferRule[] = [
  {
    ops: ['LayerNormalization'],
    infer: ({ node, xt, out, A }) => {
      set(out, { elemType: xt.elemType, shape: xt.shape });
      const axis = A.int('axis', -1);
      const stat = xt.shape?.map((d, i) => (i < normAxis(axis, xt.shape!.length) ? d : 1));
      set(node.outputs[1], { elemType: A.int('stash_type', 1), shape: stat });
      set(node.outputs[2], { elemType: A.int('stash_type', 1), shape: stat });
    },
  },
];
