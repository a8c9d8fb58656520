/** Graph facts tests check. */
import type { Node } from '../../src/ir/graph.js';

/** Structural key of a node: same op, inputs and attributes means the same computation. */
export const nodeKey = (n: Node): string =>
  `${n.opType}|${n.inputs.map((v) => v?.name ?? '').join(',')}|${JSON.stringify(n.attributes, (_, v) => (v instanceof Uint8Array ? Array.from(v) : v))}`;

/** Nodes after index `from` that repeat a node before it (Constants aside): recomputed forward work. */
export function recomputedNodes(nodes: readonly Node[], from: number): string[] {
  const forward = new Set(nodes.slice(0, from).map(nodeKey));
  return nodes.slice(from).filter((n) => n.opType !== 'Constant' && forward.has(nodeKey(n))).map((n) => n.describe());
}
