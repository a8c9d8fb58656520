/**
 * Reverse-mode differentiation of an IR graph: appends the nodes that compute d loss / d p for every
 * parameter p asked for.
 *
 * 1. Activity: values that depend on a parameter through differentiable inputs (forward sweep) and that the
 *    loss depends on (backward sweep). Only nodes between the two get backward work; integer paths, Shape,
 *    masks and position ids never do.
 * 2. Reverse sweep in reverse topological order: each node's rule turns output gradients into input
 *    gradients. A value read in several places (fan-out, tied weights) sums its contributions. Where a
 *    pattern rule recognizes the subgraph ending at a node (GELU spelled out in ops), its one rule replaces
 *    the rules of the pattern's nodes.
 * 3. Cheap elementwise values the backward reads are recomputed there where that frees them early
 *    (remat.ts), and backward nodes no gradient reads are dropped.
 */
import { GraphError } from '../errors.js';
import { Builder } from '../ir/builder.js';
import type { Graph, Node, Value } from '../ir/graph.js';
import { inferNode, inferTypes } from '../ir/infer.js';
import type { GradContext, PatternMatch, PatternRule } from './rule.js';
import { type Activity, activity, canCarryGrad, differentiableInputs } from './activity.js';
import { rematerialize } from './remat.js';
import { patternsEndingAt, ruleFor } from './rules/index.js';
import { unbroadcast } from './unbroadcast.js';

export interface DifferentiateOptions {
  /** The scalar to differentiate. A non-scalar is treated as its sum (a gradient seed of ones). */
  loss?: Value;
  /**
   * Explicit output gradients instead of (or besides) `loss`: computes the vector-Jacobian product
   * sum over (value, seed) of seed . d value / d p. Each seed has its value's shape.
   */
  seeds?: Map<Value, Value>;
  /** Parameters to differentiate with respect to. */
  wrt: Value[];
  /** ai.onnx opset of the graph. */
  opset: number;
  /** Prefix of generated node/value names (default 'grad/'). */
  prefix?: string;
}

export interface GradientResult {
  /** Gradient value for each parameter that reaches the loss, keyed by parameter name. */
  gradients: Map<string, Value>;
  /** Parameters asked for that do not reach the loss (their gradient is zero). */
  unreached: Value[];
  /** Backward nodes added. */
  nodesAdded: number;
}

export function differentiate(graph: Graph, options: DifferentiateOptions): GradientResult {
  const { wrt, opset } = options;
  const seeded = seededValues(options);
  const lossName = options.loss?.name ?? seeded.map((v) => v.name).join(', ');
  if (opset < 13) throw new GraphError(`autodiff needs ai.onnx opset >= 13 (the model has ${opset}); re-export with a newer opset`);
  inferTypes(graph, opset);
  const forwardNodes = [...graph.nodes];

  // Which values depend on a parameter (and through which one, for error messages) and reach the loss.
  const paths = activity(forwardNodes, wrt, seeded);
  if (!seeded.some(paths.active)) {
    return { gradients: new Map(), unreached: [...wrt], nodesAdded: 0 };
  }

  const b = new Builder(graph, { opset, prefix: options.prefix ?? 'grad/' });
  const sweep = new ReverseSweep(b, paths, lossName);
  sweep.seed(options);
  for (let k = forwardNodes.length - 1; k >= 0; k--) sweep.through(forwardNodes[k]!);

  rematerialize(graph, { builder: b, forward: forwardNodes, backward: [...b.added] });

  // Parameters' contributions are summed only now, so their Sum nodes come after remat's copies; they read
  // gradients alone, so remat has nothing to do for them.
  const { gradients, unreached } = sweep.parameterGradients(wrt);
  return { gradients, unreached, nodesAdded: dropUnread(graph, b.added, [...gradients.values()]) };
}

/** The values the gradient flows back from: the explicit seeds' values, then the loss. */
function seededValues({ loss, seeds }: DifferentiateOptions): Value[] {
  const seeded = [...(seeds?.keys() ?? [])];
  if (loss) seeded.push(loss);
  if (seeded.length === 0) throw new GraphError('differentiate: give a loss or explicit seeds');
  return seeded;
}

/**
 * The reverse sweep: visits the forward nodes last to first and collects, for each value, the gradient
 * contributions of its readers. They are summed (one Sum node) when the value's gradient is first read,
 * which in reverse topological order is after every reader has contributed.
 */
class ReverseSweep {
  private readonly contributions = new Map<Value, Value[]>();

  /** `lossName` names the loss (or the seeded values) in errors. */
  constructor(private readonly b: Builder, private readonly paths: Activity, private readonly lossName: string) {}

  /** The gradients the sweep starts from: each explicit seed, then ones for the loss (a non-scalar is summed). */
  seed({ loss, seeds }: DifferentiateOptions): void {
    const { b, paths } = this;
    for (const [v, seed] of seeds ?? []) if (paths.active(v)) this.addGrad(v, seed);
    if (loss && paths.active(loss)) {
      const one = b.scalarLike(1, loss);
      this.addGrad(loss, loss.type.shape?.length === 0 ? one : b.op('Expand', [one, b.shape(loss)]));
    }
  }

  /** Turns the gradients of `node`'s outputs into gradients of its inputs, where both are needed. */
  through(node: Node): void {
    if (!node.outputs.some((o) => this.paths.active(o) && this.contributions.has(o))) return;
    const pattern = matchPattern(this.b.graph, node);
    if (pattern) this.throughPattern(node, pattern);
    else this.throughRule(node);
  }

  /** The summed gradient of each parameter; those the loss does not reach are `unreached`. */
  parameterGradients(wrt: readonly Value[]): Pick<GradientResult, 'gradients' | 'unreached'> {
    const gradients = new Map<string, Value>();
    const unreached: Value[] = [];
    for (const p of wrt) {
      const g = this.paths.active(p) ? this.gradOf(p) : null;
      if (g) gradients.set(p.name, g);
      else unreached.push(p);
    }
    return { gradients, unreached };
  }

  private throughPattern(node: Node, { rule, match }: { rule: PatternRule; match: PatternMatch }): void {
    // The pattern's inner values are read only inside it, so they get no gradient and their nodes are
    // skipped by the check in through().
    if (this.paths.active(match.input) && canCarryGrad(match.input)) {
      this.addGrad(match.input, rule.backward(this.b, match, this.gradOf(node.outputs[0]!)!));
    }
  }

  private throughRule(node: Node): void {
    const rule = ruleFor(node);
    const diff = differentiableInputs(rule, node);
    const needs = node.inputs.map((v, i) => diff.includes(i) && this.paths.active(v) && canCarryGrad(v!));
    if (!needs.some(Boolean)) return;
    if (!rule) throw this.noRuleError(node);
    const grads = rule.backward(this.context(node, needs));
    grads.forEach((g, i) => {
      if (g && needs[i]) this.addGrad(node.inputs[i]!, g);
    });
  }

  /** What a rule sees of `node`: its forward values, its output gradients, and which inputs need one. */
  private context(node: Node, needs: readonly boolean[]): GradContext {
    const { b } = this;
    return {
      b,
      node,
      opset: b.opset,
      x: (i) => node.input(i),
      y: (i) => ensureOutput(b.graph, node, i, b.opset),
      dy: (i) => {
        const o = node.outputs[i];
        return o ? this.gradOf(o) : null;
      },
      needs: (i) => needs[i] ?? false,
      unbroadcast: (g, like) => unbroadcast(b, g, like),
    };
  }

  /** Names the op without a rule, and the parameter whose path reaches it, so the user can freeze that one. */
  private noRuleError(node: Node): GraphError {
    const param = node.inputs.map((v) => (v ? this.paths.origin.get(v) : undefined)).find((p) => p);
    return new GraphError(
      `no gradient rule for ${node.domain ? `${node.domain}.` : ''}${node.opType} (node '${node.name}'), which lies between parameter '${param?.name}' and loss '${this.lossName}'; freeze that parameter or add a rule in src/autodiff/rules/`,
    );
  }

  private addGrad(v: Value, g: Value): void {
    // A gradient has its value's type and shape; inference on backward nodes may know less.
    if (g.type.shape === undefined) g.type = { ...v.type, elemType: g.type.elemType ?? v.type.elemType };
    const list = this.contributions.get(v);
    if (list) list.push(g);
    else this.contributions.set(v, [g]);
  }

  /** The gradient of `v` so far, its contributions summed into one; null where none has arrived. */
  private gradOf(v: Value): Value | null {
    const list = this.contributions.get(v);
    if (!list || list.length === 0) return null;
    if (list.length > 1) {
      const sum = this.b.op('Sum', list, {}, `${v.name}_accum`);
      sum.type = { ...v.type };
      this.contributions.set(v, [sum]);
      return sum;
    }
    return list[0]!;
  }
}

/**
 * The pattern rule that matches the subgraph ending at `node`, if any, where that subgraph can be
 * differentiated as a whole: the root has one output, and every value inside is read only inside and is
 * not a graph output.
 */
function matchPattern(graph: Graph, node: Node): { rule: PatternRule; match: PatternMatch } | null {
  if (node.outputs.length !== 1) return null;
  for (const rule of patternsEndingAt(node)) {
    const match = rule.match(node);
    if (!match) continue;
    const inside = new Set([node, ...match.inner]);
    const sealed = match.inner.every((n) =>
      n.outputs.every((v) => !v || (!graph.outputs.includes(v) && v.uses.every((u) => inside.has(u)))));
    if (sealed) return { rule, match };
  }
  return null;
}

/**
 * Removes the backward nodes that no gradient reads, e.g. a Transpose that a later transpose composed away
 * (Builder.transpose); returns how many backward nodes remain.
 */
function dropUnread(graph: Graph, added: readonly Node[], gradients: readonly Value[]): number {
  const live = graph.liveNodes(gradients, new Set(added));
  for (const n of added) if (!live.has(n)) graph.removeNode(n);
  return live.size;
}

/** Forward output `i` of `node`, adding it to the node if the model omitted it. */
function ensureOutput(graph: Graph, node: Node, i: number, opset: number): Value {
  const existing = node.outputs[i];
  if (existing) return existing;
  const v = graph.newValue(`${node.name || node.opType}_output${i}`);
  graph.setNodeOutput(node, i, v);
  inferNode(node, opset);
  return v;
}
