/**
 * Where an initializer is read, seen through the Identity nodes exporters put in front of it, and what each
 * reading node says about the PyTorch module it came from.
 *
 * TorchScript's export merges initializers of equal value and gives every other parameter an Identity whose
 * output keeps that parameter's name (`Identity(bert.embeddings.LayerNorm.bias) -> bert.pooler.dense.bias`);
 * its node names carry the module path (`/bert/encoder/layer.0/attention/self/query/Add`). The dynamo
 * exporter keeps no Identity but writes the module path into each node's metadata
 * (`pkg.torch.onnx.name_scopes`). Both tell which parameter a use of a merged initializer stands for.
 */
import type { Node, Value } from '../ir/graph.js';
import { isStandardDomain } from '../onnx/ops.js';

/** One input slot that reads an initializer, directly or through Identity nodes. */
export interface Use {
  node: Node;
  slot: number;
  /** The value the slot reads: the initializer itself or an Identity's output. */
  via: Value;
  /** The module path of the reading node ('bert.encoder.layer.0.attention.self.query'), when the export says. */
  scope: string | null;
}

/** Every slot reading `init` through zero or more Identity nodes (the Identity nodes themselves excluded). */
export function usesOf(init: Value): Use[] {
  const out: Use[] = [];
  const walk = (v: Value) => {
    const seen = new Set<Node>();
    for (const node of v.uses) {
      if (seen.has(node)) continue;
      seen.add(node);
      if (node.opType === 'Identity' && isStandardDomain(node.domain) && node.outputs[0]) {
        walk(node.outputs[0]);
        continue;
      }
      node.inputs.forEach((input, slot) => {
        if (input === v) out.push({ node, slot, via: v, scope: scopeOf(node) });
      });
    }
  };
  walk(init);
  return out;
}


/**
 * The module path a node was exported from: dynamo's `pkg.torch.onnx.name_scopes` metadata (its last
 * entry naming a module), else TorchScript's `/a/b.0/c/Op` node name. Null when neither says.
 */
export function scopeOf(node: Node): string | null {
  const scopes = node.extras.metadataProps?.find((p) => p.key === 'pkg.torch.onnx.name_scopes')?.value;
  if (scopes) {
    // A Python list literal of module paths, outermost first, ending with the op's own name ('linear').
    const paths = [...scopes.matchAll(/'([^']*)'/g)].map((m) => m[1]!);
    const modules = paths.slice(0, -1).filter((p) => p !== '');
    return modules.length ? modules[modules.length - 1]! : null;
  }
  if (node.name.startsWith('/')) {
    const parts = node.name.split('/').filter((p) => p !== '');
    return parts.length > 1 ? parts.slice(0, -1).join('.') : null;
  }
  return null;
}

/**
 * The leaf name a PyTorch module gives the tensor read at this slot ('weight' or 'bias'), from the op:
 * a Linear is MatMul (+ Add), a LayerNorm a LayerNormalization, an Embedding a Gather. Null when the op
 * says nothing.
 */
export function roleOf(use: Use): 'weight' | 'bias' | null {
  switch (use.node.opType) {
    case 'MatMul':
    case 'Mul':
    case 'Gather':
    case 'Conv':
      return use.slot === 2 ? 'bias' : 'weight';
    case 'Gemm':
      return use.slot === 2 ? 'bias' : 'weight';
    case 'LayerNormalization':
    case 'BatchNormalization':
    case 'InstanceNormalization':
      return use.slot === 1 ? 'weight' : use.slot === 2 ? 'bias' : null;
    case 'Add':
    case 'Sub':
      return 'bias';
    default:
      return null;
  }
}

/**
 * Whether a slot is where a model keeps something it learns: a weight or bias position of the ops above.
 * A float constant read anywhere else (a mask fill value, an attention scale in a Div, a GELU coefficient)
 * is arithmetic, not a parameter.
 */
export const isLearnablePosition = (use: Use): boolean => roleOf(use) !== null;
