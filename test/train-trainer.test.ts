/**
 * `distill train` end to end on a small slice of the SpamAssassin split (labels given as names): outputs,
 * kill -9 and resume to bit-identical weights, the teacher-logit cache, NaN handling and bad input.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { floatArray, readSafetensors } from '../src/export/safetensors.js';
import { loadModel, saveModel } from '../src/onnx/model-io.js';
import { readCheckpoint } from '../src/train/checkpoint.js';
import { MODELS, ROOT, tokenBatch } from './helpers/fixtures.js';

const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const DATA = path.join(ROOT, 'test', 'data-train');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-train-'));
const model = (n: string) => path.join(MODELS, n, 'model.onnx');

function distill(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [CLI, 'train', ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
}

/** `distill train` killed with SIGKILL right after it has written the checkpoint of `step` (helpers/kill-after-checkpoint.ts). */
function distillKilledAfter(step: number, args: string[]) {
  const hook = pathToFileURL(path.join(ROOT, 'dist', 'test', 'helpers', 'kill-after-checkpoint.js')).href;
  return spawnSync(process.execPath, ['--import', hook, CLI, 'train', ...args], {
    encoding: 'utf8', env: { ...process.env, DISTILL_TEST_SIGKILL_AFTER_CHECKPOINT: String(step) },
  });
}

const base = (out: string) => [
  '--teacher', model('bert-teacher'), '--student', model('bert-student'),
  '--train-file', path.join(DATA, 'train.jsonl'), '--eval-file', path.join(DATA, 'eval.jsonl'),
  '--batch-size', '8', '--epochs', '2', '--learning-rate', '1e-3', '--save-steps', '5', '--logging-steps', '4',
  '--threads', '2', '--steps-per-call', '3', '--output-dir', out,
];

function initializerBytes(file: string): Map<string, Buffer> {
  const m = loadModel(file).model;
  return new Map(m.graph!.initializer.map((t) => [t.name!, Buffer.from(t.rawData!)]));
}

/** Every initializer of the trained model in `dirB` equals, byte for byte, the one in `dirA`. */
function assertSameWeights(dirA: string, dirB: string, what = ''): void {
  const a = initializerBytes(path.join(dirA, 'model.onnx'));
  const b = initializerBytes(path.join(dirB, 'model.onnx'));
  for (const [name, bytes] of a) assert.ok(bytes.equals(b.get(name)!), `${name}${what}`);
}

describe('distill train', () => {
  const full = path.join(tmp, 'full');
  it('trains, evaluates and writes the HF-style outputs', async () => {
    const r = distill(base(full));
    assert.equal(r.status, 0, r.stderr);
    for (const f of ['model.onnx', 'model.safetensors', 'tokenizer.json', 'distill.json', 'trainer_state.json', 'train_results.json', 'eval_results.json', 'checkpoint-5', 'checkpoint-24']) {
      assert.ok(fs.existsSync(path.join(full, f)), f);
    }
    const state = JSON.parse(fs.readFileSync(path.join(full, 'trainer_state.json'), 'utf8'));
    assert.equal(state.global_step, 24); // 96 rows / 8 = 12 steps per epoch, 2 epochs
    assert.ok(state.log_history.some((e: { loss?: number }) => typeof e.loss === 'number'));
    assert.ok(state.log_history.some((e: { eval_accuracy?: number }) => typeof e.eval_accuracy === 'number'));
    // The best checkpoint is the one saved after the best evaluation.
    const evals = state.log_history.filter((e: { eval_accuracy?: number }) => typeof e.eval_accuracy === 'number');
    const best = evals.reduce((a: { eval_accuracy: number }, b: { eval_accuracy: number }) => (b.eval_accuracy > a.eval_accuracy ? b : a));
    assert.equal(state.best_metric, best.eval_accuracy);
    assert.ok(state.best_model_checkpoint.endsWith(`checkpoint-${best.step}`) && fs.existsSync(state.best_model_checkpoint), state.best_model_checkpoint);
    const results = JSON.parse(fs.readFileSync(path.join(full, 'train_results.json'), 'utf8'));
    for (const k of ['train_runtime', 'train_samples_per_second', 'train_steps_per_second', 'train_loss']) assert.ok(results[k] > 0, k);
    // The trained student is the student's own graph with new weights: same inputs and outputs, and it runs.
    const s = await ort.InferenceSession.create(path.join(full, 'model.onnx'));
    assert.deepEqual(s.inputNames, ['input_ids', 'attention_mask']);
    const out = await s.run(tokenBatch(s.inputNames));
    assert.deepEqual(out.logits!.dims, [2, 2]);
    const before = initializerBytes(model('bert-student'));
    const after = initializerBytes(path.join(full, 'model.onnx'));
    assert.ok([...after].some(([k, v]) => !v.equals(before.get(k)!)), 'weights changed');
  });

  it('kill -9 after a checkpoint, then resume: the same final weights, bit for bit', () => {
    const out = path.join(tmp, 'killed');
    const killed = distillKilledAfter(10, base(out));
    assert.equal(killed.signal, 'SIGKILL');
    assert.ok(fs.existsSync(path.join(out, 'checkpoint-10')) && !fs.existsSync(path.join(out, 'model.onnx')));
    fs.mkdirSync(path.join(out, 'checkpoint-99.tmp-1')); // what a kill during a checkpoint write leaves: ignored
    const resumed = distill([...base(out), '--resume-from-checkpoint', 'latest']);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stderr, /resuming from .*checkpoint-10 at step 10/);
    assertSameWeights(full, out, ' differs after resume');
  });

  it('resuming with another teacher is refused: the rest of the run would learn from other logits', () => {
    const out = path.join(tmp, 'teacher-swap');
    const args = (teacher: string) => ['--teacher', model(teacher), '--student', model('bert-student'), '--train-file', path.join(DATA, 'train.jsonl'),
      '--batch-size', '16', '--max-steps', '4', '--save-steps', '2', '--threads', '1', '--output-dir', out];
    assert.equal(distillKilledAfter(2, args('bert-teacher')).status, null);
    const other = distill([...args('distilbert-teacher'), '--resume-from-checkpoint', 'latest']);
    assert.equal(other.status, 2, other.stderr);
    assert.match(other.stderr, /checkpoint-2: the checkpoint was trained with --teacher model\.onnx of \d+ bytes, not model\.onnx of \d+ bytes; resume with the same settings/);
    const same = distill([...args('bert-teacher'), '--resume-from-checkpoint', 'latest']);
    assert.equal(same.status, 0, same.stderr);
  });

  it('resuming a finished run trains no further step and leaves its results as they were', () => {
    const out = path.join(tmp, 'finished');
    const args = ['--student', model('bert-student'), '--train-file', path.join(DATA, 'train.jsonl'), '--batch-size', '16', '--max-steps', '3',
      '--learning-rate', '1e-3', '--threads', '1', '--output-dir', out];
    assert.equal(distill(args).status, 0);
    const results = JSON.parse(fs.readFileSync(path.join(out, 'train_results.json'), 'utf8'));
    const weights = fs.readFileSync(path.join(out, 'model.safetensors'));
    const again = distill([...args, '--resume-from-checkpoint', 'latest']);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /the checkpoint is at step 3 of 3: nothing left to train/);
    const state = JSON.parse(fs.readFileSync(path.join(out, 'trainer_state.json'), 'utf8'));
    assert.equal(state.global_step, 3);
    assert.deepEqual(fs.readdirSync(out).filter((n) => n.startsWith('checkpoint-')), ['checkpoint-3']);
    assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'train_results.json'), 'utf8')).train_loss, results.train_loss);
    assert.ok(fs.readFileSync(path.join(out, 'model.safetensors')).equals(weights));
  });

  it('--low-memory: kill -9 after a checkpoint, resume in place from it: the uninterrupted run\'s weights, bit for bit', () => {
    // Resuming writes the updates into the checkpoint's own buffers (views into the file read back). The
    // reference is an uninterrupted low-memory run: the default mode pads each call's stacked batches to
    // their longest sequence, so its weights agree with these only to rounding (~1e-6).
    const whole = path.join(tmp, 'low-memory-whole');
    assert.equal(distill([...base(whole), '--low-memory']).status, 0);
    const out = path.join(tmp, 'killed-low-memory');
    const killed = distillKilledAfter(10, [...base(out), '--low-memory']);
    assert.equal(killed.signal, 'SIGKILL');
    const resumed = distill([...base(out), '--low-memory', '--resume-from-checkpoint', 'latest']);
    assert.equal(resumed.status, 0, resumed.stderr);
    assertSameWeights(whole, out, ' differs after a low-memory resume');
  });

  it('caches teacher logits and reuses them only while the teacher and the tokens it sees are the same', () => {
    const cache = path.join(tmp, 'cache');
    const args = (out: string, train = path.join(DATA, 'train.jsonl')) => [
      '--teacher', model('bert-teacher'), '--student', model('bert-student'), '--train-file', train,
      '--batch-size', '16', '--epochs', '1', '--teacher-cache', cache, '--threads', '1', '--output-dir', out,
    ];
    assert.equal(distill(args(path.join(tmp, 'c1'))).status, 0);
    const second = distill(args(path.join(tmp, 'c2')));
    assert.match(second.stderr, /teacher logits: using the cache/);
    const changed = path.join(tmp, 'changed.jsonl');
    fs.writeFileSync(changed, fs.readFileSync(path.join(DATA, 'train.jsonl'), 'utf8').replace('Cobalt', 'Cobalt!'));
    const third = distill(args(path.join(tmp, 'c3'), changed));
    assert.equal(third.status, 0, third.stderr);
    assert.doesNotMatch(third.stderr, /using the cache/, 'changed data: the old cache is not used');
    assert.equal(fs.readdirSync(cache).length, 2, 'one cache entry per distinct input');
    // Only labels changed (e.g. hiding them for a transfer set): the teacher sees the same tokens.
    const relabeled = path.join(tmp, 'relabeled.jsonl');
    fs.writeFileSync(relabeled, fs.readFileSync(path.join(DATA, 'train.jsonl'), 'utf8').replace(/"label": "\w+"/g, '"label": "ham"'));
    const fourth = distill(args(path.join(tmp, 'c4'), relabeled));
    assert.match(fourth.stderr, /teacher logits: using the cache/);
    // A damaged logits.bin (one byte changed) is refused by its checksum, never trained on.
    const entry = path.join(cache, fs.readdirSync(cache)[0]!, 'logits.bin');
    const bytes = fs.readFileSync(entry);
    bytes[7]! ^= 0x40;
    fs.writeFileSync(entry, bytes);
    const damaged = spawnSync(process.execPath, [CLI, 'train', ...args(path.join(tmp, 'c5'))], { encoding: 'utf8' });
    const damagedToo = spawnSync(process.execPath, [CLI, 'train', ...args(path.join(tmp, 'c6'), changed)], { encoding: 'utf8' });
    const refused = [damaged, damagedToo].filter((r) => r.status === 2);
    assert.equal(refused.length, 1, `${damaged.stderr}${damagedToo.stderr}`);
    assert.match(refused[0]!.stderr, /teacher cache .* is damaged \(logits\.bin does not match index\.json's checksum\); delete it to rebuild/);
  });

  it("the teacher cache's key covers external data under any file name", () => {
    const cache = path.join(tmp, 'cache-ext');
    const teacherWith = (name: string, scale: number) => {
      const dir = path.join(tmp, name);
      fs.mkdirSync(dir, { recursive: true });
      for (const f of ['config.json', 'distill.json', 'tokenizer.json']) fs.copyFileSync(path.join(MODELS, 'bert-teacher', f), path.join(dir, f));
      const m = loadModel(model('bert-teacher')).model;
      const table = m.graph!.initializer.find((t) => t.name === 'bert.embeddings.word_embeddings.weight')!;
      const v = new Float32Array(new Uint8Array(table.rawData!).slice().buffer).map((x) => x * (1 + scale));
      table.rawData = new Uint8Array(v.buffer);
      saveModel(m, path.join(dir, 'model.onnx'), { externalData: { location: 'weights.bin', threshold: 1024 } });
      return path.join(dir, 'model.onnx');
    };
    const a = teacherWith('ext-a', 0);
    const b = teacherWith('ext-b', 0.5);
    assert.ok(fs.readFileSync(a).equals(fs.readFileSync(b)), 'the two model.onnx files are the same bytes; only weights.bin differs');
    const args = (teacher: string, out: string) => ['--teacher', teacher, '--student', model('bert-student'), '--train-file', path.join(DATA, 'train.jsonl'),
      '--batch-size', '16', '--max-steps', '2', '--teacher-cache', cache, '--threads', '1', '--output-dir', path.join(tmp, out)];
    const first = distill(args(a, 'ext-1'));
    assert.equal(first.status, 0, first.stderr);
    const second = distill(args(b, 'ext-2'));
    assert.equal(second.status, 0, second.stderr);
    assert.doesNotMatch(second.stderr, /using the cache/);
  });

  it('a NaN loss stops training with a one-line error naming the last good checkpoint', () => {
    const out = path.join(tmp, 'nan');
    const r = distill([
      '--teacher', model('bert-teacher'), '--student', model('bert-student'), '--train-file', path.join(DATA, 'train.jsonl'),
      '--batch-size', '8', '--optimizer', 'sgd', '--learning-rate', '1e30', '--save-steps', '1', '--steps-per-call', '1',
      '--threads', '1', '--output-dir', out,
    ]);
    assert.equal(r.status, 1, r.stderr);
    const last = r.stderr.trim().split('\n').pop()!;
    assert.match(last, /^distill: the (loss is|weights are) NaN or infinite at step \d+ .*the last good checkpoint is .*checkpoint-\d+$/);
    const ckpt = /checkpoint-(\d+)$/.exec(last)![0];
    // The named checkpoint holds finite weights and optimizer state, read back independently of the trainer.
    const tensors = readSafetensors(path.join(out, ckpt, 'state.safetensors'));
    assert.ok(tensors.size > 0);
    for (const [name, t] of tensors) assert.ok(floatArray(t).every(Number.isFinite), `${ckpt}: ${name} is not finite`);
  });

  it('the NaN step is exact: one step per call and four per call name the same step', () => {
    const stepOf = (spc: string) => {
      const r = distill([
        '--student', model('bert-student'), '--train-file', path.join(DATA, 'train.jsonl'), '--batch-size', '8', '--optimizer', 'sgd',
        '--learning-rate', '1e30', '--steps-per-call', spc, '--threads', '1', '--output-dir', path.join(tmp, `nan-step-${spc}`),
      ]);
      const m = /the loss is NaN or infinite at step (\d+) /.exec(r.stderr);
      assert.ok(m, r.stderr);
      return Number(m[1]);
    };
    const one = stepOf('1');
    assert.ok(one > 1, `step ${one}: the first step's loss is finite`);
    assert.equal(stepOf('4'), one);
  });

  it('a loss that grows by orders of magnitude warns once', () => {
    const r = distill([
      '--student', model('bert-student'), '--train-file', path.join(DATA, 'train.jsonl'), '--batch-size', '8',
      '--learning-rate', '1e6', '--epochs', '2', '--threads', '1', '--output-dir', path.join(tmp, 'diverging'),
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.match(/warning: the loss is diverging/g)?.length, 1, r.stderr);
  });
});

/** A run of `student` with the eval set (batches of 16, 1 thread, `more` options) into `out`; its trainer_state.json. */
function evaluatedRun(student: string, out: string, more: string[]) {
  const r = distill(['--student', model(student), '--train-file', path.join(DATA, 'train.jsonl'), '--eval-file', path.join(DATA, 'eval.jsonl'),
    '--batch-size', '16', '--threads', '1', '--output-dir', out, ...more]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(fs.readFileSync(path.join(out, 'trainer_state.json'), 'utf8'));
}

/** `distill train` and `distill eval` of `model` both stop with one line matching `pattern` and exit code 2. */
function refusedByTrainAndEval(model: string, pattern: RegExp): void {
  const t = distill(['--student', model, '--train-file', path.join(DATA, 'train.jsonl'), '--max-steps', '1', '--output-dir', path.join(tmp, `${path.basename(path.dirname(model))}-out`)]);
  const e = spawnSync(process.execPath, [CLI, 'eval', '--model', model, '--eval-file', path.join(DATA, 'eval.jsonl')], { encoding: 'utf8' });
  for (const r of [t, e]) {
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, pattern);
  }
}

describe('distill train: bad input', () => {
  const write = (name: string, text: string) => {
    const p = path.join(tmp, name);
    fs.writeFileSync(p, text);
    return p;
  };
  const run = (train: string, extra: string[] = []) =>
    distill(['--student', model('bert-student'), '--train-file', train, '--output-dir', path.join(tmp, `bad-${path.basename(train)}`), ...extra]);
  const cases: [string, () => string, RegExp, string[]?][] = [
    ['a malformed JSONL line', () => write('bad.jsonl', '{"text": "a", "label": 0}\n{"text": "b", "label": \n'), /bad\.jsonl:2: invalid JSON/],
    ['a label outside the model range', () => write('range.jsonl', '{"text": "a", "label": 0}\n{"text": "b", "label": 7}\n'), /range\.jsonl:2: label 7 is outside the model's 2 labels/],
    ['an unknown label name', () => write('name.jsonl', '{"text": "a", "label": "ham"}\n{"text": "b", "label": "eggs"}\n'), /name\.jsonl:2: unknown label 'eggs' \(known: ham, spam\)/],
    ['an empty dataset', () => write('empty.jsonl', ''), /empty\.jsonl: no rows/],
    ['a missing field', () => write('field.jsonl', '{"body": "a", "label": 0}\n'), /field\.jsonl:1: no field 'text'/],
    ['a row without a label and no teacher', () => write('unl.jsonl', '{"text": "a"}\n'), /unl\.jsonl:1: no label/],
  ];
  for (const [name, make, pattern, extra] of cases) {
    it(`${name}: one line naming the file (and line), exit code 2`, () => {
      const r = run(make(), extra);
      assert.equal(r.status, 2, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, pattern);
    });
  }
  for (const [flag, glob, pattern] of [
    ['--freeze', 'bert.embedings.*', /--freeze 'bert\.embedings\.\*' matches no parameter \(names look like bert\.embeddings\./],
    ['--trainable', 'nothing_here', /--trainable 'nothing_here' matches no parameter/],
  ] as const) {
    it(`${flag} with a pattern that matches nothing is an error, not a run that ignores it`, () => {
      const r = run(path.join(DATA, 'train.jsonl'), [flag, glob, '--max-steps', '1']);
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, pattern);
    });
  }

  it('a student exported with a fixed batch and sequence size: one line naming the input and the fix, in train and eval', () => {
    const dir = path.join(tmp, 'fixed-axes');
    fs.cpSync(path.join(MODELS, 'bert-student'), dir, { recursive: true });
    const m = loadModel(path.join(dir, 'model.onnx')).model;
    for (const input of m.graph!.input) for (const [k, d] of (input.type?.tensorType?.shape?.dim ?? []).entries()) Object.assign(d, { dimParam: undefined, dimValue: [2, 11][k] });
    saveModel(m, path.join(dir, 'model.onnx'));
    refusedByTrainAndEval(path.join(dir, 'model.onnx'), /model\.onnx: input 'input_ids' has the fixed shape \[2, 11\].*dynamic batch and sequence axes/);
  });

  it("an input the data cannot feed (TorchScript's logits_to_keep as 'onnx::Gather_2'): one line saying why and how to re-export, in train and eval", () => {
    const dir = path.join(tmp, 'extra-input');
    fs.cpSync(path.join(MODELS, 'gpt2-student'), dir, { recursive: true });
    const m = loadModel(path.join(dir, 'model.onnx')).model;
    m.graph!.input.push({ name: 'onnx::Gather_2', type: { tensorType: { elemType: 7, shape: { dim: [] } } } } as NonNullable<typeof m.graph>['input'][number]);
    saveModel(m, path.join(dir, 'model.onnx'));
    refusedByTrainAndEval(path.join(dir, 'model.onnx'), /model\.onnx: input 'onnx::Gather_2' is none the data gives .*logits_to_keep.*export with dynamo/);
  });

  it("--hf-model naming another model's folder is refused (its model.safetensors matches a few constant tensors only)", () => {
    const r = distill(['--student', path.join(MODELS, 'user', 'bert', 'torchscript.onnx'), '--hf-model', path.join(MODELS, 'user', 'roberta'),
      '--train-file', path.join(DATA, 'train.jsonl'), '--max-steps', '1', '--output-dir', path.join(tmp, 'other-hf')]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /roberta\/model\.safetensors: only 802 of its 84,450 values are in .*torchscript\.onnx; it is another model's/);
  });

  it('with a teacher, a --label-field no row has is an error; rows without the default field are a transfer set, said once', () => {
    const unlabeled = path.join(tmp, 'unlabeled.jsonl');
    fs.writeFileSync(unlabeled, fs.readFileSync(path.join(DATA, 'train.jsonl'), 'utf8').replace(/"label": /g, '"y": '));
    const args = (out: string, more: string[]) => ['--teacher', model('bert-teacher'), '--student', model('bert-student'), '--train-file', unlabeled,
      '--max-steps', '1', '--output-dir', path.join(tmp, out), ...more];
    const typo = distill(args('typo-field', ['--label-field', 'labl']));
    assert.equal(typo.status, 2, typo.stderr);
    assert.match(typo.stderr, /unlabeled\.jsonl: no row has a label in field 'labl' \(--label-field\)/);
    const transfer = distill(args('transfer-set', []));
    assert.equal(transfer.status, 0, transfer.stderr);
    assert.match(transfer.stderr, /unlabeled\.jsonl: no row has a label \(field 'label'\); those rows learn from the teacher's logits alone/);
  });

  it("--output-dir set to the student's own folder is refused, even with --overwrite-output-dir", () => {
    const dir = path.join(tmp, 'own-folder');
    fs.cpSync(path.join(MODELS, 'bert-student'), dir, { recursive: true });
    const before = fs.readFileSync(path.join(dir, 'model.onnx'));
    const r = distill(['--student', path.join(dir, 'model.onnx'), '--train-file', path.join(DATA, 'train.jsonl'), '--max-steps', '1', '--output-dir', dir, '--overwrite-output-dir']);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /is the student's own folder/);
    assert.ok(fs.readFileSync(path.join(dir, 'model.onnx')).equals(before), 'the student is untouched');
  });

  it('a tokenizer whose vocabulary is larger than the student embedding', () => {
    const tok = JSON.parse(fs.readFileSync(path.join(MODELS, 'tokenizer.json'), 'utf8'));
    for (let i = 0; i < 100; i++) tok.model.vocab[`zzextra${i}`] = 2000 + i;
    const file = write('big-tokenizer.json', JSON.stringify(tok));
    const r = run(path.join(DATA, 'train.jsonl'), ['--tokenizer', file]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /big-tokenizer\.json.* 2100 tokens .* 2000 rows/);
  });
});

describe('distill train: modes', () => {
  it('--streaming reads the file each epoch: with --no-shuffle it reaches the in-memory weights exactly', () => {
    const args = (out: string, more: string[]) => ['--student', model('bert-student'), '--train-file', path.join(DATA, 'train.jsonl'),
      '--batch-size', '16', '--epochs', '2', '--no-shuffle', '--threads', '1', '--learning-rate', '1e-3', '--output-dir', out, ...more];
    const a = distill(args(path.join(tmp, 'mem'), []));
    const b = distill(args(path.join(tmp, 'stream'), ['--streaming']));
    assert.equal(a.status, 0, a.stderr);
    assert.equal(b.status, 0, b.stderr);
    assertSameWeights(path.join(tmp, 'mem'), path.join(tmp, 'stream'));
  });

  it('--low-memory (in-place updates, one ORT call per step) reaches the default mode\'s weights exactly', () => {
    // --max-length 64 truncates every e-mail (the shortest has 87 tokens), so no stacked batch needs padding and
    // the two modes compute exactly the same. With padding, the loop's stacking makes them agree to rounding only.
    const args = (out: string, more: string[]) => ['--teacher', model('bert-teacher'), '--student', model('bert-student'), '--train-file', path.join(DATA, 'train.jsonl'),
      '--batch-size', '16', '--epochs', '2', '--threads', '2', '--learning-rate', '1e-3', '--gradient-accumulation-steps', '2', '--max-length', '64', '--output-dir', out, ...more];
    const a = distill(args(path.join(tmp, 'default-mode'), []));
    const b = distill(args(path.join(tmp, 'low-memory'), ['--low-memory']));
    assert.equal(a.status, 0, a.stderr);
    assert.equal(b.status, 0, b.stderr);
    assertSameWeights(path.join(tmp, 'default-mode'), path.join(tmp, 'low-memory'));
  });

  it('--no-narrow-rows trains the whole last layer: the same weights to rounding, and the narrowed step is the default', () => {
    // The [CLS]-only last layer (docs/TRAINING-STEP.md) gives the same gradients as the whole one; only the
    // summation order differs, so after 6 steps the weights agree to float32 rounding.
    const args = (out: string, more: string[]) => ['--teacher', model('bert-teacher'), '--student', model('bert-student'), '--train-file', path.join(DATA, 'train.jsonl'),
      '--batch-size', '16', '--epochs', '1', '--threads', '2', '--learning-rate', '1e-3', '--output-dir', out, ...more];
    const [narrow, whole] = [path.join(tmp, 'narrow-rows'), path.join(tmp, 'whole-rows')];
    assert.equal(distill(args(narrow, [])).status, 0);
    assert.equal(distill(args(whole, ['--no-narrow-rows'])).status, 0);
    const narrowNodes = (dir: string) => loadModel(path.join(dir, 'artifacts', 'train_step.onnx')).model.graph!.node.filter((n) => n.name?.startsWith('narrow/')).length;
    assert.ok(narrowNodes(narrow) > 0);
    assert.equal(narrowNodes(whole), 0);
    const [a, b] = [initializerBytes(path.join(narrow, 'model.onnx')), initializerBytes(path.join(whole, 'model.onnx'))];
    const before = initializerBytes(model('bert-student'));
    for (const [name, bytes] of a) {
      const [x, y, x0] = [bytes, b.get(name)!, before.get(name)!].map((buf) => new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4));
      let diff = 0;
      let moved = 0;
      for (let i = 0; i < x!.length; i++) {
        diff = Math.max(diff, Math.abs(x![i]! - y![i]!));
        moved = Math.max(moved, Math.abs(y![i]! - x0![i]!));
      }
      // Within 1e-4 of how far training moved the tensor (measured: 6.5e-6 at most); the 1e-7 covers tensors
      // whose exact gradient is zero (the key biases), where both runs hold rounding noise alone.
      assert.ok(diff <= 1e-4 * moved + 1e-7, `${name}: max|diff| ${diff} against a change of ${moved}`);
    }
  });

  it('Ctrl-C saves a checkpoint, exits 130 and says how to resume', async () => {
    const { spawn } = await import('node:child_process');
    const out = path.join(tmp, 'sigint');
    const child = spawn(process.execPath, [CLI, 'train', '--student', model('bert-student'), '--train-file', path.join(DATA, 'train.jsonl'),
      '--batch-size', '8', '--epochs', '500', '--logging-steps', '1', '--steps-per-call', '1', '--threads', '1', '--output-dir', out]);
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const code = await new Promise<number | null>((resolve) => {
      child.stderr.on('data', (d) => {
        stderr += d;
        if (/step 3\b/.test(stderr) && !child.killed) child.kill('SIGINT');
      });
      child.on('exit', (c) => resolve(c));
    });
    assert.equal(code, 130, stderr);
    assert.match(stdout, /^interrupted: \d+ steps/m);
    assert.match(stdout, /resume with --resume-from-checkpoint latest/);
    assert.ok(fs.readdirSync(out).some((f) => /^checkpoint-\d+$/.test(f)), 'a checkpoint was saved');
  });

  it('the last checkpoint is written once; --save-total-limit keeps the newest', async () => {
    const { train } = await import('../src/train/trainer.js');
    const out = path.join(tmp, 'save-once');
    const saves: string[] = [];
    // 96 rows / 16 = 6 steps per epoch, 2 epochs: saves at 4, 8 and 12, the last of them also the end.
    await train({ student: model('bert-student'), trainFile: path.join(DATA, 'train.jsonl'), outputDir: out, batchSize: 16, epochs: 2, saveSteps: 4, saveTotalLimit: 2, threads: 1 },
      { onSave: (d) => saves.push(path.basename(d)) });
    assert.deepEqual(saves, ['checkpoint-4', 'checkpoint-8', 'checkpoint-12']);
    assert.deepEqual(fs.readdirSync(out).filter((n) => n.startsWith('checkpoint-')).sort(), ['checkpoint-12', 'checkpoint-8']);
    assert.ok(!fs.existsSync(path.join(out, '.distill.lock')), 'the lock is released');
  });

  it('--save-total-limit 1 leaves one checkpoint when the last one turns out the best (it was saved before its evaluation)', () => {
    const out = path.join(tmp, 'limit-one');
    // Perplexity improves at every evaluation here (steps 5, 6, 10, 12): the last checkpoint is the best.
    const state = evaluatedRun('gpt2-student', out, ['--epochs', '2', '--learning-rate', '1e-3', '--eval-steps', '5', '--save-total-limit', '1']);
    assert.equal(state.best_model_checkpoint, path.join(out, 'checkpoint-12'));
    assert.deepEqual(fs.readdirSync(out).filter((n) => n.startsWith('checkpoint-')), ['checkpoint-12']);
  });

  it('ORT calls end only where the weights are needed: not at log steps or epoch ends without evaluation', async () => {
    const { train } = await import('../src/train/trainer.js');
    // 96 rows / 16 = 6 steps per epoch, 2 epochs, 4 steps per call, a log entry every 3 steps; one progress
    // report per train call.
    const run = async (out: string, evalFile?: string) => {
      const calls: number[] = [];
      const logs: { step: number; loss?: number; learning_rate?: number }[] = [];
      await train({
        student: model('bert-student'), trainFile: path.join(DATA, 'train.jsonl'), outputDir: path.join(tmp, out), evalFile,
        batchSize: 16, epochs: 2, stepsPerCall: 4, loggingSteps: 3, threads: 1,
      }, { onProgress: (p) => calls.push(p.step), onLog: (e) => logs.push(e) });
      return { calls, losses: logs.filter((e) => e.loss !== undefined) };
    };
    const plain = await run('calls-no-eval');
    assert.deepEqual(plain.calls, [4, 8, 12]);
    // Log entries still land on every third step, from the per-step metrics of the calls that cover them.
    assert.deepEqual(plain.losses.map((e) => e.step), [3, 6, 9, 12]);
    assert.ok(plain.losses.every((e) => Number.isFinite(e.loss) && e.learning_rate! > 0));
    const evaluated = await run('calls-eval', path.join(DATA, 'eval.jsonl'));
    assert.deepEqual(evaluated.calls, [4, 6, 10, 12]);
    // The same steps, so the same logged losses, whichever calls computed them.
    assert.deepEqual(evaluated.losses, plain.losses);
  });

  it('early stopping ends training when the eval metric stops improving', () => {
    const out = path.join(tmp, 'early');
    const r = distill(['--student', model('bert-student'), '--train-file', path.join(DATA, 'train.jsonl'), '--eval-file', path.join(DATA, 'eval.jsonl'),
      '--batch-size', '16', '--epochs', '40', '--learning-rate', '1e-9', '--eval-steps', '2', '--early-stopping-patience', '2', '--threads', '1', '--output-dir', out]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /early stopping: eval_accuracy did not improve for 2 evaluations/);
    const state = JSON.parse(fs.readFileSync(path.join(out, 'trainer_state.json'), 'utf8'));
    assert.ok(state.global_step < 40 * 6, `stopped early at step ${state.global_step}`);
  });

  it('early stopping evaluates each step once and hands back the best evaluation\'s weights (HF: load_best_model_at_end)', () => {
    const out = path.join(tmp, 'early-best');
    // Seeded run: evaluations at steps 1 (best), 2 (equal) and 3 (worse): patience 2 runs out at step 3.
    const state = evaluatedRun('bert-student', out, ['--epochs', '5', '--learning-rate', '1e-2', '--eval-steps', '1', '--early-stopping-patience', '2']);
    const evalSteps = state.log_history.filter((e: Record<string, number>) => 'eval_accuracy' in e).map((e: Record<string, number>) => e.step);
    assert.deepEqual(evalSteps, [1, 2, 3], 'each evaluated step is logged once');
    assert.equal(state.patience_used, 2);
    assert.equal(state.best_model_checkpoint, path.join(out, 'checkpoint-1'));
    const trained = initializerBytes(path.join(out, 'model.onnx'));
    const floats = (dir: string) => readCheckpoint(path.join(out, dir)).tensors;
    const [best, last] = [floats('checkpoint-1'), floats('checkpoint-3')];
    let compared = 0;
    let differsFromLast = false;
    const bytesOf = (t: ort.Tensor) => {
      const a = t.data as Float32Array;
      return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    };
    for (const [name, t] of best) {
      const bytes = trained.get(name);
      if (!bytes || t.type !== 'float32') continue;
      compared++;
      assert.ok(bytes.equals(bytesOf(t)), `${name}: the best checkpoint's values`);
      differsFromLast ||= !bytes.equals(bytesOf(last.get(name)!));
    }
    assert.ok(compared >= 10, `${compared} parameters compared`);
    assert.ok(differsFromLast, 'the last step\'s weights are not the best\'s');
    const results = JSON.parse(fs.readFileSync(path.join(out, 'eval_results.json'), 'utf8'));
    assert.equal(results.eval_accuracy, state.log_history.find((e: Record<string, number>) => e.step === 1 && 'eval_accuracy' in e).eval_accuracy);
  });

  it('token classification from pre-tokenized rows, and a causal LM distilled from its teacher', () => {
    const tok = path.join(tmp, 'tok.jsonl');
    fs.writeFileSync(tok, Array.from({ length: 24 }, (_, i) => JSON.stringify({
      input_ids: [2, 10 + i, 20 + i, 30 + (i % 7), 3], labels: [-100, 1, 2, i % 3, -100],
    })).join('\n'));
    const a = distill(['--student', model('bert-tokcls'), '--train-file', tok, '--eval-file', tok, '--batch-size', '8', '--epochs', '2', '--threads', '1', '--output-dir', path.join(tmp, 'tokcls')]);
    assert.equal(a.status, 0, a.stderr);
    assert.match(a.stdout, /eval_token_accuracy/);
    const b = distill(['--teacher', model('gpt2-teacher'), '--student', model('gpt2-student'), '--train-file', path.join(DATA, 'eval.jsonl'),
      '--eval-file', path.join(DATA, 'eval.jsonl'), '--task', 'causal-lm', '--max-length', '32', '--batch-size', '8', '--epochs', '1', '--threads', '1',
      '--learning-rate', '1e-3', '--output-dir', path.join(tmp, 'lm')]);
    assert.equal(b.status, 0, b.stderr);
    assert.match(b.stdout, /eval_perplexity \d/);
  });
});

describe('calls and their byte budget', () => {
  it("a call ends before its queued batches pass callBytes (a causal LM's teacher logits), with the same training", async () => {
    const { train } = await import('../src/train/trainer.js');
    const { readSafetensorsFile } = await import('../src/export/safetensors.js');
    const run = async (out: string, callBytes?: number) => {
      let calls = 0;
      await train({
        teacher: model('gpt2-teacher'), student: model('gpt2-student'), trainFile: path.join(DATA, 'eval.jsonl'), task: 'causal-lm',
        maxLength: 32, batchSize: 8, epochs: 1, threads: 1, learningRate: 1e-3, outputDir: path.join(tmp, out), ...(callBytes ? { callBytes } : {}),
      }, { onProgress: () => calls++ });
      return { calls, weights: readSafetensorsFile(path.join(tmp, out, 'model.safetensors')).tensors };
    };
    const whole = await run('calls-default');
    // One batch: 8 x 32 token ids, mask and labels, and 8 x 32 x vocabulary teacher logits.
    const vocab = loadModel(model('gpt2-student')).model.graph!.output![0]!.type!.tensorType!.shape!.dim!.at(-1)!.dimValue;
    const oneBatch = 8 * 32 * (3 * 8 + 4 * Number(vocab));
    const steps = JSON.parse(fs.readFileSync(path.join(tmp, 'calls-default', 'trainer_state.json'), 'utf8')).global_step as number;
    assert.ok(steps >= 3 && steps <= 8 && whole.calls === 1, `${steps} steps in ${whole.calls} calls with the default budget`);
    const tight = await run('calls-tight', Math.floor(1.5 * oneBatch));
    assert.equal(tight.calls, steps, 'room for one batch per call');
    for (const [name, t] of whole.weights) assert.ok(Buffer.from(tight.weights.get(name)!.bytes).equals(Buffer.from(t.bytes)), name);
  });
});

describe('TeacherLogits', () => {
  it('prepare() opens the teacher session once, and forBatch uses it (logits equal a direct run)', async () => {
    const { TeacherLogits } = await import('../src/train/teacher.js');
    const teacher = TeacherLogits.open(model('bert-teacher'), false, { threads: 1 });
    const session = await teacher.prepare();
    assert.equal(await teacher.prepare(), session);
    const batch = tokenBatch(session.inputNames, 2, 7);
    const got = await teacher.forBatch(batch, [0, 1]);
    assert.equal(await teacher.prepare(), session);
    const want = (await session.run(batch))[session.outputNames[0]!]!;
    assert.deepEqual([...got.dims], [...want.dims]);
    assert.deepEqual(Array.from(got.data as Float32Array), Array.from(want.data as Float32Array));
    await teacher.release();
  });
});
