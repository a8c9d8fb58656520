/**
 * torch.optim.SGD (maximize=False) as graph nodes. Per parameter, with g the gradient:
 *
 *   g   = g + weight_decay * p                          (weight_decay != 0)
 *   buf = g                                             on the first step (step == 1): PyTorch creates the
 *                                                       buffer as a copy of g, no dampening
 *   buf = momentum * buf + (1 - dampening) * g          on later steps                 (momentum != 0)
 *   g   = g + momentum * buf  (nesterov)  |  buf        (momentum != 0)
 *   p   = p - lr * g
 *
 * One built graph serves every step, so the first-step case is decided in the graph from the `step` input
 * (`step < 1.5`, i.e. step == 1 for the integer steps it is fed; Less takes floats from opset 7 on, Equal only
 * from 11). The momentum buffer is fed as zeros on step 1 and its value there is ignored. The operations
 * follow PyTorch's order (`buf.mul_(momentum).add_(g, alpha=1 - dampening)`, `p.add_(g, alpha=-lr)`), so
 * float64 results agree with PyTorch to round-off; float32 ones to about an ulp per step (PyTorch's CPU
 * kernels fuse some multiply-adds, ONNX has no fused multiply-add).
 */
import { InputError } from '../errors.js';
import type { Builder } from '../ir/builder.js';
import type { Value } from '../ir/graph.js';
import { sharedPerDtype } from './shared.js';
import { type Optimizer, type ParamUpdate, type StateSpec, type StepInputs, type StepScalars, defineOptimizer } from './optimizer.js';

export interface SgdSettings {
  /** Momentum factor (torch default 0: no momentum buffer). */
  momentum?: number;
  /** Dampening of the gradient in the momentum update (torch default 0). */
  dampening?: number;
  /** Nesterov momentum; needs momentum > 0 and dampening 0, as in PyTorch. */
  nesterov?: boolean;
  /** L2 penalty added to the gradient (torch `weight_decay`, default 0). */
  weightDecay?: number;
}

const SGD_KEYS = ['momentum', 'dampening', 'nesterov', 'weightDecay'] as const;

/** Throws on keys the optimizer does not know (a typo like `weight_decay` would otherwise be ignored). */
function checkKeys(name: string, settings: object, known: readonly string[]): void {
  for (const [k, v] of Object.entries(settings)) {
    if (v === undefined) continue;
    if (!known.includes(k)) throw new InputError(`${name}: unknown setting '${k}' (known: ${known.join(', ')})`);
  }
}

function checkNumber(name: string, key: string, v: unknown, ok: (x: number) => boolean, range: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) {
    throw new InputError(`${name}: setting '${key}' must be a number ${range}, got ${String(v)}`);
  }
  return v;
}

export function createSgd(settings: SgdSettings = {}): Optimizer {
  checkKeys('sgd', settings, SGD_KEYS);
  const momentum = checkNumber('sgd', 'momentum', settings.momentum ?? 0, (x) => x >= 0, '>= 0');
  const dampening = checkNumber('sgd', 'dampening', settings.dampening ?? 0, () => true, '');
  const weightDecay = checkNumber('sgd', 'weightDecay', settings.weightDecay ?? 0, (x) => x >= 0, '>= 0');
  const nesterov = settings.nesterov ?? false;
  if (typeof nesterov !== 'boolean') throw new InputError(`sgd: setting 'nesterov' must be true or false, got ${String(nesterov)}`);
  if (nesterov && (momentum <= 0 || dampening !== 0)) {
    throw new InputError(`sgd: nesterov momentum requires momentum > 0 and dampening 0 (got momentum ${momentum}, dampening ${dampening})`);
  }

  // Nodes shared by all parameters of one dtype (cast lr, the first-step flag, the gradient scale), per builder.
  const scalars = sharedPerDtype((b: Builder, step: StepInputs, like: Value): StepScalars => {
    const made: StepScalars = { lr: b.castLike(step.lr, like) };
    if (momentum !== 0) made.first = b.op('Less', [b.castLike(step.step, like), b.scalarLike(1.5, like)], {}, 'sgd_first_step');
    if (step.gradScale) made.scale = b.castLike(step.gradScale, like);
    return made;
  });

  return defineOptimizer({
    name: 'sgd',
    settings: { momentum, dampening, nesterov, weightDecay },
    stateSpecs(): StateSpec[] {
      return momentum !== 0 ? [{ suffix: 'momentum_buffer', init: 0 }] : [];
    },
    perStep: scalars,
    apply(b: Builder, s: StepScalars, u: ParamUpdate): { param: Value; state: Value[] } {
      const expected = momentum !== 0 ? 1 : 0;
      if (u.state.length !== expected) {
        throw new InputError(`sgd: parameter '${u.param.name}' got ${u.state.length} state tensors, expected ${expected}`);
      }
      const p = u.param;
      // The clipped gradient (SGD's first use of it is an add, so the scale cannot be folded into a scalar).
      const clipped = s.scale ? b.mul(u.grad, s.scale) : u.grad;
      // grad.add(param, alpha=weight_decay)
      let g = weightDecay !== 0 && u.decay !== false ? b.add(clipped, b.mul(p, b.scalarLike(weightDecay, p))) : clipped;
      const state: Value[] = [];
      if (momentum !== 0) {
        const buf = u.state[0]!;
        // buf.mul_(momentum).add_(grad, alpha=1 - dampening)
        const scaled = dampening !== 0 ? b.mul(g, b.scalarLike(1 - dampening, p)) : g;
        const later = b.add(b.mul(buf, b.scalarLike(momentum, p)), scaled);
        const newBuf = b.op('Where', [s.first!, g, later], {}, 'sgd_momentum_buffer');
        state.push(newBuf);
        // nesterov: grad.add(buf, alpha=momentum); else grad = buf
        g = nesterov ? b.add(g, b.mul(newBuf, b.scalarLike(momentum, p))) : newBuf;
      }
      // param.add_(grad, alpha=-lr)
      return { param: b.op('Sub', [p, b.mul(s.lr!, g)], {}, 'sgd_param'), state };
    },
  });
}
