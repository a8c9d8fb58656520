/**
 * Shortens a model's internal names for shipping. torch's exporter names every value and node by its module
 * path (`/bert/encoder/layer.0/attention/self/query/MatMul_output_0`), and the dynamo exporter adds per-node
 * metadata (name scopes, class hierarchy, stack traces); on a small model that text is a large part of the
 * file: 33 KB of the demo student's 232 KB once its weights are int8, 136 KB of a 32-wide BERT's dynamo export.
 *
 * What a consumer of the file relies on keeps its name: the graph's inputs and outputs (what onnxruntime and
 * transformers.js feed and fetch) and the initializers (the weights, which safetensors and Hugging Face
 * state dicts name). Every other value gets a short name; nodes get short names too; node and value_info doc
 * strings and metadata go. A value a Loop/If/Scan body reads from the outer graph keeps its name (the body
 * refers to it by name), as does a name a quantization annotation uses. The model's own metadata (model-level
 * metadata_props, doc string) is kept: it is small and may carry what a loader needs.
 */
import { allNamesIn, outerNamesOf, subgraphsOf } from './graph-names.js';
import type { ModelProto } from './proto.js';

export interface CompactNamesResult {
  /** Values renamed. */
  values: number;
  /** Nodes renamed. */
  nodes: number;
}

export function compactNames(model: ModelProto): CompactNamesResult {
  const g = model.graph;
  if (!g) return { values: 0, nodes: 0 };
  const keep = new Set<string>([...g.input, ...g.output].map((v) => v.name));
  for (const t of g.initializer) keep.add(t.name ?? '');
  for (const s of g.sparseInitializer) keep.add(s.values?.name ?? '');
  for (const a of g.quantizationAnnotation ?? []) keep.add((a as { tensorName?: string }).tensorName ?? '');
  // A name a body reads from this scope is kept; a fresh name must collide with no name anywhere (the
  // bodies' own names included: ONNX's single assignment spans the nesting).
  const taken = new Set<string>();
  for (const n of g.node) {
    for (const name of [...n.input, ...n.output]) taken.add(name);
    for (const body of subgraphsOf(n.attribute)) {
      for (const name of outerNamesOf(body)) keep.add(name);
      allNamesIn(body, taken);
    }
  }
  for (const name of keep) taken.add(name);
  let counter = 0;
  const fresh = (): string => {
    let s: string;
    do s = (counter++).toString(36);
    while (taken.has(s));
    return s;
  };
  const renamed = new Map<string, string>();
  const short = (name: string): string => {
    if (name === '' || keep.has(name)) return name;
    let s = renamed.get(name);
    if (s === undefined) {
      s = fresh();
      renamed.set(name, s);
    }
    return s;
  };
  g.node.forEach((n, i) => {
    n.input = n.input.map(short);
    n.output = n.output.map(short);
    n.name = `n${i.toString(36)}`;
    delete n.docString;
    n.metadataProps = [];
  });
  g.valueInfo = g.valueInfo.map((v) => ({ name: short(v.name), type: v.type }));
  return { values: renamed.size, nodes: g.node.length };
}
