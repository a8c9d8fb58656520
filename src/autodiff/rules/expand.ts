/** Expand: numpy-style broadcasting of x to a shape, so dx = dy summed over the stretched axes. */
import type { GradRule } from '../rule.js';

const expand: GradRule = {
  ops: ['Expand'],
  differentiable: [0],
  backward: (c) => [c.needs(0) ? c.unbroadcast(c.dy(0)!, c.x(0)) : null],
};

export const rules: readonly GradRule[] = [expand];
