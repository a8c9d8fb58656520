/**
 * The forward+backward model: the original graph plus, for each trainable parameter, an output
 * `grad/<parameter>` holding d loss / d parameter. What `distill grad` writes.
 */
import { GraphError, InputError } from '../errors.js';
import { isFloatType } from '../onnx/dtype.js';
import type { Model } from '../ir/convert.js';
import type { Graph, Value } from '../ir/graph.js';
import { PADDING_IDX_KEY } from './rules/gather.js';
import { checkGlobsMatch, matchesAny } from '../util/glob.js';
import { differentiate } from './differentiate.js';

export interface GradientModelOptions {
  /** Name of the value to differentiate (a non-scalar is summed). */
  loss: string;
  /** Parameter name globs to differentiate (default: every float initializer). */
  wrt?: string[];
  /** Parameter name globs to leave out. */
  freeze?: string[];
  /** Embedding tables' padding rows (nn.Embedding's padding_idx), which lookups never update, as in PyTorch. */
  paddingRows?: Readonly<Record<string, number>>;
}

export interface GradientModelResult {
  /** Parameter name -> name of its gradient output. */
  gradients: Map<string, string>;
  /** Parameters that do not influence the loss (no output is made for them). */
  unreached: string[];
  forwardNodes: number;
  backwardNodes: number;
}

/** Float initializers selected by `wrt` (default all) minus `freeze`: the trainable set. */
export function selectParameters(model: Model, wrt?: readonly string[], freeze: readonly string[] = []): Value[] {
  const floats = model.graph.initializers.filter((v) => isFloatType(v.initializer!.dataType)).map((v) => v.name);
  checkGlobsMatch('--freeze', freeze, floats, '`distill inspect MODEL --params` lists them');
  return model.graph.initializers.filter(
    (v) =>
      isFloatType(v.initializer!.dataType) &&
      (!wrt || matchesAny(v.name, wrt)) &&
      !matchesAny(v.name, freeze),
  );
}

/** Adds gradient outputs to `model` in place. */
export function addGradients(model: Model, options: GradientModelOptions): GradientModelResult {
  const g = model.graph;
  const opset = model.opset('');
  if (opset === undefined) throw new InputError('model imports no ai.onnx opset');
  const loss = g.get(options.loss);
  if (!loss || (!loss.producer && !loss.isGraphInput)) {
    const outputs = g.outputs.map((o) => o.name).join(', ');
    throw new InputError(`--loss '${options.loss}' is not a value of the model (its outputs: ${outputs})`);
  }
  markPaddingRows(g, options.paddingRows ?? {});
  const params = selectParameters(model, options.wrt, options.freeze);
  if (params.length === 0) throw new InputError('no trainable parameters selected (check --wrt / --freeze globs)');
  const forwardNodes = g.nodes.length;
  const result = differentiate(g, { loss, wrt: params, opset });
  const gradients = new Map<string, string>();
  for (const [param, grad] of result.gradients) {
    const out = g.value(g.freshName(`grad/${param}`));
    g.addNode('Identity', [grad], [out], [], { name: g.freshNodeName(`grad/${param}/output`) });
    out.type = { ...grad.type };
    g.appendOutputs(out);
    gradients.set(param, out.name);
  }
  if (gradients.size === 0) throw new GraphError(`loss '${options.loss}' does not depend on any selected parameter`);
  return {
    gradients,
    unreached: result.unreached.map((v) => v.name),
    forwardNodes,
    backwardNodes: g.nodes.length - forwardNodes,
  };
}

/**
 * Tells the Gather rule which embedding rows PyTorch's nn.Embedding(padding_idx) never updates through a
 * lookup (autodiff/rules/gather.ts): the lookups of those tables get a metadata mark. Other uses of the
 * table (a tied LM head) still send their gradient to the row, as in PyTorch.
 */
export function markPaddingRows(g: Graph, rows: Readonly<Record<string, number>>): void {
  for (const [name, row] of Object.entries(rows)) {
    for (const node of g.get(name)?.uses ?? []) {
      if (node.opType !== 'Gather' || node.inputs[0]?.name !== name || node.attrs.int('axis', 0) !== 0) continue;
      node.extras = { ...node.extras, metadataProps: [...(node.extras.metadataProps ?? []), { key: PADDING_IDX_KEY, value: String(row) }] };
    }
  }
}
