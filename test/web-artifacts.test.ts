/**
 * What the browser needs of the artifacts and the checks it makes before a run: no Concat/Split/Sum over
 * WebGPU's 8 storage buffers per shader stage in any model of any build (counted here on the files, in Loop
 * and Scan bodies too), a WebGPU run refused up front for a model over its device's limit, and a run that
 * cannot fit the WASM heap refused with the numbers before any session; the messages a WebGPU run stops with.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildTrainingArtifacts } from '../src/step/artifacts.js';
import { prepareWebDemo, type WebDemoFolders } from '../src/demo/web-demo.js';
import { InputError } from '../src/errors.js';
import { encodeModel, loadModel } from '../src/onnx/model-io.js';
import type { GraphProto } from '../src/onnx/proto.js';
import type { Manifest } from '../src/step/contract.js';
import { checkFits, estimateFit, WASM_HEAP_BYTES } from '../src/web/fit.js';
import { checkStorageBuffers } from '../src/web/gpu-check.js';
import { GpuErrorWatch } from '../src/web/session.js';
import { MODELS } from './helpers/fixtures.js';

/** The WebGPU spec's guaranteed maxStorageBuffersPerShaderStage. */
const WEBGPU_MIN_STORAGE_BUFFERS = 8;

/** Every Concat/Split/Sum of `g` and its subgraphs as [op, data inputs + outputs] (Split's sizes are read on the host). */
function bufferCounts(g: GraphProto): [string, number][] {
  const out: [string, number][] = [];
  for (const n of g.node) {
    const data = n.opType === 'Split' ? n.input.slice(0, 1) : n.input;
    if (['Concat', 'Split', 'Sum'].includes(n.opType)) out.push([`${n.opType} ${n.name}`, data.filter((x) => x !== '').length + n.output.filter((x) => x !== '').length]);
    for (const a of n.attribute) for (const sub of [a.g, ...(a.graphs ?? [])]) if (sub) out.push(...bufferCounts(sub));
  }
  return out;
}

describe('artifacts for the browser', () => {
  let dir: string;
  let demo: WebDemoFolders;
  const folders: string[] = [];
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-web-artifacts-'));
    demo = prepareWebDemo(path.join(dir, 'demo'));
    folders.push(demo.folders.cpu, demo.folders.gpu);
    // Two more students of other shapes: a larger BERT and a causal LM (its LM head and tied embedding).
    for (const [name, task] of [['bert-student', 'seq-cls'], ['gpt2-student', 'causal-lm']] as const) {
      const out = path.join(dir, name);
      buildTrainingArtifacts({ student: path.join(MODELS, name, 'model.onnx'), task, optimizer: 'adamw', outDir: out });
      folders.push(out);
    }
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it(`has no Concat, Split or Sum over ${WEBGPU_MIN_STORAGE_BUFFERS} storage buffers in any model of any build`, () => {
    let counted = 0;
    for (const folder of folders) {
      for (const f of fs.readdirSync(folder).filter((x) => x.endsWith('.onnx'))) {
        for (const [node, buffers] of bufferCounts(loadModel(path.join(folder, f)).model.graph!)) {
          counted++;
          assert.ok(buffers <= WEBGPU_MIN_STORAGE_BUFFERS, `${path.basename(folder)}/${f}: ${node} binds ${buffers} storage buffers`);
        }
      }
    }
    // The step graphs do concatenate (per-parameter norms, shapes): the walk saw them.
    assert.ok(counted > 20, `only ${counted} Concat/Split/Sum nodes seen`);
  });

  it('refuses, on WebGPU, a model with a Concat over the device limit, naming it', () => {
    const loaded = loadModel(path.join(demo.folders.gpu, 'train_step.onnx')).model;
    const inputs = Array.from({ length: 11 }, () => 'lr');
    loaded.graph!.node.push({ input: inputs, output: ['wide_out'], name: 'too_wide', opType: 'Concat', attribute: [] } as never);
    const bytes = encodeModel(loaded);
    assert.throws(() => checkStorageBuffers(bytes, 'train_step.onnx', 10), /train_step\.onnx: Concat 'too_wide' binds 12 storage buffers and this WebGPU device allows 10/);
    checkStorageBuffers(encodeModel(loadModel(path.join(demo.folders.gpu, 'train_step.onnx')).model), 'train_step.onnx', WEBGPU_MIN_STORAGE_BUFFERS);
  });

  it('refuses a student too large for the WASM heap before any session, with its numbers', () => {
    const m = demo.manifests.cpu;
    checkFits(m, 'wasm');
    // AdamW: per step 2 x (parameters + 2 x parameters) + gradients = 7 x 4 bytes per float32 parameter.
    const e = estimateFit(m);
    const params = m.parameters.reduce((n, p) => n + p.shape.reduce((a, d) => a * d, 1), 0);
    assert.equal(e.stepBytes, 7 * 4 * params);
    const big: Manifest = { ...m, parameters: [{ ...m.parameters[0]!, shape: [200_000_000] }], state: [
      { ...m.state[0]!, shape: [200_000_000] }, { ...m.state[1]!, shape: [200_000_000] },
    ] };
    assert.ok(estimateFit(big).stepBytes > WASM_HEAP_BYTES);
    assert.throws(() => checkFits(big, 'wasm'), (err: unknown) => err instanceof InputError && /cannot train on WASM: 200M parameters need about 5341 MB per step .* of the 4096 MB WASM heap/.test(err.message));
    assert.throws(() => checkFits(m, 'webgpu', { maxBufferSize: 2 ** 28, maxStorageBufferBindingSize: 1024, maxStorageBuffersPerShaderStage: 8 }), /'bert\.embeddings\.word_embeddings\.weight' is 0 MB, over the device's 0 MB storage-buffer limit/);
  });

  it('a WebGPU run that runs out of memory stops with what to do; other device errors and exceptions stop on one line', () => {
    const limits = { maxBufferSize: 2 ** 28, maxStorageBufferBindingSize: 2 ** 27, maxStorageBuffersPerShaderStage: 8 };
    const fresh = () => new GpuErrorWatch(limits, 'test adapter');
    assert.equal(fresh().failure('train_step.onnx at step 3'), undefined, 'no error, nothing to stop for');
    const oomMessage = /train_step\.onnx at step 3: the GPU ran out of memory \(.*\), so training stopped: .*lower the batch size or max length, train a smaller student, or use the 'wasm' provider$/;
    const reported = fresh();
    reported.record('Not enough memory left.', 'GPUOutOfMemoryError');
    assert.throws(() => reported.check('train_step.onnx at step 3'), oomMessage);
    // onnxruntime-web's own exception for a failed allocation, with no device event.
    assert.match(fresh().failure('train_step.onnx at step 3', new Error('failed to call OrtRun(). ERROR_CODE: 6, ERROR_MESSAGE: Out of memory\n while allocating'))!.message, oomMessage);
    const invalid = fresh();
    invalid.record('Buffer usages must not be 0.', 'GPUValidationError');
    assert.throws(() => invalid.check('eval.onnx'), /eval\.onnx: WebGPU reported 1 error\(s\), so the results are wrong and training stopped: Buffer usages must not be 0\.$/);
    assert.equal(fresh().failure('eval.onnx', new Error('failed to call OrtRun(). ERROR_CODE: 1, ERROR_MESSAGE: bad\n - while x'))!.message, 'eval.onnx: the WebGPU run failed, so training stopped: bad - while x');
  });
});
