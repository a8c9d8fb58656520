/** Add, Sub, Mul, Div: elementwise with numpy broadcasting, undone per operand by ctx.unbroadcast. */
import type { GradRule } from '../rule.js';

const add: GradRule = {
  ops: ['Add'],
  differentiable: [0, 1],
  backward: (c) => {
    const g = c.dy(0)!;
    return [c.needs(0) ? c.unbroadcast(g, c.x(0)) : null, c.needs(1) ? c.unbroadcast(g, c.x(1)) : null];
  },
};

const sub: GradRule = {
  ops: ['Sub'],
  differentiable: [0, 1],
  backward: (c) => {
    const g = c.dy(0)!;
    return [c.needs(0) ? c.unbroadcast(g, c.x(0)) : null, c.needs(1) ? c.unbroadcast(c.b.neg(g), c.x(1)) : null];
  },
};

const mul: GradRule = {
  ops: ['Mul'],
  differentiable: [0, 1],
  backward: (c) => {
    const g = c.dy(0)!;
    const [a, b] = [c.x(0), c.x(1)];
    return [
      c.needs(0) ? c.unbroadcast(c.b.mul(g, b), a) : null,
      c.needs(1) ? c.unbroadcast(c.b.mul(g, a), b) : null,
    ];
  },
};

/** d(a/b)/da = 1/b; d(a/b)/db = -(a/b)/b = -y/b, reusing the forward output. */
const div: GradRule = {
  ops: ['Div'],
  differentiable: [0, 1],
  backward: (c) => {
    const g = c.dy(0)!;
    const [a, b] = [c.x(0), c.x(1)];
    const ga = c.b.div(g, b);
    return [
      c.needs(0) ? c.unbroadcast(ga, a) : null,
      c.needs(1) ? c.unbroadcast(c.b.neg(c.b.mul(ga, c.y(0))), b) : null,
    ];
  },
};

export const rules: readonly GradRule[] = [add, sub, mul, div];
