import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { modelFromProto, modelToProto } from '../src/ir/convert.js';
import { encodeModel, loadModel, saveModel } from '../src/onnx/model-io.js';
import { InputError, ModelFormatError } from '../src/errors.js';
import { fixtureModels, MODELS, ROOT, tokenBatch } from './helpers/fixtures.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-io-'));
const runnable = fixtureModels().filter((f) => !f.includes(`${path.sep}io${path.sep}`));

async function outputsOf(model: string | Uint8Array) {
  const s = typeof model === 'string' ? await ort.InferenceSession.create(model) : await ort.InferenceSession.create(model);
  const res = await s.run(tokenBatch(s.inputNames));
  return Object.fromEntries(s.outputNames.map((n) => [n, res[n]!]));
}

function assertBitIdentical(a: Record<string, ort.Tensor>, b: Record<string, ort.Tensor>, what: string) {
  assert.deepEqual(Object.keys(a), Object.keys(b), `${what}: output names`);
  for (const k of Object.keys(a)) {
    assert.deepEqual(a[k]!.dims, b[k]!.dims, `${what}: dims of ${k}`);
    const x = Buffer.from((a[k]!.data as Float32Array).buffer);
    const y = Buffer.from((b[k]!.data as Float32Array).buffer);
    assert.ok(x.equals(y), `${what}: output '${k}' differs`);
  }
}

describe('ONNX model I/O', () => {
  it('finds the committed fixtures', () => {
    assert.ok(runnable.length >= 10, `expected the HF fixtures under models/, found ${runnable.length}`);
  });

  for (const rel of fixtureModels()) {
    const file = path.join(ROOT, rel);
    it(`${rel}: protobuf and IR round trips re-encode byte for byte`, () => {
      const original = fs.readFileSync(file);
      // Weights in an external data file (models/external, the dynamo exports' X.onnx.data) move inline on
      // load; those files' round trips are covered below.
      if (rel.includes('external') || loadModel(file).externalFiles.length > 0) return;
      assert.ok(Buffer.from(encodeModel(loadModel(file).model)).equals(original), 'decode -> encode');
      const viaIr = modelToProto(modelFromProto(loadModel(file).model));
      assert.ok(Buffer.from(encodeModel(viaIr)).equals(original), 'decode -> IR -> encode');
    });
  }

  for (const rel of runnable) {
    it(`${rel}: load -> IR -> save runs in ORT with bit-identical outputs`, async () => {
      const file = path.join(ROOT, rel);
      const out = path.join(tmp, rel.replaceAll(path.sep, '_'));
      saveModel(modelToProto(modelFromProto(loadModel(file).model)), out);
      assertBitIdentical(await outputsOf(file), await outputsOf(out), rel);
    });
  }

  it('external data: loads torch-style model.onnx + model.onnx_data and saves it inline or external', async () => {
    const ext = path.join(MODELS, 'external', 'model.onnx');
    const loaded = loadModel(ext);
    assert.deepEqual(loaded.externalFiles, ['model.onnx_data']);
    const reference = await outputsOf(path.join(MODELS, 'bert-student', 'model.onnx'));
    assertBitIdentical(reference, await outputsOf(ext), 'original external model in ORT');

    const inline = path.join(tmp, 'inline.onnx');
    saveModel(loaded.model, inline);
    assertBitIdentical(reference, await outputsOf(inline), 'saved inline');

    const outDir = fs.mkdtempSync(path.join(tmp, 'ext-'));
    const external = path.join(outDir, 'model.onnx');
    saveModel(loadModel(ext).model, external, { externalData: true });
    assert.ok(fs.existsSync(path.join(outDir, 'model.onnx_data')), 'data file written beside the model');
    assert.ok(fs.statSync(external).size < 64 * 1024, 'weights are not inline');
    assertBitIdentical(reference, await outputsOf(external), 'saved with external data, run by ORT from disk');
    assertBitIdentical(reference, await outputsOf(encodeModel(loadModel(external).model)), 'reloaded by us');
  });

  it('saving does not modify the model object (external save leaves tensors inline in memory)', () => {
    const { model } = loadModel(path.join(MODELS, 'bert-student', 'model.onnx'));
    const before = Buffer.from(encodeModel(model));
    saveModel(model, path.join(tmp, 'x.onnx'), { externalData: { location: 'x.data', threshold: 16 } });
    assert.ok(Buffer.from(encodeModel(model)).equals(before));
  });

  describe('bad files give one clear error naming the file', () => {
    const cases: [string, () => string, RegExp][] = [
      ['missing path', () => path.join(tmp, 'nope.onnx'), /nope\.onnx: ONNX model does not exist/],
      ['empty file', () => write('empty.onnx', Buffer.alloc(0)), /empty\.onnx: file is empty/],
      ['truncated model', () => write('trunc.onnx', fs.readFileSync(path.join(MODELS, 'bert-student', 'model.onnx')).subarray(0, 5000)), /trunc\.onnx: not a valid ONNX model \(truncated or corrupt/],
      ['text file', () => write('readme.onnx', Buffer.from('# hello\nthis is not a model\n')), /readme\.onnx: not (a valid )?(an )?ONNX model/],
      ['random bytes', () => write('random.onnx', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 251))), /random\.onnx: not (a valid )?(an )?ONNX model/],
      ['a directory', () => tmp, /is a directory/],
    ];
    for (const [name, make, pattern] of cases) {
      it(name, () => {
        const file = make();
        assert.throws(() => loadModel(file), (e: Error) => {
          assert.ok(e instanceof InputError || e instanceof ModelFormatError, `typed error, got ${e.constructor.name}`);
          assert.match(e.message, pattern);
          assert.ok(!e.message.includes('\n'), 'one line');
          return true;
        });
      });
    }
    it('external data file missing or too short', () => {
      const dir = fs.mkdtempSync(path.join(tmp, 'broken-'));
      fs.copyFileSync(path.join(MODELS, 'external', 'model.onnx'), path.join(dir, 'model.onnx'));
      assert.throws(() => loadModel(path.join(dir, 'model.onnx')), /model\.onnx_data: external data of model\.onnx does not exist/);
      fs.writeFileSync(path.join(dir, 'model.onnx_data'), Buffer.alloc(100));
      assert.throws(() => loadModel(path.join(dir, 'model.onnx')), /model\.onnx: tensor '.+' reads bytes \d+\.\.\d+ of 'model\.onnx_data', which has 100/);
    });
  });
});

function write(name: string, data: Buffer): string {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, data);
  return p;
}
