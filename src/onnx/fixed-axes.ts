/**
 * Token inputs exported with fixed sizes. `torch.onnx.export` without `dynamic_shapes` / `dynamic_axes`
 * bakes the example batch's [batch, sequence] into the graph; ONNX Runtime then refuses every other batch
 * with an error that names neither the file nor the fix. Checked where a model is first read.
 */
import { InputError } from '../errors.js';
import type { ModelProto } from './proto.js';
import { describeType } from './summary.js';

/** The inputs a tokenizer's batch feeds: [batch, sequence] each. */
const TOKEN_INPUTS = new Set(['input_ids', 'attention_mask', 'token_type_ids', 'position_ids']);

/** Throws when a token input declares a fixed batch or sequence size. */
export function checkDynamicTokenAxes(model: ModelProto, file: string): void {
  for (const input of model.graph?.input ?? []) {
    if (!TOKEN_INPUTS.has(input.name ?? '')) continue;
    const shape = describeType(input.type).shape ?? [];
    if (!shape.slice(0, 2).some((d) => typeof d === 'number')) continue;
    throw new InputError(`${file}: input '${input.name}' has the fixed shape [${shape.join(', ')}], so it runs only on batches of that size; re-export it with dynamic batch and sequence axes (torch.onnx.export dynamic_shapes=... with dynamo, dynamic_axes=... with dynamo=False)`);
  }
}
