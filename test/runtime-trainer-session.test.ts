/**
 * Whole training steps against PyTorch: the fixture teacher/student pairs trained for 5 steps with SGD
 * (momentum, weight decay) and with AdamW (+ clipping, weight decay), here (built artifacts run by the
 * TrainerSession) and in PyTorch (scripts/fixtures/reference_steps.py: the seed's compute_loss with torch.optim),
 * on the same batches. Loss terms must agree at every step and each parameter's update (final - initial)
 * to 1e-3 in relative L2 norm.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import ort from 'onnxruntime-node';
import { buildTrainingArtifacts } from '../src/step/artifacts.js';
import { readSafetensorsFile } from '../src/export/safetensors.js';
import { InputError } from '../src/errors.js';
import { TrainerSession } from '../src/runtime/trainer-session.js';
import { MODELS } from './helpers/fixtures.js';
import { compareRun, f32, int64, loadStepReference, referenceExpected } from './helpers/step-reference.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-steps-'));
const setup = (file: string) => loadStepReference(MODELS, file, tmp);
const close = (a: number, b: number, rel: number, abs: number) => Math.abs(a - b) <= abs + rel * Math.abs(b);

describe('training steps match PyTorch (5 steps, same batches)', () => {
  const files = fs.readdirSync(path.join(MODELS, 'steps')).filter((f) => f.endsWith('.ref.safetensors')).sort();
  it('has SGD and AdamW references for the BERT, DistilBERT and GPT-2 pairs', () => {
    assert.equal(files.length, 6);
  });

  for (const file of files) {
    it(`${file}: loss terms at every step and every parameter update`, async () => {
      const reference = await setup(file);
      const { meta, outDir, batches, hyper, lrs } = reference;
      const session = await TrainerSession.open(outDir, { threads: 2 });
      const initial = new Map([...session.parameterArrays()].map(([k, v]) => [k, Float64Array.from(v)]));
      const metrics = await session.train(batches, lrs, hyper);
      const c = compareRun({ metrics, initial, final: session.parameterArrays() }, referenceExpected(reference), meta);
      assert.deepEqual(c.terms, [], 'loss terms differ from PyTorch');
      assert.deepEqual(c.updates, [], 'parameter updates differ from PyTorch');
      assert.equal(session.stepsDone, meta.steps);
      await session.release();
    });
  }

  it('five one-step calls reach exactly the weights of one five-step call', async () => {
    const { outDir, batches, hyper, lrs } = await setup('bert-student.adamw.ref.safetensors');
    const together = await TrainerSession.open(outDir, { threads: 2 });
    await together.train(batches, lrs, hyper);
    const apart = await TrainerSession.open(outDir, { threads: 2 });
    for (let k = 0; k < batches.length; k++) await apart.train([batches[k]!], [lrs[k]!], hyper);
    for (const [name, v] of together.parameterArrays()) {
      assert.deepEqual(Buffer.from(apart.parameterArrays().get(name)!.buffer), Buffer.from(v.buffer), name);
    }
  });
});

describe('memory between calls', () => {
  it("a train call frees the previous generation of parameters and state before it returns", async () => {
    const { outDir, batches, hyper, lrs } = await setup('bert-student.adamw.ref.safetensors');
    const session = await TrainerSession.open(outDir, { threads: 2 });
    await session.train(batches.slice(0, 2), lrs.slice(0, 2), hyper);
    // The buffers the first call returned, which the second call takes as its inputs and replaces.
    const refs = [...session.snapshot().values()].map((t) => new WeakRef(t.data as Float32Array));
    await nextTurn(); // a weak reference's target stays alive until the job that made it ends
    await session.train(batches.slice(2, 4), lrs.slice(2, 4), hyper);
    const alive = refs.filter((r) => r.deref() !== undefined).length;
    assert.equal(alive, 0, `${alive} of ${refs.length} tensors of the previous generation are still alive after the call`);
    await session.release();
  });
});

describe('low-memory mode: train_grad.onnx once per micro-batch, then train_update in place chunk by chunk', () => {
  /** Parameters and optimizer state as bytes, by name. */
  const bytes = (s: TrainerSession) => new Map([...s.snapshot()].map(([k, t]) => [k, Buffer.from((t.data as Float32Array).slice().buffer)]));

  for (const file of ['bert-student.adamw.ref.safetensors', 'gpt2-student.sgd.ref.safetensors']) {
    it(`${file}: the loop model's metrics, weights and optimizer state bit for bit, and PyTorch's within the bars`, async () => {
      const reference = await setup(file);
      const { meta, outDir, batches, hyper, lrs } = reference;
      const loop = await TrainerSession.open(outDir, { threads: 2 });
      const loopMetrics = await loop.train(batches, lrs, hyper);
      // Chunks of 1000 elements: most parameters take several update calls, at offsets inside their buffers.
      const lean = await TrainerSession.open(outDir, { threads: 2, lowMemory: true, updateChunk: 1000 });
      const initial = new Map([...lean.parameterArrays()].map(([k, v]) => [k, Float64Array.from(v)]));
      const tensorsBefore = [...lean.snapshot().values()];
      const leanMetrics = [...await lean.train(batches.slice(0, 3), lrs.slice(0, 3), hyper), ...await lean.train(batches.slice(3), lrs.slice(3), hyper)];
      assert.equal(lean.stepsDone, meta.steps);
      assert.deepEqual(leanMetrics, loopMetrics);
      const want = bytes(loop);
      for (const [name, got] of bytes(lean)) assert.ok(got.equals(want.get(name)!), `${name} differs from the loop model's`);
      // In place: the session still holds the very tensors it started with.
      assert.ok([...lean.snapshot().values()].every((t, i) => t.data === tensorsBefore[i]!.data), 'parameters and state were replaced, not updated in place');
      const c = compareRun({ metrics: leanMetrics, initial, final: lean.parameterArrays() }, referenceExpected(reference), meta);
      assert.deepEqual([...c.terms, ...c.updates], []);
      await Promise.all([loop.release(), lean.release()]);
    });
  }

  it('with gradient accumulation (2 micro-batches per step): the loop model bit for bit, accumulators included', async () => {
    const { batches, hyper } = await setup('bert-student.adamw.ref.safetensors');
    const outDir = fs.mkdtempSync(path.join(tmp, 'lean-accum-'));
    buildTrainingArtifacts({
      student: path.join(MODELS, 'bert-student', 'model.onnx'), teacher: path.join(MODELS, 'bert-teacher', 'model.onnx'),
      task: 'seq-cls', optimizer: 'adamw', optimizerSettings: { weightDecay: 0.01 }, accumulationSteps: 2, outDir,
    });
    const four = batches.slice(0, 4);
    const lrs = [2e-3, 2e-3, 1e-3, 1e-3];
    const loop = await TrainerSession.open(outDir, { threads: 2 });
    const lean = await TrainerSession.open(outDir, { threads: 2, lowMemory: true, updateChunk: 777 });
    assert.deepEqual(await lean.train(four, lrs, hyper), await loop.train(four, lrs, hyper));
    assert.equal(lean.stepsDone, 2);
    const want = bytes(loop);
    for (const [name, got] of bytes(lean)) assert.ok(got.equals(want.get(name)!), `${name} differs from the loop model's`);
  });

  it('refuses artifacts built without the split step', async () => {
    const { outDir } = await setup('bert-student.sgd.ref.safetensors');
    const file = path.join(outDir, 'manifest.json');
    const manifest = JSON.parse(fs.readFileSync(file, 'utf8'));
    assert.equal(manifest.models.train_grad, 'train_grad.onnx');
    delete manifest.models.train_grad;
    fs.writeFileSync(file, JSON.stringify(manifest));
    await assert.rejects(TrainerSession.open(outDir, { lowMemory: true }), (e: Error) => e instanceof InputError && /these artifacts have no split step for low-memory mode \(train_grad.onnx\); rebuild them with 'distill build'/.test(e.message));
  });
});

describe('gradient accumulation', () => {
  it('two micro-batches of 2 rows per step reach the weights of one batch of 4 rows (all rows labeled)', async () => {
    // With every row labeled and equal halves, the mean CE and batchmean KD of a batch equal the average of
    // its halves' values: accumulating the halves' gradients must give the same AdamW steps.
    const { tensors: ref } = readSafetensorsFile(path.join(MODELS, 'steps', 'bert-student.adamw.ref.safetensors'));
    const full = [0, 1].map((k) => {
      const labels = new BigInt64Array(new Uint8Array(ref.get(`labels/${k}`)!.bytes).buffer).map((v) => (v < 0n ? 1n : v));
      return {
        input_ids: int64(ref.get(`input_ids/${k}`)!),
        attention_mask: int64(ref.get(`attention_mask/${k}`)!),
        labels: new ort.Tensor('int64', labels, [4]),
        teacher_logits: f32(ref.get(`teacher_logits/${k}`)!),
      };
    });
    const half = (t: ort.Tensor, h: number) => {
      const row = t.size / t.dims[0]!;
      const data = (t.data as BigInt64Array | Float32Array).slice(h * 2 * row, (h + 1) * 2 * row);
      return new ort.Tensor(t.type as 'int64', data as BigInt64Array, [2, ...t.dims.slice(1)]);
    };
    const micro = full.flatMap((b) => [0, 1].map((h) => Object.fromEntries(Object.entries(b).map(([k, t]) => [k, half(t, h)]))));
    const build = (accumulationSteps: number) => {
      const outDir = fs.mkdtempSync(path.join(tmp, `accum${accumulationSteps}-`));
      buildTrainingArtifacts({
        student: path.join(MODELS, 'bert-student', 'model.onnx'), teacher: path.join(MODELS, 'bert-teacher', 'model.onnx'),
        task: 'seq-cls', optimizer: 'adamw', optimizerSettings: { weightDecay: 0.01 }, accumulationSteps, outDir,
      });
      return outDir;
    };
    const hyper = { alpha: 0.5, temperature: 2, maxGradNorm: 0.25 };
    const one = await TrainerSession.open(build(1), { threads: 2 });
    const m1 = await one.train(full, [2e-3, 2e-3], hyper);
    const two = await TrainerSession.open(build(2), { threads: 2 });
    const m2 = await two.train(micro, [2e-3, 2e-3, 2e-3, 2e-3], hyper);
    assert.equal(two.stepsDone, 2);
    // grad_norm of a window's last micro-batch is the norm of the accumulated (mean) gradient.
    assert.ok(close(m2[1]!.gradNorm, m1[0]!.gradNorm, 1e-5, 0), `${m2[1]!.gradNorm} vs ${m1[0]!.gradNorm}`);
    assert.ok(close(m2[3]!.gradNorm, m1[1]!.gradNorm, 1e-5, 0), `${m2[3]!.gradNorm} vs ${m1[1]!.gradNorm}`);
    assert.ok(close((m2[0]!.loss + m2[1]!.loss) / 2, m1[0]!.loss, 1e-6, 0), 'mean of the halves\' losses is the batch loss');
    for (const [name, v] of one.parameterArrays()) {
      const w = two.parameterArrays().get(name)!;
      const worst = Math.max(...Array.from(v, (x, i) => Math.abs(x - w[i]!)));
      assert.ok(worst <= 1e-6, `${name}: max difference ${worst}`);
    }
  });
});
