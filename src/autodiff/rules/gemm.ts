/**
 * Gemm: Y = alpha * A' @ B' + beta * C, with A' = transA ? A^T : A and B' = transB ? B^T : B, and C
 * unidirectionally broadcast to [M, N] (scalar, [N], [1, N], [M, 1] or [M, N]).
 *
 *   dA' = alpha * dY @ B'^T, dB' = alpha * A'^T @ dY, dC = unbroadcast(beta * dY, C)
 *
 * Each operand gradient is one Gemm: transposing the result is folded into swapped operands and the trans
 * flags, and alpha rides along as Gemm's own alpha.
 */
import { attr } from '../../ir/attributes.js';
import type { Value } from '../../ir/graph.js';
import type { GradRule } from '../rule.js';

const gemm: GradRule = {
  ops: ['Gemm'],
  differentiable: [0, 1, 2],
  backward: (c) => {
    const { b, node } = c;
    const g = c.dy(0)!;
    const [A, B] = [c.x(0), c.x(1)];
    const ta = node.attrs.int('transA', 0) !== 0;
    const tb = node.attrs.int('transB', 0) !== 0;
    const alpha = node.attrs.float('alpha', 1);
    const beta = node.attrs.float('beta', 1);
    const mm = (p: Value, q: Value, transA: boolean, transB: boolean) =>
      b.op('Gemm', [p, q], {
        transA: transA ? 1 : undefined,
        transB: transB ? 1 : undefined,
        alpha: alpha !== 1 ? attr.float(alpha) : undefined,
      });

    let dA: Value | null = null;
    let dB: Value | null = null;
    let dC: Value | null = null;
    if (c.needs(0)) {
      // transA: dA = (dY @ B'^T)^T = B' @ dY^T.
      if (ta) dA = tb ? mm(B, g, true, true) : mm(B, g, false, true);
      else dA = tb ? mm(g, B, false, false) : mm(g, B, false, true);
    }
    if (c.needs(1)) {
      // transB: dB = (A'^T @ dY)^T = dY^T @ A'.
      if (tb) dB = ta ? mm(g, A, true, true) : mm(g, A, true, false);
      else dB = ta ? mm(A, g, false, false) : mm(A, g, true, false);
    }
    const C = node.inputs[2];
    if (C && c.needs(2)) dC = c.unbroadcast(beta !== 1 ? b.mul(g, b.scalarLike(beta, g)) : g, C);
    return [dA, dB, dC];
  },
};

export const rules: readonly GradRule[] = [gemm];
