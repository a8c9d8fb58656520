/**
 * The HF checkpoint of a trained student with the original parameter names (src/export/hf-weights.ts).
 * PyTorch loading the checkpoint is the real proof: `python3 scripts/tools/check_hf_weights.py`
 * (docs/EXPORT.md; Python is not part of the test suite). These tests check names, shapes and values against
 * the sidecar map and PyTorch's reference gradients, whose names and shapes are the parameters'.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { exportHfWeights } from '../src/export/hf-weights.js';
import { readSafetensors, readSafetensorsFile, safeToFloat64 } from '../src/export/safetensors.js';
import { readSidecar, type Sidecar } from '../src/export/student.js';
import { MODELS } from './helpers/fixtures.js';
import { initializers, noisy } from './helpers/initializers.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-export-'));
const fixture = (name: string, file = 'model.onnx') => path.join(MODELS, name, file);

describe('exportHfWeights', () => {
  /** HF name -> [onnx name, transpose] from the sidecar, and the names HF keeps of tied groups. */
  const hfNames = (side: Sidecar) => Object.values(side.parameters).map((m) => m.name).sort();

  for (const [name, file] of [['bert-student', 'model.onnx'], ['distilbert-student', 'model.onnx'], ['bert-tokcls', 'model.onnx'], ['gpt2-student', 'model.onnx'], ['gpt2-student', 'model.dynamo.onnx']] as const) {
    it(`${name}/${file}: HF names, F32, shapes and values through the sidecar map; metadata {format: pt}`, () => {
      const model = fixture(name, file);
      const side = readSidecar(model)!;
      const params = noisy(model, 3);
      const outDir = path.join(tmp, `hf-${name}-${file}`);
      const r = exportHfWeights({ model, parameters: params, outDir });
      assert.equal(r.naming, 'hf');
      assert.equal(r.note, null);
      const { tensors, metadata } = readSafetensorsFile(r.file);
      assert.deepEqual(metadata, { format: 'pt' });
      assert.deepEqual([...tensors.keys()], hfNames(side), 'the HF names, sorted, once each');
      // PyTorch's reference gradients are named by initializer and shaped like the HF parameters.
      const ref = readSafetensors(fixture(name, file.replace(/\.onnx$/, '.ref.safetensors')));
      for (const [init, m] of Object.entries(side.parameters)) {
        const t = tensors.get(m.name)!;
        assert.equal(t.dtype, 'F32');
        assert.deepEqual(t.shape, ref.get(`grad/${init}`)!.shape, m.name);
        assert.deepEqual(Float32Array.from(safeToFloat64(t)), params.get(init), m.name);
      }
      assert.ok(fs.existsSync(path.join(outDir, 'config.json')) && fs.existsSync(path.join(outDir, 'tokenizer.json')));
    });
  }

  it('GPT-2: the tied lm_head.weight is left out as save_pretrained does; tiedNames "all" writes both', () => {
    const model = fixture('gpt2-student');
    const r = exportHfWeights({ model, outDir: path.join(tmp, 'hf-gpt2-tied') });
    const names = [...readSafetensors(r.file).keys()];
    assert.equal(names.length, 16);
    assert.ok(names.includes('transformer.wte.weight') && !names.includes('lm_head.weight'));
    assert.deepEqual(r.omittedTied, ['lm_head.weight']);
    const all = exportHfWeights({ model, outDir: path.join(tmp, 'hf-gpt2-all'), tiedNames: 'all' });
    const t = readSafetensors(all.file);
    assert.equal(t.size, 17);
    assert.deepEqual(t.get('lm_head.weight')!.bytes, t.get('transformer.wte.weight')!.bytes);
    assert.deepEqual(all.omittedTied, []);
  });

  it('undoes transpose for 2-D parameters', () => {
    const dir = path.join(tmp, 'transposed');
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(fixture('bert-student'), path.join(dir, 'model.onnx'));
    const side = JSON.parse(fs.readFileSync(fixture('bert-student', 'distill.json'), 'utf8')) as Sidecar;
    side.parameters['classifier.weight']!.transpose = true; // pretend the initializer holds W^T ([2, 32] -> HF [32, 2])
    fs.writeFileSync(path.join(dir, 'distill.json'), JSON.stringify(side));
    const r = exportHfWeights({ model: path.join(dir, 'model.onnx'), outDir: dir });
    const t = readSafetensors(r.file).get('classifier.weight')!;
    assert.deepEqual(t.shape, [32, 2]);
    const w = initializers(fixture('bert-student')).get('classifier.weight')!.data; // [2, 32]
    const got = safeToFloat64(t);
    for (let i = 0; i < 2; i++) for (let j = 0; j < 32; j++) assert.equal(got[j * 2 + i], w[i * 32 + j]);
    assert.equal(r.tensors.find((x) => x.name === 'classifier.weight')!.transposed, true);

    side.parameters['classifier.bias']!.transpose = true;
    fs.writeFileSync(path.join(dir, 'distill.json'), JSON.stringify(side));
    assert.throws(() => exportHfWeights({ model: path.join(dir, 'model.onnx'), outDir: dir }), /'classifier\.bias' has transpose=true but is 1-D/);
  });

  it('without a sidecar: ONNX initializer names, and the result says so', () => {
    const dir = path.join(tmp, 'nosidecar');
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(fixture('bert-student'), path.join(dir, 'model.onnx'));
    const r = exportHfWeights({ model: path.join(dir, 'model.onnx'), outDir: dir });
    assert.equal(r.naming, 'onnx');
    assert.match(r.note!, /no sidecar \(distill\.json\).*named by ONNX initializer/);
    assert.deepEqual([...readSafetensors(r.file).keys()], [...initializers(fixture('bert-student')).keys()].sort());
  });
});
