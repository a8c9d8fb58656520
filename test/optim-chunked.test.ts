/**
 * Chunked optimizer updates (optim/chunked.ts): large parameters are updated by a Scan over cache-sized
 * chunks and travel through the step models as [chunks, length]; small ones share one update over their
 * concatenation (optim/grouped.ts). The update must be exactly the plain one
 * (the plain path is checked against torch.optim in optim.test.ts and runtime-trainer-session.test.ts), in every way the
 * artifacts are run: the K-step loop, low-memory mode writing into the fed buffers, and a checkpoint taken
 * from one build and restored into the other.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { buildTrainingArtifacts } from '../src/step/artifacts.js';
import type { Manifest } from '../src/step/contract.js';
import { Builder } from '../src/ir/builder.js';
import { modelToProto, newModel } from '../src/ir/convert.js';
import { Graph } from '../src/ir/graph.js';
import { DataType } from '../src/onnx/dtype.js';
import { loadModel, saveModel } from '../src/onnx/model-io.js';
import { makeTensor } from '../src/onnx/tensor.js';
import { CHUNK_MIN_ELEMENTS, chunkPlan } from '../src/optim/chunked.js';
import { GROUP_MAX_ELEMENTS, GROUP_MAX_MEMBERS, memberGroups } from '../src/optim/grouped.js';
import { MODELS } from './helpers/fixtures.js';
import { type StepMetrics, TrainerSession } from '../src/runtime/trainer-session.js';
import { readSafetensorsFile } from '../src/export/safetensors.js';
import { train } from '../src/train/trainer.js';
import { rng as mulberry32 } from './helpers/rng.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-chunked-'));

describe('chunkPlan', () => {
  it('cuts large tensors into equal chunks of 2^17 to 2^21 elements and leaves the rest alone', () => {
    for (const dims of [[30522, 768], [768, 3072], [4096, 512], [50257, 768]]) {
      const n = dims[0]! * dims[1]!;
      const plan = chunkPlan(dims);
      assert.ok(plan, `${dims}`);
      assert.equal(plan.chunks * plan.length, n, `${dims}`);
      assert.ok(plan.length >= 1 << 17 && plan.length <= 1 << 21 && plan.chunks >= 2, `${dims}: ${JSON.stringify(plan)}`);
    }
    assert.deepEqual(chunkPlan([4096, 512]), { chunks: 2, length: 1 << 20 });
    assert.equal(chunkPlan([768, 768]), null, 'below CHUNK_MIN_ELEMENTS');
    assert.ok(768 * 768 < CHUNK_MIN_ELEMENTS);
    assert.equal(chunkPlan([2, 4194319]), null, '2 x a prime: no divisor in range');
    assert.equal(chunkPlan(['vocab', 768]), null, 'a symbolic dimension');
    assert.equal(chunkPlan(undefined), null);
  });
});

describe('grouped updates of small parameters', () => {
  it('memberGroups cuts a list into runs of at most 7 in order, and drops runs of one', () => {
    for (let n = 0; n <= 23; n++) {
      const items = Array.from({ length: n }, (_, i) => i);
      const groups = memberGroups(items);
      assert.ok(groups.every((g) => g.length >= 2 && g.length <= GROUP_MAX_MEMBERS), `${n}: ${JSON.stringify(groups)}`);
      const flat = groups.flat();
      assert.deepEqual(flat, [...flat].sort((a, b) => a - b), `${n}: order`);
      assert.equal(flat.length, n - (n % GROUP_MAX_MEMBERS === 1 ? 1 : 0), `${n}: only a trailing single is left out`);
    }
  });

  it('on the BERT fixture: every small parameter is in a group of at most 7, each Concat and Split within 8 tensors (WebGPU)', () => {
    const out = path.join(tmp, 'bert-grouped');
    const m = buildTrainingArtifacts({ student: path.join(MODELS, 'bert-student', 'model.onnx'), task: 'seq-cls', optimizer: 'adamw', outDir: out });
    const nodes = loadModel(path.join(out, 'train_step.onnx')).model.graph!.node;
    const small = m.parameters.filter((p) => p.shape.reduce((a, d) => a * d, 1) <= GROUP_MAX_ELEMENTS).length;
    const splits = nodes.filter((n) => n.opType === 'Split' && n.name?.includes('update_group/'));
    // three Splits (parameter, exp_avg, exp_avg_sq) per group, whose outputs cover the small parameters
    assert.equal(splits.length % 3, 0);
    assert.ok(splits.length / 3 >= Math.ceil(small / GROUP_MAX_MEMBERS), `${splits.length / 3} groups for ${small} small parameters`);
    assert.equal(splits.reduce((a, n) => a + n.output.length, 0), 3 * small);
    const grouping = nodes.filter((x) => x.name?.includes('update_group/'));
    assert.equal(grouping.filter((x) => x.opType === 'Concat').length, (4 / 3) * splits.length);
    for (const n of grouping) {
      assert.ok(n.input.length + n.output.length <= 8 + (n.opType === 'Split' ? 1 : 0), `${n.name}: ${n.input.length} inputs, ${n.output.length} outputs`);
    }
    const updates = nodes.filter((n) => n.name?.includes('adamw_param')).length;
    assert.equal(updates, m.parameters.length - small + splits.length / 3);
  });

  it('an optimizer without state (plain SGD): grouped equals separate updates bit for bit', async () => {
    const rand = mulberry32(5);
    const batch = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from({ length: 64 }, () => BigInt(1 + Math.floor(rand() * 1000))), [4, 16]),
      attention_mask: new ort.Tensor('int64', BigInt64Array.from({ length: 64 }, () => 1n), [4, 16]),
      labels: new ort.Tensor('int64', BigInt64Array.from({ length: 4 }, () => BigInt(Math.floor(rand() * 2))), [4]),
    };
    const runs = [];
    for (const groupedUpdate of [true, false]) {
      const outDir = path.join(tmp, `bert-sgd-${groupedUpdate}`);
      const m = buildTrainingArtifacts({ student: path.join(MODELS, 'bert-student', 'model.onnx'), task: 'seq-cls', optimizer: 'sgd', groupedUpdate, outDir });
      assert.equal(m.state.length, 0);
      const session = await TrainerSession.open(outDir, { threads: 1 });
      runs.push({ session, metrics: await session.train([batch, batch], [0.1, 0.1], HYPER) });
    }
    assert.deepEqual(runs[0]!.metrics, runs[1]!.metrics);
    assertSameState(runs[0]!.session, runs[1]!.session, 'sgd without state');
    await Promise.all(runs.map((r) => r.session.release()));
  });
});

/**
 * A classifier whose 4096 x 512 embedding (2^21 values) is chunked, and whose small parameters (a 512-vector
 * scale, the 512 x 2 head and its bias) share one grouped update.
 */
function writeStudent(file: string): void {
  const g = new Graph('tiny_classifier');
  const b = new Builder(g, { opset: 17 });
  const rand = mulberry32(7);
  const weights = (name: string, dims: number[], scale: number) =>
    g.addInitializer(makeTensor(name, DataType.FLOAT, dims, Float32Array.from({ length: dims[0]! * dims[1]! }, () => (rand() - 0.5) * scale)));
  const embedding = weights('embedding.weight', [4096, 512], 0.2);
  const scale = g.addInitializer(makeTensor('pool.scale', DataType.FLOAT, [512], Float32Array.from({ length: 512 }, () => 1 + (rand() - 0.5) * 0.2)));
  const head = weights('head.weight', [512, 2], 0.5);
  const bias = g.addInitializer(makeTensor('head.bias', DataType.FLOAT, [2], Float32Array.from([0.1, -0.1])));
  const ids = g.addInput('input_ids', { elemType: DataType.INT64, shape: ['batch', 'sequence'] });
  const pooled = b.mul(b.reduceMean(b.op('Gather', [embedding, ids]), [1], false), scale);
  const logits = g.rename(b.add(b.op('MatMul', [pooled, head]), bias), 'logits');
  g.setOutputs([logits]);
  saveModel(modelToProto(newModel(g, 17)), file);
}

const LR = 1e-2;
const WD = 0.1;
const student = path.join(tmp, 'student.onnx');
/** Chunked and grouped updates (the defaults), or every parameter with its own plain update. */
const build = (chunkedUpdate: boolean, accumulationSteps = 1) =>
  buildTrainingArtifacts({
    student, task: 'seq-cls', optimizer: 'adamw', optimizerSettings: { weightDecay: WD }, chunkedUpdate, groupedUpdate: chunkedUpdate, accumulationSteps,
    // One decay for all, so that the three small parameters share one grouped update.
    weightDecayGroups: 'all',
    outDir: path.join(tmp, `${chunkedUpdate ? 'chunked' : 'plain'}-${accumulationSteps}`),
  });

/** Batches of token ids from the first 256 rows only: most rows get no gradient. */
function batches(count: number): Record<string, ort.Tensor>[] {
  const rand = mulberry32(11);
  return Array.from({ length: count }, () => ({
    input_ids: new ort.Tensor('int64', BigInt64Array.from({ length: 4 * 16 }, () => BigInt(Math.floor(rand() * 256))), [4, 16]),
    labels: new ort.Tensor('int64', BigInt64Array.from({ length: 4 }, () => BigInt(Math.floor(rand() * 2))), [4]),
  }));
}
const HYPER = { alpha: 1, temperature: 1, maxGradNorm: 1 };

const bytesOf = (s: TrainerSession) =>
  new Map([...s.snapshot()].map(([k, t]) => [k, { dims: [...t.dims], bytes: Buffer.from((t.data as Float32Array).slice().buffer) }]));

function assertSameState(a: TrainerSession, b: TrainerSession, what: string): void {
  const [x, y] = [bytesOf(a), bytesOf(b)];
  assert.deepEqual([...x.keys()].sort(), [...y.keys()].sort());
  for (const [name, t] of x) {
    assert.deepEqual(t.dims, y.get(name)!.dims, `${what}: ${name} dims`);
    assert.ok(t.bytes.equals(y.get(name)!.bytes), `${what}: ${name} differs`);
  }
}

describe('chunked and grouped updates (a Scan over chunks of a 2^21-value embedding; three small parameters in one update)', () => {
  writeStudent(student);
  const chunked = build(true);
  const plain = build(false);

  it('the manifest gives the chunked tensors their step-model shape, and the step graph holds one Scan', () => {
    const emb = (m: Manifest) => m.parameters.find((p) => p.name === 'embedding.weight')!;
    assert.deepEqual(emb(chunked).shape, [4096, 512]);
    assert.deepEqual(emb(chunked).ioShape, [2, 1 << 20]);
    assert.deepEqual(chunked.state.filter((s) => s.param === 'embedding.weight').map((s) => s.ioShape), [[2, 1 << 20], [2, 1 << 20]]);
    assert.equal(chunked.parameters.find((p) => p.name === 'head.weight')!.ioShape, undefined);
    assert.equal(emb(plain).ioShape, undefined);
    assert.deepEqual(chunked.in_place, { safe: true, violations: [] });
    const step = loadModel(path.join(tmp, 'chunked-1', 'train_step.onnx')).model.graph!;
    assert.equal(step.node.filter((n) => n.opType === 'Scan').length, 1);
    // AdamW's last node, outside the Scan body: once for the group of three, against once per parameter
    const updates = (dir: string) => loadModel(path.join(tmp, dir, 'train_step.onnx')).model.graph!.node.filter((n) => n.name?.includes('adamw_param')).length;
    assert.equal(updates('chunked-1'), 1);
    assert.equal(updates('plain-1'), 4);
    assert.deepEqual(chunked.parameters.map((p) => [p.name, p.shape]), plain.parameters.map((p) => [p.name, p.shape]));
    const dims = (name: string) => step.input.find((i) => i.name === name)!.type!.tensorType!.shape!.dim!.map((d) => Number(d.dimValue));
    assert.deepEqual(dims('embedding.weight'), [2, 1 << 20]);
    assert.deepEqual(dims('embedding.weight.exp_avg_sq'), [2, 1 << 20]);
  });

  it('the first AdamW step follows the formula: untouched rows only decay, touched rows move by lr', async () => {
    // Step 1 of AdamW: m = (1-b1) g, v = (1-b2) g^2, so the bias-corrected step is lr * g / (|g| + eps) and
    // p1 = p0 (1 - lr wd) - lr g / (|g| + eps). A misplaced chunk would move the wrong rows.
    const s = await TrainerSession.open(path.join(tmp, 'chunked-1'), { threads: 2 });
    const before = Float32Array.from(s.parameterArrays().get('embedding.weight')!);
    const [batch] = batches(1);
    const used = new Set(Array.from(batch!.input_ids!.data as BigInt64Array, Number));
    await s.train([batch!], [LR], HYPER);
    const after = s.parameterArrays().get('embedding.weight')!;
    let moved = 0;
    let near = 0;
    for (let i = 0; i < after.length; i++) {
      const step = after[i]! - before[i]! * (1 - LR * WD);
      if (used.has(Math.floor(i / 512))) {
        // |g| / (|g| + eps) is 1 to a few digits except for the rare |g| within a few hundred eps.
        assert.ok(Math.abs(step) > 1e-7 && Math.abs(step) < LR * (1 + 1e-5), `row ${Math.floor(i / 512)} col ${i % 512}: moved by ${step}, expected up to +-${LR}`);
        if (Math.abs(Math.abs(step) - LR) < 1e-4) near++;
        moved++;
      } else if (Math.abs(step) > 1e-7) { // float32 rounding of the decay is ~1e-8 here
        assert.fail(`row ${Math.floor(i / 512)} has no gradient but moved by ${step} beyond its decay`);
      }
    }
    assert.equal(moved, used.size * 512);
    assert.ok(used.size > 30);
    assert.ok(near > 0.9 * moved, `${near} of ${moved} moved by lr`);
    await s.release();
  });

  it('equals the plain update bit for bit: the loop, low-memory mode in place (chunked and grouped, or grouped only), with accumulation, and for SGD', async () => {
    const data = batches(4);
    const lrs = [LR, LR, LR / 2, LR / 2];
    const runs: { session: TrainerSession; metrics: StepMetrics[] }[] = [];
    // What `distill train --low-memory` and `--ep webgpu` build: grouped updates without chunks
    buildTrainingArtifacts({
      student, task: 'seq-cls', optimizer: 'adamw', optimizerSettings: { weightDecay: WD }, chunkedUpdate: false, weightDecayGroups: 'all', outDir: path.join(tmp, 'grouped-1'),
    });
    for (const [dir, lowMemory] of [['plain-1', false], ['chunked-1', false], ['chunked-1', true], ['grouped-1', true]] as const) {
      const session = await TrainerSession.open(path.join(tmp, dir), { threads: 2, lowMemory });
      const held = [...session.parameterArrays().values()];
      const metrics = [...await session.train(data.slice(0, 3), lrs.slice(0, 3), HYPER), ...await session.train(data.slice(3), lrs.slice(3), HYPER)];
      if (lowMemory) assert.ok([...session.parameterArrays().values()].every((a, i) => a === held[i]), 'low-memory mode replaced a buffer');
      runs.push({ session, metrics });
    }
    const [plainRun, loopRun, leanRun, groupedRun] = runs as [typeof runs[number], typeof runs[number], typeof runs[number], typeof runs[number]];
    assert.deepEqual(loopRun.metrics, plainRun.metrics);
    assert.deepEqual(leanRun.metrics, plainRun.metrics);
    assert.deepEqual(groupedRun.metrics, plainRun.metrics);
    assertSameState(loopRun.session, plainRun.session, 'loop');
    assertSameState(leanRun.session, plainRun.session, 'low-memory');
    assertSameState(groupedRun.session, plainRun.session, 'grouped, low-memory');
    await Promise.all(runs.map((r) => r.session.release()));

    build(true, 2);
    build(false, 2);
    // SGD with momentum: its first-step flag (a bool) and the clipping scale enter the Scan body as well.
    for (const chunkedUpdate of [true, false]) {
      buildTrainingArtifacts({
        student, task: 'seq-cls', optimizer: 'sgd', optimizerSettings: { momentum: 0.9, weightDecay: WD }, chunkedUpdate, groupedUpdate: chunkedUpdate, weightDecayGroups: 'all',
        outDir: path.join(tmp, `sgd-${chunkedUpdate}`),
      });
    }
    const [sp, sc] = await Promise.all(['sgd-false', 'sgd-true'].map((d) => TrainerSession.open(path.join(tmp, d), { threads: 2 })));
    assert.ok(loadModel(path.join(tmp, 'sgd-true', 'train_step.onnx')).model.graph!.node!.some((n) => n.opType === 'Scan'));
    assert.deepEqual(await sc!.train(data, lrs, HYPER), await sp!.train(data, lrs, HYPER));
    assertSameState(sc!, sp!, 'sgd');
    await Promise.all([sp!.release(), sc!.release()]);

    const [a, b] = await Promise.all(['plain-2', 'chunked-2'].map((d) => TrainerSession.open(path.join(tmp, d), { threads: 2 })));
    assert.deepEqual(await b!.train(data, lrs, HYPER), await a!.train(data, lrs, HYPER));
    assertSameState(b!, a!, 'accumulation');
    await Promise.all([a!.release(), b!.release()]);
  });

  it('checkpoints hold tensors in their own shapes and move between chunked and plain builds', async () => {
    const data = batches(3);
    const from = await TrainerSession.open(path.join(tmp, 'plain-1'), { threads: 2 });
    await from.train(data.slice(0, 2), [LR, LR], HYPER);
    const into = await TrainerSession.open(path.join(tmp, 'chunked-1'), { threads: 2 });
    into.restore(from.snapshot(), from.stepsDone);
    assert.deepEqual([...into.snapshot().get('embedding.weight')!.dims], [4096, 512]);
    assert.deepEqual([...into.parameters().get('embedding.weight')!.dims], [4096, 512]);
    const next = await into.train(data.slice(2), [LR], HYPER);
    assert.deepEqual(next, await from.train(data.slice(2), [LR], HYPER));
    assertSameState(into, from, 'after restore');
    await Promise.all([from.release(), into.release()]);
  });

  it('train(): evaluation, checkpoints, resume and the exported student see the tensors in their own shapes', async () => {
    const data = path.join(tmp, 'train.jsonl');
    fs.writeFileSync(data, Array.from({ length: 24 }, (_, i) => JSON.stringify({ input_ids: [i, i + 5, 100 + i], label: i % 2 })).join('\n'));
    const run = (out: string, resume?: string) => train({
      student, trainFile: data, evalFile: data, task: 'seq-cls', labels: ['neg', 'pos'], outputDir: path.join(tmp, out),
      batchSize: 4, epochs: 1, threads: 2, saveSteps: 3, evalSteps: 3, learningRate: 1e-2, resumeFromCheckpoint: resume,
    });
    await run('whole');
    const ckpt = readSafetensorsFile(path.join(tmp, 'whole', 'checkpoint-3', 'state.safetensors')).tensors;
    for (const name of ['embedding.weight', 'embedding.weight.exp_avg', 'embedding.weight.exp_avg_sq']) assert.deepEqual(ckpt.get(name)!.shape, [4096, 512], name);
    await run('resumed', path.join(tmp, 'whole', 'checkpoint-3'));
    const final = (out: string) => readSafetensorsFile(path.join(tmp, out, 'model.safetensors')).tensors;
    const [a, b] = [final('whole'), final('resumed')];
    for (const [name, t] of a) {
      assert.deepEqual(b.get(name)!.shape, t.shape, name);
      assert.ok(Buffer.from(b.get(name)!.bytes).equals(Buffer.from(t.bytes)), `${name}: the resumed run ends elsewhere`);
    }
    const exported = loadModel(path.join(tmp, 'whole', 'model.onnx')).model.graph!.initializer!.find((i) => i.name === 'embedding.weight')!;
    assert.deepEqual(exported.dims!.map(Number), [4096, 512]);
  });
});
