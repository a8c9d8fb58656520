/** Graph facts tests check. */
import type { Node } from '../../src/ir/graph.js';

/** Structural key of a node: same op, inputs and attributes means the same computation. */
export const nodeKey = (n: Node): string =>
  `${n.opType}|${n.inputs.map((v) => v?.name ?? '').join(',')}|${JSON.stringify(n.attributes, (_, v) => (v instanceof Uint8Array ? Array.from(v) : v))}`;

/** Whether `n` is a deliberate recomputation of a cheap forward value (src/autodiff/remat.ts). */
export const isRematerialized = (n: Node): boolean => n.name.includes('/remat/');

/**
 * Nodes after index `from` that repeat a node before it: recomputed forward work. Constants and the
 * deliberate recomputations of remat.ts (which tests check separately) aside.
 */
export function recomputedNodes(nodes: readonly Node[], from: number): string[] {
  const forward = new Set(nodes.slice(0, from).map(nodeKey));
  return nodes.slice(from).filter((n) => n.opType !== 'Constant' && !isRematerialized(n) && forward.has(nodeKey(n))).map((n) => n.describe());
}
