/**
 * Stage 8, outputs: the metrics, each new parameter and state tensor (kept unless an accumulation window
 * closes), the reset accumulators; then dead code removed and the rewrites for GPU providers (gpu-ops.ts).
 */
import type { Builder } from '../../ir/builder.js';
import type { Graph, Value } from '../../ir/graph.js';
import { eliminateDeadCode } from '../../ir/passes.js';
import { dtypeName } from '../../onnx/dtype.js';
import type { ClipCoefficient } from '../../optim/clip.js';
import { STEP_IO, newName } from '../contract.js';
import { limitFanIn, lowerForGpu } from '../gpu-ops.js';
import type { ParameterInfo, StateInfo } from '../step-graph.js';
import type { Accumulated } from './accumulation.js';
import { type StepContext, rename } from './context.js';
import type { LossTerms } from './loss.js';
import type { UpdatePlan } from './update-plan.js';
import type { Updated } from './update.js';

/**
 * Exposes a freshly computed tensor (an updated parameter or state) as output `name` by renaming it, not
 * through an Identity: ORT copies Identity outputs, which for base-size models was 800 MB per step. Values
 * that are graph inputs or already outputs keep an Identity.
 */
function output(g: Graph, b: Builder, v: Value, name: string): Value {
  const fresh = v.producer !== null && !g.inputs.includes(v) && !g.outputs.includes(v) && v.name.startsWith(b.prefix);
  return rename(g, fresh ? v : b.op('Identity', [v]), name);
}

export function connectOutputs(ctx: StepContext, terms: LossTerms, clipped: ClipCoefficient, { sums, accumulators }: Accumulated, { entries }: UpdatePlan, updated: Updated): { parameters: ParameterInfo[]; state: StateInfo[] } {
  const { g, b, io, options, opset } = ctx;
  const metric = (v: Value, name: string) => rename(g, b.op('Identity', [v]), name);
  const outputs: Value[] = [metric(terms.loss, STEP_IO.loss), metric(terms.ce, STEP_IO.ce), metric(terms.kd, STEP_IO.kd), metric(clipped.norm, STEP_IO.gradNorm)];
  const keepUnlessApplied = (next: Value, old: Value) => (io.apply ? b.op('Where', [io.apply, next, old]) : next);
  const specs = options.optimizer.stateSpecs();
  const parameters: ParameterInfo[] = [];
  const state: StateInfo[] = [];
  for (const { p, initial, shape, dtype, plan, ioShape, update, decay } of entries) {
    const upd = updated.get(p)!;
    outputs.push(output(g, b, keepUnlessApplied(upd.param, p), newName(p.name)));
    const shapes = plan ? { ioShape } : {};
    parameters.push({ name: p.name, dtype, shape, ...shapes, output: newName(p.name), initial, decay });
    upd.state.forEach((s, i) => {
      const name = update.state[i]!.name;
      outputs.push(output(g, b, keepUnlessApplied(s, update.state[i]!), newName(name)));
      state.push({ name, param: p.name, dtype, shape, ...shapes, init: specs[i]!.init, output: newName(name) });
    });
  }
  accumulators.forEach(({ input, param }) => {
    const reset = b.op('Where', [io.apply!, b.scalarLike(0, input), sums[entries.findIndex((e) => e.p === param)]!]);
    outputs.push(output(g, b, reset, newName(input.name)));
    state.push({ name: input.name, param: param.name, dtype: dtypeName(input.type.elemType!), shape: input.type.shape as number[], init: 0, output: newName(input.name) });
  });
  g.setOutputs(outputs);
  eliminateDeadCode(g);
  limitFanIn(g, opset);
  if (options.target === 'gpu') lowerForGpu(g, opset);
  return { parameters, state };
}
