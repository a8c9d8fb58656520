/**
 * Stage 3, gradients: the trainable parameters (params/'s set, less --freeze) and their gradients of the loss
 * by reverse-mode autodiff (autodiff/), with nn.Embedding's padding rows excluded as PyTorch excludes them.
 */
import { differentiate } from '../../autodiff/differentiate.js';
import { markPaddingRows, selectParameters } from '../../autodiff/gradient-model.js';
import { GraphError, InputError } from '../../errors.js';
import type { Value } from '../../ir/graph.js';
import type { StepContext } from './context.js';

export interface Gradients {
  /** Parameters the loss depends on, in graph order. */
  trained: Value[];
  /** The gradient of each trained parameter, in `trained` order. */
  grads: Value[];
  /** Initializers that stay constant. */
  frozen: string[];
}

export function addGradients(ctx: StepContext, loss: Value): Gradients {
  const { g, model, options, opset } = ctx;
  markPaddingRows(g, options.paddingRows ?? {});
  const candidates = selectParameters(model, undefined, options.freeze ?? []).filter((v) => !options.parameters || options.parameters.includes(v.name));
  if (candidates.length === 0) throw new InputError('no trainable parameters: every parameter is frozen (check --freeze)');
  const { gradients } = differentiate(g, { loss, wrt: candidates, opset });
  const trained = candidates.filter((p) => gradients.has(p.name));
  if (trained.length === 0) throw new GraphError('the loss does not depend on any trainable parameter');
  const frozen = g.initializers.filter((v) => !trained.includes(v)).map((v) => v.name);
  return { trained, grads: trained.map((p) => gradients.get(p.name)!), frozen };
}

