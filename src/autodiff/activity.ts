/**
 * Which values lie on a differentiable path from the parameters to the loss. differentiate.ts gives backward
 * work to exactly these; coverage.ts (`distill inspect --grad-coverage`) reports the ops among them that have
 * no rule, without building anything.
 */
import { isFloatType } from '../onnx/dtype.js';
import type { Node, Value } from '../ir/graph.js';
import type { GradRule } from './rule.js';
import { ruleFor } from './rules/index.js';

/** The inputs of `node` a gradient can flow through: all of them for an op without a rule. */
export function differentiableInputs(rule: GradRule | undefined, node: Node): readonly number[] {
  if (!rule) return node.inputs.map((_, i) => i);
  const d = rule.differentiable;
  if (d === 'all') return node.inputs.map((_, i) => i);
  return typeof d === 'function' ? d(node) : d;
}

/** A value can carry a gradient only if it is a float tensor (or of unknown type). */
export const canCarryGrad = (v: Value) => v.type.elemType === undefined || isFloatType(v.type.elemType);

export interface Activity {
  /** For each value that depends on a parameter through differentiable inputs: that parameter (the first found). */
  origin: Map<Value, Value>;
  /** Values the seeds depend on. */
  relevant: Set<Value>;
  /** Both: the value needs a gradient. */
  active(v: Value | null): v is Value;
}

/** Forward sweep from `wrt`, backward sweep from `seeded`, over `nodes` in topological order (types inferred). */
export function activity(nodes: readonly Node[], wrt: readonly Value[], seeded: readonly Value[]): Activity {
  const origin = new Map<Value, Value>();
  for (const p of wrt) origin.set(p, p);
  for (const node of nodes) {
    const diff = differentiableInputs(ruleFor(node), node);
    const from = diff.map((i) => node.inputs[i]).find((v) => v && origin.has(v));
    if (!from) continue;
    for (const out of node.outputs) if (out && canCarryGrad(out)) origin.set(out, origin.get(from)!);
  }
  const relevant = new Set<Value>(seeded);
  for (let k = nodes.length - 1; k >= 0; k--) {
    const node = nodes[k]!;
    if (!node.outputs.some((o) => o && relevant.has(o))) continue;
    for (const v of [...node.inputs, ...node.implicitInputs]) if (v) relevant.add(v);
  }
  return { origin, relevant, active: (v): v is Value => v !== null && origin.has(v) && relevant.has(v) };
}
