/**
 * The distillation loss (src/losses/distill.ts, src/losses/kd.ts) against PyTorch: every case of
 * models/losses/reference.safetensors (scripts/fixtures/reference_losses.py: the seed formula with
 * F.cross_entropy and nn.KLDivLoss(batchmean), float64) is built as a graph with student/teacher logits,
 * labels, alpha and T as graph inputs, differentiated w.r.t. the student logits, and run in ONNX Runtime.
 * Also: finite-difference gradchecks per task, the no-teacher case, and float32 logits.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { describe, it } from 'node:test';
import type ort from 'onnxruntime-node';
import { differentiate } from '../src/autodiff/differentiate.js';
import { readSafetensors, safeToFloat64 } from '../src/export/safetensors.js';
import { Builder } from '../src/ir/builder.js';
import { newModel } from '../src/ir/convert.js';
import { Graph, type Value } from '../src/ir/graph.js';
import { crossEntropy } from '../src/losses/cross-entropy.js';
import { distillationLoss, TASKS, type Task } from '../src/losses/distill.js';
import { DataType } from '../src/onnx/dtype.js';
import { MODELS } from './helpers/fixtures.js';
import { gradcheck } from './helpers/gradcheck.js';
import { session, tensor, toNumbers, type Feed } from './helpers/ort.js';
import { eliminateDeadCode } from '../src/ir/passes.js';

interface Case {
  name: string;
  task: Task;
  variant: string;
  alpha: number;
  temperature: number;
  scalar_dtype: 'float32' | 'float64';
  attention_mask: boolean;
  shape: number[];
}

const DIR = path.join(MODELS, 'losses');
const CASES = (JSON.parse(fs.readFileSync(path.join(DIR, 'reference.json'), 'utf8')) as { cases: Case[] }).cases;
const REF = readSafetensors(path.join(DIR, 'reference.safetensors'));
const refOf = (c: Case, key: string) => {
  const t = REF.get(`${c.name}/${key}`);
  assert.ok(t, `reference.safetensors lacks '${c.name}/${key}'`);
  return { shape: t.shape, data: Array.from(safeToFloat64(t)) };
};
const refScalar = (c: Case, key: string) => refOf(c, key).data[0]!;

interface Options {
  opset?: number;
  teacher?: boolean;
  /** Element type of the logits (default float64, as the references). */
  logits?: 'float64' | 'float32';
  /** Element type of alpha and T (default: the case's). */
  scalars?: 'float64' | 'float32';
}

interface Run {
  loss: number; ce: number; kd: number; grad: number[];
  types: { loss: string; ce: string; kd: string };
  /** Plain crossEntropy() on the same graph (no-teacher comparison). */
  plainCe: number;
}

/** Builds loss + d loss / d student for a reference case and runs it. */
async function runCase(c: Case, o: Options = {}): Promise<Run> {
  const opset = o.opset ?? 17;
  const logitsType = o.logits ?? 'float64';
  const scalarType = o.scalars ?? c.scalar_dtype;
  const elem = (t: string) => (t === 'float32' ? DataType.FLOAT : DataType.DOUBLE);
  const g = new Graph('distill-loss');
  const input = (name: string, elemType: DataType, shape: number[]) => {
    const v = g.value(name);
    v.type = { elemType, shape: [...shape] };
    g.appendInputs(v);
    return v;
  };
  const labelsRef = refOf(c, 'labels');
  const student = input('student', elem(logitsType), c.shape);
  const teacher = input('teacher', elem(logitsType), c.shape);
  const labels = input('labels', DataType.INT64, labelsRef.shape);
  const attentionMask = c.attention_mask ? input('attention_mask', DataType.INT64, labelsRef.shape) : undefined;
  const alpha = input('alpha', elem(scalarType), []);
  const temperature = input('temperature', elem(scalarType), []);

  const b = new Builder(g, { opset, prefix: 'loss/' });
  const out = distillationLoss(b, c.task, {
    student, teacher: o.teacher === false ? undefined : teacher, labels, attentionMask, alpha, temperature,
  });
  const plain = c.task === 'causal-lm' ? null : crossEntropy(b, student, labels).loss;
  const r = differentiate(g, { loss: out.loss, wrt: [student], opset });
  assert.deepEqual(r.unreached.map((v) => v.name), [], 'the student logits must reach the loss');
  const grad = r.gradients.get('student')!;
  g.setOutputs([out.loss, out.ce, out.kd, grad, ...(plain ? [plain] : [])]);
  eliminateDeadCode(g);

  const s = await session(newModel(g, opset));
  const feed: Feed = {
    student: tensor(logitsType, c.shape, refOf(c, 'student').data),
    teacher: tensor(logitsType, c.shape, refOf(c, 'teacher').data),
    labels: tensor('int64', labelsRef.shape, labelsRef.data),
    alpha: tensor(scalarType, [], [c.alpha]),
    temperature: tensor(scalarType, [], [c.temperature]),
  };
  if (attentionMask) feed.attention_mask = tensor('int64', labelsRef.shape, refOf(c, 'attention_mask').data);
  const res = await s.run(feed);
  const val = (v: Value) => res[v.name] as ort.Tensor;
  const one = (v: Value) => {
    const t = val(v);
    assert.deepEqual([...t.dims], [], `${v.name} is a scalar`);
    return toNumbers(t)[0]!;
  };
  const gradTensor = val(grad);
  assert.deepEqual([...gradTensor.dims], c.shape, 'the gradient has the logits shape');
  return {
    loss: one(out.loss), ce: one(out.ce), kd: one(out.kd), grad: toNumbers(gradTensor),
    types: { loss: val(out.loss).type, ce: val(out.ce).type, kd: val(out.kd).type },
    plainCe: plain ? one(plain) : NaN,
  };
}

/** |ours - ref| <= rtol * |ref|; an exactly-zero reference needs |ours| <= 1e-12. */
function close(what: string, ours: number, ref: number, rtol: number): number {
  const err = Math.abs(ours - ref);
  const rel = ref === 0 ? err : err / Math.abs(ref);
  assert.ok(ref === 0 ? err <= 1e-12 : rel <= rtol, `${what}: ${ours} vs PyTorch ${ref} (relative error ${rel.toExponential(2)})`);
  return rel;
}

/** max |ours - ref| / max |ref| over the tensor (all-zero reference: max |ours| <= 1e-12). */
function closeTensor(what: string, ours: number[], ref: number[], rtol: number): number {
  assert.equal(ours.length, ref.length, `${what}: size`);
  let maxDiff = 0;
  let maxRef = 0;
  ours.forEach((x, i) => {
    maxDiff = Math.max(maxDiff, Math.abs(x - ref[i]!));
    maxRef = Math.max(maxRef, Math.abs(ref[i]!));
  });
  const rel = maxRef === 0 ? maxDiff : maxDiff / maxRef;
  assert.ok(maxRef === 0 ? maxDiff <= 1e-12 : rel <= rtol, `${what}: max|diff| ${maxDiff.toExponential(2)}, max|ref| ${maxRef.toExponential(2)}`);
  return rel;
}

/** Runs a case once for the several `it`s that check it. */
function memo(c: Case, o: Options): () => Promise<Run> {
  let p: Promise<Run> | undefined;
  return () => (p ??= runCase(c, o));
}

describe('distillation loss matches PyTorch (models/losses/reference.safetensors)', () => {
  it('has reference cases for every task, unlabelled rows, a batch where nothing counts, causal-lm without a mask', () => {
    for (const task of TASKS) assert.ok(CASES.filter((c) => c.task === task && !c.variant).length >= 4, task);
    assert.ok(CASES.some((c) => c.variant === 'all-unlabelled'));
    assert.ok(CASES.some((c) => c.variant === 'none-counted'));
    assert.ok(CASES.some((c) => c.task === 'causal-lm' && !c.attention_mask));
    assert.ok(CASES.some((c) => c.scalar_dtype === 'float32') && CASES.some((c) => c.scalar_dtype === 'float64'));
    assert.ok(fs.statSync(path.join(DIR, 'reference.safetensors')).size < 200_000);
  });

  for (const opset of [17, 18]) {
    for (const c of CASES) {
      const run = memo(c, { opset });
      const label = `opset ${opset}, ${c.name} (alpha, T as ${c.scalar_dtype})`;
      it(`${label}: loss, ce, kd are float64 and within 1e-5 relative of PyTorch (1e-9 in fact)`, async (t) => {
        const r = await run();
        assert.deepEqual(r.types, { loss: 'float64', ce: 'float64', kd: 'float64' });
        const errs = (['loss', 'ce', 'kd'] as const).map((k) => close(k, r[k], refScalar(c, k), 1e-5));
        const worst = Math.max(...errs);
        assert.ok(worst <= 1e-9, `float64 should agree to round-off, worst relative error ${worst.toExponential(2)}`);
        t.diagnostic(`max relative error ${worst.toExponential(2)}`);
      });
      it(`${label}: d loss / d student by differentiate() within 1e-6 relative of PyTorch autograd`, async (t) => {
        const r = await run();
        const rel = closeTensor('d loss / d student', r.grad, refOf(c, 'grad').data, 1e-6);
        t.diagnostic(`max|diff| / max|ref| ${rel.toExponential(2)}`);
      });
    }
  }

  for (const task of TASKS) {
    const c = CASES.find((x) => x.task === task && x.alpha === 1 && !x.variant)!;
    it(`${task} without a teacher: loss = ce = PyTorch CE (and crossEntropy()), kd = 0, gradient = PyTorch CE gradient`, async () => {
      const r = await runCase(c, { teacher: false });
      close('loss', r.loss, refScalar(c, 'ce'), 1e-9);
      close('ce', r.ce, refScalar(c, 'ce'), 1e-9);
      assert.equal(r.loss, r.ce);
      if (task !== 'causal-lm') assert.equal(r.ce, r.plainCe);
      assert.equal(r.kd, 0);
      assert.equal(r.types.kd, 'float64');
      // The case has alpha = 1, so PyTorch's gradient there is the CE gradient.
      closeTensor('d ce / d student', r.grad, refOf(c, 'grad').data, 1e-9);
    });
  }

  for (const task of TASKS) {
    const c = CASES.find((x) => x.task === task && x.alpha === 0.3 && !x.variant)!;
    it(`${task} with float32 logits and float64 alpha, T: float32 outputs within 1e-5 relative of the float64 reference`, async () => {
      const r = await runCase(c, { logits: 'float32', scalars: 'float64' });
      assert.deepEqual(r.types, { loss: 'float32', ce: 'float32', kd: 'float32' });
      for (const k of ['loss', 'ce', 'kd'] as const) close(k, r[k], refScalar(c, k), 1e-5);
      closeTensor('d loss / d student', r.grad, refOf(c, 'grad').data, 1e-5);
    });
  }
});

describe('distillation loss: finite-difference gradcheck w.r.t. the student logits', () => {
  for (const task of TASKS) {
    const c = CASES.find((x) => x.task === task && x.alpha === 0.3 && !x.variant)!;
    it(`${task} (${c.name}, dynamic shapes, alpha and T float32 inputs): analytic gradient = central differences`, async (t) => {
      const labels = refOf(c, 'labels');
      const feeds: Parameters<typeof gradcheck>[0]['feeds'] = {
        alpha: { dtype: 'float32', shape: [], data: [c.alpha] },
        temperature: { dtype: 'float32', shape: [], data: [c.temperature] },
      };
      if (c.attention_mask) feeds.attention_mask = { dtype: 'int64', shape: labels.shape, data: refOf(c, 'attention_mask').data };
      const report = await gradcheck({
        dynamic: true,
        params: { student: { shape: c.shape, data: refOf(c, 'student').data } },
        consts: {
          teacher: { dtype: 'float64', shape: c.shape, data: refOf(c, 'teacher').data },
          labels: { dtype: 'int64', shape: labels.shape, data: labels.data },
        },
        feeds,
        forward: (b, v) => distillationLoss(b, task, {
          student: v.student!, teacher: v.teacher!, labels: v.labels!, attentionMask: v.attention_mask,
          alpha: v.alpha!, temperature: v.temperature!,
        }).loss,
        maxChecks: 40,
      });
      t.diagnostic(`checked ${report.checked}, max abs err ${report.maxAbsErr.toExponential(2)}, max rel err ${report.maxRelErr.toExponential(2)}`);
    });
  }
});
