/**
 * Renaming an outer-scope value that a Loop/If/Scan body reads by name. The IR keeps subgraphs as protobuf
 * attributes, so Graph.rename must rewrite the references inside them too, or the renamed graph reads a name
 * that no longer exists (the loop build renames every step value, and DeBERTa's TorchScript export computes
 * its relative positions inside an If that reads the sequence length from outside).
 */
import type { AttributeProto, GraphProto, NodeProto } from '../onnx/proto.js';

/** A copy of `g` in which references to the outer name `from` read `to`; names `g` defines itself shadow it. */
export function renameOuterReference(g: GraphProto, from: string, to: string): GraphProto {
  if (g.input.some((i) => i.name === from) || g.initializer.some((t) => t.name === from)) return g;
  const node: NodeProto[] = [];
  let hidden = false;
  for (const n of g.node) {
    node.push(hidden ? n : renameInNode(n, from, to));
    for (const o of n.output) if (o === from) hidden = true;
  }
  const output = hidden ? g.output : g.output.map((o) => (o.name === from ? { ...o, name: to } : o));
  return { ...g, node, output };
}

function renameInNode(n: NodeProto, from: string, to: string): NodeProto {
  const input = n.input.map((i) => (i === from ? to : i));
  const attribute = [...n.attribute];
  renameInSubgraphAttributes(attribute, from, to);
  return { ...n, input, attribute };
}

/** Rewrites, in the subgraph attributes of `attributes` (in place), outer references to `from` as `to`. */
export function renameInSubgraphAttributes(attributes: AttributeProto[], from: string, to: string): void {
  attributes.forEach((a, k) => {
    if (a.g || a.graphs.length) {
      attributes[k] = { ...a, g: a.g ? renameOuterReference(a.g, from, to) : a.g, graphs: a.graphs.map((s) => renameOuterReference(s, from, to)) };
    }
  });
}
