/**
 * The contract of a gradient rule. One rule per op family, each in its own file under rules/, collected in
 * rules/index.ts. A rule emits backward nodes with the builder; it reads forward values (inputs, outputs)
 * instead of recomputing them.
 */
import type { Builder } from '../ir/builder.js';
import type { Node, Value } from '../ir/graph.js';

export interface GradContext {
  /** Emits the backward nodes (names carry the gradient prefix). */
  readonly b: Builder;
  /** The forward node being differentiated. */
  readonly node: Node;
  /** Forward input `i`. */
  x(i: number): Value;
  /** Forward output `i`; created on the forward node if the model left it out (e.g. Dropout's mask). */
  y(i: number): Value;
  /** Gradient flowing into forward output `i`, or null where none flows (zero). */
  dy(i: number): Value | null;
  /** Whether input `i` needs a gradient (it is differentiable and lies between a parameter and the loss). */
  needs(i: number): boolean;
  /** Sums `grad` (shaped like the op's broadcast result) down to the shape of forward value `like`. */
  unbroadcast(grad: Value, like: Value): Value;
  /** The opset of ai.onnx the graph uses. */
  readonly opset: number;
}

export interface GradRule {
  /** Op types (ai.onnx) this rule differentiates. */
  readonly ops: readonly string[];
  /**
   * Inputs through which a gradient can flow. Others (indices, shapes, axes, masks, conditions) are never
   * differentiated. A function form lets a rule decide per node (e.g. Cast to an integer type: none).
   */
  readonly differentiable: readonly number[] | 'all' | ((node: Node) => readonly number[]);
  /**
   * Returns one entry per forward input: its gradient, or null where it is not needed (or is zero). Only
   * called when at least one output has a gradient and at least one input needs one.
   */
  backward(ctx: GradContext): (Value | null)[];
}

/**
 * A gradient rule for a small subgraph that computes one known function of one input, such as GELU as
 * exporters spell it out in five ops. The rules of the ops would each read their own operands and add up
 * two paths into the input; one rule for the whole function emits its derivative in fewer passes and reads
 * only the input. Patterns are matched at their last node during the reverse sweep.
 */
export interface PatternRule {
  /** What the pattern computes, for docs. */
  readonly name: string;
  /** Op type of the pattern's last node, where matching starts. */
  readonly root: string;
  /**
   * The pattern ending at `node`, or null. `inner` are its other nodes; the caller checks that their
   * outputs are read only inside the pattern, so skipping their rules loses no gradient.
   */
  match(node: Node): PatternMatch | null;
  /** The gradient of the input, from the gradient of the root's output. */
  backward(b: Builder, match: PatternMatch, dy: Value): Value;
}

export interface PatternMatch {
  /** The single value the pattern is a function of. */
  readonly input: Value;
  readonly inner: readonly Node[];
  /** Which variant of its function the pattern found, where it knows several (e.g. GELU's erf and tanh forms). */
  readonly form?: string;
}
