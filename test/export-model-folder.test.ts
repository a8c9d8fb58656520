/**
 * The training run's output folder as a Hugging Face model folder (src/export/model-folder.ts):
 * transformers.js (@huggingface/transformers, a dev dependency) loads what writeModelFolder writes, with local
 * files only, and its pipelines give the labels we wrote and the scores onnxruntime-node computes on the same
 * model.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { AutoModelForCausalLM, env, pipeline, Tensor } from '@huggingface/transformers';
import ort from 'onnxruntime-node';
import { readTokenizer } from '../src/data/tokenize.js';
import { InputError } from '../src/errors.js';
import { writeModelFolder, type ModelFolderOptions } from '../src/export/model-folder.js';
import { exportStudent, readSidecar } from '../src/export/student.js';
import { isFloatType } from '../src/onnx/dtype.js';
import { loadModel } from '../src/onnx/model-io.js';
import { quantizeModelFile } from '../src/quantize/model-file.js';
import { tensorToFloat32 } from '../src/onnx/tensor.js';
import { MODELS } from './helpers/fixtures.js';
import { tensor } from './helpers/ort.js';
import { rng } from './helpers/rng.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-model-folder-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

// Only the folders written here, never a hub.
env.localModelPath = tmp;
env.allowRemoteModels = false;

const TEXTS = ['click here to buy cheap credit cards now', 'the company will contact you about the background check', 'hello'];

/** Every sidecar parameter of the student plus 0.01 * seeded noise: a "trained" student whose logits differ from the fixture's. */
function trained(student: string, seed = 17): Map<string, Float32Array> {
  const side = readSidecar(student)!;
  const inits = new Map(loadModel(student).model.graph!.initializer.filter((t) => isFloatType(t.dataType)).map((t) => [t.name!, tensorToFloat32(t)]));
  const r = rng(seed);
  return new Map(Object.keys(side.parameters).map((n) => [n, Float32Array.from(inits.get(n)!, (v) => v + 0.01 * (2 * r() - 1))]));
}

/** What the trainer leaves in its output folder (model.onnx, maybe model.onnx_data), then writeModelFolder on it. */
function trainedFolder(name: string, fixture: string, o: Omit<ModelFolderOptions, 'outDir' | 'model' | 'sources'> & { externalData?: boolean; sources?: string[] }) {
  const outDir = path.join(tmp, name);
  const student = path.join(MODELS, fixture, 'model.onnx');
  const model = path.join(outDir, 'model.onnx');
  exportStudent({ student, parameters: trained(student), out: model, externalData: o.externalData ?? false });
  const result = writeModelFolder({ outDir, model, sources: o.sources ?? [path.join(MODELS, fixture)], task: o.task, labels: o.labels ?? null });
  return { outDir, model, result };
}

/** Logits of `model` in onnxruntime-node for one unpadded sequence of ids. */
async function ortLogits(model: string, ids: number[]): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const s = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  const feed: Record<string, ort.Tensor> = {
    input_ids: tensor('int64', [1, ids.length], ids),
    attention_mask: tensor('int64', [1, ids.length], ids.map(() => 1)),
  };
  const out = await s.run(Object.fromEntries(s.inputNames.map((n) => [n, feed[n]!])));
  await s.release();
  return { data: out.logits!.data as Float32Array, dims: out.logits!.dims };
}

function softmax(x: ArrayLike<number>): number[] {
  const m = Math.max(...Array.from(x));
  const e = Array.from(x, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

const json = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, any>;
const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-5, `${what}: ${a} vs ${b}`);

/** The ids transformers.js's tokenizer gives, unpadded. */
function jsIds(tokenizer: any, text: string): number[] {
  return Array.from(tokenizer(text).input_ids.data as BigInt64Array, Number);
}

describe('writeModelFolder: transformers.js loads the output folder', () => {
  const ourTokenizer = readTokenizer(path.join(MODELS, 'bert-student', 'tokenizer.json'));

  for (const externalData of [false, true]) {
    it(`seq-cls${externalData ? ' (external data)' : ''}: text-classification pipeline gives our labels and softmax(ORT logits)`, async () => {
      const labels = ['not-spam', 'spam'];
      const { outDir, model, result } = trainedFolder(`cls${externalData ? '-ext' : ''}`, 'bert-student', { task: 'seq-cls', labels, externalData });
      assert.deepEqual(result.warnings, []);
      const config = json(path.join(outDir, 'config.json'));
      assert.equal(config.model_type, 'bert');
      assert.deepEqual(config.id2label, { 0: 'not-spam', 1: 'spam' });
      assert.deepEqual(config.label2id, { 'not-spam': 0, spam: 1 });
      assert.equal(config.num_labels, 2);
      assert.deepEqual(config['transformers.js_config'], externalData ? { dtype: 'fp32', use_external_data_format: { 'model.onnx': true } } : { dtype: 'fp32' });
      const tokConfig = json(path.join(outDir, 'tokenizer_config.json'));
      assert.equal(tokConfig.tokenizer_class, 'TokenizersBackend');
      assert.deepEqual([tokConfig.cls_token, tokConfig.sep_token, tokConfig.pad_token, tokConfig.unk_token, tokConfig.mask_token], ['[CLS]', '[SEP]', '[PAD]', '[UNK]', '[MASK]']);
      assert.equal(tokConfig.model_max_length, 128);
      assert.ok(fs.readFileSync(path.join(outDir, 'onnx', 'model.onnx')).equals(fs.readFileSync(model)), 'onnx/model.onnx is the trained model');
      assert.equal(fs.existsSync(path.join(outDir, 'onnx', 'model.onnx_data')), externalData);
      if (externalData) assert.ok(fs.readFileSync(path.join(outDir, 'onnx', 'model.onnx_data')).equals(fs.readFileSync(`${model}_data`)));
      for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', path.join('onnx', 'model.onnx')]) {
        assert.ok(result.files.includes(path.join(outDir, f)), f);
      }

      const classify = await pipeline('text-classification', path.basename(outDir), { dtype: 'fp32' });
      try {
        for (const text of TEXTS) {
          // The folder's tokenizer is the one the student was trained with.
          const ids = jsIds(classify.tokenizer, text);
          assert.deepEqual(ids, ourTokenizer.encode(text).ids, text);
          const want = softmax((await ortLogits(model, ids)).data);
          const got = (await classify(text, { top_k: null })) as { label: string; score: number }[];
          assert.deepEqual(got.map((g) => g.label).sort(), [...labels].sort());
          for (const g of got) close(g.score, want[labels.indexOf(g.label)]!, `${text}: ${g.label}`);
        }
        // A padded batch scores as each text alone.
        const batch = (await classify(TEXTS, { top_k: null })) as unknown as { label: string; score: number }[][];
        for (const [i, text] of TEXTS.entries()) {
          const want = softmax((await ortLogits(model, jsIds(classify.tokenizer, text))).data);
          for (const g of batch[i]!) close(g.score, want[labels.indexOf(g.label)]!, `batch ${text}: ${g.label}`);
        }
      } finally {
        await classify.dispose();
      }
    });
  }

  it('distill quantize into the folder: transformers.js with dtype q8 loads model_quantized.onnx (short internal names) and scores as onnxruntime-node does', async () => {
    const labels = ['not-spam', 'spam'];
    const { outDir, model } = trainedFolder('cls-q8', 'bert-student', { task: 'seq-cls', labels });
    const q = quantizeModelFile({ model, outDir, embeddings: true });
    assert.ok(fs.existsSync(path.join(outDir, 'onnx', 'model_quantized.onnx')));
    const classify = await pipeline('text-classification', path.basename(outDir), { dtype: 'q8' });
    try {
      let int8VsFp32 = 0;
      for (const text of TEXTS) {
        const ids = jsIds(classify.tokenizer, text);
        const want = softmax((await ortLogits(q.model, ids)).data);
        const fp32 = softmax((await ortLogits(model, ids)).data);
        int8VsFp32 = Math.max(int8VsFp32, ...want.map((p, i) => Math.abs(p - fp32[i]!)));
        const got = (await classify(text, { top_k: null })) as { label: string; score: number }[];
        assert.deepEqual(got.map((g) => g.label).sort(), [...labels].sort());
        for (const g of got) close(g.score, want[labels.indexOf(g.label)]!, `${text}: ${g.label}`);
      }
      // Scores match within 1e-5, so a gap over 2e-5 means they could not also match the fp32 file's.
      assert.ok(int8VsFp32 > 2e-5, `int8 and fp32 scores differ by ${int8VsFp32}`);
    } finally {
      await classify.dispose();
    }
  });

  it('distill quantize into a new folder: the int8 model alone is what transformers.js loads with no dtype given', async () => {
    const labels = ['ham', 'spam'];
    const { model } = trainedFolder('cls-for-q8-only', 'bert-student', { task: 'seq-cls', labels });
    const outDir = path.join(tmp, 'cls-q8-only');
    const q = quantizeModelFile({ model, outDir });
    assert.ok(!fs.existsSync(path.join(outDir, 'onnx', 'model.onnx')));
    assert.equal(json(path.join(outDir, 'config.json'))['transformers.js_config'].dtype, 'q8');
    const classify = await pipeline('text-classification', path.basename(outDir));
    try {
      for (const text of TEXTS) {
        const want = softmax((await ortLogits(q.model, jsIds(classify.tokenizer, text))).data);
        const got = (await classify(text, { top_k: null })) as { label: string; score: number }[];
        for (const g of got) close(g.score, want[labels.indexOf(g.label)]!, `${text}: ${g.label}`);
      }
    } finally {
      await classify.dispose();
    }
  });

  it('token-cls: token-classification pipeline gives each token our label and softmax(ORT logits)', async () => {
    const labels = ['O', 'B-THING', 'I-THING'];
    const { outDir, model, result } = trainedFolder('tokcls', 'bert-tokcls', { task: 'token-cls', labels });
    assert.deepEqual(result.warnings, []);
    const config = json(path.join(outDir, 'config.json'));
    assert.equal(config.model_type, 'bert');
    assert.deepEqual(config.id2label, { 0: 'O', 1: 'B-THING', 2: 'I-THING' });
    assert.ok(fs.existsSync(path.join(outDir, 'tokenizer_config.json')) && fs.existsSync(path.join(outDir, 'onnx', 'model.onnx')));

    const tag = await pipeline('token-classification', path.basename(outDir), { dtype: 'fp32' });
    try {
      for (const text of TEXTS) {
        const ids = jsIds(tag.tokenizer, text);
        const logits = await ortLogits(model, ids);
        const [, seq, n] = logits.dims as [number, number, number];
        assert.equal(n, labels.length);
        const got = (await tag(text, { ignore_labels: [] })) as { entity: string; score: number; index: number }[];
        // Every token but [CLS] and [SEP], in order.
        assert.deepEqual(got.map((t) => t.index), Array.from({ length: seq - 2 }, (_, i) => i + 1), text);
        for (const t of got) {
          const p = softmax(logits.data.subarray(t.index * n, (t.index + 1) * n));
          const best = p.indexOf(Math.max(...p));
          assert.equal(t.entity, labels[best], `${text}: token ${t.index}`);
          close(t.score, p[best]!, `${text}: token ${t.index}`);
        }
      }
    } finally {
      await tag.dispose();
    }
  });

  it("causal-lm: AutoModelForCausalLM loads the folder and its logits are ORT's", async () => {
    const { outDir, model } = trainedFolder('lm', 'gpt2-student', { task: 'causal-lm', externalData: true });
    const tokConfig = json(path.join(outDir, 'tokenizer_config.json'));
    // config.json's bos/eos ids (2, 3) name the tokens.
    assert.deepEqual([tokConfig.bos_token, tokConfig.eos_token, tokConfig.pad_token], ['[CLS]', '[SEP]', '[PAD]']);
    const lm = await AutoModelForCausalLM.from_pretrained(path.basename(outDir), { dtype: 'fp32' });
    try {
      const ids = ourTokenizer.encode(TEXTS[0]!).ids;
      // transformers.js's own Tensor class, not onnxruntime's.
      const int64 = (v: number[]) => new Tensor('int64', BigInt64Array.from(v, BigInt), [1, v.length]);
      const out = await lm({ input_ids: int64(ids), attention_mask: int64(ids.map(() => 1)) });
      const want = (await ortLogits(model, ids)).data;
      const got = out.logits.data as Float32Array;
      assert.equal(got.length, want.length);
      for (let i = 0; i < got.length; i++) close(got[i]!, want[i]!, `logit ${i}`);
    } finally {
      await lm.dispose();
    }
  });

  it('causal-lm, distill quantize --embeddings: the tied output embedding reads the int8 table; transformers.js q8 logits are ORT\'s', async () => {
    const { outDir, model } = trainedFolder('lm-q8', 'gpt2-student', { task: 'causal-lm' });
    const q = quantizeModelFile({ model, outDir, embeddings: true });
    assert.equal(q.report.tied.length, 1, 'GPT-2 ties its output embedding to the input one');
    const lm = await AutoModelForCausalLM.from_pretrained(path.basename(outDir), { dtype: 'q8' });
    try {
      const ids = ourTokenizer.encode(TEXTS[0]!).ids;
      const int64 = (v: number[]) => new Tensor('int64', BigInt64Array.from(v, BigInt), [1, v.length]);
      const out = await lm({ input_ids: int64(ids), attention_mask: int64(ids.map(() => 1)) });
      const want = (await ortLogits(q.model, ids)).data;
      const fp32 = (await ortLogits(model, ids)).data;
      const got = out.logits.data as Float32Array;
      assert.equal(got.length, want.length);
      for (let i = 0; i < got.length; i++) close(got[i]!, want[i]!, `logit ${i}`);
      assert.ok(want.some((v, i) => Math.abs(v - fp32[i]!) > 2e-5), 'the int8 logits differ from fp32');
    } finally {
      await lm.dispose();
    }
  });

  it('copies a source tokenizer_config.json and special_tokens_map.json as they are; the first source wins', () => {
    const mine = path.join(tmp, 'src-mine');
    fs.mkdirSync(mine, { recursive: true });
    fs.writeFileSync(path.join(mine, 'tokenizer_config.json'), '{"tokenizer_class": "BertTokenizer", "model_max_length": 64}\n');
    fs.writeFileSync(path.join(mine, 'special_tokens_map.json'), '{"cls_token": "[CLS]"}\n');
    fs.writeFileSync(path.join(mine, 'config.json'), '{"model_type": "bert", "id2label": {"0": "a", "1": "b"}}\n');
    const { outDir, result } = trainedFolder('copied', 'bert-student', { task: 'seq-cls', sources: [mine, path.join(MODELS, 'bert-student')] });
    for (const f of ['tokenizer_config.json', 'special_tokens_map.json']) {
      assert.equal(fs.readFileSync(path.join(outDir, f), 'utf8'), fs.readFileSync(path.join(mine, f), 'utf8'), f);
    }
    // Labels not given: the source's stay; the tokenizer comes from the second source.
    assert.deepEqual(json(path.join(outDir, 'config.json')).id2label, { 0: 'a', 1: 'b' });
    assert.ok(fs.readFileSync(path.join(outDir, 'tokenizer.json')).equals(fs.readFileSync(path.join(MODELS, 'bert-student', 'tokenizer.json'))));
    assert.deepEqual(result.warnings, []);
  });

  it('without config.json: writes none and warns to pass --hf-model; a stale onnx/model.onnx_data goes', () => {
    const bare = path.join(tmp, 'src-bare');
    fs.mkdirSync(bare, { recursive: true });
    fs.copyFileSync(path.join(MODELS, 'bert-student', 'tokenizer.json'), path.join(bare, 'tokenizer.json'));
    const outDir = path.join(tmp, 'noconfig');
    fs.mkdirSync(path.join(outDir, 'onnx'), { recursive: true });
    fs.writeFileSync(path.join(outDir, 'onnx', 'model.onnx_data'), 'old');
    fs.copyFileSync(path.join(MODELS, 'bert-student', 'model.onnx'), path.join(outDir, 'model.onnx'));
    const r = writeModelFolder({ outDir, model: path.join(outDir, 'model.onnx'), sources: [bare, path.join(tmp, 'no-such-folder')], task: 'seq-cls', labels: ['x', 'y'] });
    assert.equal(fs.existsSync(path.join(outDir, 'config.json')), false);
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, /no config\.json .*transformers and transformers\.js need it.*--hf-model/);
    assert.equal(fs.existsSync(path.join(outDir, 'onnx', 'model.onnx_data')), false);
    assert.equal(json(path.join(outDir, 'tokenizer_config.json')).tokenizer_class, 'TokenizersBackend');
  });

  it('errors: missing model, invalid config.json, repeated label name', () => {
    const outDir = path.join(tmp, 'bad');
    fs.mkdirSync(outDir, { recursive: true });
    const isInput = (re: RegExp) => (e: Error) => e instanceof InputError && re.test(e.message);
    assert.throws(() => writeModelFolder({ outDir, model: path.join(outDir, 'model.onnx'), sources: [], task: 'seq-cls' }), isInput(/model\.onnx: no trained model/));
    fs.copyFileSync(path.join(MODELS, 'bert-student', 'model.onnx'), path.join(outDir, 'model.onnx'));
    const broken = path.join(tmp, 'src-broken');
    fs.mkdirSync(broken, { recursive: true });
    fs.writeFileSync(path.join(broken, 'config.json'), '{"model_type": ');
    assert.throws(() => writeModelFolder({ outDir, model: path.join(outDir, 'model.onnx'), sources: [broken], task: 'seq-cls' }), isInput(/config\.json: not valid JSON/));
    assert.throws(
      () => writeModelFolder({ outDir, model: path.join(outDir, 'model.onnx'), sources: [path.join(MODELS, 'bert-student')], task: 'seq-cls', labels: ['a', 'a'] }),
      isInput(/labels: 'a' appears twice/),
    );
  });
});
