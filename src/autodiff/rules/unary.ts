/**
 * Elementwise unary math: Sqrt, Reciprocal, Exp, Log, Abs, Erf, Tanh, Sigmoid, Sin, Cos (rotary position
 * embeddings, where their input is trainable). Where the derivative is a
 * function of the output (sqrt, 1/x, exp, tanh, sigmoid) it reads the forward output instead of recomputing.
 * Constants take the element type of the forward value (b.scalarLike), so a rule serves float32 and float64.
 */
import type { GradRule } from '../rule.js';

/** d sqrt(x) = 1 / (2 y). */
const sqrt: GradRule = {
  ops: ['Sqrt'],
  differentiable: [0],
  backward: (c) => {
    const { b } = c;
    return [b.div(b.mul(c.dy(0)!, b.scalarLike(0.5, c.x(0))), c.y(0))];
  },
};

/** d (1/x) = -1/x^2 = -y^2. */
const reciprocal: GradRule = {
  ops: ['Reciprocal'],
  differentiable: [0],
  backward: (c) => {
    const { b } = c;
    const y = c.y(0);
    return [b.neg(b.mul(c.dy(0)!, b.mul(y, y)))];
  },
};

/** d exp(x) = y. */
const exp: GradRule = {
  ops: ['Exp'],
  differentiable: [0],
  backward: (c) => [c.b.mul(c.dy(0)!, c.y(0))],
};

/** d log(x) = 1/x. */
const log: GradRule = {
  ops: ['Log'],
  differentiable: [0],
  backward: (c) => [c.b.div(c.dy(0)!, c.x(0))],
};

/** d |x| = sign(x), 0 at x = 0 (PyTorch's sgn). */
const abs: GradRule = {
  ops: ['Abs'],
  differentiable: [0],
  backward: (c) => [c.b.mul(c.dy(0)!, c.b.op('Sign', [c.x(0)]))],
};

/** d erf(x) = 2/sqrt(pi) exp(-x^2) = exp(log(2/sqrt(pi)) - x^2): the constant rides in the exponent. */
const erf: GradRule = {
  ops: ['Erf'],
  differentiable: [0],
  backward: (c) => {
    const { b } = c;
    const x = c.x(0);
    const logC = Math.log(2 / Math.sqrt(Math.PI));
    return [b.mul(c.dy(0)!, b.op('Exp', [b.sub(b.scalarLike(logC, x), b.mul(x, x))]))];
  },
};

/** d tanh(x) = 1 - y^2. */
const tanh: GradRule = {
  ops: ['Tanh'],
  differentiable: [0],
  backward: (c) => {
    const { b } = c;
    const y = c.y(0);
    return [b.mul(c.dy(0)!, b.sub(b.scalarLike(1, y), b.mul(y, y)))];
  },
};

/** d sigmoid(x) = y (1 - y). */
const sigmoid: GradRule = {
  ops: ['Sigmoid'],
  differentiable: [0],
  backward: (c) => {
    const { b } = c;
    const y = c.y(0);
    return [b.mul(c.dy(0)!, b.mul(y, b.sub(b.scalarLike(1, y), y)))];
  },
};

/** d sin(x) = cos(x). */
const sin: GradRule = {
  ops: ['Sin'],
  differentiable: [0],
  backward: (c) => [c.b.mul(c.dy(0)!, c.b.op('Cos', [c.x(0)]))],
};

/** d cos(x) = -sin(x). */
const cos: GradRule = {
  ops: ['Cos'],
  differentiable: [0],
  backward: (c) => [c.b.neg(c.b.mul(c.dy(0)!, c.b.op('Sin', [c.x(0)])))],
};

export const rules: readonly GradRule[] = [sqrt, reciprocal, exp, log, abs, erf, tanh, sigmoid, sin, cos];
