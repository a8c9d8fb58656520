/**
 * Softmax and LogSoftmax over one axis (opset >= 13 semantics; any axis, negative allowed), reusing the
 * forward output y instead of recomputing the normalisation:
 *
 *   Softmax:    dx = y * (dy - sum(dy * y, axis, keepdims))
 *   LogSoftmax: dx = dy - exp(y) * sum(dy, axis, keepdims)
 *
 * Before opset 13 both ops flattened the input to 2-D at `axis`; autodiff needs opset >= 13, so that form
 * is rejected rather than supported.
 */
import { GraphError } from '../../errors.js';
import type { GradContext, GradRule } from '../rule.js';

function axisOf(c: GradContext): number {
  if (c.opset < 13) {
    throw new GraphError(`${c.node.describe()}: ${c.node.opType} before opset 13 (2-D coercion at 'axis') is not differentiable here (model opset ${c.opset})`);
  }
  return c.node.attrs.int('axis', -1);
}

const softmax: GradRule = {
  ops: ['Softmax'],
  differentiable: [0],
  backward: (c) => {
    const { b } = c;
    const g = c.dy(0)!;
    const y = c.y(0);
    const s = b.reduceSum(b.mul(g, y), [axisOf(c)], true);
    return [b.mul(y, b.sub(g, s))];
  },
};

const logSoftmax: GradRule = {
  ops: ['LogSoftmax'],
  differentiable: [0],
  backward: (c) => {
    const { b } = c;
    const g = c.dy(0)!;
    const s = b.reduceSum(g, [axisOf(c)], true);
    return [b.sub(g, b.mul(b.op('Exp', [c.y(0)]), s))];
  },
};

export const rules: readonly GradRule[] = [softmax, logSoftmax];
