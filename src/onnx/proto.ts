/**
 * TypeScript shapes of the decoded ONNX protobuf messages (see schema.ts). protobufjs decodes int64 fields
 * as `Long` objects; `toNumber`/`toBigInt` convert them where a plain number is wanted.
 */
import type Long from 'long';

export type Int64 = number | Long;

export interface StringStringEntryProto { key: string; value: string }
export interface OperatorSetIdProto { domain?: string; version: Int64 }

export interface TensorProto {
  dims: Int64[];
  dataType: number;
  segment?: { begin: Int64; end: Int64 } | null;
  floatData: number[];
  int32Data: number[];
  stringData: Uint8Array[];
  int64Data: Int64[];
  name?: string;
  docString?: string;
  rawData?: Uint8Array | null;
  externalData: StringStringEntryProto[];
  dataLocation?: number;
  doubleData: number[];
  uint64Data: Int64[];
  metadataProps: StringStringEntryProto[];
}

export interface SparseTensorProto { values?: TensorProto | null; indices?: TensorProto | null; dims: Int64[] }

export interface DimensionProto { dimValue?: Int64 | null; dimParam?: string | null; denotation?: string; value?: string }
export interface TensorShapeProto { dim: DimensionProto[] }
export interface TypeProto {
  tensorType?: { elemType: number; shape?: TensorShapeProto | null } | null;
  sequenceType?: { elemType?: TypeProto | null } | null;
  mapType?: { keyType: number; valueType?: TypeProto | null } | null;
  optionalType?: { elemType?: TypeProto | null } | null;
  sparseTensorType?: { elemType: number; shape?: TensorShapeProto | null } | null;
  opaqueType?: { domain?: string; name?: string } | null;
  denotation?: string;
  value?: string;
}

export interface ValueInfoProto {
  name: string;
  type?: TypeProto | null;
  docString?: string;
  metadataProps?: StringStringEntryProto[];
}

export enum AttributeType {
  UNDEFINED = 0, FLOAT = 1, INT = 2, STRING = 3, TENSOR = 4, GRAPH = 5, FLOATS = 6, INTS = 7, STRINGS = 8,
  TENSORS = 9, GRAPHS = 10, SPARSE_TENSOR = 11, SPARSE_TENSORS = 12, TYPE_PROTO = 13, TYPE_PROTOS = 14,
}

export interface AttributeProto {
  name: string;
  refAttrName?: string;
  docString?: string;
  type: AttributeType;
  f?: number;
  i?: Int64;
  s?: Uint8Array;
  t?: TensorProto | null;
  g?: GraphProto | null;
  sparseTensor?: SparseTensorProto | null;
  tp?: TypeProto | null;
  floats: number[];
  ints: Int64[];
  strings: Uint8Array[];
  tensors: TensorProto[];
  graphs: GraphProto[];
  sparseTensors: SparseTensorProto[];
  typeProtos: TypeProto[];
}

export interface NodeProto {
  input: string[];
  output: string[];
  name?: string;
  opType: string;
  domain?: string;
  overload?: string;
  attribute: AttributeProto[];
  docString?: string;
  metadataProps?: StringStringEntryProto[];
  deviceConfigurations?: unknown[];
}

export interface GraphProto {
  node: NodeProto[];
  name?: string;
  initializer: TensorProto[];
  sparseInitializer: SparseTensorProto[];
  docString?: string;
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
  quantizationAnnotation?: unknown[];
  metadataProps?: StringStringEntryProto[];
}

export interface FunctionProto {
  name: string;
  input: string[];
  output: string[];
  attribute: string[];
  attributeProto: AttributeProto[];
  node: NodeProto[];
  docString?: string;
  opsetImport: OperatorSetIdProto[];
  domain?: string;
  overload?: string;
  valueInfo: ValueInfoProto[];
  metadataProps: StringStringEntryProto[];
}

export interface ModelProto {
  irVersion: Int64;
  opsetImport: OperatorSetIdProto[];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: Int64;
  docString?: string;
  graph?: GraphProto | null;
  metadataProps: StringStringEntryProto[];
  trainingInfo: unknown[];
  functions: FunctionProto[];
  configuration?: unknown[];
}

/** A protobuf int64 as a JS number; throws past 2^53 where precision would be lost silently. */
export function toNumber(v: Int64 | null | undefined): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  const n = v.toNumber();
  if (!Number.isSafeInteger(n)) throw new RangeError(`int64 value ${v.toString()} does not fit a JS number`);
  return n;
}

export function toBigInt(v: Int64, unsigned = false): bigint {
  if (typeof v === 'number') return BigInt(v);
  const s = v.toString();
  const b = BigInt(s);
  return unsigned && b < 0n ? b + (1n << 64n) : b;
}
