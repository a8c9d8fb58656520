/**
 * Tile(x, repeats): y holds repeats[a] copies of x along each axis a, so dx sums dy's copies. dy viewed as
 * [r0, d0, r1, d1, ...] (copy index outside each dim of x, as Tile lays them out) and summed over the copy
 * axes is dx. `repeats` is an integer input: never differentiated.
 */
import { GraphError } from '../../errors.js';
import { knownIntValues } from '../../ir/infer.js';
import type { GradRule } from '../rule.js';
import { shapeOf, typedLike } from './reshape.js';

const tile: GradRule = {
  ops: ['Tile'],
  differentiable: [0],
  backward: (c) => {
    if (!c.needs(0)) return [null];
    const { b, node } = c;
    const x = c.x(0);
    const repeats = c.x(1);
    const rank = x.type.shape?.length ?? repeats.type.shape?.[0];
    if (typeof rank !== 'number') {
      throw new GraphError(`Tile node '${node.name}': the rank of its input is unknown, so its gradient cannot be laid out; export with static ranks`);
    }
    const known = knownIntValues(repeats);
    if (known && known.every((r) => r === 1)) return [c.dy(0)];
    // [r0, d0, r1, d1, ...] as an int64 vector: Concat the two columns, then flatten row-major.
    const pairs = b.op('Concat', [b.unsqueeze(repeats, [1]), b.unsqueeze(shapeOf(b, x), [1])], { axis: 1 });
    const view = b.reshape(c.dy(0)!, b.reshape(pairs, [-1]));
    const copyAxes = Array.from({ length: rank }, (_, a) => 2 * a);
    return [typedLike(b.reduceSum(view, copyAxes, false), x)];
  },
};

export const rules: readonly GradRule[] = [tile];
