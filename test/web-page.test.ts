/**
 * The browser page (src/web/page, `distill web`) trains in Debian's Chromium on onnxruntime-web, and its numbers
 * are onnxruntime-node's: each step's loss against `distill train`'s log on the same data and settings, and
 * the model.onnx it hands back against the one `distill train` writes. A smaller training file (the first
 * ROWS rows of the demo's) keeps the tokenizing short; the full demo's accuracy is scripts/bench/web-bench.mjs's job.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type WebDemoServer, startWebDemo } from '../src/demo/web-demo.js';
import { loadModel } from '../src/onnx/model-io.js';
import { tensorToFloat32 } from '../src/onnx/tensor.js';
import { train } from '../src/train/trainer.js';
import { injectGpuFault, launchChromium, noBrowserReason, runPage } from './helpers/browser.js';
import { ROOT } from './helpers/fixtures.js';

const ROWS = 160;
const STEPS = 4;
const TOLERANCE = 1e-5;
const skip = noBrowserReason();

describe('the browser page (onnxruntime-web in Chromium)', { skip: skip ?? false }, () => {
  let dir: string;
  let server: WebDemoServer;
  let reference: { losses: number[]; model: string };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-web-'));
    server = await startWebDemo({ dir: path.join(dir, 'demo'), port: 0 });
    const rows = fs.readFileSync(path.join(dir, 'demo', 'data', 'train.jsonl'), 'utf8').split('\n').slice(0, ROWS).join('\n') + '\n';
    const subset = path.join(dir, 'train-subset.jsonl');
    fs.writeFileSync(subset, rows);
    for (const folder of Object.values(server.folders.folders)) fs.writeFileSync(path.join(folder, 'train.jsonl'), rows);
    // The reference: onnxruntime-node through the library's own trainer, the page's defaults (the demo's).
    const out = path.join(dir, 'node-run');
    await train({
      student: path.join(ROOT, 'models', 'demo', 'student', 'model.onnx'), teacher: path.join(ROOT, 'models', 'demo', 'teacher', 'model.onnx'),
      trainFile: subset, outputDir: out, maxSteps: STEPS, epochs: 2, learningRate: 1e-3, loggingSteps: 1, threads: 2,
    });
    const state = JSON.parse(fs.readFileSync(path.join(out, 'trainer_state.json'), 'utf8')) as { log_history: { loss?: number }[] };
    reference = { losses: state.log_history.flatMap((e) => (e.loss === undefined ? [] : [e.loss])), model: path.join(out, 'model.onnx') };
    assert.equal(reference.losses.length, STEPS);
  });
  after(async () => {
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const closeTo = (got: number[], want: number[], what: string) => {
    assert.equal(got.length, want.length, `${what}: ${got.length} losses, expected ${want.length}`);
    got.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) <= TOLERANCE, `${what}, step ${i + 1}: loss ${v}, onnxruntime-node ${want[i]} (|diff| ${Math.abs(v - want[i]!)})`));
  };

  it(`trains ${STEPS} steps on WASM with onnxruntime-node's losses, and hands back the same model.onnx`, async () => {
    const browser = await launchChromium(false);
    try {
      const { run, page } = await runPage(browser.context, `${server.url}?ep=wasm&maxSteps=${STEPS}&eval=0&autorun=1`, 120_000);
      assert.equal(run.status, 'done', run.error ?? '');
      assert.match(run.device, /^WASM, \d+ thread/);
      closeTo(run.losses, reference.losses, 'WASM');
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('a[download="model.onnx"]')]);
      const file = path.join(dir, 'web-model.onnx');
      await download.saveAs(file);
      const ours = new Map(loadModel(file).model.graph!.initializer.map((t) => [t.name, tensorToFloat32(t)]));
      let worst = 0;
      for (const t of loadModel(reference.model).model.graph!.initializer) {
        const a = ours.get(t.name);
        assert.ok(a, `the page's model.onnx lacks initializer ${t.name}`);
        const b = tensorToFloat32(t);
        for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
      }
      assert.ok(worst < 1e-5, `largest weight difference from distill train's model.onnx: ${worst}`);
    } finally {
      await browser.close();
    }
  });

  it('trains from its copy of the folder in OPFS, and resumes from its checkpoint to the losses of an uninterrupted run', async () => {
    const browser = await launchChromium(false);
    try {
      const first = await runPage(browser.context, `${server.url}?ep=wasm&maxSteps=${STEPS}&eval=0&stopAt=2&keep=kept&autorun=1`, 120_000);
      assert.equal(first.run.status, 'done', first.run.error ?? '');
      assert.equal(first.run.source, 'OPFS folder kept/');
      assert.equal(first.run.losses.length, 2);
      const second = await runPage(browser.context, `${server.url}?ep=wasm&maxSteps=${STEPS}&eval=0&resume=1&keep=kept&autorun=1`, 120_000);
      assert.equal(second.run.status, 'done', second.run.error ?? '');
      assert.equal(second.run.resumedFrom, 2);
      closeTo([...first.run.losses, ...second.run.losses], reference.losses, 'stopped at 2, resumed');
    } finally {
      await browser.close();
    }
  });

  it(`trains ${STEPS} steps on WebGPU (SwiftShader) with onnxruntime-node's losses`, async () => {
    const browser = await launchChromium(true);
    try {
      const { run } = await runPage(browser.context, `${server.url}?ep=webgpu&maxSteps=${STEPS}&eval=0&autorun=1`, 300_000);
      assert.equal(run.status, 'done', run.error ?? '');
      assert.match(run.device, /^WebGPU: .*swiftshader/i);
      closeTo(run.losses, reference.losses, 'WebGPU');
    } finally {
      await browser.close();
    }
  });

  for (const [fault, want] of [
    ['error', /at step 2: the WebGPU run failed, so training stopped: WebGPU validation failed\. Buffer usages must not be 0/],
    ['lost', /at step 2: .*(device was lost|Device was lost)/],
  ] as const) {
    it(`stops at the step where the WebGPU device ${fault === 'lost' ? 'is lost' : 'reports an error'}, with one line saying so, after correct steps`, async () => {
      const browser = await launchChromium(true);
      try {
        await browser.context.addInitScript(injectGpuFault, { fault, after: 1 });
        const { run } = await runPage(browser.context, `${server.url}?ep=webgpu&maxSteps=3&eval=0&autorun=1`, 300_000);
        assert.equal(run.status, 'error', 'the run must not finish on a broken device');
        assert.match(run.error ?? '', want);
        assert.ok(!(run.error ?? '').includes('\n'), `one line: ${run.error}`);
        closeTo(run.losses, reference.losses.slice(0, 1), `the step before the ${fault}`);
      } finally {
        await browser.close();
      }
    });
  }
});
