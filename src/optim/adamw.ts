/**
 * torch.optim.AdamW (amsgrad=False, maximize=False) as graph nodes. PyTorch's single-tensor implementation
 * (`_single_tensor_adam` with decoupled weight decay), for a gradient g that clipping scaled by c:
 *
 *   p   = p * (1 - lr * weight_decay)
 *   m   = m.lerp(c g, 1 - beta1)                        = beta1 * m + (1 - beta1) * c g
 *   v   = v * beta2 + ((1 - beta2) * c g) * c g
 *   bias_correction1 = 1 - beta1 ** step,  bias_correction2 = 1 - beta2 ** step
 *   p   = p - (lr / bias_correction1) * m / (sqrt(v) / sqrt(bias_correction2) + eps)
 *
 * The graph computes the same quantities with the scalars folded together, because on CPU the update is
 * memory-bound: every elementwise node is one full pass over a parameter-sized tensor, and passes are what
 * it costs (docs/PERFORMANCE.md). With k1 = (1 - beta1) c, k2 = (1 - beta2) c^2, s = sqrt(bias_correction2):
 *
 *   m'  = m * beta1 + g * k1                            3 passes (the clipped gradient c g is never formed)
 *   v'  = v * beta2 + (g * g) * k2                      4 passes
 *   p'  = p * (1 - lr wd) + (-lr s / bias_correction1) * m' / (sqrt(v') + eps s)      6 passes
 *
 * 13 passes where the literal transcription takes 15 (plus the clipping multiply). The last line is PyTorch's
 * denominator multiplied through by s, so the results are those of PyTorch up to float rounding: float64
 * agrees to round-off, float32 to an ulp or two per step (PyTorch's own kernels fuse multiply-adds).
 *
 * PyTorch computes the per-step scalars (1 - lr * weight_decay, the bias corrections, the step size) with
 * Python floats, i.e. in float64, and rounds them once to the parameter's type. The graph does the same:
 * these few scalar nodes run in float64 (Cast, Pow, Sub, Div, Sqrt on scalars), are cast to the parameter's
 * type once per dtype and shared by all parameters. In float32 instead, 1 - 0.999 ** step would lose about
 * 5 digits to cancellation (0.999 is not a float32 number) and the updates would be off by up to ~1e-5.
 *
 * GPU providers have no float64 kernels, so builds for them (StepInputs.scalarType float32) compute the bias
 * corrections without that cancellation: 1 - beta^t = -expm1(t ln beta), with ln beta taken in float64 at
 * build time and expm1 by Kahan's formula from exp and log, which stays accurate in float32 where the direct
 * 1 - beta^t does not. The scalars then differ from float64's by float32 rounding (docs/WEBGPU.md measures it).
 */
import { InputError } from '../errors.js';
import type { Builder } from '../ir/builder.js';
import type { Value } from '../ir/graph.js';
import { DataType } from '../onnx/dtype.js';
import { sharedPerDtype } from './shared.js';
import { type Optimizer, type ParamUpdate, type StateSpec, type StepInputs, type StepScalars, defineOptimizer } from './optimizer.js';

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
  /** -lr * sqrt(bias_correction2) / bias_correction1. */
  negStepSize: Value;
  /** eps * sqrt(bias_correction2). */
  epsScaled: Value;
  /** (1 - beta1) c and (1 - beta2) c^2 for the step's gradient scale c: the scale enters through these only. */
  k1: Value;
  k2: Value;
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
    const precision = step.scalarType ?? DataType.DOUBLE;
    const f = (x: Value) => (x.type.elemType === precision ? x : b.op('Cast', [x], { to: precision }));
    const d = (x: number) => b.scalar(x, precision);
    const lr = f(step.lr);
    const s = f(step.step);
    const bc1 = oneMinusPower(b, beta1, s, precision);
    const bc2 = oneMinusPower(b, beta2, s, precision);
    const bc2Sqrt = b.op('Sqrt', [bc2]);
    const c = step.gradScale ? b.castLike(step.gradScale, like) : null;
    const made: AdamScalars = {
      decay: weightDecay !== 0 ? b.castLike(b.sub(d(1), b.mul(lr, d(weightDecay))), like) : null,
      negStepSize: b.castLike(b.neg(b.div(b.mul(lr, bc2Sqrt), bc1)), like),
      epsScaled: b.castLike(b.mul(d(eps), bc2Sqrt), like),
      k1: c ? b.mul(c, b.scalarLike(1 - beta1, like)) : b.scalarLike(1 - beta1, like),
      k2: c ? b.mul(b.mul(c, c), b.scalarLike(1 - beta2, like)) : b.scalarLike(1 - beta2, like),
    };
    return made;
  });

  return defineOptimizer({
    name: 'adamw',
    settings: { beta1, beta2, eps, weightDecay },
    stateSpecs(): StateSpec[] {
      return [{ suffix: 'exp_avg', init: 0 }, { suffix: 'exp_avg_sq', init: 0 }];
    },
    perStep(b: Builder, step: StepInputs, like: Value): StepScalars {
      const { decay, ...rest } = scalars(b, step, like);
      return decay ? { ...rest, decay } : rest;
    },
    apply(b: Builder, s: StepScalars, u: ParamUpdate): { param: Value; state: Value[] } {
      if (u.state.length !== 2) {
        throw new InputError(`adamw: parameter '${u.param.name}' got ${u.state.length} state tensors, expected 2 (exp_avg, exp_avg_sq)`);
      }
      const [m, v] = u.state as [Value, Value];
      const g = u.grad;
      const c = (x: number) => b.scalarLike(x, u.param);
      const newM = b.op('Add', [b.mul(m, c(beta1)), b.mul(g, s.k1!)], {}, 'adamw_exp_avg');
      const newV = b.op('Add', [b.mul(v, c(beta2)), b.mul(b.mul(g, g), s.k2!)], {}, 'adamw_exp_avg_sq');
      const denom = b.add(b.op('Sqrt', [newV]), s.epsScaled!);
      const p = s.decay && u.decay !== false ? b.mul(u.param, s.decay) : u.param;
      const newP = b.op('Add', [p, b.mul(b.div(newM, denom), s.negStepSize!)], {}, 'adamw_param');
      return { param: newP, state: [newM, newV] };
    },
  });
}

/**
 * 1 - beta^t for the step count `t` (a scalar of type `precision`). In float64, as PyTorch writes it. In float32,
 * -expm1(t ln beta) with Kahan's expm1(x) = (u - 1) x / ln u for u = exp(x) (x itself where u rounds to 1, -1
 * where u is negligible next to 1):
 * the rounding errors of u - 1 and ln u cancel in the quotient, so the result keeps float32's precision.
 */
export function oneMinusPower(b: Builder, beta: number, t: Value, precision: DataType): Value {
  const one = b.scalar(1, precision);
  if (precision === DataType.DOUBLE) return b.sub(one, b.op('Pow', [b.scalar(beta, precision), t]));
  if (beta === 0) return one; // 0^t = 0 for the 1-based steps the update runs with
  const x = b.mul(t, b.scalar(Math.log(beta), precision));
  const u = b.op('Exp', [x]);
  const kahan = b.div(b.mul(b.sub(u, one), x), b.op('Log', [u]));
  // Below x = -80, exp(x) < 2e-35 is far under float32's resolution at 1, so expm1 is -1; the quotient is
  // not, once u is subnormal (its log loses digits) or 0 (x = -104 and below).
  const expm1 = b.op('Where', [b.op('Equal', [u, one]), x, b.op('Where', [b.op('Less', [x, b.scalar(-80, precision)]), b.neg(one), kahan])]);
  return b.neg(expm1);
}
