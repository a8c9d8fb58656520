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
import { activity, canCarryGrad, differentiableInputs } from './activity.js';
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
  const { loss, wrt, opset } = options;
  const seeded = [...(options.seeds?.keys() ?? [])];
  if (loss) seeded.push(loss);
  if (seeded.length === 0) throw new GraphError('differentiate: give a loss or explicit seeds');
  const lossName = loss?.name ?? seeded.map((v) => v.name).join(', ');
  if (opset < 13) throw new GraphError(`autodiff needs ai.onnx opset >= 13 (the model has ${opset}); re-export with a newer opset`);
  inferTypes(graph, opset);
  const forwardNodes = [...graph.nodes];

  // Which values depend on a parameter (and through which one, for error messages) and reach the loss.
  const { origin, active } = activity(forwardNodes, wrt, seeded);

  const b = new Builder(graph, { opset, prefix: options.prefix ?? 'grad/' });
  const contributions = new Map<Value, Value[]>();
  const addGrad = (v: Value, g: Value) => {
    // A gradient has its value's type and shape; inference on backward nodes may know less.
    if (g.type.shape === undefined) g.type = { ...v.type, elemType: g.type.elemType ?? v.type.elemType };
    const list = contributions.get(v);
    if (list) list.push(g);
    else contributions.set(v, [g]);
  };
  const gradOf = (v: Value): Value | null => {
    const list = contributions.get(v);
    if (!list || list.length === 0) return null;
    if (list.length > 1) {
      const sum = b.op('Sum', list, {}, `${v.name}_accum`);
      sum.type = { ...v.type };
      contributions.set(v, [sum]);
      return sum;
    }
    return list[0]!;
  };

  if (!seeded.some(active)) {
    return { gradients: new Map(), unreached: [...wrt], nodesAdded: 0 };
  }
  for (const [v, seed] of options.seeds ?? []) if (active(v)) addGrad(v, seed);
  if (loss && active(loss)) {
    const one = b.scalarLike(1, loss);
    addGrad(loss, loss.type.shape?.length === 0 ? one : b.op('Expand', [one, b.shape(loss)]));
  }

  for (let k = forwardNodes.length - 1; k >= 0; k--) {
    const node = forwardNodes[k]!;
    if (!node.outputs.some((o) => active(o) && contributions.has(o))) continue;
    const pattern = matchPattern(graph, node);
    if (pattern) {
      // The pattern's inner values are read only inside it, so they get no gradient and their nodes are
      // skipped by the check above.
      if (active(pattern.match.input) && canCarryGrad(pattern.match.input)) {
        addGrad(pattern.match.input, pattern.rule.backward(b, pattern.match, gradOf(node.outputs[0]!)!));
      }
      continue;
    }
    const rule = ruleFor(node);
    const diff = differentiableInputs(rule, node);
    const needs = node.inputs.map((v, i) => diff.includes(i) && active(v) && canCarryGrad(v!));
    if (!needs.some(Boolean)) continue;
    if (!rule) {
      const param = node.inputs.map((v) => (v ? origin.get(v) : undefined)).find((p) => p);
      throw new GraphError(
        `no gradient rule for ${node.domain ? `${node.domain}.` : ''}${node.opType} (node '${node.name}'), which lies between parameter '${param?.name}' and loss '${lossName}'; freeze that parameter or add a rule in src/autodiff/rules/`,
      );
    }
    const ctx: GradContext = {
      b,
      node,
      opset,
      x: (i) => node.input(i),
      y: (i) => ensureOutput(graph, node, i, opset),
      dy: (i) => {
        const o = node.outputs[i];
        return o ? gradOf(o) : null;
      },
      needs: (i) => needs[i] ?? false,
      unbroadcast: (g, like) => unbroadcast(b, g, like),
    };
    const grads = rule.backward(ctx);
    grads.forEach((g, i) => {
      if (g && needs[i]) addGrad(node.inputs[i]!, g);
    });
  }

  rematerialize(graph, { builder: b, forward: forwardNodes, backward: [...b.added] });

  const gradients = new Map<string, Value>();
  const unreached: Value[] = [];
  for (const p of wrt) {
    const g = active(p) ? gradOf(p) : null;
    if (g) gradients.set(p.name, g);
    else unreached.push(p);
  }
  return { gradients, unreached, nodesAdded: dropUnread(graph, b.added, [...gradients.values()]) };
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
