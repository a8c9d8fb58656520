/**
 * Activations: Relu, LeakyRelu, Gelu (the opset-20 op, exact and tanh forms). Formulas follow PyTorch's
 * derivatives (threshold_backward, leaky_relu_backward, gelu_backward), including the value at the kink:
 * the gradient at x = 0 is 0 for Relu and alpha for LeakyRelu.
 */
import { GraphError } from '../../errors.js';
import type { Value } from '../../ir/graph.js';
import type { GradRule } from '../rule.js';

/** dx = dy where y > 0, else 0. */
const relu: GradRule = {
  ops: ['Relu'],
  differentiable: [0],
  backward: (c) => {
    const { b } = c;
    const y = c.y(0);
    const zero = b.scalarLike(0, y);
    return [b.op('Where', [b.op('Greater', [y, zero]), c.dy(0)!, zero])];
  },
};

/** dx = dy where x > 0, else alpha dy. */
const leakyRelu: GradRule = {
  ops: ['LeakyRelu'],
  differentiable: [0],
  backward: (c) => {
    const { b } = c;
    const x = c.x(0);
    const g = c.dy(0)!;
    const alpha = c.node.attrs.float('alpha', 0.01);
    return [b.op('Where', [b.op('Greater', [x, b.scalarLike(0, x)]), g, b.mul(g, b.scalarLike(alpha, x))])];
  },
};

/**
 * approximate="none": y = x Phi(x), dy/dx = Phi(x) + x phi(x), with Phi(x) = (1 + erf(x/sqrt2)) / 2 and
 * phi(x) = exp(-x^2/2) / sqrt(2 pi). With s = x/sqrt2 (so s^2 = x^2/2):
 *   2 dy/dx = (1 + erf(s)) + x exp(log(sqrt(2/pi)) - s^2).
 * approximate="tanh": y = x (1 + t) / 2, t = tanh(u), u = x (B + B K x^2), B = sqrt(2/pi), K = 0.044715:
 *   2 dy/dx = (1 + t) + x (1 - t^2) u',  u' = B + 3 B K x^2.
 */
const gelu: GradRule = {
  ops: ['Gelu'],
  differentiable: [0],
  backward: (c) => {
    const { b, node } = c;
    const x = c.x(0);
    const g = c.dy(0)!;
    const k = (v: number) => b.scalarLike(v, x);
    const approximate = node.attrs.string('approximate', 'none');
    let twice: Value;
    if (approximate === 'none') {
      const s = b.mul(x, k(Math.SQRT1_2));
      const cdf2 = b.add(b.op('Erf', [s]), k(1));
      const pdf2 = b.op('Exp', [b.sub(k(Math.log(Math.sqrt(2 / Math.PI))), b.mul(s, s))]);
      twice = b.add(cdf2, b.mul(x, pdf2));
    } else if (approximate === 'tanh') {
      const B = Math.sqrt(2 / Math.PI);
      const K = 0.044715;
      const xx = b.mul(x, x);
      const t = b.op('Tanh', [b.mul(x, b.add(b.mul(xx, k(B * K)), k(B)))]);
      const du = b.add(b.mul(xx, k(3 * B * K)), k(B));
      const right = b.mul(b.mul(x, b.sub(k(1), b.mul(t, t))), du);
      twice = b.add(b.add(t, k(1)), right);
    } else {
      throw new GraphError(`${node.describe()}: Gelu approximate="${approximate}" is not supported (only "none" and "tanh")`);
    }
    return [b.mul(b.mul(g, k(0.5)), twice)];
  },
};

export const rules: readonly GradRule[] = [relu, leakyRelu, gelu];
