/**
 * A browser checkpoint as bytes: the parameters and optimizer state as safetensors (shaped as the step takes
 * them), with the run's position and identity in the metadata. A resume checks the identity, so a checkpoint
 * of another data set, seed or batch size is refused instead of continuing into a different run.
 */
import { InputError } from '../errors.js';
import type { DataPosition } from '../data/batches.js';
import { encodeSafetensors, floatArray, parseSafetensors, type SafeTensor } from '../export/safetensors-codec.js';
import type { Manifest } from '../step/contract.js';
import type { Ort, Tensor } from './session.js';

/** What a checkpoint's batches and optimizer state mean: a resume must share all of it. */
export interface RunIdentity {
  seed: number;
  batchSize: number;
  rows: number;
  totalSteps: number;
}

export interface CheckpointPosition {
  globalStep: number;
  position: DataPosition;
  identity: RunIdentity;
}

const META_KEY = 'onnx_distill_web';

export function checkpointBytes(tensors: ReadonlyMap<string, Tensor>, manifest: Manifest, at: CheckpointPosition): Uint8Array {
  const out = new Map<string, SafeTensor>();
  for (const t of [...manifest.parameters, ...manifest.state]) {
    const v = tensors.get(t.name);
    if (!v) throw new Error(`checkpoint: no tensor '${t.name}' to save`);
    const data = v.data as Float32Array | Float64Array;
    out.set(t.name, { dtype: data instanceof Float64Array ? 'F64' : 'F32', shape: [...v.dims], bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
  }
  return encodeSafetensors(out, { [META_KEY]: JSON.stringify(at) });
}

/** The tensors (on `ort`) and position of checkpoint `bytes`; `where` names it in errors. */
export function restoreCheckpoint(ort: Ort, bytes: Uint8Array, manifest: Manifest, identity: RunIdentity, where: string): CheckpointPosition & { tensors: Map<string, Tensor> } {
  const { tensors, metadata } = parseSafetensors(bytes, where);
  let at: CheckpointPosition;
  try {
    at = JSON.parse(metadata[META_KEY] ?? '') as CheckpointPosition;
  } catch {
    throw new InputError(`${where}: not a checkpoint of the browser trainer (no '${META_KEY}' metadata); delete it or train without resuming`);
  }
  for (const k of Object.keys(identity) as (keyof RunIdentity)[]) {
    if (at.identity?.[k] !== identity[k]) throw new InputError(`${where}: saved with ${k} ${at.identity?.[k]}, this run has ${identity[k]}; use the same settings or delete the checkpoint`);
  }
  const out = new Map<string, Tensor>();
  for (const t of [...manifest.parameters, ...manifest.state]) {
    const s = tensors.get(t.name);
    if (!s) throw new InputError(`${where}: no tensor '${t.name}'; it belongs to other artifacts`);
    const dims = t.ioShape ?? t.shape;
    if (s.shape.length !== dims.length || s.shape.some((d, i) => d !== dims[i])) throw new InputError(`${where}: '${t.name}' is [${s.shape}], these artifacts need [${dims}]`);
    const data = floatArray(s);
    out.set(t.name, data instanceof Float64Array ? new ort.Tensor('float64', data.slice(), dims) : new ort.Tensor('float32', data.slice(), dims));
  }
  return { ...at, tensors: out };
}
