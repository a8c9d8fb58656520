/**
 * Gradient coverage of a model before anything is built: which nodes lie on a differentiable path from the
 * trainable parameters to the outputs, and which of those have no gradient rule (the build would stop at the
 * first). Uses the same activity sweep as differentiate.ts and the same rule registry, so "covered" here means
 * exactly "differentiate() will not stop here".
 */
import type { Model } from '../ir/convert.js';
import type { Value } from '../ir/graph.js';
import { inferTypes } from '../ir/infer.js';
import { activity, canCarryGrad, differentiableInputs } from './activity.js';
import { ruleFor } from './rules/index.js';
import { qualifiedOpType } from '../onnx/ops.js';

export interface UncoveredNode {
  op: string;
  node: string;
  /** A parameter whose path reaches the node. */
  parameter: string;
}

export interface GradCoverage {
  opset: number;
  parameters: number;
  /** The outputs the paths end at. */
  outputs: string[];
  /** Nodes that would get backward work. */
  nodesOnPath: number;
  /** Op type -> nodes of it on the path (domain-qualified outside ai.onnx). */
  opsOnPath: Record<string, number>;
  uncovered: UncoveredNode[];
  /** Op types among `uncovered`, sorted. */
  uncoveredOps: string[];
}

/** Coverage of the paths from `parameters` to `outputs` (default: every float output of the graph). */
export function gradCoverage(model: Model, parameters: readonly Value[], outputs?: readonly Value[]): GradCoverage {
  const graph = model.graph;
  const opset = model.opset('') ?? 0;
  inferTypes(graph, opset);
  const seeds = outputs ?? graph.outputs.filter(canCarryGrad);
  const { origin, active } = activity(graph.nodes, parameters, seeds);
  const opsOnPath: Record<string, number> = {};
  const uncovered: UncoveredNode[] = [];
  let nodesOnPath = 0;
  for (const node of graph.nodes) {
    const rule = ruleFor(node);
    const diff = differentiableInputs(rule, node);
    const from = diff.map((i) => node.inputs[i]).find((v) => active(v ?? null) && canCarryGrad(v!));
    if (!from || !node.outputs.some((o) => active(o ?? null))) continue;
    const op = qualifiedOpType(node);
    nodesOnPath++;
    opsOnPath[op] = (opsOnPath[op] ?? 0) + 1;
    if (!rule) uncovered.push({ op, node: node.name, parameter: origin.get(from)!.name });
  }
  return {
    opset,
    parameters: parameters.length,
    outputs: seeds.map((v) => v.name),
    nodesOnPath,
    opsOnPath: Object.fromEntries(Object.entries(opsOnPath).sort(([a], [b]) => a.localeCompare(b))),
    uncovered,
    uncoveredOps: [...new Set(uncovered.map((u) => u.op))].sort(),
  };
}

/** The report `distill inspect --grad-coverage` prints. */
export function renderCoverage(file: string, c: GradCoverage): string {
  const ops = Object.entries(c.opsOnPath).map(([op, n]) => `${op} ${n}`).join(', ');
  const where = `${c.nodesOnPath} nodes (${Object.keys(c.opsOnPath).length} op types) on the path from ${c.parameters} parameters to ${c.outputs.join(', ')}`;
  if (c.uncovered.length === 0) return `${file}: ${where}; every one has a gradient rule\n  ops: ${ops}`;
  const width = Math.max(...c.uncovered.map((u) => u.op.length)) + 2;
  return [
    `${file}: ${c.uncovered.length} of ${where} have no gradient rule (${c.uncoveredOps.join(', ')}):`,
    ...c.uncovered.map((u) => `  ${u.op.padEnd(width)}${u.node}  (reached from '${u.parameter}')`),
    `  ops: ${ops}`,
    '  Training stops at the first of these; freeze the parameters that reach them (--freeze) or add rules in src/autodiff/rules/.',
  ].join('\n');
}
