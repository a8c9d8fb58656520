/**
 * Parameter discovery (src/params/) on the user-style exports of models/user/: the plan it makes, against
 * what `save_pretrained` wrote (model.safetensors' names and values are the reference), and the CLI around it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { floatArray, readSafetensors } from '../src/export/safetensors.js';
import { transpose2d } from '../src/export/hf-weights.js';
import { tensorToFloat32 } from '../src/onnx/tensor.js';
import { prepareStudent, studentMetadata } from '../src/params/student.js';
import { MODELS, ROOT } from './helpers/fixtures.js';

const USER = path.join(MODELS, 'user');
const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-params-unit-'));
const distill = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

/** Every HF tensor of the family is one planned parameter whose initializer holds exactly its values. */
function assertPlanMatchesSafetensors(family: string, exporter: string): void {
  const student = prepareStudent(path.join(USER, family, `${exporter}.onnx`));
  const hf = readSafetensors(path.join(USER, family, 'model.safetensors'));
  const byHf = new Map(student.plan.parameters.map((p) => [p.hfName, p]));
  assert.equal(student.plan.parameters.length, hf.size, `${family} ${exporter}: one parameter per HF tensor`);
  for (const [name, t] of hf) {
    const p = byHf.get(name);
    assert.ok(p, `${family} ${exporter}: no parameter for '${name}'`);
    const init = student.model.graph.get(p.initializer)!.initializer!;
    const want = floatArray(t) as Float32Array;
    const got = p.transpose ? transpose2d(tensorToFloat32(init), p.shape[0]!, p.shape[1]!) : tensorToFloat32(init);
    assert.deepEqual(Array.from(got), Array.from(want), `${family} ${exporter}: '${name}' values`);
  }
}

describe('parameter discovery on user-style exports', () => {
  for (const family of ['bert', 'albert', 'gpt2']) {
    for (const exporter of ['torchscript', 'dynamo']) {
      it(`${family} ${exporter}: one initializer per model.safetensors tensor, holding its values`, () => assertPlanMatchesSafetensors(family, exporter));
    }
  }

  it('dynamo: the exporter constants are held constant, the dropped Gemm biases restored', () => {
    const s = prepareStudent(path.join(USER, 'bert', 'dynamo.onnx'));
    assert.ok(s.plan.constants.length >= 3 && s.plan.constants.every((c) => c.shape.length === 0), JSON.stringify(s.plan.constants));
    const bias = s.plan.parameters.find((p) => p.hfName === 'classifier.bias')!;
    assert.equal(bias.origin, 'rematerialized');
    assert.deepEqual(bias.shape, [2]);
  });

  it('HF weight-decay groups and the padding row', () => {
    const s = prepareStudent(path.join(USER, 'bert', 'torchscript.onnx'));
    const p = (n: string) => s.plan.parameters.find((x) => x.hfName === n)!;
    assert.equal(p('bert.encoder.layer.0.attention.self.query.weight').decay, true);
    assert.equal(p('bert.encoder.layer.0.attention.self.query.bias').decay, false);
    assert.equal(p('bert.embeddings.LayerNorm.weight').decay, false);
    assert.equal(p('bert.embeddings.word_embeddings.weight').paddingRow, 0);
    assert.equal(p('bert.embeddings.position_embeddings.weight').paddingRow, null);
  });

  it('heuristics alone (no HF files): TorchScript merges untied by their Identity aliases, no constants trained', () => {
    const dir = path.join(tmp, 'bare');
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(path.join(USER, 'bert', 'torchscript.onnx'), path.join(dir, 'model.onnx'));
    const s = prepareStudent(path.join(dir, 'model.onnx'));
    assert.equal(s.plan.source, 'heuristics');
    assert.equal(s.plan.parameters.length, 41);
    const named = s.plan.parameters.filter((p) => p.hfName !== null).map((p) => p.hfName!);
    assert.ok(named.includes('bert.pooler.dense.bias') && named.includes('bert.encoder.layer.1.output.LayerNorm.weight'));
    assert.ok(s.plan.warnings.some((w) => /no Hugging Face name/.test(w)), s.plan.warnings.join('\n'));
  });

  it("finds the HF files one folder up (optimum's and transformers.js's onnx/model.onnx) or in --hf-model", () => {
    const repo = path.join(tmp, 'repo');
    fs.mkdirSync(path.join(repo, 'onnx'), { recursive: true });
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) fs.copyFileSync(path.join(USER, 'distilbert', f), path.join(repo, f));
    fs.copyFileSync(path.join(USER, 'distilbert', 'torchscript.onnx'), path.join(repo, 'onnx', 'model.onnx'));
    const up = prepareStudent(path.join(repo, 'onnx', 'model.onnx'));
    assert.equal(up.plan.source, 'hf-files');
    assert.equal(up.plan.parameters.length, 40);
    const alone = path.join(tmp, 'alone');
    fs.mkdirSync(alone, { recursive: true });
    fs.copyFileSync(path.join(USER, 'distilbert', 'torchscript.onnx'), path.join(alone, 'model.onnx'));
    const given = prepareStudent(path.join(alone, 'model.onnx'), { hfModel: repo });
    assert.equal(given.plan.source, 'hf-files');
    assert.equal(given.sidecar.task, 'seq-cls');
    assert.throws(() => prepareStudent(path.join(alone, 'model.onnx'), { hfModel: path.join(tmp, 'nowhere') }), /--hf-model .*nowhere: no such folder/);
  });

  it('config.json gives the task, the labels and the padding id', () => {
    const { sidecar } = studentMetadata(path.join(USER, 'roberta', 'dynamo.onnx'));
    assert.equal(sidecar.task, 'seq-cls');
    assert.deepEqual(sidecar.id2label, { 0: 'ham', 1: 'spam' });
    assert.equal(sidecar.pad_token_id, 0);
    assert.equal(studentMetadata(path.join(USER, 'gpt2', 'torchscript.onnx')).sidecar.task, 'causal-lm');
  });

  it('distill inspect --params prints the plan; --json gives it whole', () => {
    const text = distill('inspect', path.join(USER, 'albert', 'dynamo.onnx'), '--params');
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /27 parameters .* from model\.safetensors beside the model/);
    assert.match(text.stdout, /restored from model\.safetensors into Gemm node/);
    assert.match(text.stdout, /read it instead \(one gradient sum, one update\)/); // the shared layer's per-use copies
    const json = distill('inspect', path.join(USER, 'albert', 'dynamo.onnx'), '--params', '--json');
    const plan = JSON.parse(json.stdout) as { parameters: { hfName: string }[] };
    assert.equal(plan.parameters.length, 27);
  });

  it('distill train refuses an output folder that holds another run, in one line', () => {
    const out = path.join(tmp, 'run');
    const args = ['train', '--student', path.join(USER, 'bert', 'torchscript.onnx'), '--train-file', path.join(USER, 'bert', 'train.jsonl'),
      '--max-steps', '1', '--batch-size', '4', '--threads', '1', '--output-dir', out];
    const first = distill(...args);
    assert.equal(first.status, 0, first.stderr);
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors', 'model.onnx', path.join('onnx', 'model.onnx'), 'training_args.json']) {
      assert.ok(fs.existsSync(path.join(out, f)), f);
    }
    const second = distill(...args);
    assert.equal(second.status, 2);
    assert.match(second.stderr, /already holds a training run .* --overwrite-output-dir/);
    assert.equal(second.stderr.trim().split('\n').length, 1);
    assert.equal(distill(...args, '--overwrite-output-dir').status, 0);
  });
});
