/**
 * Ops whose gradient passes the output gradient through (possibly re-typed or masked): Identity, Cast,
 * CastLike, Dropout.
 */
import { GraphError } from '../../errors.js';
import { DataType, isFloatType } from '../../onnx/dtype.js';
import type { Value } from '../../ir/graph.js';
import { constantScalar } from '../../ir/constants.js';
import type { GradRule } from '../rule.js';

const identity: GradRule = {
  ops: ['Identity'],
  differentiable: [0],
  backward: (c) => [c.dy(0)],
};

/** Float -> float: the gradient is cast back to the input's type. To a non-float type: no gradient flows. */
const cast: GradRule = {
  ops: ['Cast'],
  differentiable: (node) => (isFloatType(node.attrs.int('to', DataType.UNDEFINED)) ? [0] : []),
  backward: (c) => [c.b.castLike(c.dy(0)!, c.x(0))],
};

/** CastLike(x, target): like Cast; the target only supplies a type. */
const castLikeRule: GradRule = {
  ops: ['CastLike'],
  differentiable: (node) => {
    const t = node.inputs[1]?.type.elemType;
    return t === undefined || isFloatType(t) ? [0] : [];
  },
  backward: (c) => [c.b.castLike(c.dy(0)!, c.x(0))],
};

/**
 * Dropout (opset 12+ form: data, ratio, training_mode). Inference mode (training_mode absent or a constant
 * false) is the identity. In training mode y = x * mask / (1 - ratio), so dx = dy * mask / (1 - ratio),
 * reading the forward node's mask output (added to the node if the model omitted it) rather than drawing a
 * new one. A run-time training_mode selects between the two at run time.
 */
const dropout: GradRule = {
  ops: ['Dropout'],
  differentiable: [0],
  backward: (c) => {
    const { b, node } = c;
    const g = c.dy(0)!;
    const x = c.x(0);
    const modeIn = node.inputs[2] ?? null;
    const mode = modeIn ? constantScalar(modeIn) : 0;
    if (mode === 0) return [g];

    // Scale 1 / (1 - ratio): folded when the ratio is fixed, computed at run time otherwise.
    const ratioIn = node.inputs[1] ?? null;
    const ratio = ratioIn ? constantScalar(ratioIn) : 0.5;
    let scaled: Value;
    if (ratio !== undefined) {
      if (ratio >= 1) throw new GraphError(`${node.describe()}: training-mode dropout with ratio ${ratio} has no gradient`);
      scaled = ratio === 0 ? g : b.mul(g, b.scalarLike(1 / (1 - ratio), x));
    } else {
      const r = c.b.castLike(ratioIn!, x);
      scaled = b.div(g, b.sub(b.scalarLike(1, x), r));
    }
    const masked = b.op('Where', [c.y(1), scaled, b.scalarLike(0, x)]);
    // A run-time training_mode: in inference mode the op is the identity whatever the mask holds.
    return [mode === undefined ? b.op('Where', [modeIn!, masked, g]) : masked];
  },
};

export const rules: readonly GradRule[] = [identity, cast, castLikeRule, dropout];
