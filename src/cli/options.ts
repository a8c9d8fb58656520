/** The yargs options of a command, and the parsed arguments back as option values, from the one option table. */
import type { Argv, Options } from 'yargs';
import { DistillError, InputError } from '../errors.js';
import { resolveModelPath } from '../onnx/model-io.js';
import { parseSpace } from '../search/space.js';
import {
  type Command, type NumberRange, OPTIONS, type OptionSpec, type OptionsOf, checkCombination, checkNumber, useOf,
} from '../train/options.js';

const entries = Object.entries(OPTIONS) as [string, OptionSpec][];

/** The flags of `command`, in table order, with their types, defaults and help (what `--help` lists). */
export function addOptions<T>(y: Argv<T>, command: Command): Argv<T> {
  for (const [, spec] of entries) {
    const use = useOf(spec, command);
    if (!use || spec.flag === null) continue;
    const option: Options = { describe: use.help ?? spec.help + (use.helpSuffix ?? '') };
    if (spec.type !== 'number') option.type = spec.type === 'strings' ? 'string' : spec.type;
    if (spec.type === 'strings') option.array = true;
    // A flag with no value would otherwise be '' (numberOption's comment).
    if (spec.type === 'string') option.requiresArg = true;
    const choices = use.choices ?? spec.choices;
    if (choices) option.choices = [...choices];
    if (spec.default !== undefined) option.default = Array.isArray(spec.default) ? [...spec.default] : spec.default;
    if (use.demand) option.demandOption = true;
    if (use.alias) option.alias = use.alias;
    y = spec.type === 'number' ? numberOption(y, spec.flag, option) : (y.option(spec.flag, option) as Argv<T>);
  }
  return inputChecks(y);
}

/**
 * A number option, which reaches readNumber as the text typed (declared a string): so `--alpha abc` is
 * reported as 'abc' rather than NaN, and `--alpha=` is not read as 0. Declared a number as well, it is
 * listed as [number] in `--help` (yargs' parser reads a flag declared both ways as a string). It takes a value:
 * `--learning-rate` alone would otherwise take its default silently.
 */
export function numberOption<T>(y: Argv<T>, flag: string, option: Options): Argv<T> {
  return y.option(flag, { ...option, type: 'string', requiresArg: true }).number(flag) as Argv<T>;
}

/**
 * The number `--flag` gave: `raw` is its text, or its default (a number); an InputError naming the flag when
 * the text is no number or outside `range`.
 */
export function readNumber(flag: string, raw: unknown, range: NumberRange = {}): number {
  if (typeof raw === 'number') return checkNumber(flag, raw, range);
  const text = String(raw).trim();
  // Number('') is 0: an empty value is no number.
  const value = text === '' ? NaN : Number(text);
  return checkNumber(flag, value, range, text === '' ? 'nothing' : `'${text}'`);
}

/** Options naming ONNX models: a model folder stands for the model.onnx in it (resolveModelPath). */
const MODEL_OPTIONS = new Set(['student', 'teacher', 'models']);

/** The option values of `command` from yargs' parsed arguments, under the table's names (absent flags left out). */
export function readOptions<C extends Command>(args: Record<string, unknown>, command: C): OptionsOf<C> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of entries) {
    if (!useOf(spec, command) || spec.flag === null) continue;
    let value = args[spec.flag];
    if (value === undefined) continue;
    if (Array.isArray(value) && spec.type !== 'strings') throw repeated(spec.flag, value);
    if (spec.commaList && Array.isArray(value)) value = value.flatMap((v) => String(v).split(','));
    if (spec.type === 'number') value = readNumber(spec.flag, value, spec.range);
    else if (spec.type === 'string' && value === '') throw new InputError(`--${spec.flag} needs a value (see distill --help)`);
    if (MODEL_OPTIONS.has(key)) value = Array.isArray(value) ? value.map((v) => resolveModelPath(String(v))) : resolveModelPath(String(value));
    out[key] = value;
  }
  checkCombination(out, command === 'search' ? searchedNames(args.search) : []);
  return out as OptionsOf<C>;
}

/** The hyperparameters `--search` varies (search.ts has parsed the specs already, and reported bad ones). */
function searchedNames(specs: unknown): string[] {
  return Array.isArray(specs) && specs.length ? parseSpace(specs.map(String)).map((r) => r.name) : [];
}

/** The error for a single-valued option given more than once (yargs would pass on the list of values). */
function repeated(flag: string, values: readonly unknown[]): InputError {
  const list = `${values.slice(0, -1).join(', ')} and ${String(values.at(-1))}`;
  const times = values.length === 2 ? 'twice' : `${values.length} times`;
  return new InputError(`--${flag} given ${times} (${list}); give it once`);
}

/** yargs' parser settings, and the option lists, as a check function receives them (the types leave them out). */
interface ParserOptions {
  key: Record<string, unknown>;
  array: string[];
  alias: Record<string, string[]>;
}

/**
 * The checks of a command's arguments that yargs leaves out: a single-valued flag given twice (yargs makes
 * a list of the values, which then fails far from the cause), and one-line messages for a flag without its
 * value and for unknown flags. The root's failure handler (cli/commands.ts) sees whatever this lets through.
 */
export function inputChecks<T>(y: Argv<T>): Argv<T> {
  return y
    .check((argv, options) => {
      const o = options as unknown as ParserOptions;
      const listed = new Set(o.array.flatMap((k) => [k, ...(o.alias[k] ?? [])]));
      for (const key of Object.keys(o.key)) {
        const v = (argv as Record<string, unknown>)[key];
        if (Array.isArray(v) && !listed.has(key)) throw repeated(key, v);
      }
      return true;
    })
    .fail((msg, err) => {
      if (err instanceof DistillError) throw err;
      const missing = /^Not enough arguments following: (\S+)$/.exec(msg ?? '');
      if (missing) throw new InputError(`--${missing[1]} needs a value (see distill --help)`);
      const unknown = /^Unknown arguments?: (.*)$/.exec(msg ?? '');
      if (unknown) throw new InputError(`${unknownOnce(unknown[1]!.split(', '))} (see distill --help)`);
      // Anything else goes on to the root's handler.
    }) as Argv<T>;
}

/**
 * yargs lists an unknown `--lerning-rate` twice, as typed and under its camelCase alias (`lerningRate`);
 * each is said once, as typed.
 */
export function unknownOnce(names: readonly string[]): string {
  const camel = (s: string) => s.replace(/[-_]+([^-_])/g, (_, c: string) => c.toUpperCase());
  const typed = names.filter((n) => !names.some((m) => m !== n && camel(m) === n));
  return `Unknown argument${typed.length === 1 ? '' : 's'}: ${typed.join(', ')}`;
}
