/**
 * An export made through a wrapper module (`self.m = model`, README step 1's way around TorchScript's extra
 * causal-LM inputs) prefixes every node and initializer name with the wrapper's attribute. The parameter
 * plan must read through it: the same HF name for every parameter as the unwrapped export's plan.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { loadModel, saveModel } from '../src/onnx/model-io.js';
import { prepareStudent } from '../src/params/student.js';
import { MODELS } from './helpers/fixtures.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-wrapper-'));

/** The export as a wrapper module `m` would give it: '/transformer/h.0/...' -> '/m/transformer/h.0/...', 'transformer.wte.weight' -> 'm.transformer.wte.weight'. */
function wrapped(family: string): string {
  const dir = path.join(tmp, family);
  fs.cpSync(path.join(MODELS, 'user', family), dir, { recursive: true });
  const m = loadModel(path.join(dir, 'torchscript.onnx')).model;
  const g = m.graph!;
  const renamed = new Map(g.initializer.filter((t) => /^[A-Za-z_]\w*\./.test(t.name!)).map((t) => [t.name!, `m.${t.name}`]));
  for (const t of g.initializer) t.name = renamed.get(t.name!) ?? t.name;
  for (const n of g.node) {
    if (n.name?.startsWith('/')) n.name = `/m${n.name}`;
    n.input = n.input.map((i) => renamed.get(i) ?? i);
  }
  saveModel(m, path.join(dir, 'torchscript.onnx'));
  return path.join(dir, 'torchscript.onnx');
}

describe('exports through a wrapper module', () => {
  for (const family of ['gpt2', 'bert']) {
    it(`${family}: the plan of the wrapped TorchScript export names every parameter as the plain export's does, with no ambiguity left`, () => {
      const plain = prepareStudent(path.join(MODELS, 'user', family, 'torchscript.onnx')).plan;
      const plan = prepareStudent(wrapped(family)).plan;
      const names = (p: typeof plan) => p.parameters.map((x) => x.hfName).sort();
      assert.deepEqual(names(plan), names(plain));
      assert.ok(plain.parameters.length > 10);
      assert.deepEqual(plan.warnings.filter((w) => /nothing in the export says which/.test(w)), []);
    });
  }
});
