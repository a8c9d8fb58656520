/** Pieces the optimizers share. */
import type { Builder } from '../ir/builder.js';
import type { Value } from '../ir/graph.js';
import type { StepInputs } from './optimizer.js';

/**
 * Memoizes, per builder and per (lr, step, gradient scale, parameter dtype), the scalar nodes every parameter
 * of that dtype shares (cast learning rate, bias corrections, the first-step flag, scale-derived coefficients),
 * so they are built once per graph.
 */
export function sharedPerDtype<T>(make: (b: Builder, step: StepInputs, like: Value) => T): (b: Builder, step: StepInputs, like: Value) => T {
  const shared = new WeakMap<Builder, Map<string, T>>();
  return (b, step, like) => {
    const t = like.type.elemType;
    if (t === undefined) return make(b, step, like);
    const key = `${step.lr.name}\u0000${step.step.name}\u0000${step.gradScale?.name ?? ''}\u0000${t}`;
    let map = shared.get(b);
    if (!map) shared.set(b, (map = new Map()));
    let hit = map.get(key);
    if (hit === undefined) map.set(key, (hit = make(b, step, like)));
    return hit;
  };
}
