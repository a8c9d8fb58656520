/**
 * The browser library's trainer (WebTrainer, src/web/) driven from Node on onnxruntime-node's CPU provider, as
 * a check of its own logic without a browser: a teacher that reads an input the student lacks
 * (token_type_ids), and gradient accumulation, give `distill train`'s per-step losses.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { loadModel, saveModel } from '../src/onnx/model-io.js';
import { train } from '../src/train/trainer.js';
import { MODELS, ROOT } from './helpers/fixtures.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-web-node-'));

/** The browser library's file source: a folder's files by name (src/web/source.ts). */
interface FileSource {
  description: string;
  read(name: string): Promise<Uint8Array>;
  has(name: string): Promise<boolean>;
}

/** The parts of the browser trainer this test drives (src/web/trainer.ts, built by tsconfig.web.json, whose DOM types Node's build lacks). */
interface WebTrainerLike {
  examplesOf(rows: { row: Record<string, unknown>; line: number }[], file: string): unknown[];
  train(examples: unknown[], options: Record<string, unknown>): Promise<{ losses: number[] }>;
}
const webTrainerModule = '../src/web/trainer.js';
const { WebTrainer } = (await import(webTrainerModule)) as { WebTrainer: { open(o: { ort: unknown; source: FileSource }): Promise<WebTrainerLike> } };

/** onnxruntime-node under the web module's interface: the 'wasm' provider the library asks for is the CPU one. */
const nodeOrt = {
  ...ort,
  InferenceSession: { create: (m: Uint8Array, o: ort.InferenceSession.SessionOptions) => ort.InferenceSession.create(m, { ...o, executionProviders: ['cpu'] }) },
};

/** A folder on disk as the library's file source. */
function folderSource(dir: string): FileSource {
  return {
    description: `${dir}/`,
    read: async (name) => new Uint8Array(fs.readFileSync(path.join(dir, name))),
    has: async (name) => fs.existsSync(path.join(dir, name)),
  };
}

describe('WebTrainer on onnxruntime-node', () => {
  it("a teacher reading token_type_ids, with accumulation 2: each step's loss is distill train's (the window's mean)", async () => {
    // The demo teacher with a token_type_ids input (unread, as a BERT export's is when all types are 0).
    const teacher = path.join(tmp, 'teacher', 'model.onnx');
    fs.cpSync(path.join(MODELS, 'demo', 'teacher'), path.dirname(teacher), { recursive: true });
    const m = loadModel(teacher).model;
    const ids = m.graph!.input.find((i) => i.name === 'input_ids')!;
    m.graph!.input.push({ ...ids, name: 'token_type_ids' });
    saveModel(m, teacher);

    const rows = fs.readFileSync(path.join(ROOT, 'test', 'data-train', 'train.jsonl'), 'utf8').trim().split('\n').slice(0, 48);
    const trainFile = path.join(tmp, 'train.jsonl');
    fs.writeFileSync(trainFile, `${rows.join('\n')}\n`);
    const out = path.join(tmp, 'node-run');
    const settings = { maxSteps: 4, epochs: 2, learningRate: 1e-3, batchSize: 8 };
    await train({
      student: path.join(MODELS, 'demo', 'student', 'model.onnx'), teacher, trainFile, outputDir: out, loggingSteps: 1, threads: 1,
      gradientAccumulationSteps: 2, ...settings,
    });
    const state = JSON.parse(fs.readFileSync(path.join(out, 'trainer_state.json'), 'utf8')) as { log_history: { loss?: number }[] };
    const want = state.log_history.flatMap((e) => (e.loss === undefined ? [] : [e.loss]));
    assert.equal(want.length, settings.maxSteps);

    // The folder the page would get: distill train's artifacts plus the teacher and the tokenizer.
    const folder = path.join(out, 'artifacts');
    fs.copyFileSync(teacher, path.join(folder, 'teacher.onnx'));
    fs.copyFileSync(path.join(MODELS, 'demo', 'student', 'tokenizer.json'), path.join(folder, 'tokenizer.json'));
    const trainer = await WebTrainer.open({ ort: nodeOrt, source: folderSource(folder) });
    const examples = trainer.examplesOf(rows.map((r, i) => ({ row: JSON.parse(r) as Record<string, unknown>, line: i + 1 })), trainFile);
    const got: number[] = [];
    const result = await trainer.train(examples, { ...settings, onStep: (s: { loss: number }) => void got.push(s.loss) });
    assert.equal(result.losses.length, 2 * settings.maxSteps, 'one loss per micro-batch in the result');
    assert.equal(got.length, want.length);
    got.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-5, `step ${i + 1}: ${v} vs distill train's ${want[i]}`));
  });
});
