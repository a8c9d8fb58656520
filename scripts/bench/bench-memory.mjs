#!/usr/bin/env node
// Peak RSS of the bench's training artifacts in a bare ORT session, under one memory setup per process
// (docs/PERFORMANCE.md, "Why the open targets are open"): 4 calls, each printed with its time, losses and the peak RSS so far.
//
//   npm run build && npm run bench -- --config base --skip-torch     # once: .bench/base/artifacts
//   node scripts/bench/bench-memory.mjs [--config base|small] [--model loop|step] [--no-arena] [--no-mem-pattern]
//                                 [--fetch-into-inputs] [--dir ARTIFACTS]
//
//   --model loop            train_loop.onnx, K = 4 steps per call (the default mode); step: train_step.onnx
//   --no-arena              enableCpuMemArena false;  --no-mem-pattern: enableMemPattern false
//   --fetch-into-inputs     new parameters and state fetched into the tensors they were fed from (with
//                           --model step --no-arena, this was TrainerSession's low-memory mode before the
//                           split step (commit cc3ab39); the bench's low-memory phase measures the split step)
//   --dir                   artifact folder (default .bench/<config>/artifacts; the bench builds what
//                           `distill train --low-memory` uses, without chunked updates, in artifacts-low-memory)
// Sessions get TrainerSession's options otherwise (ORT's CSE off), and a garbage collection after each call.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { default: ort } = await import('onnxruntime-node');
const { floatArray, readSafetensors } = await import(path.join(ROOT, 'dist', 'src', 'export', 'safetensors.js'));
const { TRAINING_DISABLED_OPTIMIZERS, ortSessionOptions } = await import(path.join(ROOT, 'dist', 'src', 'runtime', 'session.js'));
const { collectGarbage } = await import(path.join(ROOT, 'dist', 'src', 'runtime', 'gc.js'));

const argv = process.argv.slice(2);
const opt = (name, fallback) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : fallback);
const config = opt('--config', 'base');
const model = opt('--model', 'loop');
const aliased = argv.includes('--fetch-into-inputs');
const dir = path.resolve(opt('--dir', path.join(ROOT, '.bench', config, 'artifacts')));
if (!fs.existsSync(path.join(dir, 'manifest.json'))) {
  console.error(`${dir}: no artifacts; run: npm run bench -- --config ${config} --skip-torch`);
  process.exit(2);
}
const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
const peakMb = () => Math.round(process.resourceUsage().maxRSS / 1024);

// TrainerSession's session options (ORT's CSE off), with the memory settings under test.
const session = await ort.InferenceSession.create(path.join(dir, manifest.models[model === 'loop' ? 'train_loop' : 'train_step']), {
  ...ortSessionOptions({ threads: 2, disabledOptimizers: TRAINING_DISABLED_OPTIMIZERS, memArena: !argv.includes('--no-arena') }),
  enableMemPattern: !argv.includes('--no-mem-pattern'),
});
const initial = readSafetensors(path.join(dir, manifest.initial_state));
const feeds = {};
for (const p of manifest.parameters) feeds[p.name] = new ort.Tensor('float32', floatArray(initial.get(p.name)), p.ioShape ?? p.shape);
for (const st of manifest.state) feeds[st.name] = new ort.Tensor('float32', new Float32Array(st.shape.reduce((a, b) => a * b, 1)), st.ioShape ?? st.shape);

// One batch of deterministic token ids (K of them stacked for the loop model).
const K = model === 'loop' ? 4 : 1;
const [B, S] = [config === 'base' ? 8 : 32, 128];
const lead = model === 'loop' ? [K] : [];
const ids = new BigInt64Array(K * B * S).map((_, i) => BigInt(1 + ((i * 7919) % 30000)));
feeds.input_ids = new ort.Tensor('int64', ids, [...lead, B, S]);
feeds.attention_mask = new ort.Tensor('int64', new BigInt64Array(K * B * S).fill(1n), [...lead, B, S]);
feeds.labels = new ort.Tensor('int64', BigInt64Array.from({ length: K * B }, (_, i) => BigInt(i % 2)), [...lead, B]);
feeds.teacher_logits = new ort.Tensor('float32', Float32Array.from({ length: K * B * 2 }, (_, i) => Math.sin(i)), [...lead, B, 2]);
feeds.lr = new ort.Tensor('float32', new Float32Array(K).fill(5e-5), lead);
const scalar = (x) => new ort.Tensor('float32', [x], []);
Object.assign(feeds, { alpha: scalar(0.5), temperature: scalar(2), max_grad_norm: scalar(1) });

console.log(`${config} ${model}${aliased ? ', fetched into inputs' : ''}${argv.includes('--no-arena') ? ', arena off' : ''}${argv.includes('--no-mem-pattern') ? ', memory pattern off' : ''}: open, peak RSS ${peakMb()} MB`);
const carried = [...manifest.parameters, ...manifest.state].map((t) => [t.name, t.output]);
for (let call = 0; call < 4; call++) {
  // loop: optimizer steps done before the call; step: the 1-based step of this call
  feeds.step = scalar(model === 'loop' ? K * call : call + 1);
  const t0 = performance.now();
  let out;
  if (aliased) {
    const fetches = Object.fromEntries([...manifest.metrics.map((m) => [m, null]), ...carried.map(([i, o]) => [o, feeds[i]])]);
    out = await session.run(feeds, fetches);
  } else {
    out = await session.run(feeds);
    for (const [i, o] of carried) feeds[i] = out[o];
  }
  const losses = Array.from(out.loss.data, (x) => x.toFixed(5)).join(' ');
  collectGarbage(); // as TrainerSession does after each call
  console.log(`call ${call}: ${(performance.now() - t0).toFixed(0)} ms, loss ${losses}, peak RSS ${peakMb()} MB`);
}
