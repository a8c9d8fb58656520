/**
 * Exports as users make them (models/user/, scripts/fixtures/make_user_exports.py): six HF families, each as
 * TorchScript default, dynamo default and lossless export, with config.json and model.safetensors beside
 * them. Three steps of `train()` must move the student's logits as PyTorch's loop did on the same padded
 * batches (SGD with momentum; AdamW with weight decay in HF's groups and clipping), and model.safetensors
 * must hold PyTorch's trained parameters under their HF names. The TorchScript exports also train right from
 * the heuristics alone (the ONNX file copied to a folder without HF files).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { readSafetensorsFile } from '../src/export/safetensors.js';
import { type Meta, USER, trainAndCompare } from './helpers/user-parity.js';

const FAMILIES = ['bert', 'distilbert', 'roberta', 'albert', 'electra', 'gpt2'];
const EXPORTS = ['torchscript', 'dynamo', 'lossless'];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-params-'));

for (const family of FAMILIES) {
  describe(`user exports: ${family}`, () => {
    const file = path.join(USER, family, 'reference.safetensors');
    const { tensors: ref, metadata } = readSafetensorsFile(file);
    const meta = JSON.parse(metadata.onnx_distill!) as Meta;
    for (const exporter of EXPORTS) {
      for (const opt of Object.values(meta.optimizers)) {
        it(`${exporter} export, ${opt.name}: 3 steps match PyTorch (HF files beside it)`, async () => {
          const out = path.join(tmp, `${family}-${exporter}-${opt.name}`);
          await trainAndCompare(family, path.join(USER, family, `${exporter}.onnx`), opt, ref, meta, out, true);
        });
      }
    }
    it('torchscript export from heuristics alone (no HF files): 3 AdamW steps match PyTorch', async () => {
      const bare = path.join(tmp, `${family}-bare`);
      fs.mkdirSync(bare, { recursive: true });
      fs.copyFileSync(path.join(USER, family, 'torchscript.onnx'), path.join(bare, 'model.onnx'));
      const out = path.join(tmp, `${family}-bare-out`);
      await trainAndCompare(family, path.join(bare, 'model.onnx'), meta.optimizers.adamw!, ref, meta, out, false);
    });
  });
}
