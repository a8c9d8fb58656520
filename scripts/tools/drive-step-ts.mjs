#!/usr/bin/env node
/**
 * TypeScript-side reference for scripts/tools/drive_step.py (see docs/PYTHON-DRIVER.md).
 *
 *   npx tsc -p tsconfig.json && node scripts/tools/drive-step-ts.mjs OUT_DIR [--threads N]
 *
 * Builds the training artifacts for models/bert-teacher -> models/bert-student (seq-cls, AdamW, weight
 * decay 0.01) into OUT_DIR, takes the first 3 batches of models/steps/bert-student.adamw.ref.safetensors,
 * saves them as OUT_DIR/batches.safetensors (`<input>/<k>`), runs 3 optimizer steps with the TrainerSession
 * (one call per step: lr 2e-3, alpha 0.5, temperature 2, max_grad_norm 0.25) and writes
 *   OUT_DIR/ts_results.json      hyperparameters, per-step metrics, per-parameter sum / L2 / first 5 values
 *   OUT_DIR/ts_final.safetensors the final parameters (exact float32 bytes)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { buildTrainingArtifacts } from '../../dist/src/step/artifacts.js';
import { readSafetensorsFile, writeSafetensors } from '../../dist/src/export/safetensors.js';
import { TrainerSession } from '../../dist/src/runtime/trainer-session.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const STEPS = 3;
const HYPER = { lr: 2e-3, alpha: 0.5, temperature: 2, maxGradNorm: 0.25 };
const INPUTS = ['input_ids', 'attention_mask', 'labels', 'teacher_logits'];

const args = process.argv.slice(2);
const outArg = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--threads');
if (!outArg) {
  console.error('usage: node scripts/tools/drive-step-ts.mjs OUT_DIR [--threads N]');
  process.exit(2);
}
const ti = args.indexOf('--threads');
const threads = ti >= 0 ? Number(args[ti + 1]) : 1;
const outDir = path.resolve(outArg);

const manifest = buildTrainingArtifacts({
  student: path.join(ROOT, 'models/bert-student/model.onnx'),
  teacher: path.join(ROOT, 'models/bert-teacher/model.onnx'),
  task: 'seq-cls',
  optimizer: 'adamw',
  optimizerSettings: { weightDecay: 0.01 },
  outDir,
});

const { tensors: ref } = readSafetensorsFile(path.join(ROOT, 'models/steps/bert-student.adamw.ref.safetensors'));
const saved = new Map();
const batches = [];
for (let k = 0; k < STEPS; k++) {
  const batch = {};
  for (const name of INPUTS) {
    const t = ref.get(`${name}/${k}`);
    if (!t) throw new Error(`reference has no '${name}/${k}'`);
    const bytes = new Uint8Array(t.bytes); // aligned copy
    saved.set(`${name}/${k}`, { dtype: t.dtype, shape: t.shape, bytes });
    batch[name] = t.dtype === 'I64'
      ? new ort.Tensor('int64', new BigInt64Array(bytes.buffer), t.shape)
      : new ort.Tensor('float32', new Float32Array(bytes.buffer), t.shape);
  }
  batches.push(batch);
}
writeSafetensors(path.join(outDir, 'batches.safetensors'), saved, { format: 'onnx-distill driver batches', steps: String(STEPS) });

const session = await TrainerSession.open(outDir, { threads });
const metrics = [];
for (let k = 0; k < STEPS; k++) {
  const [m] = await session.train([batches[k]], [HYPER.lr], { alpha: HYPER.alpha, temperature: HYPER.temperature, maxGradNorm: HYPER.maxGradNorm });
  metrics.push({ step: k + 1, loss: m.loss, ce: m.ce, kd: m.kd, grad_norm: m.gradNorm });
}

const finals = new Map();
const parameters = {};
for (const [name, data] of session.parameterArrays()) {
  let sum = 0;
  let sq = 0;
  for (const v of data) {
    sum += v;
    sq += v * v;
  }
  parameters[name] = { sum, l2: Math.sqrt(sq), first5: Array.from(data.subarray(0, 5)) };
  const p = manifest.parameters.find((q) => q.name === name);
  finals.set(name, { dtype: data instanceof Float64Array ? 'F64' : 'F32', shape: p.shape, bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
}
writeSafetensors(path.join(outDir, 'ts_final.safetensors'), finals, { format: 'onnx-distill TrainerSession final parameters', steps: String(STEPS) });

const results = {
  runner: 'TrainerSession (train_loop.onnx, one call per step)',
  onnxruntime_node: ort.env.versions?.common ?? null,
  threads,
  steps: STEPS,
  steps_done: session.stepsDone,
  hyperparameters: { lr: HYPER.lr, alpha: HYPER.alpha, temperature: HYPER.temperature, max_grad_norm: HYPER.maxGradNorm },
  metrics,
  parameters,
};
fs.writeFileSync(path.join(outDir, 'ts_results.json'), `${JSON.stringify(results, null, 2)}\n`);
await session.release();

for (const m of metrics) {
  console.log(`step ${m.step}: loss ${m.loss.toPrecision(9)} ce ${m.ce.toPrecision(9)} kd ${m.kd.toPrecision(9)} grad_norm ${m.grad_norm.toPrecision(9)}`);
}
console.log(`wrote ${outDir}/{train_step,train_loop,eval}.onnx, manifest.json, batches.safetensors, ts_results.json, ts_final.safetensors (${finals.size} parameters, ${threads} thread${threads === 1 ? '' : 's'})`);
