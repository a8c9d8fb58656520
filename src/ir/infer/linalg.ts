/** Inference rules: matrix products: MatMul (numpy broadcasting of the batch dims), Gemm, Einsum. */
import type { Dim } from '../graph.js';
import { broadcastDims, broadcastShapes, set, type InferRule } from './context.js';

export const rules: readonly InferRule[] = [
  {
    ops: ['MatMul'],
    infer: ({ node, xt, out }) => {
      const a = xt.shape, b = node.inputs[1]?.type.shape;
      let shape: Dim[] | undefined;
      if (a && b) {
        const a2 = a.length === 1 ? [1, a[0]!] : a, b2 = b.length === 1 ? [b[0]!, 1] : b;
        const batch = broadcastShapes([a2.slice(0, -2), b2.slice(0, -2)])!;
        shape = [...batch, a2[a2.length - 2]!, b2[b2.length - 1]!];
        if (a.length === 1) shape.splice(shape.length - 2, 1);
        if (b.length === 1) shape.splice(shape.length - 1, 1);
      }
      set(out, { elemType: xt.elemType, shape });
    },
  },
  {
    ops: ['Gemm'],
    infer: ({ node, xt, out, A }) => {
      const a = xt.shape, b = node.inputs[1]?.type.shape;
      const m = a ? (A.int('transA', 0) ? a[1] : a[0]) : null;
      const n = b ? (A.int('transB', 0) ? b[0] : b[1]) : null;
      set(out, { elemType: xt.elemType, shape: [m ?? null, n ?? null] });
    },
  },
  {
    ops: ['Einsum'],
    infer: ({ node, xt, out, A }) => {
      const eq = A.string('equation').replace(/\s/g, '');
      const [lhs, explicit] = eq.split('->');
      // Implicit output: the letters that appear exactly once, in alphabetical order.
      const letters = [...lhs!.replace(/[,.]/g, '')];
      const rhs = explicit ?? [...new Set(letters)].filter((c) => letters.indexOf(c) === letters.lastIndexOf(c)).sort().join('');
      const terms = lhs!.split(',');
      const dimOf = new Map<string, Dim>();
      terms.forEach((t, i) => {
        const s = node.inputs[i]?.type.shape;
        if (s && !t.includes('.')) [...t].forEach((c, k) => dimOf.set(c, broadcastDims(dimOf.get(c) ?? 1, s[k]!)));
      });
      if (rhs !== undefined && !rhs.includes('.')) set(out, { elemType: xt.elemType, shape: [...rhs].map((c) => dimOf.get(c) ?? null) });
      else set(out, { elemType: xt.elemType });
    },
  },
];
