/**
 * `distill eval` on bad input (src/cli/eval.ts, src/eval/evaluator.ts): a model file that is not ONNX, is
 * truncated, or whose external data is missing or short; ORT refusing a model; a --plot path the SVG cannot
 * go to. Each is one line on stderr naming the file, exit 2. And --json's maxLength is the row length used.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { decodeModel, encodeModel } from '../src/onnx/model-io.js';
import { MODELS, ROOT } from './helpers/fixtures.js';
import { tempDir } from './helpers/temp-dir.js';

const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
const tmp = tempDir('distill-eval-input-');
const dataFile = tmp.write('eval.jsonl', '{"text": "Free money, click now", "label": "spam"}\n{"text": "See you at the meeting", "label": "ham"}\n');
const BERT = path.join(MODELS, 'bert-student');

/** A copy of a model folder under the temporary folder, so that its files can be broken. */
function copyFolder(from: string, name: string): string {
  const dir = path.join(tmp.dir, name);
  fs.cpSync(from, dir, { recursive: true });
  return dir;
}

/** One line on stderr, exit 2, matching `pattern`. */
function assertInputError(r: ReturnType<typeof run>, pattern: RegExp): void {
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, pattern);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /internal error/);
}

describe('distill eval: the model file is checked as train and inspect check it', () => {
  it('a truncated ONNX file', () => {
    const dir = copyFolder(BERT, 'truncated');
    const model = path.join(dir, 'model.onnx');
    fs.truncateSync(model, 1000);
    assertInputError(run('eval', '--model', model, '--eval-file', dataFile), /truncated\/model\.onnx: not a valid ONNX model \(truncated or corrupt protobuf\)/);
  });

  it('a file that is not ONNX at all (with a config.json beside it, so the task is known)', () => {
    const dir = copyFolder(BERT, 'text');
    const model = path.join(dir, 'model.onnx');
    fs.writeFileSync(model, 'hello\n');
    assertInputError(run('eval', '--model', model, '--eval-file', dataFile), /text\/model\.onnx: not a valid ONNX model/);
  });

  it('a model whose external data file is missing', () => {
    const dir = copyFolder(path.join(MODELS, 'external'), 'no-data');
    fs.rmSync(path.join(dir, 'model.onnx_data'));
    assertInputError(run('eval', '--model', path.join(dir, 'model.onnx'), '--eval-file', dataFile), /no-data\/model\.onnx_data: external data of model\.onnx does not exist/);
  });

  it('a model whose external data file is truncated', () => {
    const dir = copyFolder(path.join(MODELS, 'external'), 'short-data');
    fs.truncateSync(path.join(dir, 'model.onnx_data'), 1000);
    assertInputError(run('eval', '--model', path.join(dir, 'model.onnx'), '--eval-file', dataFile), /short-data\/model\.onnx: tensor '.*' reads bytes .* which has 1000; the data file is truncated/);
  });

  it('a well-formed model that ONNX Runtime refuses (IR version 99)', () => {
    const dir = copyFolder(BERT, 'ir99');
    const model = path.join(dir, 'model.onnx');
    const proto = decodeModel(fs.readFileSync(model), model);
    fs.writeFileSync(model, encodeModel({ ...proto, irVersion: 99 }));
    assertInputError(run('eval', '--model', model, '--eval-file', dataFile), /ir99\/model\.onnx: ONNX Runtime cannot load this model \(/);
  });
});

describe('distill eval --plot', () => {
  it('refuses a path not ending in .svg, before evaluating, and writes nothing', () => {
    const png = path.join(tmp.dir, 'plot.png');
    assertInputError(run('eval', '--model', path.join(BERT, 'model.onnx'), '--eval-file', dataFile, '--plot', png), /--plot .*plot\.png: the plot is written as SVG; give a path ending in \.svg \(e\.g\. .*plot\.svg\)/);
    assert.ok(!fs.existsSync(png));
  });

  it('writes an SVG to a .svg path', () => {
    const svg = path.join(tmp.dir, 'plot.svg');
    const r = run('eval', '--model', path.join(BERT, 'model.onnx'), '--eval-file', dataFile, '--plot', svg);
    assert.equal(r.status, 0, r.stderr);
    assert.match(fs.readFileSync(svg, 'utf8'), /^<svg|<svg /);
  });
});

describe('distill eval --json: maxLength is the row length used', () => {
  it('the position table cuts --max-length: the cap is reported, and a note says why', () => {
    // bert-student with a sidecar saying 64 positions (its table has 128 rows: 64 tokens fit).
    const dir = copyFolder(BERT, 'positions-64');
    const side = path.join(dir, 'distill.json');
    fs.writeFileSync(side, JSON.stringify({ ...JSON.parse(fs.readFileSync(side, 'utf8')), max_position_embeddings: 64 }));
    const model = path.join(dir, 'model.onnx');
    const r = run('eval', '--model', model, '--eval-file', dataFile, '--json');
    assert.equal(r.status, 0, r.stderr);
    const json = JSON.parse(r.stdout);
    assert.equal(json.maxLength, 64);
    assert.equal(json.results[0].maxLength, 64);
    assert.equal(r.stderr, `${model}: rows are truncated to 64 tokens, the model's position table (max_position_embeddings), not --max-length 128\n`);
  });

  it('a --max-length within the table: reported as given, no note', () => {
    const r = run('eval', '--model', path.join(BERT, 'model.onnx'), '--eval-file', dataFile, '--json', '--max-length', '32');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).maxLength, 32);
    assert.equal(r.stderr, '');
  });
});
