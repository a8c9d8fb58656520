/**
 * Element-type and shape inference over the IR, with symbolic dimensions (dim_param names such as 'batch'
 * flow through). It also tracks the *values* of small int64 shape tensors (Shape -> Gather -> Concat ->
 * Reshape chains that exporters emit), so reshaped tensors keep symbolic shapes. What cannot be inferred
 * stays unknown (undefined type fields, null dims); callers must treat unknown as "could be anything".
 * The rules live in infer/, one module per op family.
 */
import type { Graph, Node } from './graph.js';
import { knownIntValues } from './infer/context.js';
import { INFER_RULES } from './infer/table.js';
import { isStandardDomain } from '../onnx/ops.js';
import { topologicalSort } from './passes.js';

export { broadcastDims, broadcastShapes, knownIntValues } from './infer/context.js';

/** Infers the types of `node`'s outputs from its inputs (leaves what it cannot infer as it was). */
export function inferNode(node: Node, opset: number): void {
  const op = isStandardDomain(node.domain) ? node.opType : `${node.domain}:${node.opType}`;
  const rule = INFER_RULES.get(op);
  if (!rule) return;
  const x = node.inputs[0] ?? undefined;
  rule.infer({
    node, op, opset, x, xt: x?.type ?? {}, out: node.outputs[0], A: node.attrs,
    constIn: (i) => (node.inputs[i] ? knownIntValues(node.inputs[i]!) : undefined),
  });
}

/** Runs inference over the whole graph in topological order. */
export function inferTypes(graph: Graph, opset: number): void {
  topologicalSort(graph);
  for (const n of graph.nodes) inferNode(n, opset);
}
