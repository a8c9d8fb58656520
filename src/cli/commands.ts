/**
 * The `distill` commands (main.ts loads this module). Library code throws typed errors; this is the one place that turns them into a
 * one-line message on stderr and an exit code (2: bad input or a file-system failure such as a full disk, 3:
 * unsupported graph, 1: anything else).
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { DistillError } from '../errors.js';
import { fsInputError } from '../util/fs-errors.js';
import { register as registerBuild } from './build.js';
import { register as registerDemo } from './demo.js';
import { register as registerEval } from './eval.js';
import { register as registerGrad } from './grad.js';
import { register as registerInspect } from './inspect.js';
import { inputChecks } from './options.js';
import { register as registerQuantize } from './quantize.js';
import { register as registerSearch } from './search.js';
import { register as registerTrain } from './train.js';
import { register as registerWeb } from './web.js';

function fail(message: string, code: number): never {
  process.stderr.write(`distill: ${message}\n`);
  process.exit(code);
}

function handle(thrown: unknown): never {
  // A full disk, a read-only folder, no permission: the user's to fix, not an internal error.
  const err = fsInputError(thrown);
  if (err instanceof DistillError) fail(err.message, err.exitCode);
  const e = err as Error;
  if (process.env.DISTILL_DEBUG) process.stderr.write(`${e?.stack ?? e}\n`);
  fail(`internal error: ${e?.message ?? String(e)} (set DISTILL_DEBUG=1 for details, and please report it)`, 1);
}

async function main(): Promise<void> {
  let cli = yargs(hideBin(process.argv))
    .scriptName('distill')
    .usage('$0 <command> [options]\n\nDistill and fine-tune transformer models as ONNX graphs on ONNX Runtime.')
    .strict()
    .demandCommand(1, 'name a command')
    .recommendCommands()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (err) throw err;
      // yargs spreads some messages over lines; the contract is one line.
      fail(`${msg.replace(/\s*\n\s*/g, ' ')} (see distill --help)`, 2);
    });
  // Repeated single-valued options and unknown options named once, for every command.
  cli = inputChecks(cli);
  cli = registerInspect(cli);
  cli = registerGrad(cli);
  cli = registerBuild(cli);
  cli = registerTrain(cli);
  cli = registerDemo(cli);
  cli = registerEval(cli);
  cli = registerQuantize(cli);
  cli = registerSearch(cli);
  cli = registerWeb(cli);
  await cli.help().alias('h', 'help').version().parseAsync();
}

export function run(): Promise<void> {
  return main().catch(handle);
}
