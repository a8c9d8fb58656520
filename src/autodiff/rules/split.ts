/**
 * Split: the pieces' gradients concatenated back along the axis. A piece with no gradient contributes zeros
 * of its shape (ConstantOfShape, not Sub(y, y), which would turn inf/NaN outputs into NaN gradients).
 * The split sizes (input 1 since opset 13, or the opset-18 num_outputs attribute) are not differentiable.
 */
import type { GradRule } from '../rule.js';
import { typedLike, zerosLike } from './reshape.js';

const split: GradRule = {
  ops: ['Split'],
  differentiable: [0],
  backward: (c) => {
    if (!c.needs(0)) return [null];
    const x = c.x(0);
    const parts = c.node.outputs.map((_, i) => c.dy(i) ?? zerosLike(c.b, c.y(i), x));
    if (parts.length === 1) return [parts[0]!];
    return [typedLike(c.b.op('Concat', parts, { axis: c.node.attrs.int('axis', 0) }), x)];
  },
};

export const rules: readonly GradRule[] = [split];
