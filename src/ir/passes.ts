/**
 * Graph passes share one shape: a function that rewrites a graph in place, given its options, and says
 * whether it changed anything (so a caller can skip re-inference or a re-sort when nothing moved). The
 * general ones live here; narrow-rows (`ir/narrow-rows.ts`) and remat (`autodiff/remat.ts`) have the same
 * shape.
 */
import { GraphError } from '../errors.js';
import type { Graph, Node, Value } from './graph.js';

/** A pass over `graph`: rewrites it in place and returns whether anything changed. */
export type GraphPass<Options = void> = (graph: Graph, options: Options) => boolean;

/**
 * Dead-code elimination: removes nodes none of whose outputs reach a graph output, and values that are no
 * longer produced, consumed or declared. Initializers nobody reads are dropped unless they are graph inputs.
 */
export const eliminateDeadCode: GraphPass = (graph) => {
  const live = graph.liveNodes(graph.outputs);
  let changed = false;
  for (const n of [...graph.nodes]) {
    if (live.has(n)) continue;
    graph.removeNode(n);
    changed = true;
  }
  const inputs = new Set(graph.inputs);
  const outputs = new Set(graph.outputs);
  for (const v of [...graph.values.values()]) {
    if (v.producer || v.uses.length || outputs.has(v) || inputs.has(v)) continue;
    graph.removeValue(v);
    changed = true;
  }
  for (const name of graph.valueInfo.keys()) if (!graph.values.has(name)) graph.valueInfo.delete(name);
  return changed;
};

/** Reorders the nodes topologically, keeping the existing order wherever it is already valid. */
export const topologicalSort: GraphPass = (graph) => {
  const ready = new Set<Value>();
  for (const v of graph.values.values()) if (!v.producer) ready.add(v);
  const pending = new Set(graph.nodes);
  const order: Node[] = [];
  const deps = (n: Node) => [...n.inputs, ...n.implicitInputs].filter((v): v is Value => v !== null);
  let progress = true;
  while (pending.size && progress) {
    progress = false;
    for (const n of pending) {
      if (deps(n).every((v) => ready.has(v))) {
        order.push(n);
        pending.delete(n);
        for (const o of n.outputs) if (o) ready.add(o);
        progress = true;
      }
    }
  }
  if (pending.size) {
    const stuck = [...pending][0]!;
    throw new GraphError(`graph '${graph.name}' has a cycle or a missing value at ${stuck.describe()}`);
  }
  const changed = order.some((n, i) => graph.nodes[i] !== n);
  if (changed) graph.reorderNodes(order);
  return changed;
};
