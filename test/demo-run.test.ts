/** `distill demo` end to end, capped at a few steps per run (the full demo is the README's main job). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from './helpers/fixtures.js';

describe('distill demo', () => {
  it('splits the corpus, evaluates the teacher, trains four students, searches alpha/T, quantizes and prints the comparison', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-demo-'));
    const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), 'demo', '--output-dir', out, '--max-steps', '6', '--threads', '2', '--search-trials', '2'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /SpamAssassin: 4,837 training e-mails, 1,209 held out/);
    for (const name of ['teacher \\(fine-tuned', 'student, distilled \\(all labels\\)', 'student, CE only \\(all labels\\)', 'student, distilled \\(242 labels \\+ unlabeled rest\\)', 'student, CE only \\(242 labels, same steps\\)', 'student, distilled, best of 2 searched \\(alpha [01]\\.\\d\\d, T \\d+\\.\\d\\)', 'student, distilled \\(all labels\\), int8']) {
      assert.match(r.stdout, new RegExp(`${name}.*\\d+\\.\\d%`), name);
    }
    const results = JSON.parse(fs.readFileSync(path.join(out, 'demo_results.json'), 'utf8'));
    assert.equal(results.rows.length, 7);
    // The search ran its trials in the space the demo states, and its best trial is the searched row.
    const trials = JSON.parse(fs.readFileSync(path.join(out, 'search', 'search_results.json'), 'utf8'));
    assert.equal(trials.trials.length, 2);
    for (const t of trials.trials) {
      assert.ok(t.params.alpha >= 0.5 && t.params.alpha <= 1 && t.params.temperature >= 2 && t.params.temperature <= 10, JSON.stringify(t.params));
    }
    const searched = results.rows.find((r: { key: string }) => r.key === 'searched');
    // The same weights, scored by the trainer's eval model and by the exported model.onnx: within one e-mail.
    assert.ok(Math.abs(searched.report.metrics.accuracy - trials.trials[trials.best_trial].value) <= 1 / 1209 + 1e-9, `${searched.report.metrics.accuracy} vs ${trials.trials[trials.best_trial].value}`);
    assert.match(r.stdout, /searched alpha\/T vs the default \(alpha 0\.5, T 2\): -?[\d.]+ accuracy points/);
    assert.match(r.stdout, /int8 vs fp32 distilled student: [\d.]+x smaller/);
    assert.ok(fs.existsSync(path.join(out, 'distilled-all', 'onnx', 'model_quantized.onnx')));
    // Teacher, CE only, distilled, searched and int8 (all labels) on the plot.
    assert.equal((fs.readFileSync(path.join(out, 'benchmark.svg'), 'utf8').match(/<circle /g) ?? []).length, 5);
    // The bundled teacher is really fine-tuned: far above the 68.6% of always answering "ham".
    assert.ok(results.rows[0].report.metrics.accuracy > 0.95, `teacher accuracy ${results.rows[0].report.metrics.accuracy}`);
    const fewLabels = fs.readFileSync(path.join(out, 'data', 'train-few-labels.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(fewLabels.length, 4837);
    assert.equal(fewLabels.filter((x) => 'label' in x).length, 242);
  });
});
