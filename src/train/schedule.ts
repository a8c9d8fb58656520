/**
 * Learning-rate schedules with Hugging Face semantics (transformers.optimization): the rate of optimizer
 * step k (0-based) is base_lr * lambda(k), where the scheduler has been stepped k times.
 */
import { InputError } from '../errors.js';

export type ScheduleName = 'linear' | 'constant' | 'constant_with_warmup' | 'cosine';
export const SCHEDULES: readonly ScheduleName[] = ['linear', 'constant', 'constant_with_warmup', 'cosine'];

export interface Schedule {
  name: ScheduleName;
  baseLr: number;
  warmupSteps: number;
  totalSteps: number;
}

/** HF's lr_lambda(current_step) for each schedule. 'constant' ignores warmup, as HF's does. */
export function lrFactor(s: Schedule, step: number): number {
  const warm = s.warmupSteps;
  if (s.name === 'constant') return 1;
  if (step < warm) return step / Math.max(1, warm);
  switch (s.name) {
    case 'constant_with_warmup':
      return 1;
    case 'linear':
      return Math.max(0, (s.totalSteps - step) / Math.max(1, s.totalSteps - warm));
    case 'cosine': {
      const progress = (step - warm) / Math.max(1, s.totalSteps - warm);
      return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 0.5 * 2 * progress)));
    }
  }
}

export function learningRate(s: Schedule, step: number): number {
  return s.baseLr * lrFactor(s, step);
}

export function checkSchedule(s: Schedule): void {
  if (!SCHEDULES.includes(s.name)) throw new InputError(`--lr-scheduler ${s.name}: expected one of ${SCHEDULES.join(', ')}`);
  if (!(s.baseLr > 0)) throw new InputError(`--learning-rate must be positive, got ${s.baseLr}`);
  if (s.warmupSteps < 0 || !Number.isInteger(s.warmupSteps)) throw new InputError(`--warmup-steps must be a non-negative integer, got ${s.warmupSteps}`);
}
