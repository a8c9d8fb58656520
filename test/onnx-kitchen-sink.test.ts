/**
 * Our ONNX protobuf reader/writer against an independent reference: models/io/kitchen-sink.onnx was built with
 * Python's onnx.helper and kitchen-sink.expected.json describes it as onnx/numpy_helper decode it (see
 * scripts/fixtures/kitchen_sink.py, docs/FIXTURES.md). Every field the JSON lists is compared with our decoded model,
 * first as read from the file, then after encode -> decode and after saveModel with external data -> loadModel.
 *
 * Values: float32/double/complex exactly (Object.is, so -0 counts), float16/bfloat16 through our decoders,
 * int64/uint64 as BigInt vs the JSON's decimal strings, strings as base64 of the bytes. Types our helpers do
 * not decode (float8 x5 incl. e8m0, float4e2m1, float6 x2, and the packed uint4/int4/uint2/int2) are checked
 * through `tensorBytes`: it must return exactly the packed raw_data bytes the JSON gives, and those bytes are
 * unpacked here (small reference decoders below) and compared with the JSON's decoded values.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ModelFormatError } from '../src/errors.js';
import { bitsPerElement, byteSize, DataType, dtypeName } from '../src/onnx/dtype.js';
import { decodeModel, encodeModel, loadModel, saveModel } from '../src/onnx/model-io.js';
import {
  AttributeType, type AttributeProto, type FunctionProto, type GraphProto, type ModelProto, type NodeProto,
  type SparseTensorProto, type TensorProto, type TypeProto, type ValueInfoProto, toBigInt, toNumber,
} from '../src/onnx/proto.js';
import { tensorArray, tensorBytes, tensorToFloat32, tensorToNumbers } from '../src/onnx/tensor.js';
import { MODELS } from './helpers/fixtures.js';

// ---------------------------------------------------------------------------------------------------------
// The expected JSON (format: scripts/fixtures/kitchen_sink.py expected_json)
// ---------------------------------------------------------------------------------------------------------

interface ExpTensor {
  name: string; data_type: number; data_type_name: string; dims: number[];
  values: (number | string | boolean)[];
  storage: 'raw_data' | 'float_data' | 'int32_data' | 'string_data' | 'int64_data' | 'double_data' | 'uint64_data' | 'none';
  stored: { base64?: string; bytes?: number; values?: (number | string)[] };
  doc_string?: string;
}
interface ExpSparse { dims: number[]; values: ExpTensor; indices: ExpTensor }
type ExpDim = number | string | null;
interface ExpType {
  kind: string; elem_type?: number; elem_type_name?: string; dims?: ExpDim[] | null;
  elem?: ExpType; key_type?: number; value?: ExpType;
}
interface ExpValueInfo { name: string; elem_type: number; elem_type_name: string; dims: ExpDim[] | null; doc_string?: string }
interface ExpAttr {
  name: string; type: string; type_int: number; ref_attr_name?: string; doc_string?: string;
  value?: unknown; value_base64?: string | string[];
}
interface ExpNode {
  name: string; op_type: string; domain: string; inputs: string[]; outputs: string[]; attributes: ExpAttr[];
  doc_string?: string;
}
interface ExpGraph {
  name: string; doc_string: string; inputs: ExpValueInfo[]; outputs: ExpValueInfo[]; value_info: ExpValueInfo[];
  nodes: ExpNode[]; initializers: ExpTensor[]; sparse_initializers: ExpSparse[];
}
interface ExpOpset { domain: string; version: number }
interface ExpFunction {
  name: string; domain: string; inputs: string[]; outputs: string[]; attributes: string[]; doc_string: string;
  opset_import: ExpOpset[]; nodes: ExpNode[]; op_types: string[];
}
interface Expected {
  ir_version: number; opset_import: ExpOpset[]; producer_name: string; producer_version: string; domain: string;
  model_version: number; doc_string: string; metadata: Record<string, string>; metadata_props: [string, string][];
  checker: { check_model: string }; graph: ExpGraph; functions: ExpFunction[];
}

const ONNX_FILE = path.join(MODELS, 'io', 'kitchen-sink.onnx');
const EXP: Expected = JSON.parse(fs.readFileSync(path.join(MODELS, 'io', 'kitchen-sink.expected.json'), 'utf8'));
const FILE_BYTES = fs.readFileSync(ONNX_FILE);
const EXP_INITS = new Map(EXP.graph.initializers.map((t) => [t.name, t]));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-kitchen-sink-'));

const b64 = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('base64');
const fromB64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/** Exact float comparison that tells -0 from 0 (and NaN equals NaN). */
function assertSameFloats(actual: ArrayLike<number>, expected: readonly number[], where: string): void {
  assert.equal(actual.length, expected.length, `${where}: element count`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Object.is(actual[i], expected[i]), `${where}[${i}]: got ${actual[i]}, expected ${expected[i]}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Independent reference decoders for the types our helpers leave as bytes
// ---------------------------------------------------------------------------------------------------------

/** Unpacks `count` elements of `bits` bits from a little-endian, low-bits-first bit stream. */
function unpackBits(bytes: Uint8Array, bits: number, count: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    let code = 0;
    for (let b = 0; b < bits; b++) {
      const bit = i * bits + b;
      code |= ((bytes[bit >> 3]! >> (bit & 7)) & 1) << b;
    }
    out.push(code);
  }
  return out;
}

/** A sign/exponent/mantissa minifloat without the special codes (the fixture holds no NaN/Inf). */
function minifloat(code: number, ebits: number, mbits: number, bias: number): number {
  const sign = (code >> (ebits + mbits)) & 1 ? -1 : 1;
  const e = (code >> mbits) & ((1 << ebits) - 1);
  const m = code & ((1 << mbits) - 1);
  if (e === 0) return sign * m * 2 ** (1 - bias - mbits);
  return sign * (1 + m / 2 ** mbits) * 2 ** (e - bias);
}

/** Decoders for the element types our tensor helpers do not decode: bits per element + code -> value. */
const REFERENCE_DECODERS: Partial<Record<DataType, (code: number) => number>> = {
  [DataType.FLOAT8E4M3FN]: (c) => minifloat(c, 4, 3, 7),
  [DataType.FLOAT8E4M3FNUZ]: (c) => minifloat(c, 4, 3, 8),
  [DataType.FLOAT8E5M2]: (c) => minifloat(c, 5, 2, 15),
  [DataType.FLOAT8E5M2FNUZ]: (c) => minifloat(c, 5, 2, 16),
  [DataType.FLOAT8E8M0]: (c) => 2 ** (c - 127),
  [DataType.FLOAT4E2M1]: (c) => minifloat(c, 2, 1, 1),
  [DataType.FLOAT6E2M3]: (c) => minifloat(c, 2, 3, 1),
  [DataType.FLOAT6E3M2]: (c) => minifloat(c, 3, 2, 3),
  [DataType.UINT4]: (c) => c,
  [DataType.INT4]: (c) => (c >= 8 ? c - 16 : c),
  [DataType.UINT2]: (c) => c,
  [DataType.INT2]: (c) => (c >= 2 ? c - 4 : c),
};

/** Little-endian bytes of values given as JSON numbers/strings, for tensors without a raw_data twin in the JSON. */
function bytesFromValues(e: ExpTensor): Uint8Array {
  const v = e.values;
  switch (e.data_type) {
    case DataType.FLOAT: return new Uint8Array(Float32Array.from(v as number[]).buffer);
    case DataType.INT64: return new Uint8Array(BigInt64Array.from(v as string[], (s) => BigInt(s)).buffer);
    default: throw new Error(`test: no byte encoder for ${e.data_type_name} (${e.name})`);
  }
}

/**
 * The raw_data bytes the JSON implies for a tensor: its own raw_data, else its `_raw` twin's raw_data (the
 * kitchen-sink builder asserts both decode identically), else the values encoded here. float16 typed
 * tensors without a twin: the int32_data bit patterns as uint16.
 */
function expectedBytes(e: ExpTensor): Uint8Array {
  if (e.storage === 'raw_data') return fromB64(e.stored.base64!);
  const twin = EXP_INITS.get(e.name.replace(/_typed$/, '_raw'));
  if (twin && twin !== e && twin.storage === 'raw_data') return fromB64(twin.stored.base64!);
  if (e.data_type === DataType.FLOAT16 && e.storage === 'int32_data') {
    return new Uint8Array(Uint16Array.from(e.stored.values as number[]).buffer);
  }
  return bytesFromValues(e);
}

// ---------------------------------------------------------------------------------------------------------
// Checks (each takes our decoded object and the JSON entry)
// ---------------------------------------------------------------------------------------------------------

const TYPED_FIELDS = [
  ['float_data', 'floatData'], ['int32_data', 'int32Data'], ['string_data', 'stringData'],
  ['int64_data', 'int64Data'], ['double_data', 'doubleData'], ['uint64_data', 'uint64Data'],
] as const;

/** Which TensorProto field holds the data, named as in onnx.proto (same order as the Python script). */
function storageOf(t: TensorProto): string {
  if (own(t, 'rawData') && t.rawData !== null && t.rawData !== undefined) return 'raw_data';
  for (const [proto, ours] of TYPED_FIELDS) if (t[ours].length > 0) return proto;
  return 'none';
}

function checkStored(t: TensorProto, e: ExpTensor, where: string): void {
  assert.equal(storageOf(t), e.storage, `${where}: storage field`);
  switch (e.storage) {
    case 'raw_data':
      assert.equal(t.rawData!.length, e.stored.bytes, `${where}: raw_data length`);
      assert.equal(b64(t.rawData!), e.stored.base64, `${where}: raw_data bytes`);
      break;
    case 'float_data': assertSameFloats(t.floatData, e.stored.values as number[], `${where}.float_data`); break;
    case 'double_data': assertSameFloats(t.doubleData, e.stored.values as number[], `${where}.double_data`); break;
    case 'int32_data': assert.deepEqual([...t.int32Data], e.stored.values, `${where}.int32_data`); break;
    case 'int64_data':
      assert.deepEqual(t.int64Data.map((v) => toBigInt(v).toString()), e.stored.values, `${where}.int64_data`);
      break;
    case 'uint64_data':
      assert.deepEqual(t.uint64Data.map((v) => toBigInt(v, true).toString()), e.stored.values, `${where}.uint64_data`);
      break;
    case 'string_data': assert.deepEqual(t.stringData.map(b64), e.stored.values, `${where}.string_data`); break;
    default: break;
  }
  // Only the one field holds data (the others stay empty).
  for (const [proto, ours] of TYPED_FIELDS) {
    if (proto !== e.storage) assert.equal(t[ours].length, 0, `${where}: ${proto} should be empty`);
  }
}

/** Decoded values through our helpers, compared with the JSON's (numpy_helper) values. */
function checkValues(t: TensorProto, e: ExpTensor, where: string): void {
  const dt = e.data_type as DataType;
  const vals = e.values;
  const count = e.dims.reduce((a, b) => a * b, 1);
  if (dt === DataType.STRING) {
    assert.deepEqual(t.stringData.map(b64), vals, `${where}: string values (base64)`);
    assert.throws(() => tensorBytes(t), ModelFormatError, `${where}: string tensors have no raw bytes`);
    return;
  }
  // Bytes: exactly the raw_data layout the JSON implies, for every non-string type and either storage.
  const bytes = tensorBytes(t);
  assert.equal(bytes.length, byteSize(dt, count), `${where}: tensorBytes length`); // complex: bitsPerElement counts re + im
  assert.equal(b64(bytes), b64(expectedBytes(e)), `${where}: tensorBytes content`);

  const arr = tensorArray(t);
  switch (dt) {
    case DataType.FLOAT:
      assert.ok(arr instanceof Float32Array, `${where}: tensorArray type`);
      assertSameFloats(arr, vals as number[], `${where} tensorArray`);
      assertSameFloats(tensorToFloat32(t), vals as number[], `${where} tensorToFloat32`);
      break;
    case DataType.DOUBLE:
      assert.ok(arr instanceof Float64Array, `${where}: tensorArray type`);
      assertSameFloats(arr, vals as number[], `${where} tensorArray`);
      assertSameFloats(tensorToFloat32(t), (vals as number[]).map(Math.fround), `${where} tensorToFloat32 (rounded)`);
      break;
    case DataType.FLOAT16: case DataType.BFLOAT16:
      assert.ok(arr instanceof Uint16Array, `${where}: tensorArray type (bit patterns)`);
      assertSameFloats(tensorToFloat32(t), vals as number[], `${where} tensorToFloat32`);
      assertSameFloats(tensorToNumbers(t), vals as number[], `${where} tensorToNumbers`);
      break;
    case DataType.COMPLEX64:
      assert.ok(arr instanceof Float32Array, `${where}: tensorArray type (interleaved re, im)`);
      assertSameFloats(arr, vals as number[], `${where} tensorArray`);
      break;
    case DataType.COMPLEX128:
      assert.ok(arr instanceof Float64Array, `${where}: tensorArray type (interleaved re, im)`);
      assertSameFloats(arr, vals as number[], `${where} tensorArray`);
      break;
    case DataType.INT64: case DataType.UINT64: {
      assert.ok(arr instanceof (dt === DataType.INT64 ? BigInt64Array : BigUint64Array), `${where}: tensorArray type`);
      assert.deepEqual(Array.from(arr as BigInt64Array, String), vals, `${where}: int64 values`);
      const big = (vals as string[]).some((s) => !Number.isSafeInteger(Number(s)));
      if (big) assert.throws(() => tensorToNumbers(t), RangeError, `${where}: tensorToNumbers past 2^53`);
      else assert.deepEqual(tensorToNumbers(t), (vals as string[]).map(Number), `${where} tensorToNumbers`);
      break;
    }
    case DataType.BOOL:
      assert.ok(arr instanceof Uint8Array, `${where}: tensorArray type`);
      assert.deepEqual(Array.from(arr as Uint8Array), (vals as boolean[]).map((b) => (b ? 1 : 0)), `${where}: bools`);
      assert.deepEqual(tensorToNumbers(t), (vals as boolean[]).map((b) => (b ? 1 : 0)), `${where} tensorToNumbers`);
      break;
    case DataType.UINT8: case DataType.INT8: case DataType.UINT16: case DataType.INT16:
    case DataType.INT32: case DataType.UINT32: {
      const ctor = {
        [DataType.UINT8]: Uint8Array, [DataType.INT8]: Int8Array, [DataType.UINT16]: Uint16Array,
        [DataType.INT16]: Int16Array, [DataType.INT32]: Int32Array, [DataType.UINT32]: Uint32Array,
      }[dt];
      assert.ok(arr instanceof ctor, `${where}: tensorArray type ${ctor.name}`);
      assert.deepEqual(Array.from(arr as ArrayLike<number>), vals, `${where}: integer values`);
      assert.deepEqual(tensorToNumbers(t), vals, `${where} tensorToNumbers`);
      break;
    }
    default: {
      // Byte-compared only by our helpers: float8 (4 kinds + e8m0), float4e2m1, float6 (2 kinds), uint4/int4,
      // uint2/int2. tensorArray gives the packed bytes; tensorToFloat32 refuses them.
      const decode = REFERENCE_DECODERS[dt];
      assert.ok(decode, `${where}: test has no reference decoder for ${e.data_type_name}`);
      assert.ok(arr instanceof Uint8Array && b64(arr) === b64(bytes), `${where}: tensorArray is the packed bytes`);
      assert.throws(() => tensorToFloat32(t), ModelFormatError, `${where}: tensorToFloat32 refuses ${dtypeName(dt)}`);
      const codes = unpackBits(bytes, bitsPerElement(dt), count);
      assertSameFloats(codes.map(decode), vals as number[], `${where} decoded from tensorBytes`);
    }
  }
}

function checkTensor(t: TensorProto | null | undefined, e: ExpTensor, where: string): void {
  assert.ok(t, `${where}: tensor missing`);
  where = `${where} '${e.name}'`;
  assert.equal(t.name, e.name, `${where}: name`);
  assert.equal(t.dataType, e.data_type, `${where}: data_type (${e.data_type_name})`);
  assert.equal(DataType[t.dataType], e.data_type_name, `${where}: DataType enum name`);
  assert.deepEqual(t.dims.map(toNumber), e.dims, `${where}: dims`);
  assert.equal(t.docString ?? '', e.doc_string ?? '', `${where}: doc_string`);
  assert.notEqual(t.dataLocation, 1, `${where}: data is inline after loading`);
  checkStored(t, e, where);
  checkValues(t, e, where);
}

function checkSparse(s: SparseTensorProto | null | undefined, e: ExpSparse, where: string): void {
  assert.ok(s, `${where}: sparse tensor missing`);
  assert.deepEqual(s.dims.map(toNumber), e.dims, `${where}: sparse dims`);
  checkTensor(s.values, e.values, `${where}.values`);
  checkTensor(s.indices, e.indices, `${where}.indices`);
}

function checkDims(dims: { dimValue?: unknown; dimParam?: string | null }[], e: ExpDim[], where: string): void {
  assert.equal(dims.length, e.length, `${where}: rank`);
  e.forEach((d, i) => {
    const ours = dims[i]!;
    if (typeof d === 'number') {
      assert.ok(own(ours, 'dimValue'), `${where}: dim ${i} has dim_value`);
      assert.equal(toNumber(ours.dimValue as number), d, `${where}: dim ${i} value`);
      assert.ok(!ours.dimParam, `${where}: dim ${i} has no dim_param`);
    } else if (typeof d === 'string') {
      assert.equal(ours.dimParam, d, `${where}: dim ${i} dim_param`);
      assert.ok(!own(ours, 'dimValue'), `${where}: dim ${i} has no dim_value`);
    } else {
      assert.ok(!own(ours, 'dimValue') && !ours.dimParam, `${where}: dim ${i} is unknown (neither field set)`);
    }
  });
}

function checkType(tp: TypeProto | null | undefined, e: ExpType, where: string): void {
  assert.ok(tp, `${where}: type missing`);
  switch (e.kind) {
    case 'tensor': {
      const tt = tp.tensorType;
      assert.ok(tt, `${where}: tensor_type`);
      assert.equal(tt.elemType, e.elem_type, `${where}: elem_type (${e.elem_type_name})`);
      if (e.dims === null || e.dims === undefined) assert.ok(!tt.shape, `${where}: no shape`);
      else {
        assert.ok(tt.shape, `${where}: shape present`);
        checkDims(tt.shape.dim, e.dims, where);
      }
      break;
    }
    case 'sequence': checkType(tp.sequenceType?.elemType, e.elem!, `${where}.sequence`); break;
    case 'optional': checkType(tp.optionalType?.elemType, e.elem!, `${where}.optional`); break;
    case 'map':
      assert.equal(tp.mapType?.keyType, e.key_type, `${where}: map key_type`);
      checkType(tp.mapType?.valueType, e.value!, `${where}.map_value`);
      break;
    default: assert.fail(`${where}: unexpected type kind ${e.kind} in the JSON`);
  }
}

function checkValueInfos(vs: ValueInfoProto[], es: ExpValueInfo[], where: string): void {
  assert.deepEqual(vs.map((v) => v.name), es.map((e) => e.name), `${where}: names`);
  es.forEach((e, i) => {
    const v = vs[i]!;
    const w = `${where} '${e.name}'`;
    checkType(v.type, { kind: 'tensor', elem_type: e.elem_type, elem_type_name: e.elem_type_name, dims: e.dims }, w);
    assert.equal(v.docString ?? '', e.doc_string ?? '', `${w}: doc_string`);
  });
}

function checkAttribute(a: AttributeProto, e: ExpAttr, where: string): void {
  where = `${where} attribute '${e.name}'`;
  assert.equal(a.name, e.name, `${where}: name`);
  assert.equal(a.type, e.type_int, `${where}: type`);
  assert.equal(AttributeType[a.type], e.type, `${where}: AttributeType name`);
  if (e.ref_attr_name !== undefined) {
    assert.equal(a.refAttrName, e.ref_attr_name, `${where}: ref_attr_name`);
    assert.ok(!own(a, 'f'), `${where}: a reference carries no value`);
    return;
  }
  assert.ok(!a.refAttrName, `${where}: no ref_attr_name`);
  assert.equal(a.docString ?? '', e.doc_string ?? '', `${where}: doc_string`);
  const v = e.value;
  switch (a.type) {
    case AttributeType.FLOAT: assertSameFloats([a.f!], [v as number], `${where}.f`); break;
    case AttributeType.INT: assert.equal(toBigInt(a.i!).toString(), v, `${where}.i`); break;
    case AttributeType.STRING: assert.equal(b64(a.s!), e.value_base64, `${where}.s`); break;
    case AttributeType.FLOATS: assertSameFloats(a.floats, v as number[], `${where}.floats`); break;
    case AttributeType.INTS: assert.deepEqual(a.ints.map((x) => toBigInt(x).toString()), v, `${where}.ints`); break;
    case AttributeType.STRINGS: assert.deepEqual(a.strings.map(b64), e.value_base64, `${where}.strings`); break;
    case AttributeType.TENSOR: checkTensor(a.t, v as ExpTensor, `${where}.t`); break;
    case AttributeType.TENSORS: {
      const es = v as ExpTensor[];
      assert.equal(a.tensors.length, es.length, `${where}: tensor count`);
      es.forEach((x, i) => checkTensor(a.tensors[i], x, `${where}.tensors[${i}]`));
      break;
    }
    case AttributeType.GRAPH: checkGraph(a.g, v as ExpGraph, `${where}.g`); break;
    case AttributeType.GRAPHS: {
      const es = v as ExpGraph[];
      assert.equal(a.graphs.length, es.length, `${where}: graph count`);
      es.forEach((x, i) => checkGraph(a.graphs[i], x, `${where}.graphs[${i}]`));
      break;
    }
    case AttributeType.SPARSE_TENSOR: checkSparse(a.sparseTensor, v as ExpSparse, `${where}.sparse_tensor`); break;
    case AttributeType.SPARSE_TENSORS: {
      const es = v as ExpSparse[];
      assert.equal(a.sparseTensors.length, es.length, `${where}: sparse tensor count`);
      es.forEach((x, i) => checkSparse(a.sparseTensors[i], x, `${where}.sparse_tensors[${i}]`));
      break;
    }
    case AttributeType.TYPE_PROTO: checkType(a.tp, v as ExpType, `${where}.tp`); break;
    case AttributeType.TYPE_PROTOS: {
      const es = v as ExpType[];
      assert.equal(a.typeProtos.length, es.length, `${where}: type proto count`);
      es.forEach((x, i) => checkType(a.typeProtos[i], x, `${where}.type_protos[${i}]`));
      break;
    }
    default: assert.fail(`${where}: unexpected attribute type ${a.type}`);
  }
}

function checkNode(n: NodeProto, e: ExpNode, where: string): void {
  where = `${where} node '${e.name}'`;
  assert.equal(n.name, e.name, `${where}: name`);
  assert.equal(n.opType, e.op_type, `${where}: op_type`);
  assert.equal(n.domain ?? '', e.domain, `${where}: domain`);
  assert.deepEqual(n.input, e.inputs, `${where}: inputs`);
  assert.deepEqual(n.output, e.outputs, `${where}: outputs`);
  assert.equal(n.docString ?? '', e.doc_string ?? '', `${where}: doc_string`);
  assert.deepEqual(n.attribute.map((a) => a.name), e.attributes.map((a) => a.name), `${where}: attribute names in order`);
  e.attributes.forEach((x, i) => checkAttribute(n.attribute[i]!, x, where));
}

function checkGraph(g: GraphProto | null | undefined, e: ExpGraph, where: string): void {
  assert.ok(g, `${where}: graph missing`);
  where = `${where} graph '${e.name}'`;
  assert.equal(g.name, e.name, `${where}: name`);
  assert.equal(g.docString ?? '', e.doc_string, `${where}: doc_string`);
  checkValueInfos(g.input, e.inputs, `${where} inputs`);
  checkValueInfos(g.output, e.outputs, `${where} outputs`);
  checkValueInfos(g.valueInfo, e.value_info, `${where} value_info`);
  assert.deepEqual(g.node.map((n) => n.name), e.nodes.map((n) => n.name), `${where}: node names in order`);
  e.nodes.forEach((x, i) => checkNode(g.node[i]!, x, where));
  assert.deepEqual(g.initializer.map((t) => t.name), e.initializers.map((t) => t.name), `${where}: initializer names`);
  e.initializers.forEach((x, i) => checkTensor(g.initializer[i], x, `${where} initializer`));
  assert.equal(g.sparseInitializer.length, e.sparse_initializers.length, `${where}: sparse initializer count`);
  e.sparse_initializers.forEach((x, i) => checkSparse(g.sparseInitializer[i], x, `${where} sparse_initializer[${i}]`));
}

function checkOpsets(ours: ModelProto['opsetImport'], e: ExpOpset[], where: string): void {
  assert.deepEqual(ours.map((o) => ({ domain: o.domain ?? '', version: toNumber(o.version) })), e, `${where}: opset imports`);
}

function checkFunction(f: FunctionProto, e: ExpFunction, where: string): void {
  where = `${where} function '${e.domain}.${e.name}'`;
  assert.equal(f.name, e.name, `${where}: name`);
  assert.equal(f.domain ?? '', e.domain, `${where}: domain`);
  assert.deepEqual(f.input, e.inputs, `${where}: inputs`);
  assert.deepEqual(f.output, e.outputs, `${where}: outputs`);
  assert.deepEqual(f.attribute, e.attributes, `${where}: attribute names`);
  assert.equal(f.docString ?? '', e.doc_string, `${where}: doc_string`);
  checkOpsets(f.opsetImport, e.opset_import, where);
  assert.deepEqual(f.node.map((n) => n.opType), e.op_types, `${where}: op types in order`);
  e.nodes.forEach((x, i) => checkNode(f.node[i]!, x, where));
}

function checkHeader(m: ModelProto, where: string): void {
  assert.equal(toNumber(m.irVersion), EXP.ir_version, `${where}: ir_version`);
  checkOpsets(m.opsetImport, EXP.opset_import, where);
  assert.equal(m.producerName, EXP.producer_name, `${where}: producer_name`);
  assert.equal(m.producerVersion, EXP.producer_version, `${where}: producer_version`);
  assert.equal(m.domain, EXP.domain, `${where}: domain`);
  assert.equal(toNumber(m.modelVersion), EXP.model_version, `${where}: model_version`);
  assert.equal(m.docString, EXP.doc_string, `${where}: doc_string`);
  assert.deepEqual(m.metadataProps.map((p) => [p.key, p.value ?? '']), EXP.metadata_props, `${where}: metadata_props`);
  assert.deepEqual(Object.fromEntries(m.metadataProps.map((p) => [p.key, p.value ?? ''])), EXP.metadata, `${where}: metadata map`);
}

/** Every assertion, on one model; used by the aggregated round-trip tests. */
function checkModel(m: ModelProto, where: string): void {
  checkHeader(m, where);
  checkGraph(m.graph, EXP.graph, where);
  assert.equal(m.functions.length, EXP.functions.length, `${where}: function count`);
  EXP.functions.forEach((f, i) => checkFunction(m.functions[i]!, f, where));
}

// ---------------------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------------------

/** One `it` per part of the model, so a failure names what broke. */
function suite(label: string, get: () => ModelProto): void {
  describe(label, () => {
    const g = () => get().graph!;
    it('model header: ir_version, opset imports (ai.onnx 18, com.example 1, ai.onnx.ml 3), producer, domain, model_version, doc_string, metadata_props', () => {
      checkHeader(get(), label);
    });
    it('graph name, doc_string, inputs/outputs/value_info with elem types, dim_value / dim_param / unknown dims, doc strings', () => {
      const e = EXP.graph;
      assert.equal(g().name, e.name);
      assert.equal(g().docString, e.doc_string);
      checkValueInfos(g().input, e.inputs, 'inputs');
      checkValueInfos(g().output, e.outputs, 'outputs');
      checkValueInfos(g().valueInfo, e.value_info, 'value_info');
    });
    it('nodes in order with op_type, name, domain, inputs/outputs and doc_string', () => {
      assert.deepEqual(g().node.map((n) => [n.name, n.opType, n.domain ?? '']), EXP.graph.nodes.map((n) => [n.name, n.op_type, n.domain]));
    });
    for (const [i, n] of EXP.graph.nodes.entries()) {
      const types = [...new Set(n.attributes.map((a) => a.type))].join(', ') || 'no attributes';
      it(`node '${n.name}' (${n.domain ? `${n.domain}.` : ''}${n.op_type}) with its attributes (${types}) and their contents`, () => {
        checkNode(g().node[i]!, n, label);
      });
    }
    it('model-local function com.example.AddMul: signature, opset import, nodes, attribute reference ref_attr_name=alpha', () => {
      assert.equal(get().functions.length, EXP.functions.length);
      EXP.functions.forEach((f, i) => checkFunction(get().functions[i]!, f, label));
    });
    it('sparse initializer sp_init: dims [4, 5], float_data values, int64_data indices', () => {
      assert.equal(g().sparseInitializer.length, EXP.graph.sparse_initializers.length);
      EXP.graph.sparse_initializers.forEach((s, i) => checkSparse(g().sparseInitializer[i], s, `sparse_initializer[${i}]`));
    });
    it(`initializer names in order (${EXP.graph.initializers.length} tensors)`, () => {
      assert.deepEqual(g().initializer.map((t) => t.name), EXP.graph.initializers.map((t) => t.name));
    });
    for (const [i, e] of EXP.graph.initializers.entries()) {
      it(`initializer ${e.name} (${e.data_type_name}, dims [${e.dims}], ${e.storage}): name, type, dims, storage, tensorBytes and decoded values`, () => {
        checkTensor(g().initializer[i], e, 'initializer');
      });
    }
  });
}

const fromFile = () => loadModel(ONNX_FILE).model;

describe('kitchen-sink.onnx vs kitchen-sink.expected.json (onnx.helper + numpy_helper reference)', () => {
  it('the reference passed onnx.checker and covers every TensorProto data type 1..28 in both storages', () => {
    assert.equal(EXP.checker.check_model, 'passed');
    const types = new Set(EXP.graph.initializers.map((t) => t.data_type));
    for (let dt = 1; dt <= 28; dt++) assert.ok(types.has(dt), `no initializer of ${DataType[dt]}`);
    for (const t of EXP.graph.initializers) {
      if (t.name.endsWith('_raw')) assert.equal(t.storage, 'raw_data', t.name);
      if (t.name.endsWith('_typed')) assert.notEqual(t.storage, 'raw_data', t.name);
    }
  });

  suite('decoded from the file (loadModel)', fromFile);
  suite('after encodeModel -> decodeModel', () => decodeModel(encodeModel(fromFile()), 'round trip'));

  it('decode -> encode reproduces the original file byte for byte, also after a second round trip', () => {
    const once = Buffer.from(encodeModel(fromFile()));
    assert.equal(once.length, FILE_BYTES.length, 'length');
    assert.ok(once.equals(FILE_BYTES), 'decode -> encode differs from the file');
    const twice = Buffer.from(encodeModel(decodeModel(once, 'twice')));
    assert.ok(twice.equals(FILE_BYTES), 'second round trip differs');
  });

  describe('saveModel with external data', () => {
    /** The saved files read back without resolving external data, to see where each tensor went. */
    function saveExternal(threshold: number) {
      const dir = fs.mkdtempSync(path.join(tmp, `ext${threshold}-`));
      const file = path.join(dir, 'model.onnx');
      const model = fromFile();
      const before = Buffer.from(encodeModel(model));
      saveModel(model, file, { externalData: { threshold } });
      assert.ok(Buffer.from(encodeModel(model)).equals(before), 'saveModel modified the model object');
      const dataFile = path.join(dir, 'model.onnx_data');
      assert.ok(fs.existsSync(dataFile), 'data file written beside the model');
      const unresolved = loadModel(file, { loadExternalData: false });
      return { file, data: fs.readFileSync(dataFile), unresolved };
    }

    /** Where a tensor went: external (with its bytes read from the data file) or inline, per onnx rules. */
    function checkPlacement(t: TensorProto, e: ExpTensor, data: Buffer, threshold: number, where: string): void {
      where = `${where} '${e.name}'`;
      if (t.dataLocation === 1) {
        const kv = new Map(t.externalData.map((x) => [x.key, x.value]));
        assert.equal(kv.get('location'), 'model.onnx_data', `${where}: location`);
        const offset = Number(kv.get('offset'));
        const length = Number(kv.get('length'));
        assert.equal(offset % 64, 0, `${where}: 64-byte aligned`);
        assert.notEqual(e.data_type, DataType.STRING, `${where}: string tensors cannot be external`);
        assert.equal(storageOf(t), 'none', `${where}: external tensor keeps no inline data (raw_data or typed fields)`);
        const expected = expectedBytes(e);
        assert.equal(length, expected.length, `${where}: external length = packed byte size`);
        assert.equal(b64(data.subarray(offset, offset + length)), b64(expected), `${where}: external bytes`);
        assert.ok(expected.length >= threshold, `${where}: below the threshold but external`);
      } else {
        assert.equal(t.externalData.length, 0, `${where}: inline tensor has no external_data`);
        if (e.storage === 'raw_data') {
          assert.ok(e.stored.bytes! < threshold, `${where}: raw_data of ${e.stored.bytes} bytes >= threshold ${threshold} left inline`);
        }
        checkStored(t, e, where);
      }
    }

    it('threshold 1: raw_data initializers >= 1 byte move to model.onnx_data (aligned, exact bytes); typed-field and empty tensors stay inline', () => {
      const { data, unresolved } = saveExternal(1);
      const g = unresolved.model.graph!;
      assert.deepEqual(unresolved.externalFiles, ['model.onnx_data']);
      EXP.graph.initializers.forEach((e, i) => {
        const t = g.initializer[i]!;
        assert.equal(t.name, e.name);
        checkPlacement(t, e, data, 1, 'initializer');
        assert.equal(t.dataLocation === 1, e.storage === 'raw_data' && e.stored.bytes! > 0, `${e.name}: external iff non-empty raw_data`);
      });
    });

    it('threshold 1: loadModel reads it back with every field and value of the reference', () => {
      const { file } = saveExternal(1);
      const loaded = loadModel(file);
      assert.deepEqual(loaded.externalFiles, ['model.onnx_data']);
      checkModel(loaded.model, 'saved external (threshold 1) -> loadModel');
    });

    // protobufjs decodes an absent raw_data as a plain empty array: saveModel must leave those tensors inline.
    it('threshold 0: every tensor with raw_data goes external; typed-field and string tensors stay inline; loadModel reads it all back', () => {
      const { file, data, unresolved } = saveExternal(0);
      const g = unresolved.model.graph!;
      EXP.graph.initializers.forEach((e, i) => {
        const t = g.initializer[i]!;
        checkPlacement(t, e, data, 0, 'initializer');
        assert.equal(t.dataLocation === 1, e.storage === 'raw_data', `${e.name}: external iff raw_data (threshold 0)`);
      });
      const sink = g.node.find((n) => n.name === 'sink')!;
      const expSink = EXP.graph.nodes.find((n) => n.name === 'sink')!;
      const tensorsAttr = expSink.attributes.find((a) => a.name === 'tensors_attr')!.value as ExpTensor[];
      sink.attribute.find((a) => a.name === 'tensors_attr')!.tensors
        .forEach((t, i) => checkPlacement(t, tensorsAttr[i]!, data, 0, 'tensors_attr'));
      checkModel(loadModel(file).model, 'saved external (threshold 0) -> loadModel');
    });
  });
});
