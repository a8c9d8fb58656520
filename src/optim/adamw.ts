/**
 * torch.optim.AdamW (amsgrad=False, maximize=False) as graph nodes, in the order of PyTorch's
 * single-tensor implementation (`_single_tensor_adam` with decoupled weight decay):
 *
 *   p   = p * (1 - lr * weight_decay)
 *   m   = m.lerp(g, 1 - beta1)                          = m + (1 - beta1) * (g - m)
 *   v   = v * beta2 + ((1 - beta2) * g) * g             (exp_avg_sq.mul_(beta2).addcmul_(g, g, 1 - beta2))
 *   bias_correction1 = 1 - beta1 ** step,  bias_correction2 = 1 - beta2 ** step
 *   step_size = lr / bias_correction1
 *   denom = sqrt(v) / sqrt(bias_correction2) + eps
 *   p   = p + (-step_size * m) / denom                  (param.addcdiv_(m, denom, value=-step_size))
 *
 * PyTorch computes the per-step scalars (1 - lr * wd, the bias corrections, step_size, sqrt of the second
 * correction) with Python floats, i.e. in float64, and rounds them once to the parameter's type. The graph
 * does the same: these few scalar nodes run in float64 (Cast, Pow, Sub, Div, Sqrt on scalars) and are cast
 * to the parameter's type, once per dtype and shared by all parameters. Done in float32 instead,
 * 1 - 0.999 ** step would lose about 5 digits to cancellation (0.999 is not a float32 number) and the
 * updates would be off by up to ~1e-5 relative.
 */
import { InputError } from '../errors.js';
import type { Builder } from '../ir/builder.js';
import type { Value } from '../ir/graph.js';
import { DataType } from '../onnx/dtype.js';
import { sharedPerDtype } from './shared.js';
import type { Optimizer, ParamUpdate, StateSpec, StepInputs } from './optimizer.js';

export interface AdamWSettings {
  /** Coefficient of the running average of the gradient (torch betas[0], default 0.9). */
  beta1?: number;
  /** Coefficient of the running average of its square (torch betas[1], default 0.999). */
  beta2?: number;
  /** Added to the denominator (default 1e-8). */
  eps?: number;
  /** Decoupled weight decay (default 0.01, torch.optim.AdamW's default; HF Trainer's default is 0). */
  weightDecay?: number;
}

const ADAMW_KEYS = ['beta1', 'beta2', 'eps', 'weightDecay'] as const;

function checkNumber(key: string, v: unknown, ok: (x: number) => boolean, range: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) {
    throw new InputError(`adamw: setting '${key}' must be a number ${range}, got ${String(v)}`);
  }
  return v;
}

/** The per-step scalars, in the parameter's type. */
interface AdamScalars {
  /** 1 - lr * weight_decay (null when weight_decay is 0). */
  decay: Value | null;
  /** -lr / bias_correction1. */
  negStepSize: Value;
  /** sqrt(bias_correction2). */
  bc2Sqrt: Value;
}

export function createAdamW(settings: AdamWSettings = {}): Optimizer {
  for (const [k, v] of Object.entries(settings)) {
    if (v !== undefined && !(ADAMW_KEYS as readonly string[]).includes(k)) {
      throw new InputError(`adamw: unknown setting '${k}' (known: ${ADAMW_KEYS.join(', ')})`);
    }
  }
  const beta1 = checkNumber('beta1', settings.beta1 ?? 0.9, (x) => x >= 0 && x < 1, 'in [0, 1)');
  const beta2 = checkNumber('beta2', settings.beta2 ?? 0.999, (x) => x >= 0 && x < 1, 'in [0, 1)');
  const eps = checkNumber('eps', settings.eps ?? 1e-8, (x) => x >= 0, '>= 0');
  const weightDecay = checkNumber('weightDecay', settings.weightDecay ?? 0.01, (x) => x >= 0, '>= 0');

  const scalars = sharedPerDtype((b: Builder, step: StepInputs, like: Value): AdamScalars => {
    const f64 = (x: Value) => (x.type.elemType === DataType.DOUBLE ? x : b.op('Cast', [x], { to: DataType.DOUBLE }));
    const d = (x: number) => b.scalar(x, DataType.DOUBLE);
    const lr = f64(step.lr);
    const s = f64(step.step);
    const bc1 = b.sub(d(1), b.op('Pow', [d(beta1), s]));
    const bc2 = b.sub(d(1), b.op('Pow', [d(beta2), s]));
    const made: AdamScalars = {
      decay: weightDecay !== 0 ? b.castLike(b.sub(d(1), b.mul(lr, d(weightDecay))), like) : null,
      negStepSize: b.castLike(b.neg(b.div(lr, bc1)), like),
      bc2Sqrt: b.castLike(b.op('Sqrt', [bc2]), like),
    };
    return made;
  });

  return {
    name: 'adamw',
    settings: { beta1, beta2, eps, weightDecay },
    stateSpecs(): StateSpec[] {
      return [{ suffix: 'exp_avg', init: 0 }, { suffix: 'exp_avg_sq', init: 0 }];
    },
    update(b: Builder, step: StepInputs, u: ParamUpdate): { param: Value; state: Value[] } {
      if (u.state.length !== 2) {
        throw new InputError(`adamw: parameter '${u.param.name}' got ${u.state.length} state tensors, expected 2 (exp_avg, exp_avg_sq)`);
      }
      const [m, v] = u.state as [Value, Value];
      const g = u.grad;
      const c = (x: number) => b.scalarLike(x, u.param);
      const { decay, negStepSize, bc2Sqrt } = scalars(b, step, u.param);
      // param.mul_(1 - lr * weight_decay)
      const p = decay ? b.mul(u.param, decay) : u.param;
      // exp_avg.lerp_(grad, w), w = 1 - beta1: PyTorch's lerp is start + w * (end - start) for |w| < 0.5 and
      // end - (end - start) * (1 - w) otherwise (1 - w computed in the tensor's type).
      const w = 1 - beta1;
      const diff = b.sub(g, m);
      const newM = w < 0.5
        ? b.op('Add', [m, b.mul(c(w), diff)], {}, 'adamw_exp_avg')
        : b.op('Sub', [g, b.mul(diff, b.sub(c(1), c(w)))], {}, 'adamw_exp_avg');
      // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2): self + value * t1 * t2
      const newV = b.op('Add', [b.mul(v, c(beta2)), b.mul(b.mul(c(1 - beta2), g), g)], {}, 'adamw_exp_avg_sq');
      // denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
      const denom = b.add(b.div(b.op('Sqrt', [newV]), bc2Sqrt), c(eps));
      // param.addcdiv_(exp_avg, denom, value=-step_size): self + value * t1 / t2
      const newP = b.op('Add', [p, b.div(b.mul(negStepSize, newM), denom)], {}, 'adamw_param');
      return { param: newP, state: [newM, newV] };
    },
  };
}
