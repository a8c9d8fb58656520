/** The yargs options of a command, and the parsed arguments back as option values, from the one option table. */
import type { Argv, Options } from 'yargs';
import { type Command, OPTIONS, type OptionSpec, type OptionsOf, useOf } from '../train/options.js';

const entries = Object.entries(OPTIONS) as [string, OptionSpec][];

/** The flags of `command`, in table order, with their types, defaults and help (what `--help` lists). */
export function addOptions<T>(y: Argv<T>, command: Command): Argv<T> {
  for (const [, spec] of entries) {
    const use = useOf(spec, command);
    if (!use || spec.flag === null) continue;
    const option: Options = {
      type: spec.type === 'strings' ? 'string' : spec.type,
      describe: use.help ?? spec.help + (use.helpSuffix ?? ''),
    };
    if (spec.type === 'strings') option.array = true;
    const choices = use.choices ?? spec.choices;
    if (choices) option.choices = [...choices];
    if (spec.default !== undefined) option.default = Array.isArray(spec.default) ? [...spec.default] : spec.default;
    if (use.demand) option.demandOption = true;
    if (use.alias) option.alias = use.alias;
    y = y.option(spec.flag, option) as Argv<T>;
  }
  return y;
}

/** The option values of `command` from yargs' parsed arguments, under the table's names (absent flags left out). */
export function readOptions<C extends Command>(args: Record<string, unknown>, command: C): OptionsOf<C> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of entries) {
    if (!useOf(spec, command) || spec.flag === null) continue;
    let value = args[spec.flag];
    if (value === undefined) continue;
    if (spec.commaList && Array.isArray(value)) value = value.flatMap((v) => String(v).split(','));
    out[key] = value;
  }
  return out as OptionsOf<C>;
}
