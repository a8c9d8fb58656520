/**
 * The WebGPU side of test/webgpu.test.ts, in its own process (started with the Vulkan driver's environment:
 * helpers/webgpu.ts). Commands:
 *   placement MODEL            open MODEL on WebGPU with ORT's verbose log (the parent reads the placement)
 *   parity MODELS TMP FILE...  the PyTorch step references on WebGPU (GPU builds, state on the device);
 *                              one JSON line per reference on stdout
 *   resume MODELS TMP FILE     2 steps, a host snapshot, 3 more; and a fresh session restored from the
 *                              snapshot for the same 3: the final weights of both, as one JSON line
 */
import ort from 'onnxruntime-node';
import { TrainerSession } from '../../src/runtime/trainer-session.js';
import { compareRun, loadStepReference, referenceExpected } from './step-reference.js';

const [command, ...rest] = process.argv.slice(2);

if (command === 'placement') {
  await ort.InferenceSession.create(rest[0]!, { executionProviders: ['webgpu'], logSeverityLevel: 0, logVerbosityLevel: 0, graphOptimizationLevel: 'all' });
} else if (command === 'parity') {
  const [models, tmp, ...files] = rest;
  for (const file of files) {
    const r = await loadStepReference(models!, file, tmp!, 'gpu');
    const s = await TrainerSession.open(r.outDir, { ep: 'webgpu' });
    const initial = new Map([...s.parameterArrays()].map(([k, v]) => [k, Float64Array.from(v)]));
    const metrics = await s.train(r.batches, r.lrs, r.hyper);
    await s.sync();
    const c = compareRun({ metrics, initial, final: s.parameterArrays() }, referenceExpected(r), r.meta);
    console.log(JSON.stringify({ file, terms: c.terms, updates: c.updates, worstTerm: c.worstTerm, worstUpdate: c.worstUpdate }));
    await s.release();
  }
} else if (command === 'resume') {
  const [models, tmp, file] = rest;
  const r = await loadStepReference(models!, file!, tmp!, 'gpu');
  const hyper = r.hyper;
  const a = await TrainerSession.open(r.outDir, { ep: 'webgpu' });
  await a.train(r.batches.slice(0, 2), r.lrs.slice(0, 2), hyper);
  await a.sync();
  const snapshot = new Map([...a.snapshot()].map(([k, t]) => [k, new ort.Tensor('float32', Float32Array.from(t.data as Float32Array), t.dims)]));
  await a.train(r.batches.slice(2), r.lrs.slice(2), hyper);
  await a.sync();
  const b = await TrainerSession.open(r.outDir, { ep: 'webgpu' });
  b.restore(snapshot, 2);
  await b.train(r.batches.slice(2), r.lrs.slice(2), hyper);
  await b.sync();
  const dump = (s: TrainerSession) => Object.fromEntries([...s.parameterArrays()].map(([k, v]) => [k, Array.from(v)]));
  console.log(JSON.stringify({ straight: dump(a), resumed: dump(b), steps: [a.stepsDone, b.stepsDone] }));
  await a.release();
  await b.release();
} else {
  throw new Error(`webgpu-child: unknown command '${command}'`);
}
