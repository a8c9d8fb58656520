/**
 * Where(condition, X, Y) with broadcasting across all three: the condition routes the output gradient to X
 * where true and to Y where false (it is never differentiated); each branch is then summed down to its
 * operand's shape, since the condition may broadcast the result beyond X's or Y's shape.
 */
import type { GradRule } from '../rule.js';

const where: GradRule = {
  ops: ['Where'],
  differentiable: [1, 2],
  backward: (c) => {
    const { b } = c;
    const g = c.dy(0)!;
    const cond = c.x(0);
    const [x, y] = [c.x(1), c.x(2)];
    const zero = b.scalarLike(0, x);
    return [
      null,
      c.needs(1) ? c.unbroadcast(b.op('Where', [cond, g, zero]), x) : null,
      c.needs(2) ? c.unbroadcast(b.op('Where', [cond, zero, g]), y) : null,
    ];
  },
};

export const rules: readonly GradRule[] = [where];
