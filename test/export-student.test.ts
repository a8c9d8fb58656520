/**
 * Exporting a trained student (src/export/student.ts): its own inference graph with new initializer values.
 * Names, shapes and values are checked against the sidecar map.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { InputError } from '../src/errors.js';
import { exportStudent } from '../src/export/student.js';
import { encodeModel, loadModel } from '../src/onnx/model-io.js';
import { MODELS, tokenBatch } from './helpers/fixtures.js';
import { initializers, noisy } from './helpers/initializers.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-export-'));
const fixture = (name: string, file = 'model.onnx') => path.join(MODELS, name, file);

async function logits(file: string): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(file, { intraOpNumThreads: 1 });
  const out = await s.run(tokenBatch(s.inputNames, 2, 7));
  await s.release();
  return out.logits!.data as Float32Array;
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

/** The model with every initializer's data emptied: what must stay identical when only weights change. */
function structure(file: string): Uint8Array {
  const m = loadModel(file).model;
  for (const t of m.graph!.initializer) t.rawData = new Uint8Array(0);
  return encodeModel(m);
}

describe('exportStudent', () => {
  it('with unchanged values writes the student byte for byte, and copies tokenizer, sidecar and config', () => {
    const student = fixture('bert-student');
    const params = new Map([...initializers(student)].map(([k, v]) => [k, v.data]));
    const out = path.join(tmp, 'same', 'model.onnx');
    const r = exportStudent({ student, parameters: params, out });
    assert.equal(r.replaced.length, params.size);
    assert.equal(r.externalData, null);
    assert.ok(Buffer.from(fs.readFileSync(out)).equals(fs.readFileSync(student)), 'identical bytes');
    for (const f of ['tokenizer.json', 'distill.json', 'config.json']) {
      assert.ok(fs.readFileSync(path.join(tmp, 'same', f)).equals(fs.readFileSync(fixture('bert-student', f))), f);
    }
  });

  for (const name of ['bert-student', 'gpt2-student']) {
    it(`${name}: trained values land in the initializers; graph, IO and metadata untouched; ORT runs it`, async () => {
      const student = fixture(name);
      const params = noisy(student);
      const out = path.join(tmp, `${name}-noisy`, 'model.onnx');
      exportStudent({ student, parameters: params, out });
      const back = initializers(out);
      for (const [k, v] of params) assert.deepEqual(back.get(k)!.data, v, k);
      assert.ok(Buffer.from(structure(out)).equals(Buffer.from(structure(student))), 'same model apart from initializer data');
      const [a, b] = [await logits(student), await logits(out)];
      const d = maxAbsDiff(a, b);
      assert.ok(d > 1e-3 && Number.isFinite(d), `logits moved (${d})`);
    });
  }

  it('accepts float64 values (rounded to the float32 initializers)', () => {
    const student = fixture('bert-student');
    const v = Float64Array.from({ length: 32 }, (_, i) => 0.1 * i + 1e-12);
    const out = path.join(tmp, 'f64', 'model.onnx');
    exportStudent({ student, parameters: new Map([['bert.embeddings.LayerNorm.bias', v]]), out });
    assert.deepEqual(initializers(out).get('bert.embeddings.LayerNorm.bias')!.data, Float32Array.from(v));
  });

  it('external data: writes model.onnx_data that ORT loads, same logits as inline; an external student stays external', async () => {
    const student = fixture('bert-student');
    const params = noisy(student, 5);
    const inline = path.join(tmp, 'inline', 'model.onnx');
    const ext = path.join(tmp, 'ext', 'model.onnx');
    exportStudent({ student, parameters: params, out: inline });
    const r = exportStudent({ student, parameters: params, out: ext, externalData: true });
    assert.equal(r.externalData, path.join(tmp, 'ext', 'model.onnx_data'));
    assert.ok(fs.statSync(r.externalData!).size > 300_000 && fs.statSync(ext).size < 60_000);
    assert.equal(maxAbsDiff(await logits(inline), await logits(ext)), 0);

    const fromExt = exportStudent({ student: fixture('external'), parameters: params, out: path.join(tmp, 'ext2', 'model.onnx') });
    assert.ok(fromExt.externalData && fs.existsSync(fromExt.externalData));
    assert.equal(maxAbsDiff(await logits(inline), await logits(fromExt.model)), 0);
  });

  const bad: [string, Map<string, Float32Array>, RegExp][] = [
    ['unknown name', new Map([['bert.nope.weight', new Float32Array(4)]]), /parameter 'bert\.nope\.weight' is not an initializer of .*model\.onnx/],
    ['wrong size', new Map([['classifier.bias', new Float32Array(3)]]), /parameter 'classifier\.bias': 3 values, but .* has it as \[2\] \(2 values\)/],
    ['NaN', new Map([['classifier.bias', Float32Array.from([0, NaN])]]), /parameter 'classifier\.bias' has a non-finite value \(NaN\) at index 1/],
  ];
  for (const [what, params, pattern] of bad) {
    it(`${what}: InputError naming the parameter, nothing written`, () => {
      const out = path.join(tmp, `bad-${what.replace(/\W/g, '')}`, 'model.onnx');
      assert.throws(() => exportStudent({ student: fixture('bert-student'), parameters: params, out }), (e: Error) => e instanceof InputError && pattern.test(e.message));
      assert.equal(fs.existsSync(out), false);
    });
  }

  it('refuses to overwrite the student', () => {
    const student = path.join(tmp, 'self.onnx');
    fs.copyFileSync(fixture('bert-student'), student);
    assert.throws(() => exportStudent({ student, parameters: new Map(), out: student }), /would overwrite the student/);
  });
});
