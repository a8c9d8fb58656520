/**
 * distill quantize: the int8 formula on hand-worked numbers, the quantized graph against the dynamic
 * quantization formula computed here in float64 (ONNX's DynamicQuantizeLinear + MatMulInteger spec), and
 * the demo student's logits against its fp32 logits.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import ort from 'onnxruntime-node';
import { GraphError, InputError } from '../src/errors.js';
import { typeProtoOf } from '../src/ir/convert.js';
import { attr, makeAttribute } from '../src/ir/attributes.js';
import { DataType } from '../src/onnx/dtype.js';
import { encodeModel, loadModel } from '../src/onnx/model-io.js';
import type { ModelProto, NodeProto } from '../src/onnx/proto.js';
import { makeTensor } from '../src/onnx/tensor.js';
import { quantizeDynamic, WHOLE_TABLE_MAX_VALUES, type QuantizeForm } from '../src/quantize/dynamic.js';
import { quantizeSymmetric, roundHalfEven } from '../src/quantize/int8.js';
import { quantizeModelFile } from '../src/quantize/model-file.js';
import { MODELS, tokenBatch } from './helpers/fixtures.js';
import { rng, uniform } from './helpers/rng.js';

test('roundHalfEven rounds ties to the even neighbour, like numpy.round', () => {
  assert.deepEqual([2.5, 3.5, -2.5, -3.5, 0.5, 1.49, -0.51].map(roundHalfEven), [2, 4, -2, -4, 0, 1, -1]);
});

test('quantizeSymmetric: scale = max|column| / 127, values rounded half to even and clamped', () => {
  // Column 0: max 1 -> scale 1/127; 0.25 * 127 = 31.75 -> 32. Column 1: max 2 -> scale 2/127;
  // -0.5 / (2/127) = -31.75 -> -32; 2 -> 127. Row scales (axis 0) for the same matrix: 1/127 and 2/127.
  const w = Float32Array.from([1, -0.5, 0.25, 2]);
  const cols = quantizeSymmetric(w, 2, 2, 1);
  assert.deepEqual(Array.from(cols.values), [127, -32, 32, 127]);
  assert.deepEqual(Array.from(cols.scales), [Math.fround(1 / 127), Math.fround(2 / 127)]);
  const rows = quantizeSymmetric(w, 2, 2, 0);
  assert.deepEqual(Array.from(rows.values), [127, -64, 16, 127]); // -0.5 * 127 = -63.5 -> -64 (even)
  // An all-zero channel keeps scale 1 instead of dividing by zero.
  assert.deepEqual(Array.from(quantizeSymmetric(new Float32Array(4), 2, 2, 1).scales), [1, 1]);
});

/** y = x W (+ bias) as one MatMul, or as Gemm with W stored [N, K] (transB = 1), alpha and beta. */
function linearModel(op: 'MatMul' | 'Gemm', k: number, n: number, w: Float32Array, bias?: Float32Array, opset = 17): ModelProto {
  const nodes: NodeProto[] = [];
  const inits = [makeTensor('W', DataType.FLOAT, op === 'Gemm' ? [n, k] : [k, n], w)];
  if (op === 'MatMul') nodes.push({ opType: 'MatMul', input: ['x', 'W'], output: ['y'], name: 'mm', attribute: [] });
  else {
    inits.push(makeTensor('b', DataType.FLOAT, [n], bias!));
    const attribute = [makeAttribute('transB', 1), makeAttribute('alpha', attr.float(0.5)), makeAttribute('beta', attr.float(2))];
    nodes.push({ opType: 'Gemm', input: ['x', 'W', 'b'], output: ['y'], name: 'gemm', attribute });
  }
  return {
    irVersion: 9, opsetImport: [{ domain: '', version: opset }], metadataProps: [], trainingInfo: [], functions: [],
    graph: {
      node: nodes, initializer: inits, sparseInitializer: [], valueInfo: [],
      input: [{ name: 'x', type: typeProtoOf({ elemType: DataType.FLOAT, shape: [null, k] }) }],
      output: [{ name: 'y', type: typeProtoOf({ elemType: DataType.FLOAT, shape: [null, n] }) }],
    },
  };
}

/**
 * float64 reference of dynamic quantization per the ONNX spec: DynamicQuantizeLinear's uint8 scale and
 * zero point over the range including 0, then exact integer products rescaled per output column.
 */
function referenceDynamic(x: number[], m: number, k: number, wKN: number[], n: number): number[] {
  const lo = Math.min(0, ...x);
  const hi = Math.max(0, ...x);
  const xs = (hi - lo) / 255;
  const zp = Math.max(0, Math.min(255, roundHalfEven(-lo / xs)));
  const xq = x.map((v) => Math.max(0, Math.min(255, roundHalfEven(v / xs) + zp)));
  const ws: number[] = [];
  for (let c = 0; c < n; c++) {
    let a = 0;
    for (let r = 0; r < k; r++) a = Math.max(a, Math.abs(wKN[r * n + c]!));
    ws.push(Math.fround(a / 127));
  }
  const y: number[] = [];
  for (let i = 0; i < m; i++) {
    for (let c = 0; c < n; c++) {
      let acc = 0;
      for (let r = 0; r < k; r++) acc += (xq[i * k + r]! - zp) * Math.max(-127, Math.min(127, roundHalfEven(wKN[r * n + c]! / ws[c]!)));
      y.push(acc * Math.fround(xs) * ws[c]!);
    }
  }
  return y;
}

async function run(model: ModelProto, feeds: Record<string, ort.Tensor>, output = 'y'): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(encodeModel(model));
  try {
    return (await s.run(feeds))[output]!.data as Float32Array;
  } finally {
    await s.release();
  }
}

for (const form of ['integer', 'qdq'] as QuantizeForm[]) {
  test(`${form} form: MatMul and Gemm (transB, alpha, beta, bias) match the float64 dynamic-quantization formula`, async () => {
    const r = rng(11);
    const [m, k, n] = [5, 8, 6];
    const x = uniform(r, m * k, -1.3, 2.1).map(Math.fround);
    const wKN = uniform(r, k * n, -0.9, 0.7).map(Math.fround);
    const bias = Float32Array.from(uniform(r, n));
    const feeds = { x: new ort.Tensor('float32', Float32Array.from(x), [m, k]) };
    const expected = referenceDynamic(x, m, k, wKN, n);

    const mm = linearModel('MatMul', k, n, Float32Array.from(wKN));
    const mmReport = quantizeDynamic(mm, { form });
    assert.deepEqual(mmReport.quantized.MatMul, ['mm']);
    const got = await run(mm, feeds);
    expected.forEach((e, i) => assert.ok(Math.abs(got[i]! - e) < 1e-5 * (1 + Math.abs(e)), `MatMul y[${i}] ${got[i]} vs ${e}`));

    // Gemm stores W as [N, K]; y = 0.5 * x W + 2 * b.
    const wNK = new Float32Array(k * n);
    for (let r2 = 0; r2 < k; r2++) for (let c = 0; c < n; c++) wNK[c * k + r2] = wKN[r2 * n + c]!;
    const gemm = linearModel('Gemm', k, n, wNK, bias);
    quantizeDynamic(gemm, { form });
    const gotGemm = await run(gemm, feeds);
    expected.forEach((e, i) => {
      const want = 0.5 * e + 2 * bias[i % n]!;
      assert.ok(Math.abs(gotGemm[i]! - want) < 1e-5 * (1 + Math.abs(want)), `Gemm y[${i}] ${gotGemm[i]} vs ${want}`);
    });
    // The graph holds the weight only as int8 and uses standard-domain ops only.
    for (const g of [mm.graph!, gemm.graph!]) {
      assert.ok(!g.initializer.some((t) => t.name === 'W'), 'the float weight is dropped');
      assert.ok(g.initializer.some((t) => t.dataType === DataType.INT8), 'an int8 weight is stored');
      assert.ok(g.node.every((nd) => !nd.domain), 'standard ops only');
    }
  });
}

test('a weight shared through Identity nodes (torch exports ALBERT\'s repeated layer so) is quantized once, its Identities and float copy dropped', async () => {
  // y = x Identity(W); z = x Transpose(Identity(W^T)): both read W through the nodes torch puts in front of shared weights.
  const r = rng(17);
  const [m, k, n] = [3, 8, 5];
  const x = uniform(r, m * k, -1, 1.5).map(Math.fround);
  const wKN = uniform(r, k * n, -0.8, 0.8).map(Math.fround);
  const wNK = new Float32Array(k * n);
  for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) wNK[j * k + i] = wKN[i * n + j]!;
  const model = linearModel('MatMul', k, n, Float32Array.from(wKN));
  const g = model.graph!;
  g.initializer.push(makeTensor('WT', DataType.FLOAT, [n, k], wNK));
  g.node = [
    { opType: 'Identity', input: ['W'], output: ['W_shared'], name: 'id', attribute: [] },
    { opType: 'MatMul', input: ['x', 'W_shared'], output: ['y'], name: 'mm', attribute: [] },
    { opType: 'Identity', input: ['WT'], output: ['WT_shared'], name: 'id2', attribute: [] },
    { opType: 'Transpose', input: ['WT_shared'], output: ['W2'], name: 't', attribute: [makeAttribute('perm', [1, 0])] },
    { opType: 'MatMul', input: ['x', 'W2'], output: ['z'], name: 'mm2', attribute: [] },
  ];
  g.output.push({ name: 'z', type: g.output[0]!.type });
  const report = quantizeDynamic(model, {});
  assert.deepEqual(report.quantized.MatMul, ['mm', 'mm2']);
  assert.deepEqual(g.node.filter((nd) => ['Identity', 'Transpose'].includes(nd.opType)), [], 'the Identities and the Transpose are folded away');
  assert.ok(!g.initializer.some((t) => t.dataType === DataType.FLOAT && t.dims.length === 2), 'no float weight is left');
  const expected = referenceDynamic(x, m, k, wKN, n);
  const feeds = { x: new ort.Tensor('float32', Float32Array.from(x), [m, k]) };
  for (const out of ['y', 'z']) {
    const got = await run(model, feeds, out);
    expected.forEach((e, i) => assert.ok(Math.abs(got[i]! - e) < 1e-5 * (1 + Math.abs(e)), `${out}[${i}] ${got[i]} vs ${e}`));
  }
});

/** y = Gather(table, ids) on a [rows, cols] float table. */
function gatherModel(rows: number, cols: number, table: Float32Array, opset: number): ModelProto {
  return {
    irVersion: 9, opsetImport: [{ domain: '', version: opset }], metadataProps: [], trainingInfo: [], functions: [],
    graph: {
      node: [{ opType: 'Gather', input: ['E', 'ids'], output: ['y'], name: 'embed', attribute: [] }],
      initializer: [makeTensor('E', DataType.FLOAT, [rows, cols], table)], sparseInitializer: [], valueInfo: [],
      input: [{ name: 'ids', type: typeProtoOf({ elemType: DataType.INT64, shape: [null, null] }) }],
      output: [{ name: 'y', type: typeProtoOf({ elemType: DataType.FLOAT, shape: [null, null, cols] }) }],
    },
  };
}

// A small table (opset 13+) is dequantized whole and gathered in float; a table over
// WHOLE_TABLE_MAX_VALUES, or any table below opset 13, gathers int8 rows and rescales them.
for (const [what, rows, opset, wholeTable] of [
  ['small table, opset 17', 50, 17, true],
  ['small table, opset 12', 50, 12, false],
  ['table over WHOLE_TABLE_MAX_VALUES', Math.ceil(WHOLE_TABLE_MAX_VALUES / 16) + 1, 17, false],
] as const) {
  test(`embeddings, ${what}: every gathered row equals int8(row / scale) * scale with scale = max|row| / 127`, async () => {
    const cols = 16;
    const r = rng(23);
    const table = Float32Array.from(uniform(r, rows * cols, -0.6, 0.4));
    const model = gatherModel(rows, cols, table, opset);
    const report = quantizeDynamic(model, { embeddings: true });
    assert.deepEqual(report.quantized.Gather, ['embed']);
    const g = model.graph!;
    assert.ok(!g.initializer.some((t) => t.name === 'E'), 'the float table is dropped');
    const ops = g.node.map((nd) => nd.opType).sort();
    assert.deepEqual(ops, wholeTable ? ['DequantizeLinear', 'Gather'] : ['Cast', 'Gather', 'Gather', 'Mul']);

    const ids = [0, rows - 1, 7, 7, 3, rows - 2];
    const got = await run(model, { ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [2, 3]) });
    ids.forEach((row, j) => {
      const values = Array.from(table.subarray(row * cols, (row + 1) * cols));
      const scale = Math.fround(Math.max(...values.map(Math.abs)) / 127);
      values.forEach((v, c) => {
        const want = Math.fround(Math.max(-127, Math.min(127, roundHalfEven(v / scale))) * scale);
        assert.equal(got[j * cols + c], want, `row ${row} column ${c}`);
      });
    });
  });
}

/**
 * Tied input and output embeddings (GPT-2, Gemma): y = Gather(E, ids) and z = x E^T, with E^T a Transpose
 * node (dynamo export) or a transposed copy of E (TorchScript export), or a copy that differs in one value.
 */
function tiedModel(rows: number, cols: number, table: Float32Array, how: 'Transpose' | 'copy' | 'near copy'): ModelProto {
  const nodes: NodeProto[] = [{ opType: 'Gather', input: ['E', 'ids'], output: ['y'], name: 'embed', attribute: [] }];
  const inits = [makeTensor('E', DataType.FLOAT, [rows, cols], table)];
  if (how === 'Transpose') nodes.push({ opType: 'Transpose', input: ['E'], output: ['ET'], name: 'transpose', attribute: [makeAttribute('perm', [1, 0])] });
  else {
    const t = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = table[r * cols + c]!;
    if (how === 'near copy') t[5] = t[5]! + 1e-3;
    inits.push(makeTensor('ET', DataType.FLOAT, [cols, rows], t));
  }
  nodes.push({ opType: 'MatMul', input: ['x', 'ET'], output: ['z'], name: 'lm', attribute: [] });
  return {
    irVersion: 9, opsetImport: [{ domain: '', version: 17 }], metadataProps: [], trainingInfo: [], functions: [],
    graph: {
      node: nodes, initializer: inits, sparseInitializer: [], valueInfo: [],
      input: [
        { name: 'ids', type: typeProtoOf({ elemType: DataType.INT64, shape: [null, null] }) },
        { name: 'x', type: typeProtoOf({ elemType: DataType.FLOAT, shape: [null, cols] }) },
      ],
      output: [
        { name: 'y', type: typeProtoOf({ elemType: DataType.FLOAT, shape: [null, null, cols] }) },
        { name: 'z', type: typeProtoOf({ elemType: DataType.FLOAT, shape: [null, rows] }) },
      ],
    },
  };
}

for (const [how, form, rows] of [
  ['Transpose', 'integer', 40], ['copy', 'integer', 40], ['Transpose', 'qdq', 40], ['copy', 'qdq', 40],
  ['Transpose', 'integer', Math.ceil(WHOLE_TABLE_MAX_VALUES / 8) + 1], ['copy', 'integer', Math.ceil(WHOLE_TABLE_MAX_VALUES / 8) + 1],
] as const) {
  const size = rows > 40 ? 'a table over WHOLE_TABLE_MAX_VALUES' : 'a small table';
  test(`tied embeddings (E^T as a ${how}, ${form} form, ${size}): one int8 copy of E in the file, outputs match the formula`, async () => {
    const cols = 8;
    const r = rng(29);
    const table = Float32Array.from(uniform(r, rows * cols, -0.6, 0.4));
    const model = tiedModel(rows, cols, table, how);
    const report = quantizeDynamic(model, { embeddings: true, form });
    assert.deepEqual(report.tied, [{ node: 'lm', table: 'E' }]);
    const g = model.graph!;
    assert.deepEqual(g.initializer.filter((t) => t.dataType === DataType.FLOAT && t.dims.reduce((p: number, d) => p * Number(d), 1) === rows * cols).map((t) => t.name), [], 'no float copy of E left');
    const int8Values = g.initializer.filter((t) => t.dataType === DataType.INT8).reduce((a, t) => a + t.dims.reduce((p: number, d) => p * Number(d), 1), 0);
    assert.equal(int8Values, rows * cols, 'one int8 copy');

    const m = 3;
    const x = uniform(r, m * cols, -1.1, 1.7).map(Math.fround);
    const eT: number[] = [];
    for (let c = 0; c < cols; c++) for (let v = 0; v < rows; v++) eT.push(table[v * cols + c]!);
    const expected = referenceDynamic(x, m, cols, eT, rows);
    const ids = [0, rows - 1, 3];
    const s = await ort.InferenceSession.create(encodeModel(model));
    const out = await s.run({ ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, 3]), x: new ort.Tensor('float32', Float32Array.from(x), [m, cols]) });
    await s.release();
    const z = out.z!.data as Float32Array;
    expected.forEach((e, i) => assert.ok(Math.abs(z[i]! - e) < 1e-5 * (1 + Math.abs(e)), `z[${i}] ${z[i]} vs ${e}`));
    const y = out.y!.data as Float32Array;
    ids.forEach((row, j) => {
      const values = Array.from(table.subarray(row * cols, (row + 1) * cols));
      const scale = Math.fround(Math.max(...values.map(Math.abs)) / 127);
      values.forEach((v, c) => assert.equal(y[j * cols + c], Math.fround(Math.max(-127, Math.min(127, roundHalfEven(v / scale))) * scale), `y row ${row} column ${c}`));
    });
  });
}

test('a MatMul weight that is the table transposed but for one value is not tied: two int8 copies', () => {
  const table = Float32Array.from(uniform(rng(31), 40 * 8, -0.6, 0.4));
  const model = tiedModel(40, 8, table, 'near copy');
  const report = quantizeDynamic(model, { embeddings: true });
  assert.deepEqual(report.tied, []);
  assert.equal(model.graph!.initializer.filter((t) => t.dataType === DataType.INT8).length, 2);
});

test('quantizing an opset-10 model or one without weights fails with a clear error', () => {
  assert.throws(() => quantizeDynamic(linearModel('MatMul', 2, 2, new Float32Array(4), undefined, 10)), (e: Error) => e instanceof GraphError && /opset 10.*needs opset 11/.test(e.message));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quantize-'));
  try {
    const once = quantizeModelFile({ model: path.join(MODELS, 'demo', 'student', 'model.onnx'), outDir: dir });
    assert.throws(() => quantizeModelFile({ model: once.model, outDir: dir }), (e: Error) => e instanceof InputError && /no MatMul or Gemm with a constant weight/.test(e.message));
    // A float16 export (model.half() before torch.onnx.export): the weights' type is named, and what to do.
    const half = loadModel(path.join(MODELS, 'user', 'bert', 'torchscript.onnx')).model;
    half.graph!.initializer = half.graph!.initializer.map((t) => (t.dataType === DataType.FLOAT && t.dims.length === 2
      ? makeTensor(t.name!, DataType.FLOAT16, t.dims.map(Number), new Uint16Array(t.dims.reduce((a: number, d) => a * Number(d), 1)))
      : t));
    const halfFile = path.join(dir, 'half.onnx');
    fs.writeFileSync(halfFile, encodeModel(half));
    assert.throws(() => quantizeModelFile({ model: halfFile, outDir: dir }), (e: Error) => e instanceof InputError && /half\.onnx: its weights are float16; .*quantize the float32 export/.test(e.message));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the demo student, quantized with its embeddings: int8 weights, logits close to fp32, folder files written', async () => {
  const src = path.join(MODELS, 'demo', 'student', 'model.onnx');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quantize-'));
  try {
    const r = quantizeModelFile({ model: src, outDir: dir, embeddings: true });
    // 1 layer: Q, K, V, attention output, FFN in, FFN out = 6 MatMul; pooler + classifier = 2 Gemm;
    // word, position and token-type embeddings = 3 Gather. The two attention MatMuls have no weight.
    assert.deepEqual([r.report.quantized.MatMul.length, r.report.quantized.Gemm.length, r.report.quantized.Gather.length], [6, 2, 3]);
    assert.equal(r.report.skipped.length, 2);
    for (const f of ['model_quantized.onnx', 'onnx/model_quantized.onnx', 'model_quantized.distill.json', 'tokenizer.json', 'config.json']) {
      assert.ok(fs.existsSync(path.join(dir, f)), f);
    }
    assert.ok(r.bytesBefore / r.bytesAfter > 3, `size ratio ${r.bytesBefore / r.bytesAfter}`);
    const q = loadModel(r.model).model.graph!;
    const ops = new Set(q.node.map((nd) => nd.opType));
    for (const op of ['DynamicQuantizeLinear', 'MatMulInteger']) assert.ok(ops.has(op), op);
    assert.ok(q.node.every((nd) => !nd.domain), 'standard ops only');
    // Every float initializer left is small (LayerNorm, biases, scales): the weight matrices are int8.
    assert.ok(q.initializer.filter((t) => t.dataType === DataType.FLOAT).every((t) => t.dims.length < 2 || Number(t.dims[1]) === 1));

    const feeds = tokenBatch(['input_ids', 'attention_mask'], 4, 24, 3);
    const fp32 = await ort.InferenceSession.create(src);
    const int8 = await ort.InferenceSession.create(r.model);
    const a = (await fp32.run(feeds)).logits!.data as Float32Array;
    const b = (await int8.run(feeds)).logits!.data as Float32Array;
    await fp32.release();
    await int8.release();
    const scale = Math.max(...Array.from(a, Math.abs));
    const worst = Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!)));
    // int8 weights and activations: a few percent of the logits' range, far from fp32 rounding, far from garbage.
    assert.ok(worst < 0.05 * scale, `max |fp32 - int8| ${worst} vs logits up to ${scale}`);
    assert.ok(worst > 1e-6, 'the quantized model differs from fp32 (it really is quantized)');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
