/** Optimizers (PyTorch semantics) and gradient clipping as ONNX graph nodes. */
import { InputError } from '../errors.js';
import { type AdamWSettings, createAdamW } from './adamw.js';
import type { Optimizer } from './optimizer.js';
import { type SgdSettings, createSgd } from './sgd.js';

export type { Optimizer, OptimizerRule, ParamUpdate, StateSpec, StepInputs, StepScalars } from './optimizer.js';
export { createSgd, type SgdSettings } from './sgd.js';
export { createAdamW, type AdamWSettings } from './adamw.js';
export { clipGradNorm } from './clip.js';

export type OptimizerName = 'sgd' | 'adamw';
export const OPTIMIZER_NAMES: readonly OptimizerName[] = ['sgd', 'adamw'];

/** The optimizer `name` with `settings` (unknown keys and out-of-range values throw an InputError). */
export function createOptimizer(name: 'sgd', settings?: SgdSettings): Optimizer;
export function createOptimizer(name: 'adamw', settings?: AdamWSettings): Optimizer;
export function createOptimizer(name: OptimizerName, settings?: SgdSettings | AdamWSettings): Optimizer;
export function createOptimizer(name: OptimizerName, settings: SgdSettings | AdamWSettings = {}): Optimizer {
  switch (name) {
    case 'sgd': return createSgd(settings as SgdSettings);
    case 'adamw': return createAdamW(settings as AdamWSettings);
    default: throw new InputError(`unknown optimizer '${String(name)}' (known: ${OPTIMIZER_NAMES.join(', ')})`);
  }
}
