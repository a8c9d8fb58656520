/**
 * The search space of `distill search`: `--search NAME=LOW:HIGH[:log|:int]`, one range per hyperparameter.
 * Values are sampled in an internal space, log(x) for log ranges, so that 1e-4..1e-2 is searched evenly
 * per decade; integer ranges are sampled as reals and rounded.
 */
import { InputError } from '../errors.js';

/** Hyperparameters a search may vary, by the name the flag uses, and the TrainOptions field each sets. */
export const SEARCHABLE = { alpha: 'alpha', temperature: 'temperature', 'learning-rate': 'learningRate', epochs: 'epochs' } as const;
export type SearchableName = keyof typeof SEARCHABLE;

export interface ParamRange {
  name: SearchableName;
  low: number;
  high: number;
  log: boolean;
  int: boolean;
}

const ALIASES: Record<string, SearchableName> = { learning_rate: 'learning-rate', learningRate: 'learning-rate', lr: 'learning-rate' };

/** Parses one `--search` value, e.g. `temperature=1:20:log`. */
export function parseRange(spec: string): ParamRange {
  const m = /^([A-Za-z_-]+)=([^:]+):([^:]+)(?::(log|int))?$/.exec(spec.trim());
  if (!m) throw new InputError(`--search ${spec}: expected NAME=LOW:HIGH[:log|:int], e.g. alpha=0:1 or temperature=1:20:log`);
  const raw = m[1]!;
  const name = (raw in SEARCHABLE ? raw : ALIASES[raw]) as SearchableName | undefined;
  if (!name) throw new InputError(`--search ${spec}: unknown hyperparameter '${raw}'; searchable: ${Object.keys(SEARCHABLE).join(', ')}`);
  const low = Number(m[2]);
  const high = Number(m[3]);
  if (!Number.isFinite(low) || !Number.isFinite(high) || !(low < high)) throw new InputError(`--search ${spec}: LOW and HIGH must be numbers with LOW < HIGH`);
  const log = m[4] === 'log';
  const int = m[4] === 'int' || name === 'epochs';
  if (log && low <= 0) throw new InputError(`--search ${spec}: a log range needs LOW > 0`);
  if (name === 'alpha' && (low < 0 || high > 1)) throw new InputError(`--search ${spec}: alpha weighs the cross-entropy term and lies in [0, 1]`);
  if ((name === 'temperature' || name === 'learning-rate') && low <= 0) throw new InputError(`--search ${spec}: ${name} must be > 0`);
  if (name === 'epochs' && (low < 1 || !Number.isInteger(low) || !Number.isInteger(high))) throw new InputError(`--search ${spec}: epochs take whole numbers >= 1`);
  return { name, low, high, log, int };
}

export function parseSpace(specs: readonly string[]): ParamRange[] {
  if (specs.length === 0) throw new InputError('distill search needs at least one --search NAME=LOW:HIGH (alpha, temperature, learning-rate, epochs)');
  const space = specs.map(parseRange);
  const dup = space.find((r, i) => space.findIndex((s) => s.name === r.name) !== i);
  if (dup) throw new InputError(`--search ${dup.name} is given twice`);
  return space;
}

/** Internal (sampling) coordinates of a range's bounds and of a value. */
export const toInternal = (r: ParamRange, v: number): number => (r.log ? Math.log(v) : v);
export const fromInternal = (r: ParamRange, u: number): number => {
  const v = r.log ? Math.exp(u) : u;
  const clamped = Math.min(r.high, Math.max(r.low, v));
  return r.int ? Math.round(clamped) : clamped;
};
export const bounds = (r: ParamRange): [number, number] => [toInternal(r, r.low), toInternal(r, r.high)];
