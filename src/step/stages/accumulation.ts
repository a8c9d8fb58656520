/**
 * Stage 4, accumulation: with gradient accumulation, gradients add up in `<param>.grad_accum` state; on the
 * micro-batch that closes a window (apply_update true) the mean of the window is clipped and applied and the
 * accumulators reset (stage 8). The update is computed on every micro-batch and selected with Where:
 * elementwise work that is small next to a forward/backward pass, and it keeps the graph free of control flow.
 */
import { DataType } from '../../onnx/dtype.js';
import type { Value } from '../../ir/graph.js';
import { STEP_IO, stateName } from '../contract.js';
import { type StepContext, addInput } from './context.js';
import type { Gradients } from './gradients.js';

export interface Accumulated {
  /** What the update sees per trained parameter: the gradient, or the window's running sum. */
  sums: Value[];
  /** The accumulator state inputs and their parameters. */
  accumulators: { input: Value; param: Value }[];
}

export function accumulate(ctx: StepContext, { trained, grads }: Gradients): Accumulated {
  const { g, b } = ctx;
  if (ctx.accumulation === 1) return { sums: grads, accumulators: [] };
  ctx.io.apply = addInput(g, STEP_IO.applyUpdate, { elemType: DataType.BOOL, shape: [] });
  const accumulators = trained.map((param) => ({
    input: addInput(g, stateName(param.name, 'grad_accum'), { elemType: param.initializer!.dataType, shape: param.initializer!.dims.map(Number) }),
    param,
  }));
  return { sums: accumulators.map(({ input }, k) => b.add(input, grads[k]!)), accumulators };
}
