/**
 * Concat: the gradient is dy cut back into the inputs' extents along the axis, with one Split node whose
 * split sizes are the inputs' dims on that axis (constants where static, Shape(x_i)[axis] at run time
 * otherwise). Inputs that need no gradient still take their extent; their Split output stays unused.
 * A negative axis needs no rank: Split and Gather accept negative axes/indices.
 */
import type { Value } from '../../ir/graph.js';
import type { GradRule } from '../rule.js';
import { typedLike } from './reshape.js';

const concat: GradRule = {
  ops: ['Concat'],
  differentiable: 'all',
  backward: (c) => {
    const { b, node } = c;
    const dy = c.dy(0)!;
    const n = node.inputs.length;
    if (n === 1) return [c.needs(0) ? dy : null];
    const axis = node.attrs.int('axis');
    // Size pieces: consecutive static sizes share one constant.
    const pieces: Value[] = [];
    let run: number[] = [];
    const flush = () => {
      if (run.length) pieces.push(b.int64(run));
      run = [];
    };
    for (let i = 0; i < n; i++) {
      const x = c.x(i);
      const r = x.rank;
      const d = r !== undefined ? x.type.shape![axis < 0 ? axis + r : axis] : null;
      if (typeof d === 'number') run.push(d);
      else {
        flush();
        pieces.push(b.op('Gather', [b.shape(x), b.int64([axis])], { axis: 0 }));
      }
    }
    flush();
    const sizes = pieces.length === 1 ? pieces[0]! : b.op('Concat', pieces, { axis: 0 });
    const outs = b.opN('Split', [dy, sizes], n, { axis });
    return outs.map((g, i) => (c.needs(i) ? typedLike(g, c.x(i)) : null));
  },
};

export const rules: readonly GradRule[] = [concat];
