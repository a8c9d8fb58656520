/**
 * Rows longer than the model's position table are cut to it, whatever the config calls the table:
 * max_position_embeddings (BERT, Llama), n_positions (GPT-2). Reading past it is an ORT Gather error.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { MODELS, ROOT } from './helpers/fixtures.js';

const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const DATA = path.join(ROOT, 'test', 'data-train');
const GPT2 = path.join(MODELS, 'user', 'gpt2', 'dynamo.onnx');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-positions-'));
const distill = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

describe("GPT-2's n_positions", () => {
  it('the config says 64 positions, and the e-mails are longer', () => {
    const config = JSON.parse(fs.readFileSync(path.join(MODELS, 'user', 'gpt2', 'config.json'), 'utf8'));
    assert.equal(config.n_positions, 64);
    assert.equal(config.max_position_embeddings, undefined);
  });

  it('distill train cuts rows to 64 tokens and says so', () => {
    const r = distill(['train', '--student', GPT2, '--train-file', path.join(DATA, 'train.jsonl'), '--max-steps', '1', '--batch-size', '4',
      '--threads', '1', '--output-dir', path.join(tmp, 'train')]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout + r.stderr, /rows are truncated to 64 tokens/);
  });

  it('distill eval cuts rows to 64 tokens', () => {
    const r = distill(['eval', '--model', GPT2, '--eval-file', path.join(DATA, 'eval.jsonl'), '--threads', '1', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { maxLength: number; results: { examples: number; metrics: { perplexity: number; counted: number } }[] };
    assert.equal(report.maxLength, 64);
    const [result] = report.results;
    assert.ok(Number.isFinite(result!.metrics.perplexity));
    // Every e-mail has at least 64 tokens: 63 predicted tokens each once cut to 64.
    assert.equal(result!.metrics.counted, result!.examples * 63);
  });
});
