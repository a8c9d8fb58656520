/**
 * Stage 7, update: the optimizer's update of every planned parameter and its state, grouped, chunked or plain
 * (stage 6), with the per-step scalars (learning rate, step count, clipping scale) built once per group.
 */
import type { Builder } from '../../ir/builder.js';
import type { Value } from '../../ir/graph.js';
import { DataType } from '../../onnx/dtype.js';
import type { ClipCoefficient } from '../../optim/clip.js';
import { type ChunkPlan, scanChunks } from '../../optim/chunked.js';
import { groupedUpdate } from '../../optim/grouped.js';
import type { Optimizer, ParamUpdate, StepScalars } from '../../optim/optimizer.js';
import type { StepContext } from './context.js';
import type { UpdatePlan } from './update-plan.js';

export type Updated = Map<Value, { param: Value; state: Value[] }>;

export function applyUpdates(ctx: StepContext, { entries, groups }: UpdatePlan, clipped: ClipCoefficient): Updated {
  const { b, options, io } = ctx;
  const optimizer = options.optimizer;
  // GPU builds compute the per-step scalars in float32 (optim/adamw.ts says how it keeps their precision).
  const stepInputs = { lr: io.lr, step: io.step, gradScale: clipped.scale, scalarType: options.target === 'gpu' ? DataType.FLOAT : DataType.DOUBLE } as const;
  const updated: Updated = new Map();
  for (const group of groups) {
    const scalars = optimizer.perStep(b, stepInputs, group[0]!.p);
    const results = groupedUpdate(b, optimizer, scalars, group.map((e) => e.update), group.map((e) => e.shape));
    group.forEach((e, i) => updated.set(e.p, results[i]!));
  }
  for (const e of entries) {
    if (updated.has(e.p)) continue;
    const scalars = optimizer.perStep(b, stepInputs, e.p);
    updated.set(e.p, e.plan ? chunkedUpdate(b, optimizer, e.plan, scalars, e.update) : optimizer.apply(b, scalars, e.update));
  }
  return updated;
}

/** `optimizer.apply` over cache-sized chunks of the parameter, gradient and state (optim/chunked.ts). */
function chunkedUpdate(b: Builder, optimizer: Optimizer, plan: ChunkPlan, scalars: StepScalars, u: ParamUpdate): { param: Value; state: Value[] } {
  const [param, ...state] = scanChunks(b, 'update_chunks', plan, scalars, [u.param, u.grad, ...u.state], (bb, s, [p, grad, ...st]) => {
    const r = optimizer.apply(bb, s, { param: p!, grad: grad!, state: st, decay: u.decay });
    return [r.param, ...r.state];
  });
  return { param: param!, state };
}
