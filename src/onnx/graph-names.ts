/**
 * The names a graph's nested bodies (Loop/If/Scan attributes) use. A body may read any value of its enclosing
 * scopes by name, and ONNX's single-assignment rule spans the nesting, so code that renames or adds values in
 * an outer graph must know both what a body reads from outside and what it defines (the IR's import in
 * ir/convert.ts; shortening names in onnx/compact-names.ts).
 */
import type { AttributeProto, GraphProto } from './proto.js';

/** The graphs held by `attributes` (an If's branches, a Loop's or Scan's body). */
export function subgraphsOf(attributes: readonly AttributeProto[]): GraphProto[] {
  return attributes.flatMap((a) => [a.g, ...a.graphs]).filter((s): s is GraphProto => !!s);
}

/** Names a subgraph reads from its enclosing scopes (used but not defined inside it). */
export function outerNamesOf(g: GraphProto): Set<string> {
  const defined = new Set<string>([
    ...g.input.map((i) => i.name), ...g.initializer.map((t) => t.name ?? ''),
    ...g.sparseInitializer.map((s) => s.values?.name ?? ''),
  ]);
  const used = new Set<string>();
  for (const n of g.node) {
    for (const i of n.input) if (i && !defined.has(i)) used.add(i);
    for (const sub of subgraphsOf(n.attribute)) {
      for (const name of outerNamesOf(sub)) if (!defined.has(name)) used.add(name);
    }
    for (const o of n.output) if (o) defined.add(o);
  }
  for (const o of g.output) if (!defined.has(o.name)) used.add(o.name);
  return used;
}

/** Adds every name `g` and its nested bodies define (inputs, initializers, node outputs, node names) to `into`. */
export function allNamesIn(g: GraphProto, into: Set<string>): void {
  for (const i of g.input) into.add(i.name);
  for (const t of g.initializer) into.add(t.name ?? '');
  for (const n of g.node) {
    for (const o of n.output) into.add(o);
    if (n.name) into.add(n.name);
    for (const sub of subgraphsOf(n.attribute)) allNamesIn(sub, into);
  }
}
