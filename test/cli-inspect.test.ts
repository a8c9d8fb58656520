/** `distill inspect` (src/cli/inspect.ts): the summary of a model and the errors bad input gets. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { readSafetensors } from '../src/export/safetensors.js';
import { DataType } from '../src/onnx/dtype.js';
import { loadModel } from '../src/onnx/model-io.js';
import { MODELS, ROOT } from './helpers/fixtures.js';

const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-cli-'));

describe('distill inspect', () => {
  it('describes a fixture: IO, versions, parameters (matching the HF checkpoint), ops', () => {
    const model = path.join(MODELS, 'bert-student', 'model.onnx');
    const r = run('inspect', model, '--json');
    assert.equal(r.status, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    const sidecar = JSON.parse(fs.readFileSync(path.join(MODELS, 'bert-student', 'distill.json'), 'utf8'));
    assert.deepEqual(s.inputs.map((i: { name: string }) => i.name), sidecar.inputs);
    assert.deepEqual(s.outputs.map((i: { name: string }) => i.name), sidecar.outputs);
    assert.deepEqual(s.inputs[0], { name: 'input_ids', dtype: 'int64', shape: ['batch', 'sequence'] });
    assert.equal(s.irVersion, sidecar.ir_version);
    assert.deepEqual(s.opsets, [{ domain: 'ai.onnx', version: sidecar.opset }]);
    // Every HF parameter is an ONNX initializer (1:1, see docs/FIXTURES.md); PyTorch's gradients in the
    // reference file have the parameters' shapes, so they count the HF parameters independently of us.
    const ref = readSafetensors(path.join(MODELS, 'bert-student', 'model.ref.safetensors'));
    let hfCount = 0;
    for (const [name, t] of ref) if (name.startsWith('grad/')) hfCount += t.shape.reduce((a, b) => a * b, 1);
    assert.ok(hfCount > 50_000, `reference gradients cover the HF parameters (${hfCount})`);
    assert.ok(s.parameters >= hfCount, `parameters ${s.parameters} >= HF's ${hfCount}`);
    assert.ok(s.ops.MatMul > 0 && s.nodes === Object.values(s.ops as Record<string, number>).reduce((a, b) => a + b, 0));
    const text = run('inspect', model);
    assert.equal(text.status, 0);
    assert.match(text.stdout, /input_ids\s+int64\s+\[batch, sequence\]/);
    assert.match(text.stdout, /IR version \d+; opsets: ai\.onnx 17/);
    assert.match(text.stdout, /external data: none/);
  });

  it('counts a quantized model\'s int8 weights: every 2-D float weight of the fp32 export, once (GPT-2\'s tied table too)', () => {
    const src = path.join(MODELS, 'user', 'gpt2', 'dynamo.onnx');
    const out = path.join(tmp, 'inspect-int8');
    assert.equal(run('quantize', '--model', src, '--out', out, '--embeddings').status, 0);
    const matrices = loadModel(src).model.graph!.initializer
      .filter((t) => t.dataType === DataType.FLOAT && t.dims.length === 2)
      .reduce((a, t) => a + t.dims.reduce((p: number, d) => p * Number(d), 1), 0);
    const r = run('inspect', path.join(out, 'model_quantized.onnx'), '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).quantizedValues, matrices);
    const text = run('inspect', path.join(out, 'model_quantized.onnx')).stdout;
    assert.match(text, new RegExp(`parameters: [\\d,]+ float and ${matrices.toLocaleString('en-US')} int8 values`));
  });

  it('lists external data files', () => {
    const r = run('inspect', path.join(MODELS, 'external', 'model.onnx'), '--json');
    assert.equal(r.status, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.externalData[0].file, 'model.onnx_data');
    assert.equal(s.externalData[0].bytes, fs.statSync(path.join(MODELS, 'external', 'model.onnx_data')).size);
  });

  const bad: [string, () => string, RegExp][] = [
    ['missing path', () => path.join(tmp, 'missing.onnx'), /missing\.onnx: ONNX model does not exist/],
    ['empty file', () => write('empty.onnx', ''), /empty\.onnx: file is empty/],
    ['truncated file', () => write('cut.onnx', fs.readFileSync(path.join(MODELS, 'gpt2-student', 'model.onnx')).subarray(0, 12345)), /cut\.onnx: not a valid ONNX model/],
    ['non-ONNX file', () => write('notes.onnx', 'just some text, not protobuf\n'), /notes\.onnx: not (a valid |an )ONNX model/],
    ['corrupt bytes', () => write('corrupt.onnx', Buffer.from(Array.from({ length: 999 }, (_, i) => (i * 31 + 7) % 256))), /corrupt\.onnx: not (a valid |an )ONNX model/],
  ];
  for (const [name, make, pattern] of bad) {
    it(`${name}: one-line error naming the file, exit code 2, no stack trace`, () => {
      const r = run('inspect', make());
      assert.equal(r.status, 2, `exit code (stderr: ${r.stderr})`);
      assert.equal(r.stdout, '');
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /^distill: /);
      assert.match(lines[0]!, pattern);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    });
  }

  it('usage errors exit 2 with a hint', () => {
    const r = run('inspect');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /distill: .*see distill --help/);
    const u = run('frobnicate');
    assert.equal(u.status, 2);
  });
});

function write(name: string, data: string | Buffer): string {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, data);
  return p;
}
