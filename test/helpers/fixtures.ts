/** Where the committed fixtures live, and inputs that fit them. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tensor } from './ort.js';
import { rng } from './rng.js';
import type ort from 'onnxruntime-node';

/** The repository root (tests run from dist/test/). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const MODELS = path.join(ROOT, 'models');

/** Every .onnx file under models/, relative to the repo root. */
export function fixtureModels(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.onnx')) out.push(path.relative(ROOT, p));
    }
  };
  walk(MODELS);
  return out.sort();
}

/** A padded batch of token ids for the HF fixtures (vocab 2000, pad id 0). */
export function tokenBatch(inputNames: readonly string[], batch = 2, seq = 7, seed = 7): Record<string, ort.Tensor> {
  const r = rng(seed);
  const ids: number[] = [];
  const mask: number[] = [];
  for (let b = 0; b < batch; b++) {
    const len = seq - 2 * b;
    for (let s = 0; s < seq; s++) {
      ids.push(s < len ? 1 + Math.floor(r() * 1999) : 0);
      mask.push(s < len ? 1 : 0);
    }
  }
  const feed: Record<string, ort.Tensor> = {};
  for (const n of inputNames) {
    if (n === 'input_ids') feed[n] = tensor('int64', [batch, seq], ids);
    else if (n === 'attention_mask') feed[n] = tensor('int64', [batch, seq], mask);
    else throw new Error(`no test input for '${n}'`);
  }
  return feed;
}
