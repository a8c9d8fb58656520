/**
 * `distill eval` end to end on tiny data files (src/cli/eval.ts), its numbers checked against the metrics
 * computed directly from one ORT run per example (no padding).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { readTokenizer } from '../src/data/tokenize.js';
import { collate } from '../src/data/batches.js';
import { EVAL_INPUTS, toEvalBatch } from '../src/eval/batches.js';
import { evaluate, modelSize } from '../src/eval/evaluator.js';
import { argmaxRows } from '../src/eval/metrics.js';
import { MODELS, ROOT } from './helpers/fixtures.js';

const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-eval-'));
const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

const ROWS = [
  { text: 'Free money!!! Click here to claim your prize now', label: 'spam' },
  { text: 'Meeting moved to 3pm, see the agenda attached', label: 'ham' },
  { text: 'Cheap meds, no prescription needed', label: 1 },
  { text: 'Can you review my patch before Friday?', label: 0 },
  { text: 'You have won a free cruise to the Bahamas', label: 'spam' },
  { text: 'lunch?', label: 'ham' },
  { text: 'The build is green again after the fix to the tokenizer tests', label: 'ham' },
];
const dataFile = path.join(tmp, 'eval.jsonl');
fs.writeFileSync(dataFile, `${ROWS.map((r) => JSON.stringify(r)).join('\n')}\n`);
const labelId = (l: string | number) => (typeof l === 'number' ? l : l === 'spam' ? 1 : 0);

/** Logits of each row run alone (batch 1, no padding). */
async function perRow(model: string, rows: number[][]): Promise<Float32Array[]> {
  const s = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  const out: Float32Array[] = [];
  for (const ids of rows) {
    const t = (v: number[]) => new ort.Tensor('int64', BigInt64Array.from(v, (x) => BigInt(x)), [1, v.length]);
    const feeds: Record<string, ort.Tensor> = { input_ids: t(ids), attention_mask: t(ids.map(() => 1)) };
    out.push((await s.run(feeds)).logits!.data as Float32Array);
  }
  await s.release();
  return out;
}

describe('distill eval', () => {
  const bert = path.join(MODELS, 'bert-student', 'model.onnx');
  const tok = readTokenizer(path.join(MODELS, 'bert-student', 'tokenizer.json'));

  it('seq-cls (bert-student): exit 0, table printed, --json equals accuracy / macro-F1 computed row by row', async () => {
    const table = run('eval', '--model', bert, '--eval-file', dataFile, '--batch-size', '3');
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /7 examples \(7 labeled examples\), task seq-cls; latency per batch of up to 3 on cpu \(3 batches/);
    assert.match(table.stdout, /model\s+accuracy\s+macro-F1\s+latency mean\s+p50\s+p95\s+size\s+parameters/);
    assert.match(table.stdout, /bert-student\/model\.onnx\s+\d\.\d{4}\s+\d\.\d{4}\s+[\d.]+ ms\s+[\d.]+ ms\s+[\d.]+ ms\s+339 KB\s+77,890/);

    const r = run('eval', '--model', bert, '--eval-file', dataFile, '--batch-size', '3', '--json');
    assert.equal(r.status, 0, r.stderr);
    const json = JSON.parse(r.stdout);
    const rep = json.results[0];
    assert.equal(json.task, 'seq-cls');
    assert.equal(rep.examples, ROWS.length);
    assert.equal(rep.metrics.counted, ROWS.length);

    // Directly: one row at a time, argmax, then the definitions written out here.
    const logits = await perRow(bert, ROWS.map((row) => tok.encode(row.text, null, 128).ids));
    const pred = logits.map((l) => (l[1]! > l[0]! ? 1 : 0));
    const gold = ROWS.map((row) => labelId(row.label));
    const acc = pred.filter((p, i) => p === gold[i]).length / ROWS.length;
    const f1 = (c: number) => {
      const tp = pred.filter((p, i) => p === c && gold[i] === c).length;
      const n = pred.filter((p) => p === c).length + gold.filter((g) => g === c).length;
      return n === 0 ? null : (2 * tp) / n;
    };
    const f1s = [f1(0), f1(1)].filter((v): v is number => v !== null);
    assert.equal(rep.metrics.accuracy, acc);
    close(rep.metrics.f1, f1s.reduce((a, b) => a + b, 0) / f1s.length);

    assert.equal(rep.latency.batches, 3);
    assert.ok(rep.latency.meanMs > 0 && rep.latency.p50Ms <= rep.latency.p95Ms);
    const inspect = JSON.parse(run('inspect', bert, '--json').stdout);
    assert.deepEqual(rep.size, { bytes: fs.statSync(bert).size, files: [bert], parameters: inspect.parameters });
  });

  it('causal-lm (gpt2-student): perplexity equals exp(mean next-token CE) over the unpadded rows', async () => {
    const model = path.join(MODELS, 'gpt2-student', 'model.onnx');
    const r = run('eval', '--model', model, '--eval-file', dataFile, '--batch-size', '4', '--json');
    assert.equal(r.status, 0, r.stderr);
    const rep = JSON.parse(r.stdout).results[0];
    const gptTok = readTokenizer(path.join(MODELS, 'gpt2-student', 'tokenizer.json'));
    const ids = ROWS.map((row) => gptTok.encode(row.text, null, 128).ids);
    const logits = await perRow(model, ids);
    let nll = 0;
    let n = 0;
    ids.forEach((row, b) => {
      for (let t = 0; t + 1 < row.length; t++) {
        const l = Array.from(logits[b]!.subarray(t * 2000, (t + 1) * 2000));
        const max = Math.max(...l);
        nll += max + Math.log(l.reduce((s, v) => s + Math.exp(v - max), 0)) - l[row[t + 1]!]!;
        n++;
      }
    });
    assert.equal(rep.metrics.counted, n);
    close(rep.metrics.loss, nll / n, 1e-6);
    close(rep.metrics.perplexity, Math.exp(nll / n), 1e-6);
    const table = run('eval', '--model', model, '--eval-file', dataFile);
    assert.match(table.stdout, /model\s+perplexity\s+loss\s+latency mean/);
  });

  it('token-cls (bert-tokcls): token accuracy over first sub-tokens of labeled words', async () => {
    const file = path.join(tmp, 'ner.jsonl');
    const rows = [
      { tokens: ['Alice', 'visited', 'Paris', 'yesterday'], labels: ['B-ENT', 'O', 'B-ENT', 'O'] },
      { tokens: ['New', 'York', 'is', 'big'], labels: [1, 2, 0, 0] },
    ];
    fs.writeFileSync(file, rows.map((x) => JSON.stringify(x)).join('\n'));
    const model = path.join(MODELS, 'bert-tokcls', 'model.onnx');
    const r = run('eval', '--model', model, '--eval-file', file, '--json');
    assert.equal(r.status, 0, r.stderr);
    const rep = JSON.parse(r.stdout).results[0];
    const t = readTokenizer(path.join(MODELS, 'bert-tokcls', 'tokenizer.json'));
    const names = ['O', 'B-ENT', 'I-ENT'];
    let correct = 0;
    let n = 0;
    for (const row of rows) {
      const enc = t.encodeWords(row.tokens, 128);
      const [l] = await perRow(model, [enc.ids]);
      const preds = argmaxRows(l!, 3);
      enc.wordIds.forEach((w, k) => {
        if (w === null || enc.wordIds[k - 1] === w) return;
        const gold = row.labels[w]!;
        correct += preds[k] === (typeof gold === 'number' ? gold : names.indexOf(gold)) ? 1 : 0;
        n++;
      });
    }
    assert.equal(rep.metrics.counted, n);
    assert.equal(rep.metrics.accuracy, correct / n);
  });

  it('compares teacher and student in one table', () => {
    const teacher = path.join(MODELS, 'bert-teacher', 'model.onnx');
    const r = run('eval', '--model', teacher, '--model', bert, '--eval-file', dataFile);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /bert-teacher\/model\.onnx .*\n.*bert-student\/model\.onnx/);
    assert.match(r.stdout, /relative to .*bert-teacher\/model\.onnx:\n  .*bert-student\/model\.onnx: speed-up [\d.]+x \(mean latency\), size 0\.\d\dx, accuracy [+-]\d\.\d{4}/);
  });

  it("a save_pretrained folder's exports and optimum's onnx/ layout: task, labels and tokenizer from config.json, no sidecar", () => {
    // models/user/bert: config.json (BertForSequenceClassification, id2label ham/spam), tokenizer.json and
    // torch.onnx.export files at their defaults, no distill.json for them.
    const user = path.join(MODELS, 'user', 'bert');
    const optimum = path.join(tmp, 'optimum');
    fs.mkdirSync(path.join(optimum, 'onnx'), { recursive: true });
    for (const f of ['config.json', 'tokenizer.json']) fs.copyFileSync(path.join(user, f), path.join(optimum, f));
    fs.copyFileSync(path.join(user, 'torchscript.onnx'), path.join(optimum, 'onnx', 'model.onnx'));
    const models = [path.join(user, 'torchscript.onnx'), path.join(user, 'dynamo.onnx'), path.join(optimum, 'onnx', 'model.onnx')];
    const r = run('eval', ...models.flatMap((m) => ['--model', m]), '--eval-file', dataFile, '--json');
    assert.equal(r.status, 0, r.stderr);
    const results = JSON.parse(r.stdout).results as { task: string; examples: number; metrics: { accuracy: number } }[];
    assert.deepEqual(results.map((x) => [x.task, x.examples]), models.map(() => ['seq-cls', ROWS.length]));
    // The same weights in three files: the same predictions.
    assert.equal(new Set(results.map((x) => x.metrics.accuracy)).size, 1);
  });

  it('evaluate() over collated batches equals one big batch (padding does not change the metrics)', async () => {
    const examples = ROWS.map((row, i) => {
      const enc = tok.encode(row.text, null, 128);
      return { input_ids: enc.ids, token_type_ids: enc.typeIds, label: labelId(row.label), line: i + 1 };
    });
    async function* batches(size: number) {
      for (let i = 0; i < examples.length; i += size) yield toEvalBatch(collate(examples.slice(i, i + size), { task: 'seq-cls', padId: 0, inputs: EVAL_INPUTS }), 'seq-cls');
    }
    const [a, b] = [await evaluate({ model: bert, task: 'seq-cls', batches: batches(2) }), await evaluate({ model: bert, task: 'seq-cls', batches: batches(7) })];
    assert.deepEqual(a.metrics, b.metrics);
    assert.equal(a.latency.batches, 4);
    assert.equal(b.latency.batches, 1);
  });

  it('model size counts external data files', () => {
    const dir = path.join(MODELS, 'external');
    const s = modelSize(path.join(dir, 'model.onnx'));
    assert.deepEqual(s.files, [path.join(dir, 'model.onnx'), path.join(dir, 'model.onnx_data')]);
    assert.equal(s.bytes, fs.statSync(s.files[0]!).size + fs.statSync(s.files[1]!).size);
    assert.equal(s.parameters, modelSize(bert).parameters);
  });

  const bad: [string, () => string[], RegExp][] = [
    ['unknown label name', () => {
      const f = path.join(tmp, 'bad-label.jsonl');
      fs.writeFileSync(f, '{"text": "hi", "label": "maybe"}\n');
      return ['--model', bert, '--eval-file', f];
    }, /bad-label\.jsonl:1: unknown label 'maybe' \(known: ham, spam\)/],
    ['missing data file', () => ['--model', bert, '--eval-file', path.join(tmp, 'none.jsonl')], /none\.jsonl: no such file/],
    ['missing model', () => ['--model', path.join(tmp, 'none.onnx'), '--eval-file', dataFile], /none\.onnx: ONNX model does not exist/],
    ['wrong --task', () => ['--model', bert, '--eval-file', dataFile, '--task', 'causal-lm'], /'logits' has shape \[\d+, 2\], not what task causal-lm gives/],
  ];
  for (const [what, args, pattern] of bad) {
    it(`${what}: one line on stderr, exit 2`, () => {
      const r = run('eval', ...args());
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    });
  }
});
