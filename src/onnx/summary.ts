/** A description of a model file: what `distill inspect` prints. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { byteSize, DataType, dtypeName, isFloatType } from './dtype.js';
import { loadModel } from './model-io.js';
import { type TypeProto, type ValueInfoProto, toNumber } from './proto.js';
import { elementCount, tensorDims } from './tensor.js';
import { qualifiedOpType } from './ops.js';

export interface IoSummary {
  name: string;
  dtype: string;
  /** Dims: numbers, symbolic names, or '?' when unknown. Undefined when the rank is unknown. */
  shape?: (number | string)[];
}

export interface ModelSummary {
  file: string;
  fileBytes: number;
  irVersion: number;
  opsets: { domain: string; version: number }[];
  producer: string;
  inputs: IoSummary[];
  outputs: IoSummary[];
  nodes: number;
  ops: Record<string, number>;
  initializers: number;
  /** Elements of float initializers: the trainable candidates. */
  parameters: number;
  /** Elements of int8/uint8 initializers: a quantized model's weights (distill quantize). */
  quantizedValues: number;
  /** Bytes of all initializer data. */
  parameterBytes: number;
  externalData: { file: string; bytes: number }[];
  metadata: Record<string, string>;
  functions: string[];
}

/** A value's dtype and dims (numbers, symbolic names, '?' when unknown). */
export function describeType(t: TypeProto | null | undefined): { dtype: string; shape?: (number | string)[] } {
  const tt = t?.tensorType;
  if (!tt) return { dtype: t?.sequenceType ? 'sequence' : t?.mapType ? 'map' : t?.optionalType ? 'optional' : '?' };
  const shape = tt.shape?.dim.map((d) => (d.dimParam ? d.dimParam : d.dimValue !== undefined && d.dimValue !== null ? toNumber(d.dimValue) : '?'));
  return { dtype: dtypeName(tt.elemType), shape };
}

const io = (v: ValueInfoProto): IoSummary => ({ name: v.name, ...describeType(v.type) });

export function summarizeModel(file: string): ModelSummary {
  const { model, externalFiles } = loadModel(file);
  const g = model.graph!;
  const initNames = new Set(g.initializer.map((t) => t.name));
  const ops: Record<string, number> = {};
  const countOps = (nodes: typeof g.node) => {
    for (const n of nodes) {
      const key = qualifiedOpType(n);
      ops[key] = (ops[key] ?? 0) + 1;
    }
  };
  countOps(g.node);
  let parameters = 0;
  let parameterBytes = 0;
  let quantizedValues = 0;
  for (const t of g.initializer) {
    const n = elementCount(tensorDims(t));
    if (isFloatType(t.dataType)) parameters += n;
    if (t.dataType === DataType.INT8 || t.dataType === DataType.UINT8) quantizedValues += n;
    parameterBytes += t.rawData?.length ?? byteSize(t.dataType, n);
  }
  const dir = path.dirname(file);
  return {
    file,
    fileBytes: fs.statSync(file).size,
    irVersion: toNumber(model.irVersion),
    opsets: model.opsetImport.map((o) => ({ domain: o.domain || 'ai.onnx', version: toNumber(o.version) })),
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
    // Graph inputs that are also initializers (old exporters list them) are parameters, not inputs.
    inputs: g.input.filter((v) => !initNames.has(v.name)).map(io),
    outputs: g.output.map(io),
    nodes: g.node.length,
    ops: Object.fromEntries(Object.entries(ops).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))),
    initializers: g.initializer.length,
    parameters,
    quantizedValues,
    parameterBytes,
    externalData: externalFiles.map((f) => ({ file: f, bytes: fs.statSync(path.join(dir, f)).size })),
    metadata: Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value])),
    functions: model.functions.map((f) => (f.domain ? `${f.domain}.${f.name}` : f.name)),
  };
}
