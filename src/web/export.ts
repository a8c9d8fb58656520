/**
 * What a browser run hands back: the student's own inference graph with the trained weights (as
 * exportStudent writes model.onnx in Node) and Hugging Face's model.safetensors (as exportHfWeights).
 */
import { hfStateDict } from '../export/hf-state-dict.js';
import { setInitializers } from '../export/initializers.js';
import { encodeSafetensors } from '../export/safetensors-codec.js';
import type { Sidecar } from '../export/sidecar.js';
import { decodeModel, encodeModel } from '../onnx/model-codec.js';
import type { ModelProto } from '../onnx/proto.js';
import type { Manifest } from '../step/contract.js';
import type { Tensor } from './session.js';

function withTrainedWeights(studentBytes: Uint8Array, manifest: Manifest, tensors: ReadonlyMap<string, Tensor>, source: string): ModelProto {
  const model = decodeModel(studentBytes, source);
  const values = new Map(manifest.parameters.map((p) => [p.name, tensors.get(p.name)!.data as Float32Array | Float64Array]));
  setInitializers(model, values, source);
  return model;
}

/** model.onnx bytes: `studentBytes` (the folder's student.onnx) with the trained parameters. */
export function trainedModel(studentBytes: Uint8Array, manifest: Manifest, tensors: ReadonlyMap<string, Tensor>, source: string): Uint8Array {
  return encodeModel(withTrainedWeights(studentBytes, manifest, tensors, source));
}

/** model.safetensors bytes with HF names from the sidecar (initializer names without one). */
export function trainedSafetensors(studentBytes: Uint8Array, manifest: Manifest, sidecar: Sidecar | null, tensors: ReadonlyMap<string, Tensor>, source: string): Uint8Array {
  const model = withTrainedWeights(studentBytes, manifest, tensors, source);
  const { tensors: dict } = hfStateDict(model, sidecar, { file: source, sidecar: source.replace(/\.onnx$/, '.distill.json') });
  return encodeSafetensors(dict, { format: 'pt' });
}
