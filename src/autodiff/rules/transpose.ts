/**
 * Transpose: the gradient is dy transposed by the inverse permutation, inv[perm[i]] = i. Without a perm
 * attribute the op reverses the axes, which is its own inverse, so dx = Transpose(dy) (no perm) — correct
 * for every rank, including ranks unknown at build time.
 */
import { GraphError } from '../../errors.js';
import type { GradRule } from '../rule.js';
import { typedLike } from './reshape.js';

const transpose: GradRule = {
  ops: ['Transpose'],
  differentiable: [0],
  backward: (c) => {
    if (!c.needs(0)) return [null];
    const dy = c.dy(0)!;
    const x = c.x(0);
    if (!c.node.attrs.has('perm')) return [typedLike(c.b.op('Transpose', [dy]), x)];
    const perm = c.node.attrs.ints('perm');
    const inv: number[] = new Array(perm.length).fill(-1);
    perm.forEach((p, i) => {
      if (!Number.isInteger(p) || p < 0 || p >= perm.length || inv[p] !== -1) {
        throw new GraphError(`${c.node.describe()}: perm [${perm.join(', ')}] is not a permutation of 0..${perm.length - 1}`);
      }
      inv[p] = i;
    });
    if (x.rank !== undefined && x.rank !== perm.length) {
      throw new GraphError(`${c.node.describe()}: perm [${perm.join(', ')}] does not match the input's rank ${x.rank}`);
    }
    if (inv.every((p, i) => p === i)) return [dy];
    return [typedLike(c.b.transpose(dy, inv), x)];
  },
};

export const rules: readonly GradRule[] = [transpose];
