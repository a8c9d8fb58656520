/**
 * MatMul with numpy semantics: Y = A @ B over the last two axes, leading (batch) axes broadcast, a 1-D operand
 * promoted to a row (A) or column (B) vector and the promoted axis dropped from Y.
 *
 *   both >= 2-D:  dA = unbroadcast(dY @ B^T, A)   dB = unbroadcast(A^T @ dY, B)
 *   [.., K] @ [K, N] (weight sharing, e.g. [B,S,H] @ [H,O]): dB = Flatten(A)^T @ Flatten(dY) as one Gemm, so
 *     batch and sequence are summed inside the matrix product instead of materialising [B, H, O]. Where B is
 *     Transpose(W) (nn.Linear as exporters write it), dA reads W itself and dW = Flatten(dY)^T @ Flatten(A)
 *     leaves the Gemm untransposed (Builder.transpose composes transposes), so W^T is needed only by the
 *     forward MatMul (ORT then fuses the two) and is not kept alive for the backward.
 *   1-D operands: the promoted axis is put back with Unsqueeze, or folded into a MatMul with a vector.
 *
 * Only whether each operand is 1-D must be known at build time; it is deduced from the other operand's and
 * the output's ranks when inference left one out. Transposes use a static perm when the rank is known and an
 * ellipsis Einsum ('...ij->...ji') when it is not.
 */
import { GraphError } from '../../errors.js';
import type { Builder } from '../../ir/builder.js';
import type { Value } from '../../ir/graph.js';
import type { GradContext, GradRule } from '../rule.js';
import { isStandardDomain } from '../../onnx/ops.js';

/** An operand's rank: a number, or 'nd' where it is only known to be >= 2. */
type Rank = number | 'nd';

/** Swaps the last two axes of `v`. */
function swapLast2(b: Builder, v: Value, rank: Rank): Value {
  if (rank === 'nd') return b.op('Einsum', [v], { equation: '...ij->...ji' });
  const perm = [...Array(rank).keys()];
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1]!, perm[rank - 2]!];
  return b.transpose(v, perm);
}

/**
 * Ranks of A and B. One unknown rank follows from the other and the output's: with B of rank rb >= 2, a 1-D A
 * gives rank rb - 1 and an A of rank >= 2 gives max(ra, rb); with a 1-D B, Y has rank ra - 1.
 */
function operandRanks(c: GradContext): [Rank, Rank] {
  const ry = c.y(0).rank ?? c.dy(0)!.rank;
  const deduce = (other: number | undefined): Rank | undefined => {
    if (other === undefined || ry === undefined) return undefined;
    if (other === 1) return ry + 1;
    if (ry < other) return 1;
    return ry > other ? ry : 'nd';
  };
  const ra = c.x(0).rank ?? deduce(c.x(1).rank);
  const rb = c.x(1).rank ?? deduce(c.x(0).rank);
  if (ra === undefined || rb === undefined) {
    throw new GraphError(
      `${c.node.describe()}: cannot differentiate MatMul when shape inference knows neither operand's rank (whether an operand is 1-D changes the gradient); give the inputs known ranks`,
    );
  }
  return [ra, rb];
}

/**
 * Sums a gradient shaped [...batch(Y), m, n] down to operand `x` (rank >= 2), whose batch axes were broadcast
 * against those of `other`. Only batch axes can have been broadcast; an axis of `x` needs summing only where
 * `other` has a dim there that is not a static 1 and `x`'s may be 1. Undecidable cases go to the general
 * (run-time) unbroadcast.
 */
function unbroadcastBatch(c: GradContext, full: Value, x: Value, other: Value): Value {
  const xs = x.type.shape, os = other.type.shape;
  if (!xs || !os) return c.unbroadcast(full, x);
  const xb = xs.slice(0, -2), ob = os.slice(0, -2);
  const rank = Math.max(xb.length, ob.length);
  const lead = rank - xb.length;
  const axes = [...Array(lead).keys()];
  for (let i = 0; i < xb.length; i++) {
    const d = xb[i]!;
    const e = ob[i + lead - (rank - ob.length)];
    if (e === undefined || e === 1) continue; // nothing to broadcast against
    if (d === 1) axes.push(lead + i);
    else if (typeof d === 'number' || (d !== null && d === e)) continue; // a static d > 1, or the same symbol
    else return c.unbroadcast(full, x);
  }
  const { b } = c;
  if (axes.length === 0) return full;
  if (axes.length === lead) return b.reduceSum(full, axes, false);
  const kept = b.reduceSum(full, axes, true);
  return lead ? b.squeeze(kept, [...Array(lead).keys()]) : kept;
}

/** Whether `v` is Transpose(W, [1, 0]) read by nothing else, so its gradient goes straight to W's rule. */
function isTransposedMatrix(v: Value): boolean {
  const p = v.producer;
  return p?.opType === 'Transpose' && isStandardDomain(p.domain) && v.uses.length === 1
    && p.attrs.has('perm') && p.attrs.ints('perm').join() === '1,0';
}

const matmul: GradRule = {
  ops: ['MatMul'],
  differentiable: [0, 1],
  backward: (c) => {
    const { b } = c;
    const g = c.dy(0)!;
    const [A, B] = [c.x(0), c.x(1)];
    const [ra, rb] = operandRanks(c);
    let dA: Value | null = null;
    let dB: Value | null = null;

    if (ra === 1 && rb === 1) {
      // Dot product: Y is a scalar.
      if (c.needs(0)) dA = b.mul(g, B);
      if (c.needs(1)) dB = b.mul(g, A);
    } else if (ra === 1) {
      // a[K] @ B[.., K, N] -> Y[.., N].
      if (c.needs(0)) {
        if (rb === 2) dA = b.op('MatMul', [B, g]);
        else {
          const t = b.op('MatMul', [B, b.unsqueeze(g, [-1])]); // [.., K, 1]
          if (rb === 'nd') dA = b.reduceSum(b.op('Flatten', [b.squeeze(t, [-1])], { axis: -1 }), [0], false);
          else dA = b.reduceSum(t, [...[...Array(rb - 2).keys()], rb - 1], false);
        }
      }
      if (c.needs(1)) dB = b.mul(b.unsqueeze(A, [1]), b.unsqueeze(g, [-2])); // [K, 1] * [.., 1, N]
    } else if (rb === 1) {
      // A[.., M, K] @ b[K] -> Y[.., M].
      if (c.needs(0)) dA = b.mul(b.unsqueeze(g, [-1]), B); // [.., M, 1] * [K]
      if (c.needs(1)) {
        if (ra === 2) dB = b.op('MatMul', [g, A]);
        else dB = b.op('MatMul', [b.reshape(g, [-1]), b.op('Flatten', [A], { axis: -1 })]);
      }
    } else {
      if (c.needs(0)) {
        const full = b.op('MatMul', [g, swapLast2(b, B, rb)]);
        // With a 2-D B, Y's batch axes are A's own: nothing to unbroadcast.
        dA = rb === 2 ? full : unbroadcastBatch(c, full, A, B);
      }
      if (c.needs(1)) {
        if (rb === 2) {
          // Weight sharing: sum over every leading axis of A inside one Gemm.
          const a2 = ra === 2 ? A : b.op('Flatten', [A], { axis: -1 });
          const g2 = ra === 2 ? g : b.op('Flatten', [g], { axis: -1 });
          // B = Transpose(W), as exporters write nn.Linear: W's gradient g2^T @ a2 comes out of the Gemm as
          // it is, and the Transpose written here cancels against the one of W's Transpose rule.
          dB = isTransposedMatrix(B) ? b.transpose(b.op('Gemm', [g2, a2], { transA: 1 }), [1, 0]) : b.op('Gemm', [a2, g2], { transA: 1 });
        } else {
          const full = b.op('MatMul', [swapLast2(b, A, ra), g]);
          dB = ra === 2 ? full : unbroadcastBatch(c, full, B, A);
        }
      }
    }
    return [dA, dB];
  },
};

export const rules: readonly GradRule[] = [matmul];
