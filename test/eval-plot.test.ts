/** The benchmark table's additions to distill eval: repeated timed runs, per-example latency, the SVG plot. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { renderPlotSvg, ticks } from '../src/eval/plot.js';
import { MODELS, ROOT } from './helpers/fixtures.js';

test('ticks: round 1/2/5 steps covering the range', () => {
  assert.deepEqual(ticks(0, 10), [0, 2, 4, 6, 8, 10]);
  assert.deepEqual(ticks(96.3, 97.9), [96.5, 97, 97.5]); // range 1.6 / 5 = 0.32 -> step 0.5
  assert.deepEqual(ticks(0, 0.9), [0, 0.2, 0.4, 0.6, 0.8]);
});

test('renderPlotSvg: marker area proportional to bytes, x by latency, y by accuracy, labels escaped', () => {
  const svg = renderPlotSvg([
    { label: 'teacher', latencyMs: 100, accuracy: 0.98, bytes: 4_000_000 },
    { label: 'student <q8>', latencyMs: 20, accuracy: 0.97, bytes: 1_000_000 },
  ]);
  const circles = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)" r="([\d.]+)"/g)].map((m) => m.slice(1).map(Number));
  assert.equal(circles.length, 2);
  const [[x1, y1, r1], [x2, y2, r2]] = circles as [number[], number[]];
  assert.ok(Math.abs((r1! / r2!) ** 2 - 4) < 0.02, `area ratio ${(r1! / r2!) ** 2}`);
  assert.ok(x1! > x2!, 'slower model further right');
  assert.ok(y1! < y2!, 'more accurate model higher (smaller SVG y)');
  assert.match(svg, /student &lt;q8&gt;/);
  // One legend row per model (a swatch in its marker's color, then the label), to the right of the frame.
  const swatches = [...svg.matchAll(/<rect x="([\d.]+)" y="[\d.]+" width="12" height="12" fill="([^"]+)"/g)];
  assert.deepEqual(swatches.map((m) => m[2]), [...svg.matchAll(/<circle [^>]*fill="([^"]+)"/g)].map((m) => m[1]));
  const frameRight = Number(svg.match(/<rect x="70" y="40" width="([\d.]+)"/)![1]) + 70;
  assert.ok(swatches.every((m) => Number(m[1]) > frameRight), 'legend right of the plot');
  assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
});

test('distill eval --repeats 3 --threads 1 --plot: every batch timed 3 times, per-example latency, SVG written', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eval-bench-'));
  try {
    const data = path.join(dir, 'eval.jsonl');
    const rows = ['free money now', 'see the agenda', 'cheap meds', 'review my patch', 'you won a cruise'];
    fs.writeFileSync(data, rows.map((text, i) => JSON.stringify({ text, label: i % 2 })).join('\n') + '\n');
    const plot = path.join(dir, 'plot.svg');
    const model = path.join(MODELS, 'bert-student', 'model.onnx');
    const cli = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
    const args = [cli, 'eval', '--model', model, '--model', model, '--eval-file', data, '--batch-size', '2', '--repeats', '3', '--threads', '1'];
    const r = spawnSync(process.execPath, [...args, '--json', '--plot', plot], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const rep = JSON.parse(r.stdout).results[0];
    assert.equal(rep.latency.batches, 3);
    assert.equal(rep.latency.runs, 9);
    // Batches of 2, 2 and 1 rows: per-example times are batch times / rows, so their median lies between
    // half the fastest batch time and the slowest batch time.
    assert.ok(rep.latency.perExample.p50Ms > 0 && rep.latency.perExample.p50Ms <= rep.latency.perExample.p95Ms);
    assert.equal((fs.readFileSync(plot, 'utf8').match(/<circle /g) ?? []).length, 2);
    const table = spawnSync(process.execPath, args, { encoding: 'utf8' });
    assert.match(table.stdout, /\(3 batches, each run 3 times, after 1 warm-up\)/);
    assert.match(table.stdout, /per example p50\s+p95/);
    const bad = spawnSync(process.execPath, [...args.slice(0, -4), '--repeats', '0'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^distill: --repeats must be an integer >= 1, got '0'\n$/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
