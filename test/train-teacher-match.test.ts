/**
 * What the teacher must agree on with the student: the meaning of each logit column (label names decide,
 * a teacher listing the same labels in another order is reordered), the token ids it is fed (its tokenizer),
 * and the output's label names after `--labels`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { loadModel, saveModel } from '../src/onnx/model-io.js';
import { MODELS, ROOT } from './helpers/fixtures.js';

const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const DATA = path.join(ROOT, 'test', 'data-train');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-teacher-match-'));
const TEACHER = path.join(MODELS, 'bert-teacher');
const STUDENT = path.join(MODELS, 'bert-student', 'model.onnx');

const train = (args: string[]) => spawnSync(process.execPath, [CLI, 'train', ...args], { encoding: 'utf8' });
const run = (teacher: string, out: string, more: string[] = []) => train([
  '--teacher', teacher, '--student', STUDENT, '--train-file', path.join(DATA, 'train.jsonl'),
  '--batch-size', '8', '--max-steps', '4', '--alpha', '0.2', '--temperature', '3', '--learning-rate', '1e-3', '--threads', '1',
  '--output-dir', path.join(tmp, out), ...more,
]);

/** A copy of the bert teacher folder; `edit` may change its config, sidecar and graph. */
function teacherCopy(name: string, edit: (dir: string) => void): string {
  const dir = path.join(tmp, name);
  fs.cpSync(TEACHER, dir, { recursive: true });
  edit(dir);
  return path.join(dir, 'model.onnx');
}

const editJson = (file: string, f: (j: Record<string, unknown>) => void) => {
  const j = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  f(j);
  fs.writeFileSync(file, JSON.stringify(j, null, 2));
};

/** Names the labels in `names` order in config.json and the sidecar. */
function setLabelNames(dir: string, names: string[]): void {
  for (const f of ['config.json', 'distill.json']) {
    editJson(path.join(dir, f), (j) => {
      j.id2label = Object.fromEntries(names.map((n, i) => [String(i), n]));
      if ('label2id' in j) j.label2id = Object.fromEntries(names.map((n, i) => [n, i]));
    });
  }
}

/** The same classifier with its two classes swapped: rows of classifier.weight [2, H] and classifier.bias [2]. */
function swapClassifierRows(file: string): void {
  const m = loadModel(file).model;
  for (const t of m.graph!.initializer) {
    if (t.name !== 'classifier.weight' && t.name !== 'classifier.bias') continue;
    const v = new Float32Array(new Uint8Array(t.rawData!).slice().buffer);
    const row = v.length / 2;
    const swapped = new Float32Array(v.length);
    swapped.set(v.subarray(row), 0);
    swapped.set(v.subarray(0, row), row);
    t.rawData = new Uint8Array(swapped.buffer);
  }
  saveModel(m, file);
}

function weights(out: string): Map<string, Float32Array> {
  const m = loadModel(path.join(tmp, out, 'model.onnx')).model;
  return new Map(m.graph!.initializer.filter((t) => t.dataType === 1).map((t) => [t.name!, new Float32Array(new Uint8Array(t.rawData!).slice().buffer)]));
}

/** The largest difference between the trained weights of two runs' outputs. */
function largestDifference(outA: string, outB: string): number {
  const [wa, wb] = [weights(outA), weights(outB)];
  let worst = 0;
  for (const [name, va] of wa) {
    const vb = wb.get(name)!;
    for (let i = 0; i < va.length; i++) worst = Math.max(worst, Math.abs(va[i]! - vb[i]!));
  }
  return worst;
}

describe('teacher and student labels', () => {
  it('a teacher listing the labels in another order teaches the same student as the original (its logits are reordered)', () => {
    const swapped = teacherCopy('swapped', (dir) => {
      setLabelNames(dir, ['spam', 'ham']);
      swapClassifierRows(path.join(dir, 'model.onnx'));
    });
    const a = run(path.join(TEACHER, 'model.onnx'), 'with-original');
    assert.equal(a.status, 0, a.stderr);
    const b = run(swapped, 'with-swapped');
    assert.equal(b.status, 0, b.stderr);
    assert.match(b.stdout + b.stderr, /another order \(ham: teacher's 1, spam: teacher's 0\)/);
    const worst = largestDifference('with-original', 'with-swapped');
    assert.ok(worst < 1e-6, `largest weight difference ${worst}`);
  });

  it('a teacher with other label names is refused in one line (exit 2)', () => {
    const other = teacherCopy('other-names', (dir) => setLabelNames(dir, ['negative', 'positive']));
    const r = run(other, 'other-names-out');
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /the teacher's labels \(negative, positive\) are not the student's \(ham, spam/);
  });

  it('--labels in the reverse order: the teacher is reordered to them, and the output sidecar and config state them', () => {
    const r = run(path.join(TEACHER, 'model.onnx'), 'relabelled', ['--labels', 'spam', 'ham']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout + r.stderr, /another order \(spam: teacher's 1, ham: teacher's 0\)/);
    for (const f of ['distill.json', 'config.json']) {
      const j = JSON.parse(fs.readFileSync(path.join(tmp, 'relabelled', f), 'utf8'));
      assert.deepEqual(j.id2label, { 0: 'spam', 1: 'ham' }, f);
    }
  });
});

describe('teacher and student tokenizers', () => {
  /** Swaps two token ids in a folder's tokenizer.json; returns them. */
  function swapTokenIds(dir: string, a: number, b: number): void {
    editJson(path.join(dir, 'tokenizer.json'), (j) => {
      const vocab = (j.model as { vocab: Record<string, number> }).vocab;
      const ta = Object.keys(vocab).find((k) => vocab[k] === a)!;
      const tb = Object.keys(vocab).find((k) => vocab[k] === b)!;
      [vocab[ta], vocab[tb]] = [b, a];
    });
  }

  it('a sequence classifier teacher with its own tokenizer reads its own tokenization: the same model under permuted ids teaches the same student', () => {
    // The teacher with two frequent-word ids swapped, in its tokenizer and in its embedding rows: the same
    // function of the text. Fed the student's ids it would see the two words exchanged.
    const words = JSON.parse(fs.readFileSync(path.join(TEACHER, 'tokenizer.json'), 'utf8')).model.vocab as Record<string, number>;
    const [a, b] = [words['the']!, words['to']!];
    const permuted = teacherCopy('own-tokenizer', (dir) => {
      swapTokenIds(dir, a, b);
      const file = path.join(dir, 'model.onnx');
      const m = loadModel(file).model;
      const table = m.graph!.initializer.find((t) => t.name === 'bert.embeddings.word_embeddings.weight')!;
      const v = new Float32Array(new Uint8Array(table.rawData!).slice().buffer);
      const H = table.dims![1] as number;
      const rowA = v.slice(a * H, (a + 1) * H);
      v.copyWithin(a * H, b * H, (b + 1) * H);
      v.set(rowA, b * H);
      table.rawData = new Uint8Array(v.buffer);
      saveModel(m, file);
    });
    const args: string[] = [];
    const r0 = run(path.join(TEACHER, 'model.onnx'), 'tok-original', args);
    assert.equal(r0.status, 0, r0.stderr);
    const r1 = run(permuted, 'tok-own', args);
    assert.equal(r1.status, 0, r1.stderr);
    assert.match(r1.stderr, /the teacher tokenizes with its own .*own-tokenizer\/tokenizer\.json: its logits for the 96 rows are computed before training/);
    const worst = largestDifference('tok-original', 'tok-own');
    assert.ok(worst < 1e-6, `largest weight difference ${worst}`);
  });

  it('a token-level teacher (causal LM) whose tokenizer gives other ids is refused in one line (exit 2)', () => {
    const dir = path.join(tmp, 'lm-other-tokenizer');
    fs.cpSync(path.join(MODELS, 'gpt2-teacher'), dir, { recursive: true });
    swapTokenIds(dir, 10, 11);
    const r = train(['--teacher', path.join(dir, 'model.onnx'), '--student', path.join(MODELS, 'gpt2-student', 'model.onnx'), '--train-file', path.join(DATA, 'train.jsonl'),
      '--max-steps', '1', '--output-dir', path.join(tmp, 'lm-other-tokenizer-out')]);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /lm-other-tokenizer\/tokenizer\.json: the teacher's tokenizer differs from the student's .*a causal-lm teacher is compared with the student token by token/);
  });

  it('a tokenizer.json that differs only in padding and truncation settings is the same tokenizer', () => {
    const padded = teacherCopy('padded-tokenizer', (dir) => editJson(path.join(dir, 'tokenizer.json'), (j) => {
      j.truncation = { direction: 'Right', max_length: 64, strategy: 'LongestFirst', stride: 0 };
    }));
    const r = run(padded, 'padded-tokenizer-out');
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /tokenizes with its own/);
  });
});

describe('teacher, student and --task of different tasks', () => {
  const cases: [string, string[], RegExp][] = [
    ['an LM teacher for a sequence classifier', ['--teacher', path.join(MODELS, 'gpt2-teacher', 'model.onnx'), '--student', STUDENT],
      /gpt2-teacher\/model\.onnx: the teacher's 'logits' have rank 3 .*; the student's task seq-cls needs a teacher of the same task/],
    ['a sequence classifier teacher for an LM', ['--teacher', path.join(TEACHER, 'model.onnx'), '--student', path.join(MODELS, 'gpt2-student', 'model.onnx')],
      /bert-teacher\/model\.onnx: the teacher's 'logits' have rank 2 .*a sequence classifier; the student's task causal-lm/],
    ['--task causal-lm for a sequence classifier', ['--student', STUDENT, '--task', 'causal-lm'],
      /bert-student\/model\.onnx: 'logits' has shape \[batch, 2\], not what task causal-lm gives \(rank 3\); pass the right --task/],
  ];
  for (const [name, models, pattern] of cases) {
    it(`${name}: one line, exit 2`, () => {
      const r = train([...models, '--train-file', path.join(DATA, 'train.jsonl'), '--max-steps', '1', '--output-dir', path.join(tmp, name.replace(/\W+/g, '-'))]);
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, pattern);
    });
  }
});

describe("a teacher's vocabulary", () => {
  it('a teacher without config.json whose embedding has fewer rows than the student tokenizer has ids: refused in one line, from the graph', () => {
    const dir = path.join(tmp, 'small-vocab');
    fs.mkdirSync(dir, { recursive: true });
    const m = loadModel(path.join(TEACHER, 'model.onnx')).model;
    const table = m.graph!.initializer.find((t) => t.name === 'bert.embeddings.word_embeddings.weight')!;
    const H = Number(table.dims![1]);
    table.rawData = new Uint8Array(table.rawData!).slice(0, 1000 * H * 4);
    table.dims = [1000, H];
    saveModel(m, path.join(dir, 'model.onnx'));
    const r = run(path.join(dir, 'model.onnx'), 'small-vocab-out');
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /small-vocab\/model\.onnx: the teacher's vocabulary has 1000 tokens, fewer than the student's tokenizer ids \(2000\)/);
  });
});
