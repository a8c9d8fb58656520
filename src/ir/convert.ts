/**
 * ModelProto <-> IR. Import keeps every field the IR does not model (doc strings, metadata, functions,
 * training info, value_info, sparse initializers, node extras) so that export writes them back unchanged.
 */
import type {
  GraphProto, ModelProto, NodeProto, TensorShapeProto, TypeProto, ValueInfoProto,
} from '../onnx/proto.js';
import { toNumber } from '../onnx/proto.js';
import { allNamesIn, outerNamesOf, subgraphsOf } from '../onnx/graph-names.js';
import { Graph, type Dim, type Node, type TensorType, type Value } from './graph.js';
import { isStandardDomain } from '../onnx/ops.js';
import { topologicalSort } from './passes.js';

/** A model: the IR graph plus the ModelProto fields around it. */
export class Model {
  constructor(public proto: Omit<ModelProto, 'graph'>, public graph: Graph) {}

  /** Opset version imported for `domain` ('' = ai.onnx), or undefined when not imported. */
  opset(domain = ''): number | undefined {
    const standard = isStandardDomain(domain);
    const e = this.proto.opsetImport.find((o) => (standard ? isStandardDomain(o.domain) : o.domain === domain));
    return e ? toNumber(e.version) : undefined;
  }

  get irVersion(): number {
    return toNumber(this.proto.irVersion);
  }
}

export function parseType(t: TypeProto | null | undefined): TensorType {
  const tt = t?.tensorType;
  if (!tt) return {};
  const out: TensorType = {};
  if (tt.elemType) out.elemType = tt.elemType;
  if (tt.shape) out.shape = tt.shape.dim.map(parseDim);
  return out;
}

function parseDim(d: TensorShapeProto['dim'][number]): Dim {
  if (d.dimParam) return d.dimParam;
  if (d.dimValue !== undefined && d.dimValue !== null && (d.value === 'dimValue' || d.value === undefined)) {
    const n = toNumber(d.dimValue);
    return d.value === 'dimValue' || n > 0 ? n : null;
  }
  return null;
}

export function typeProtoOf(t: TensorType): TypeProto {
  const shape = t.shape
    ? { dim: t.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {})) }
    : null;
  return { tensorType: { elemType: t.elemType ?? 0, shape } };
}

function valueInfoOf(v: Value): ValueInfoProto {
  if (v.info) return { ...v.info, name: v.name };
  // An unknown element type is left out rather than written as UNDEFINED, which runtimes reject.
  return v.type.elemType ? { name: v.name, type: typeProtoOf(v.type) } : { name: v.name };
}

export function graphFromProto(gp: GraphProto): Graph {
  const g = new Graph(gp.name ?? 'graph');
  g.extras = {
    docString: gp.docString,
    sparseInitializers: gp.sparseInitializer,
    quantizationAnnotation: gp.quantizationAnnotation,
    metadataProps: gp.metadataProps,
  };
  for (const vi of gp.input) {
    const v = g.value(vi.name);
    v.info = vi;
    v.type = parseType(vi.type);
    g.appendInputs(v);
  }
  for (const t of gp.initializer) {
    const v = g.addInitializer(t, t.name ?? '');
    v.initializer = t; // keep the decoded object itself: no copy of its bytes
    if (!v.type.elemType) v.type = { elemType: t.dataType, shape: t.dims.map(toNumber) };
  }
  for (const vi of gp.valueInfo) {
    g.valueInfo.set(vi.name, vi);
    const v = g.value(vi.name);
    if (!v.type.elemType && !v.type.shape) v.type = parseType(vi.type);
  }
  for (const np of gp.node) {
    const inputs = np.input.map((n) => (n ? g.value(n) : null));
    const outputs = np.output.map((n) => (n ? g.value(n) : null));
    const node = g.addNode(np.opType, inputs, outputs, np.attribute, {
      name: np.name ?? '',
      domain: np.domain ?? '',
      extras: { docString: np.docString, overload: np.overload, metadataProps: np.metadataProps, deviceConfigurations: np.deviceConfigurations },
    });
    const subgraphs = subgraphsOf(np.attribute);
    if (subgraphs.length) {
      const names = new Set<string>();
      for (const s of subgraphs) {
        for (const n of outerNamesOf(s)) names.add(n);
        const inner = new Set<string>();
        allNamesIn(s, inner);
        for (const n of inner) g.reserveName(n);
      }
      g.setImplicitInputs(node, [...names].map((n) => g.value(n)));
    }
  }
  for (const vi of gp.output) {
    const v = g.value(vi.name);
    v.info = vi;
    if (!v.type.elemType && !v.type.shape) v.type = parseType(vi.type);
    g.appendOutputs(v);
  }
  return g;
}

function nodeToProto(n: Node): NodeProto {
  const p: NodeProto = {
    input: n.inputs.map((v) => v?.name ?? ''),
    output: n.outputs.map((v) => v?.name ?? ''),
    opType: n.opType,
    attribute: n.attributes,
  };
  if (n.name) p.name = n.name;
  if (n.domain) p.domain = n.domain;
  if (n.extras.docString) p.docString = n.extras.docString;
  if (n.extras.overload) p.overload = n.extras.overload;
  if (n.extras.metadataProps?.length) p.metadataProps = n.extras.metadataProps;
  if (n.extras.deviceConfigurations?.length) p.deviceConfigurations = n.extras.deviceConfigurations;
  return p;
}

export function graphToProto(g: Graph): GraphProto {
  topologicalSort(g);
  const gp: GraphProto = {
    node: g.nodes.map(nodeToProto),
    name: g.name,
    initializer: g.initializers.map((v) => (v.initializer!.name === v.name ? v.initializer! : { ...v.initializer!, name: v.name })),
    sparseInitializer: g.extras.sparseInitializers,
    input: g.inputs.map(valueInfoOf),
    output: g.outputs.map(valueInfoOf),
    valueInfo: [...g.valueInfo.values()],
  };
  if (g.extras.docString) gp.docString = g.extras.docString;
  if (g.extras.quantizationAnnotation?.length) gp.quantizationAnnotation = g.extras.quantizationAnnotation;
  if (g.extras.metadataProps?.length) gp.metadataProps = g.extras.metadataProps;
  return gp;
}

export function modelFromProto(mp: ModelProto): Model {
  const { graph, ...rest } = mp;
  return new Model(rest, graphFromProto(graph!));
}

export function modelToProto(m: Model): ModelProto {
  return { ...m.proto, graph: graphToProto(m.graph) };
}

/** The lowest IR version that can carry ai.onnx `opset` (never below 9, which every current runtime reads). */
export function irVersionForOpset(opset: number): number {
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  return Math.min(opset - 12, 13);
}

/** A fresh model around `graph` importing ai.onnx at `opset`. */
export function newModel(graph: Graph, opset: number, producer = 'onnx-distill'): Model {
  return new Model(
    {
      irVersion: irVersionForOpset(opset),
      opsetImport: [{ domain: '', version: opset }],
      producerName: producer,
      metadataProps: [],
      trainingInfo: [],
      functions: [],
    },
    graph,
  );
}
