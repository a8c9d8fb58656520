// Figures of docs/BROWSER.md: the demo trained in the page (`distill web`) in Debian's Chromium against
// onnxruntime-node on the same machine.
//
//   npm run build && node scripts/bench/web-bench.mjs [--threads 2] [--webgpu-steps 8] [--screenshot docs/browser-training.png]
//
// Prints, for the demo student (2 epochs, 304 steps, batch 32, the page's defaults = `distill demo`'s):
//   * WASM in the page: time per train_step call (median after the first), steps/s, stage times, eval accuracy;
//   * onnxruntime-node, same artifacts (train_step.onnx, one step per call, the same StepDriver), same
//     thread count: time per call over the first 40 steps; and `distill train`'s accuracy on the same run;
//   * WebGPU (SwiftShader, a CPU: correctness only) over --webgpu-steps steps, when given.
// --screenshot writes the page after the WASM run. Needs /usr/bin/chromium.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const lib = (p) => path.join(ROOT, 'dist', p);
const { startWebDemo } = await import(lib('src/demo/web-demo.js'));
const { launchChromium, runPage } = await import(lib('test/helpers/browser.js'));
const { train } = await import(lib('src/train/trainer.js'));
const { evaluate } = await import(lib('src/eval/evaluator.js'));
const { dataBatches } = await import(lib('src/eval/batches.js'));
const { readTokenizer } = await import(lib('src/data/tokenize.js'));
const { labelSet, toExample } = await import(lib('src/data/examples.js'));
const { arrayBatches } = await import(lib('src/data/batches.js'));
const { readSafetensors, floatArray } = await import(lib('src/export/safetensors.js'));
const { StepDriver } = await import(lib('src/runtime/step-driver.js'));
const { createSession, TRAINING_DISABLED_OPTIMIZERS } = await import(lib('src/runtime/session.js'));
const { readManifest } = await import(lib('src/step/read-manifest.js'));

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const threads = Number(arg('threads', '2'));
const webgpuSteps = Number(arg('webgpu-steps', '0'));
const screenshot = arg('screenshot');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x) => `${x.toFixed(1)} ms`;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-web-bench-'));
const server = await startWebDemo({ dir: path.join(work, 'demo'), port: 0 });
const cpu = server.folders.folders.cpu;
console.log(`onnxruntime-web ${JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'onnxruntime-web', 'package.json'), 'utf8')).version}, onnxruntime-node ${ort.env.versions.node ?? ort.env.versions.common}, ${os.cpus()[0].model}, ${os.cpus().length} cores, ${threads} thread(s)`);

// --- the page, WASM ---------------------------------------------------------------------------------------
const browser = await launchChromium(webgpuSteps > 0);
const { run: wasm, page } = await runPage(browser.context, `${server.url}?ep=wasm&threads=${threads}&autorun=1`, 1_800_000);
if (wasm.status !== 'done') throw new Error(`WASM run failed: ${wasm.error}`);
if (screenshot) {
  await page.setViewportSize({ width: 1000, height: 760 });
  await page.screenshot({ path: screenshot, fullPage: true });
}
const wasmStep = median(wasm.stepMs.slice(1));
console.log(`\nWASM in Chromium: ${wasm.losses.length} steps, ${ms(wasmStep)} per train_step call (median after the first; first ${ms(wasm.stepMs[0])}), ${wasm.stepsPerSecond.toFixed(2)} steps/s over the run`);
console.log(`  stages (s): ${Object.entries(wasm.timings).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}; whole run ${wasm.seconds.toFixed(1)} s`);
console.log(`  eval accuracy ${(100 * wasm.finalAccuracy).toFixed(2)}% (per epoch: ${wasm.accuracy.map((a) => `${(100 * a.accuracy).toFixed(2)}%`).join(', ')})`);

// --- onnxruntime-node on the same train_step.onnx, one step per call --------------------------------------
const manifest = readManifest(cpu);
const sidecar = JSON.parse(fs.readFileSync(path.join(cpu, 'student.distill.json'), 'utf8'));
const step = await createSession(path.join(cpu, manifest.models.train_step), { threads, disabledOptimizers: TRAINING_DISABLED_OPTIMIZERS });
const teacher = await createSession(path.join(cpu, 'teacher.onnx'), { threads });
const initial = readSafetensors(path.join(cpu, manifest.initial_state));
const params = new Map(manifest.parameters.map((p) => [p.name, new ort.Tensor('float32', floatArray(initial.get(p.name)).slice(), p.ioShape ?? p.shape)]));
const driver = new StepDriver(manifest, ort.Tensor, { step, fetchState: null, fetchMetrics: null }, params);
const tok = readTokenizer(path.join(cpu, 'tokenizer.json'));
const rows = fs.readFileSync(path.join(cpu, 'train.jsonl'), 'utf8').trim().split('\n').slice(0, 40 * 32);
const examples = rows.map((l, i) => toExample(JSON.parse(l), i + 1, { task: 'seq-cls', file: 'train.jsonl', tokenizer: tok, maxLength: 128, labels: labelSet(sidecar), allowUnlabeled: true }));
const nodeMs = [];
let k = 0;
for (const pb of arrayBatches(examples, { batchSize: 32, shuffle: true, seed: 42 }, { task: 'seq-cls', padId: 0, inputs: ['input_ids', 'attention_mask'] }, undefined, 1)) {
  const logits = (await teacher.run({ input_ids: pb.batch.input_ids, attention_mask: pb.batch.attention_mask }))[teacher.outputNames[0]];
  const t0 = performance.now();
  await driver.run([{ ...pb.batch, teacher_logits: logits }], [{ lr: 1e-3, step: ++k }], { alpha: 0.5, temperature: 2, maxGradNorm: 1 });
  nodeMs.push(performance.now() - t0);
}
const nodeStep = median(nodeMs.slice(1));
console.log(`\nonnxruntime-node, same train_step.onnx, ${threads} thread(s): ${ms(nodeStep)} per call (median of ${nodeMs.length - 1})`);
console.log(`WASM / node per step: ${(wasmStep / nodeStep).toFixed(2)}x`);

// --- distill train on the same data and settings: the accuracy to match ---------------------------------
const out = path.join(work, 'node-run');
const nodeRun = await train({
  student: path.join(ROOT, 'models', 'demo', 'student', 'model.onnx'), teacher: path.join(ROOT, 'models', 'demo', 'teacher', 'model.onnx'),
  trainFile: path.join(cpu, 'train.jsonl'), outputDir: out, epochs: 2, learningRate: 1e-3, threads, loggingSteps: 1000,
});
const source = dataBatches({ task: 'seq-cls', tokenizer: tok, labels: labelSet(sidecar), batchSize: 32, maxLength: 128, padId: 0 });
const report = await evaluate({ model: path.join(out, 'model.onnx'), task: 'seq-cls', batches: source(path.join(cpu, 'eval.jsonl')), threads });
console.log(`distill train (onnxruntime-node, train_loop): ${nodeRun.globalStep} steps in ${nodeRun.trainRuntime.toFixed(1)} s, eval accuracy ${(100 * report.metrics.accuracy).toFixed(2)}%`);
console.log(`page - node accuracy: ${(100 * (wasm.finalAccuracy - report.metrics.accuracy)).toFixed(2)} points`);

// --- WebGPU (SwiftShader) ----------------------------------------------------------------------------------
if (webgpuSteps > 0) {
  // stopAt, not maxSteps: the same schedule (304 steps) as the WASM run, so that the losses compare step by step.
  const { run: gpu } = await runPage(browser.context, `${server.url}?ep=webgpu&stopAt=${webgpuSteps}&eval=0&autorun=1`, 1_800_000);
  if (gpu.status !== 'done') throw new Error(`WebGPU run failed: ${gpu.error}`);
  const diffs = gpu.losses.map((l, i) => Math.abs(l - wasm.losses[i]));
  console.log(`\nWebGPU in Chromium (${gpu.device}): ${gpu.losses.length} steps, ${ms(median(gpu.stepMs.slice(1)))} per call (median after the first; first ${ms(gpu.stepMs[0])}); largest |loss - WASM loss| ${Math.max(...diffs).toExponential(2)}`);
  console.log(`  stages (s): ${Object.entries(gpu.timings).map(([key, v]) => `${key} ${v.toFixed(1)}`).join(', ')}`);
}
await browser.close();
await server.close();
fs.rmSync(work, { recursive: true, force: true });
