/**
 * Encoding a ModelProto as a list of chunks in which every initializer's raw_data is the tensor's own
 * buffer (not a copy). The chunks concatenate to exactly the canonical encoding (fields in number order,
 * as protobufjs and the reference protobuf write), so small models re-encode byte for byte.
 *
 * Why: protobufjs encodes into one growing buffer (doubling, then a final copy) and shifts nested messages
 * to fit their length prefixes, which for a 500 MB model meant ~2 extra copies of the weights and seconds
 * of memmove. Here only the small structural parts go through protobufjs; their lengths are known, so the
 * length prefixes of the graph and of each tensor are computed instead of shifted.
 */
import type protobuf from 'protobufjs';
import type { GraphProto, ModelProto, TensorProto } from './proto.js';
import { GraphProtoType, ModelProtoType, TensorProtoType } from './schema.js';

const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const TENSOR_RAW_DATA = 9;
/** Field key byte of a length-delimited field (wire type 2). All three field numbers are < 16: one byte. */
const key = (field: number) => (field << 3) | 2;

function varint(n: number): Uint8Array {
  const out: number[] = [];
  while (n > 127) {
    out.push((n % 128) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Uint8Array.from(out);
}

/** Encodes the fields of `msg` numbered below / above `field` as two byte strings. */
function encodeAround(type: protobuf.Type, msg: object, field: number): [Uint8Array, Uint8Array] {
  const before: Record<string, unknown> = {};
  const after: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(type.fields)) {
    if (f.id === field || !Object.prototype.hasOwnProperty.call(msg, name)) continue;
    (f.id < field ? before : after)[name] = (msg as Record<string, unknown>)[name];
  }
  return [type.encode(before).finish(), type.encode(after).finish()];
}

/** Chunks of one TensorProto's encoding; the raw data chunk is the tensor's own bytes. */
function tensorChunks(t: TensorProto): Uint8Array[] {
  const [before, after] = encodeAround(TensorProtoType, t, TENSOR_RAW_DATA);
  const raw = t.rawData;
  return raw !== null && raw !== undefined && Object.prototype.hasOwnProperty.call(t, 'rawData')
    ? [before, Uint8Array.of(key(TENSOR_RAW_DATA)), varint(raw.length), raw, after]
    : [before, after];
}

const total = (chunks: Uint8Array[]) => chunks.reduce((n, c) => n + c.length, 0);

/** The canonical encoding of `model`, as chunks that share the tensors' raw_data buffers. */
export function encodeModelChunks(model: ModelProto): Uint8Array[] {
  const graph = model.graph;
  if (!graph) return [ModelProtoType.encode(model).finish()];
  const [modelBefore, modelAfter] = encodeAround(ModelProtoType, model, MODEL_GRAPH);
  const [graphBefore, graphAfter] = encodeAround(GraphProtoType, graph as GraphProto, GRAPH_INITIALIZER);
  const graphChunks: Uint8Array[] = [graphBefore];
  for (const t of graph.initializer) {
    const chunks = tensorChunks(t);
    graphChunks.push(Uint8Array.of(key(GRAPH_INITIALIZER)), varint(total(chunks)), ...chunks);
  }
  graphChunks.push(graphAfter);
  return [modelBefore, Uint8Array.of(key(MODEL_GRAPH)), varint(total(graphChunks)), ...graphChunks, modelAfter];
}

/** The whole encoding in one buffer (one copy of the weights). */
export function concatChunks(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(total(chunks));
  let pos = 0;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}
