/** The eval model (student forward + cross-entropy) run with the trainer's current parameters. */
import * as path from 'node:path';
import type ort from 'onnxruntime-node';
import type { Manifest } from '../step/contract.js';
import type { Batch } from './batch.js';
import { createSession, type SessionOptions } from './session.js';

export class EvalSession {
  private constructor(private readonly session: ort.InferenceSession, private readonly logits: string) {}

  static async open(dir: string, manifest: Manifest, options: SessionOptions = {}): Promise<EvalSession> {
    const session = await createSession(path.join(dir, manifest.models.eval), options);
    return new EvalSession(session, session.outputNames[0]!);
  }

  /** Logits and mean cross-entropy of one batch under `params`. */
  async run(batch: Batch, params: ReadonlyMap<string, ort.Tensor>): Promise<{ logits: ort.Tensor; ce: number }> {
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of this.session.inputNames) {
      const t = batch[name] ?? params.get(name);
      if (!t) throw new Error(`eval model input '${name}' was not provided`);
      feeds[name] = t;
    }
    const out = await this.session.run(feeds);
    return { logits: out[this.logits] as ort.Tensor, ce: Number((out.ce!.data as Float32Array)[0]) };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
