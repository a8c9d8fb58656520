/** A model folder stands for the model.onnx in it (or onnx/model.onnx, optimum's layout), in every command. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { MODELS, ROOT } from './helpers/fixtures.js';

const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const DATA = path.join(ROOT, 'test', 'data-train');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-model-folder-'));
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

describe('model folders as model paths', () => {
  it('inspect, eval and train take a folder for its model.onnx', () => {
    const folder = path.join(MODELS, 'bert-student');
    const i = cli('inspect', folder, '--json');
    assert.equal(i.status, 0, i.stderr);
    assert.equal(JSON.parse(i.stdout).file, path.join(folder, 'model.onnx'));
    const e = cli('eval', '--model', folder, '--eval-file', path.join(DATA, 'eval.jsonl'), '--json');
    assert.equal(e.status, 0, e.stderr);
    assert.equal(JSON.parse(e.stdout).results[0].model, path.join(folder, 'model.onnx'));
    const t = cli('train', '--student', folder, '--teacher', path.join(MODELS, 'bert-teacher'), '--train-file', path.join(DATA, 'train.jsonl'),
      '--max-steps', '1', '--output-dir', path.join(tmp, 'trained'));
    assert.equal(t.status, 0, t.stderr);
  });

  it("optimum's layout: the folder's onnx/model.onnx", () => {
    const folder = path.join(tmp, 'optimum');
    fs.mkdirSync(path.join(folder, 'onnx'), { recursive: true });
    fs.copyFileSync(path.join(MODELS, 'bert-student', 'model.onnx'), path.join(folder, 'onnx', 'model.onnx'));
    const i = cli('inspect', folder, '--json');
    assert.equal(i.status, 0, i.stderr);
    assert.equal(JSON.parse(i.stdout).file, path.join(folder, 'onnx', 'model.onnx'));
  });

  it('a folder without a model: one line, exit 2', () => {
    const r = cli('quantize', '--model', tmp, '--out', path.join(tmp, 'q'));
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /: a folder without model\.onnx or onnx\/model\.onnx; give the \.onnx file/);
  });
});
