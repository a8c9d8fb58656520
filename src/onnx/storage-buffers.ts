/**
 * The nodes of a model that bind more storage buffers than a WebGPU device offers per shader stage. ORT's
 * WebGPU kernels for Concat, Split and Sum bind every data input and output as one buffer (Split's second
 * input, the part sizes, is read on the host and binds none); over the device's
 * maxStorageBuffersPerShaderStage the JSEP build (ort.min.mjs) computes garbage without an error (measured:
 * a 25-input Concat gave grad_norm 0, docs/BROWSER.md). The browser trainer refuses such a model up front.
 */
import type { GraphProto, ModelProto } from './proto.js';
import { isStandardDomain } from './ops.js';

/** Ops whose ORT WebGPU kernel binds one storage buffer per input and output. */
export const BUFFER_PER_TENSOR_OPS: ReadonlySet<string> = new Set(['Concat', 'Split', 'Sum']);

export interface WideNode {
  op: string;
  name: string;
  buffers: number;
}

/** Concat/Split/Sum nodes (in subgraphs too) with more than `limit` inputs plus outputs. */
export function wideNodes(model: ModelProto, limit: number): WideNode[] {
  const out: WideNode[] = [];
  const walk = (g: GraphProto) => {
    for (const n of g.node) {
      if (isStandardDomain(n.domain) && BUFFER_PER_TENSOR_OPS.has(n.opType)) {
        const dataInputs = n.opType === 'Split' ? n.input.slice(0, 1) : n.input;
        const buffers = dataInputs.filter(Boolean).length + n.output.filter(Boolean).length;
        if (buffers > limit) out.push({ op: n.opType, name: n.name || n.output[0] || '?', buffers });
      }
      for (const a of n.attribute) {
        if (a.g) walk(a.g);
        for (const sub of a.graphs ?? []) walk(sub);
      }
    }
  };
  walk(model.graph!);
  return out;
}
