/**
 * Add, Sub, Mul, Div, Pow, Neg, Sum, Max, Min: elementwise with numpy broadcasting, undone per operand by
 * ctx.unbroadcast.
 */
import { GraphError } from '../../errors.js';
import type { Value } from '../../ir/graph.js';
import type { GradContext, GradRule } from '../rule.js';
import { constantScalar } from '../../ir/constants.js';

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

/**
 * y = a^b. da = dy * b * a^(b-1), zero where b == 0 (as PyTorch, so 0^-1 * 0 gives no NaN); a fixed exponent
 * k (not trained) is folded: k = 1 -> dy, k = 2 -> 2 a dy, k = 0 -> no gradient.
 * db = dy * y * log(a), taken as 0 where a <= 0. PyTorch zeroes only a == 0 with b >= 0 and yields NaN for a
 * negative base (the real power has no derivative in b there) and -inf for a == 0, b < 0; zero is the safe
 * form for training (no NaN/inf poisoning the update) and agrees with PyTorch wherever PyTorch is finite.
 */
const pow: GradRule = {
  ops: ['Pow'],
  differentiable: [0, 1],
  backward: (c) => {
    const { b } = c;
    const g = c.dy(0)!;
    const [a, e] = [c.x(0), c.x(1)];
    let ga: Value | null = null;
    if (c.needs(0)) {
      const k = c.needs(1) ? undefined : constantScalar(e);
      if (k === 0) ga = null;
      else if (k === 1) ga = c.unbroadcast(g, a);
      else if (k === 2) ga = c.unbroadcast(b.mul(g, b.add(a, a)), a);
      else if (k !== undefined) {
        const d = b.mul(b.op('Pow', [a, b.scalarLike(k - 1, a)]), b.scalarLike(k, a));
        ga = c.unbroadcast(b.mul(g, d), a);
      } else {
        const ef = c.b.castLike(e, a);
        const zero = b.scalarLike(0, a);
        const d = b.mul(b.op('Pow', [a, b.sub(ef, b.scalarLike(1, a))]), ef);
        const safe = b.op('Where', [b.op('Equal', [ef, zero]), zero, d]);
        ga = c.unbroadcast(b.mul(g, safe), a);
      }
    }
    let gb: Value | null = null;
    if (c.needs(1)) {
      const zero = b.scalarLike(0, a);
      const t = b.mul(c.y(0), b.op('Log', [a]));
      const safe = b.op('Where', [b.op('Greater', [a, zero]), t, zero]);
      gb = c.unbroadcast(b.mul(g, safe), e);
    }
    return [ga, gb];
  },
};

const neg: GradRule = {
  ops: ['Neg'],
  differentiable: [0],
  backward: (c) => [c.b.neg(c.dy(0)!)],
};

/** Variadic Sum: every operand gets the output gradient, unbroadcast to its shape. */
const sum: GradRule = {
  ops: ['Sum'],
  differentiable: 'all',
  backward: (c) => {
    const g = c.dy(0)!;
    return c.node.inputs.map((x, i) => (c.needs(i) ? c.unbroadcast(g, x!) : null));
  },
};

/** A 0/1 float tensor of `like`'s element type from a bool mask. */
function floatMask(c: GradContext, mask: Value, like: Value): Value {
  const t = like.type.elemType;
  if (t !== undefined) return c.b.op('Cast', [mask], { to: t });
  if (c.opset >= 15) return c.b.op('CastLike', [mask, like]);
  throw new GraphError(`${c.node.describe()}: the element type of '${like.name}' is unknown and CastLike needs opset >= 15`);
}

/**
 * Variadic Max / Min: the gradient goes to the operand(s) equal to the result; ties share it evenly
 * (dx_i = dy * [x_i == y] / #{j : x_j == y}), which for two operands is PyTorch's maximum/minimum rule
 * (half to each on a tie) and for more is what torch.amax does across tied elements.
 */
const maxMin: GradRule = {
  ops: ['Max', 'Min'],
  differentiable: 'all',
  backward: (c) => {
    const { b, node } = c;
    const g = c.dy(0)!;
    const xs = node.inputs.map((x) => x!);
    if (xs.length === 1) return [g];
    const y = c.y(0);
    const masks = xs.map((x) => floatMask(c, b.op('Equal', [x, y]), x));
    const count = masks.length === 2 ? b.add(masks[0]!, masks[1]!) : b.op('Sum', masks);
    const share = b.div(g, count);
    return xs.map((x, i) => (c.needs(i) ? c.unbroadcast(b.mul(share, masks[i]!), x) : null));
  },
};

export const rules: readonly GradRule[] = [add, sub, mul, div, pow, neg, sum, maxMin];
