/**
 * ModelProto <-> bytes, without files: the part of model-io.ts that the browser entry point (web/) shares.
 */
import { ModelFormatError } from '../errors.js';
import { type ModelProto, toNumber } from './proto.js';
import { ModelProtoType } from './schema.js';
import { concatChunks, encodeModelChunks } from './encode.js';

/** Decodes ONNX bytes; `source` names the file in error messages. */
export function decodeModel(bytes: Uint8Array, source: string): ModelProto {
  if (bytes.length === 0) throw new ModelFormatError(`${source}: file is empty, not an ONNX model`);
  let model: ModelProto;
  try {
    model = ModelProtoType.decode(bytes) as unknown as ModelProto;
  } catch (e) {
    const why = (e as Error).message;
    const truncated = /index out of range|invalid wire type|illegal/i.test(why);
    throw new ModelFormatError(
      `${source}: not a valid ONNX model (${truncated ? 'truncated or corrupt protobuf' : why}); re-export or re-download it`,
    );
  }
  const ir = safeNumber(model.irVersion);
  if (!model.graph || ir <= 0 || ir > 1000) {
    throw new ModelFormatError(`${source}: not an ONNX model (no graph or no ir_version); is this the right file?`);
  }
  if (model.opsetImport.length === 0) {
    throw new ModelFormatError(`${source}: ONNX model has no opset_import; re-export it with a current exporter`);
  }
  return model;
}

function safeNumber(v: Parameters<typeof toNumber>[0]): number {
  try {
    return toNumber(v);
  } catch {
    return -1;
  }
}

export function encodeModel(model: ModelProto): Uint8Array {
  return concatChunks(encodeModelChunks(model));
}
