/**
 * Activations: Relu, LeakyRelu, Clip (torch.clamp, ReLU6), Softplus, Gelu (the opset-20 op, exact and tanh
 * forms), and GELU as exporters write it in ops (both forms) as a pattern. Formulas follow PyTorch's
 * derivatives (threshold_backward, leaky_relu_backward, clamp_backward, softplus_backward, gelu_backward),
 * including the value at the kink: the gradient at x = 0 is 0 for Relu and alpha for LeakyRelu, and Clip
 * passes it at a bound (x == min or x == max).
 */
import { GraphError } from '../../errors.js';
import type { Builder } from '../../ir/builder.js';
import { constantScalar } from '../../ir/constants.js';
import type { Node, Value } from '../../ir/graph.js';
import type { GradRule, PatternMatch, PatternRule } from '../rule.js';
import { isStandardDomain } from '../../onnx/ops.js';

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
 * dx = dy where min <= x <= max, else 0 (PyTorch's clamp_backward). The bounds are inputs from opset 11
 * (either may be absent) and attributes before; they get no gradient (exporters pass constants).
 */
const clip: GradRule = {
  ops: ['Clip'],
  differentiable: [0],
  backward: (c) => {
    const { b, node } = c;
    const x = c.x(0);
    const bound = (i: number, attr: string): Value | null => {
      if (c.opset >= 11) return node.inputs[i] ?? null;
      const v = node.attrs.float(attr, Number.NaN);
      return Number.isNaN(v) ? null : b.scalarLike(v, x);
    };
    const lo = bound(1, 'min');
    const hi = bound(2, 'max');
    const inside = [lo && b.op('GreaterOrEqual', [x, lo]), hi && b.op('LessOrEqual', [x, hi])].filter((v): v is Value => v !== null);
    if (inside.length === 0) return [c.dy(0)];
    const mask = inside.length === 2 ? b.op('And', inside) : inside[0]!;
    return [b.op('Where', [mask, c.dy(0)!, b.scalarLike(0, x)])];
  },
};

/** y = log(1 + exp(x)): dx = dy sigmoid(x) (ONNX's Softplus has no beta or threshold). */
const softplus: GradRule = {
  ops: ['Softplus'],
  differentiable: [0],
  backward: (c) => [c.b.mul(c.dy(0)!, c.b.op('Sigmoid', [c.x(0)]))],
};

/**
 * approximate="none": y = x Phi(x), dy/dx = Phi(x) + x phi(x), with Phi(x) = (1 + erf(x/sqrt2)) / 2 and
 * phi(x) = exp(-x^2/2) / sqrt(2 pi). With s = x/sqrt2 (so s^2 = x^2/2):
 *   2 dy/dx = (1 + erf(s)) + x exp(log(sqrt(2/pi)) - s^2).
 * approximate="tanh": y = x (1 + t) / 2, t = tanh(u), u = x (B + B K x^2), B = sqrt(2/pi), K = 0.044715:
 *   2 dy/dx = (1 + t) + x (1 - t^2) u',  u' = B + 3 B K x^2.
 * Ten elementwise passes for the exact form; the pattern rule below uses it too.
 */
function geluGradient(b: Builder, x: Value, g: Value, approximate: string, where: () => string): Value {
  const k = (v: number) => b.scalarLike(v, x);
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
    throw new GraphError(`${where()}: Gelu approximate="${approximate}" is not supported (only "none" and "tanh")`);
  }
  return b.mul(b.mul(g, k(0.5)), twice);
}

const gelu: GradRule = {
  ops: ['Gelu'],
  differentiable: [0],
  backward: (c) => [geluGradient(c.b, c.x(0), c.dy(0)!, c.node.attrs.string('approximate', 'none'), () => c.node.describe())],
};

/** Whether `v` is a build-time constant equal to `target` up to float32 rounding. */
function isConstant(v: Value | null, target: number): boolean {
  const k = constantScalar(v);
  return k !== undefined && Math.abs(k - target) <= 1e-6 * Math.abs(target);
}

/** The producer of `v` if it is a standard `op` node. */
function producedBy(v: Value | null, op: string): Node | null {
  const p = v?.producer;
  return p && p.opType === op && isStandardDomain(p.domain) ? p : null;
}

/** For a two-input node with `known` as one operand, the other operand. */
function otherOperand(node: Node, known: (v: Value | null) => boolean): Value | null {
  const [a, b] = node.inputs;
  if (a && b && known(a)) return b;
  if (a && b && known(b)) return a;
  return null;
}

/** A pattern's matched input, its nodes (outermost first), and which GELU it computes. */
interface Cdf2 {
  x: Value;
  nodes: Node[];
  approximate: 'none' | 'tanh';
}

/** 1 + erf(x / sqrt2), with x / sqrt2 as Div or as Mul by 1/sqrt2, operands in either order. */
function matchErfCdf2(erf: Node | null, add: Node): Cdf2 | null {
  const s = erf?.inputs[0] ?? null;
  const div = producedBy(s, 'Div');
  if (div && isConstant(div.inputs[1] ?? null, Math.SQRT2)) return { x: div.inputs[0]!, nodes: [add, erf!, div], approximate: 'none' };
  const mul = producedBy(s, 'Mul');
  const x = mul && otherOperand(mul, (v) => isConstant(v, Math.SQRT1_2));
  return x ? { x, nodes: [add, erf!, mul!], approximate: 'none' } : null;
}

/** 1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)), x^3 as Pow(x, 3), operands in either order. */
function matchTanhCdf2(tanh: Node | null, add: Node): Cdf2 | null {
  const scaled = producedBy(tanh?.inputs[0] ?? null, 'Mul');
  const inner = scaled && producedBy(otherOperand(scaled, (v) => isConstant(v, Math.sqrt(2 / Math.PI))), 'Add');
  if (!inner) return null;
  for (const slot of [0, 1]) {
    const cubicTerm = producedBy(inner.inputs[1 - slot] ?? null, 'Mul');
    const pow = cubicTerm && producedBy(otherOperand(cubicTerm, (v) => isConstant(v, 0.044715)), 'Pow');
    const x = inner.inputs[slot];
    if (pow && x && pow.inputs[0] === x && isConstant(pow.inputs[1] ?? null, 3)) {
      return { x, nodes: [add, tanh!, scaled!, inner, cubicTerm!, pow], approximate: 'tanh' };
    }
  }
  return null;
}

/** 2 Phi(x) as the erf or tanh form writes it: 1 + erf(..) or 1 + tanh(..). */
function matchCdf2(p: Value | null): Cdf2 | null {
  const add = producedBy(p, 'Add');
  const e = add && otherOperand(add, (v) => isConstant(v, 1));
  if (!add || !e) return null;
  return matchErfCdf2(producedBy(e, 'Erf'), add) ?? matchTanhCdf2(producedBy(e, 'Tanh'), add);
}

/**
 * GELU as TorchScript and dynamo exports spell it: a product of x, 2 Phi(x) and 0.5 in two Muls, grouped and
 * ordered either way, with 2 Phi(x) = 1 + erf(x / sqrt2) (nn.GELU, F.gelu) or 1 + tanh(sqrt(2/pi) (x +
 * 0.044715 x^3)) (F.gelu(approximate="tanh"), Hugging Face's NewGELUActivation in GPT-2).
 */
const geluPattern: PatternRule = {
  name: 'GELU in ops: x * (1 + erf(x / sqrt2)) * 0.5, or its tanh form with x + 0.044715 x^3',
  root: 'Mul',
  match(root: Node): PatternMatch | null {
    for (const slot of [0, 1]) {
      const inner = producedBy(root.inputs[slot] ?? null, 'Mul');
      const outer = root.inputs[1 - slot] ?? null;
      if (!inner || !outer) continue;
      // the three factors: `outer` and the inner Mul's two operands
      const factors = [outer, inner.inputs[0] ?? null, inner.inputs[1] ?? null];
      const half = factors.findIndex((v) => isConstant(v, 0.5));
      if (half < 0) continue;
      const rest = factors.filter((_, i) => i !== half);
      for (const [x, p] of [[rest[0], rest[1]], [rest[1], rest[0]]] as const) {
        const cdf = matchCdf2(p ?? null);
        if (cdf && x && cdf.x === x) return { input: x, inner: [inner, ...cdf.nodes], form: cdf.approximate };
      }
    }
    return null;
  },
  backward: (b, m, dy) => geluGradient(b, m.input, dy, m.form ?? 'none', () => 'GELU pattern'),
};

export const rules: readonly GradRule[] = [relu, leakyRelu, clip, softplus, gelu];
export const patterns: readonly PatternRule[] = [geluPattern];
