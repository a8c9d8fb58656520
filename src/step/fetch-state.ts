/**
 * fetch_state.onnx: every parameter and optimizer-state tensor in, the same tensor out (`fetched/<name>`).
 * A driver that keeps the state in GPU buffers between steps (runtime/step-driver.ts) runs it, with host
 * outputs, to bring the state to the host for a checkpoint or the trained model: onnxruntime-node cannot read
 * a GPU tensor's data itself, and a copy by ORT is one call for the whole state.
 */
import { Graph } from '../ir/graph.js';
import { type Model, newModel } from '../ir/convert.js';
import { dtypeFromName } from '../onnx/dtype.js';
import { fetchedName } from './contract.js';

export function buildFetchModel(tensors: readonly { name: string; dtype: string; shape: number[]; ioShape?: number[] }[], opset: number): Model {
  const g = new Graph('fetch_state');
  for (const t of tensors) {
    const type = { elemType: dtypeFromName(t.dtype), shape: t.ioShape ?? t.shape };
    const input = g.addInput(t.name, type);
    const out = g.value(fetchedName(t.name));
    out.type = type;
    g.addNode('Identity', [input], [out], [], { name: `fetch/${t.name}` });
    g.appendOutputs(out);
  }
  return newModel(g, opset);
}
