/**
 * Pad, constant mode: y is x with `pads` zeros (or the constant) added before and after each axis; a negative
 * pad crops. dx is dy with the opposite pads, Pad(dy, -pads) with zeros: positive pads become crops, and
 * crops become zeros where x's cropped elements had no influence. Only `data` is differentiable; `pads` and
 * `axes` are integers, and `constant_value` is treated as a constant (exporters write a literal there).
 * Reflect, edge and wrap modes read x's elements more than once and have no rule.
 */
import { GraphError } from '../../errors.js';
import type { GradRule } from '../rule.js';
import { typedLike } from './reshape.js';

const pad: GradRule = {
  ops: ['Pad'],
  differentiable: [0],
  backward: (c) => {
    if (!c.needs(0)) return [null];
    const { b, node } = c;
    const mode = node.attrs.string('mode', 'constant');
    if (mode !== 'constant') {
      throw new GraphError(`Pad node '${node.name}': mode '${mode}' has no gradient rule (only 'constant'); freeze the parameters before it`);
    }
    const axes = node.inputs[3] ?? null;
    const back = b.op('Pad', axes ? [c.dy(0)!, b.neg(c.x(1)), null, axes] : [c.dy(0)!, b.neg(c.x(1))]);
    return [typedLike(back, c.x(0))];
  },
};

export const rules: readonly GradRule[] = [pad];
