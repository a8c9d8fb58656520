/**
 * `distill quantize` end to end on the files users have (models/user: save_pretrained folders with
 * torch.onnx.export files at its defaults, TorchScript and dynamo): every export quantizes, its logits stay
 * within int8 error of fp32, and the CLI's output folder evaluates with `distill eval`; bad input exits 2
 * with one line naming the file.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { DataType } from '../src/onnx/dtype.js';
import { loadModel } from '../src/onnx/model-io.js';
import { quantizeModelFile } from '../src/quantize/model-file.js';
import { MODELS, ROOT } from './helpers/fixtures.js';
import { tempDir } from './helpers/temp-dir.js';

const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
const USER = path.join(MODELS, 'user');
const tmp = tempDir('distill-quantize-');
const folder = (prefix: string) => fs.mkdtempSync(path.join(tmp.dir, prefix));

/** Feeds for any of the user exports: 2 x 12 token ids below every fixture's vocabulary. */
function feedsFor(session: ort.InferenceSession): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of session.inputNames) {
    const v = name === 'input_ids'
      ? BigInt64Array.from({ length: 24 }, (_, i) => BigInt(5 + ((i * 37) % 90)))
      : name.includes('position')
        ? BigInt64Array.from({ length: 24 }, (_, i) => BigInt(i % 12))
        : new BigInt64Array(24).fill(name === 'attention_mask' ? 1n : 0n);
    feeds[name] = new ort.Tensor('int64', v, [2, 12]);
  }
  return feeds;
}

describe('distill quantize on models/user exports', () => {
  const exports = fs.readdirSync(USER).flatMap((family) =>
    ['torchscript.onnx', 'dynamo.onnx'].map((f) => path.join(USER, family, f)).filter((f) => fs.existsSync(f)));

  it('finds the exports', () => assert.ok(exports.length >= 20, `${exports.length} exports`));

  for (const src of exports) {
    const name = path.relative(USER, src);
    it(`${name}: every dense weight int8, logits within int8 error of fp32`, async () => {
      const r = quantizeModelFile({ model: src, outDir: folder('user-'), embeddings: true });
      const q = r.report.quantized;
      assert.ok(q.MatMul.length + q.Gemm.length >= 4, `${q.MatMul.length} MatMul + ${q.Gemm.length} Gemm quantized`);
      assert.ok(q.Gather.length >= 1, 'the word embeddings are int8');
      // Causal LMs whose config ties the output embeddings to the input ones store the int8 table once.
      const config = JSON.parse(fs.readFileSync(path.join(path.dirname(src), 'config.json'), 'utf8')) as { tie_word_embeddings?: boolean; architectures: string[] };
      const tiedLm = /(LMHeadModel|ForCausalLM)$/.test(config.architectures[0]!) && config.tie_word_embeddings !== false;
      assert.equal(r.report.tied.length, tiedLm ? 1 : 0, `tied: ${JSON.stringify(r.report.tied)}`);
      // What stays float is attention's activation x activation products, never a weight.
      for (const s of r.report.skipped) assert.match(s.why, /^input B is computed at run time/, `${s.node}: ${s.why}`);
      // No MatMul, Gemm or Gather reads a float matrix any more (DeBERTa's relative-position table,
      // read by a LayerNorm, stays float).
      const g = loadModel(r.model).model.graph!;
      const float2d = new Set(g.initializer.filter((t) => t.dataType === DataType.FLOAT && t.dims.length === 2).map((t) => t.name!));
      const producer = new Map(g.node.flatMap((n) => n.output.map((o) => [o, n] as const)));
      const origin = (name: string): string => {
        const p = producer.get(name);
        return p && ['Identity', 'Transpose'].includes(p.opType) ? origin(p.input[0]!) : name;
      };
      const readAsWeight = g.node.flatMap((n) => (['MatMul', 'Gemm'].includes(n.opType) ? [n.input[1]!] : n.opType === 'Gather' ? [n.input[0]!] : [])).map(origin);
      assert.deepEqual(readAsWeight.filter((w) => float2d.has(w)), [], 'no float weight is read');

      const [a, b] = await Promise.all([ort.InferenceSession.create(src), ort.InferenceSession.create(r.model)]);
      const feeds = feedsFor(a);
      const out = a.outputNames[0]!;
      const x = (await a.run(feeds))[out]!.data as Float32Array;
      const y = (await b.run(feeds))[out]!.data as Float32Array;
      await Promise.all([a.release(), b.release()]);
      const range = Math.max(...Array.from(x, Math.abs));
      const worst = Math.max(...Array.from(x, (v, i) => Math.abs(v - y[i]!)));
      // Random-init fixtures through int8 weights and activations: a few percent of the logits' range.
      assert.ok(worst < 0.1 * range, `max |fp32 - int8| ${worst} vs logits up to ${range}`);
      assert.ok(worst > 0, 'the quantized model differs from fp32');
    });
  }
});

describe('distill quantize (CLI)', () => {
  it('a save_pretrained folder\'s export: model_quantized.onnx beside it, which distill eval scores as it scores the fp32 file', () => {
    const dir = folder('cli-');
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'torchscript.onnx', 'train.jsonl']) {
      fs.copyFileSync(path.join(USER, 'bert', f), path.join(dir, f));
    }
    const model = path.join(dir, 'torchscript.onnx');
    const q = cli('quantize', '--model', model, '--out', dir, '--embeddings');
    assert.equal(q.status, 0, q.stderr);
    assert.match(q.stdout, /^quantized 12 MatMul, 2 Gemm, 3 embedding Gather \(integer form\); 4 left in float$/m);
    assert.match(q.stdout, /KB -> \d+ KB \(\d\.\d\dx smaller\)/);
    for (const f of ['model_quantized.onnx', 'onnx/model_quantized.onnx']) {
      assert.ok(fs.existsSync(path.join(dir, f)), f);
    }
    const e = cli('eval', '--model', model, '--model', path.join(dir, 'model_quantized.onnx'), '--eval-file', path.join(dir, 'train.jsonl'), '--json');
    assert.equal(e.status, 0, e.stderr);
    const [fp32, int8] = JSON.parse(e.stdout).results as { examples: number; metrics: { accuracy: number } }[];
    assert.equal(int8!.examples, fp32!.examples);
    assert.ok(Math.abs(int8!.metrics.accuracy - fp32!.metrics.accuracy) <= 1 / fp32!.examples + 1e-9, `${int8!.metrics.accuracy} vs ${fp32!.metrics.accuracy}`);
    // Training the int8 file is refused, saying why: its weights are no longer float parameters.
    const t = cli('train', '--student', path.join(dir, 'model_quantized.onnx'), '--train-file', path.join(dir, 'train.jsonl'), '--max-steps', '1', '--output-dir', path.join(dir, 'trained'));
    assert.equal(t.status, 2, t.stderr);
    assert.match(t.stderr, /model_quantized\.onnx: a quantized model \(its graph has (MatMulInteger|DynamicQuantizeLinear|DequantizeLinear) nodes\); train the float32 model it came from/);
  });

  it('optimum\'s layout (config at the top, the model in onnx/): a new output folder gets the config and tokenizer, and distill eval scores it', () => {
    const src = folder('optimum-');
    fs.mkdirSync(path.join(src, 'onnx'));
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(USER, 'bert', f), path.join(src, f));
    fs.copyFileSync(path.join(USER, 'bert', 'torchscript.onnx'), path.join(src, 'onnx', 'model.onnx'));
    const out = path.join(folder('optimum-out-'), 'int8');
    const q = cli('quantize', '--model', path.join(src, 'onnx', 'model.onnx'), '--out', out);
    assert.equal(q.status, 0, q.stderr);
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
      assert.ok(fs.readFileSync(path.join(out, f)).equals(fs.readFileSync(path.join(src, f))), `${f} copied from the folder above onnx/`);
    }
    // config.json too, naming q8 as transformers.js's default: the new folder holds the int8 model alone.
    const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    assert.deepEqual(config['transformers.js_config'], { dtype: 'q8' });
    delete config['transformers.js_config'];
    assert.deepEqual(config, JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8')));
    const e = cli('eval', '--model', path.join(out, 'model_quantized.onnx'), '--eval-file', path.join(USER, 'bert', 'train.jsonl'), '--json');
    assert.equal(e.status, 0, e.stderr);
  });

  it('--keep-names keeps the export\'s value names and the dynamo metadata; the default shortens them, same logits', async () => {
    const src = path.join(USER, 'bert', 'dynamo.onnx');
    const [short, kept] = [folder('short-'), folder('kept-')];
    for (const [dir, extra] of [[short, []], [kept, ['--keep-names']]] as const) {
      const r = cli('quantize', '--model', src, '--out', dir, '--embeddings', ...extra);
      assert.equal(r.status, 0, r.stderr);
    }
    const [a, b] = [short, kept].map((d) => loadModel(path.join(d, 'model_quantized.onnx')).model.graph!);
    const exported = new Set(loadModel(src).model.graph!.node.flatMap((n) => n.output));
    assert.ok(b!.node.some((n) => n.metadataProps?.length), 'kept: the exporter metadata');
    assert.ok(b!.node.filter((n) => n.output.some((o) => exported.has(o))).length > 50, 'kept: the exported value names');
    assert.ok(a!.node.every((n) => !n.metadataProps?.length), 'default: no node metadata');
    assert.deepEqual(a!.node.flatMap((n) => n.output).filter((o) => o.length > 3 && o !== 'logits'), [], 'default: short names');
    assert.deepEqual(a!.initializer.map((t) => t.name).sort(), b!.initializer.map((t) => t.name).sort(), 'weights keep their names');
    const sizes = [short, kept].map((d) => fs.statSync(path.join(d, 'model_quantized.onnx')).size);
    assert.ok(sizes[0]! < sizes[1]! * 0.6, `${sizes[0]} vs ${sizes[1]} bytes`);
    const sessions = await Promise.all([short, kept].map((d) => ort.InferenceSession.create(path.join(d, 'model_quantized.onnx'))));
    const feeds = feedsFor(sessions[0]!);
    const [x, y] = await Promise.all(sessions.map(async (s) => Array.from((await s.run(feeds)).logits!.data as Float32Array)));
    await Promise.all(sessions.map((s) => s.release()));
    assert.deepEqual(x, y);
  });

  it('bad input: exit 2 and one line naming the file or path', () => {
    const dir = folder('bad-');
    const junk = path.join(dir, 'junk.onnx');
    fs.writeFileSync(junk, 'not a model');
    const blocker = path.join(dir, 'file');
    fs.writeFileSync(blocker, '');
    const cases: [string[], RegExp][] = [
      [['--model', path.join(dir, 'missing.onnx'), '--out', dir], /missing\.onnx: ONNX model does not exist/],
      [['--model', junk, '--out', dir], /junk\.onnx: not a valid ONNX model/],
      [['--model', path.join(USER, 'bert', 'torchscript.onnx'), '--out', path.join(blocker, 'sub')], /file.*a part of the path is a file, not a folder/],
      [['--model', path.join(USER, 'bert', 'torchscript.onnx'), '--out', dir, '--form', 'int4'], /--form.*int4|int4.*choices|Invalid values/i],
    ];
    for (const [args, want] of cases) {
      const r = cli('quantize', ...args);
      assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
      assert.match(r.stderr, want);
      assert.ok(!/\n\s+at /.test(r.stderr), `no stack trace: ${r.stderr}`);
    }
  });
});
