/** `distill grad MODEL --loss NAME --out FILE`: write the forward+backward model. */
import type { Argv } from 'yargs';
import { addGradients } from '../autodiff/gradient-model.js';
import { modelFromProto, modelToProto } from '../ir/convert.js';
import { loadModel, saveModel } from '../onnx/model-io.js';

export function register(cli: Argv): Argv {
  return cli.command(
    'grad <model>',
    'Append reverse-mode gradients of a loss value to a model, as outputs grad/<parameter>',
    (y) =>
      y
        .positional('model', { type: 'string', demandOption: true, describe: 'path to a .onnx file' })
        .option('loss', { type: 'string', demandOption: true, describe: 'name of the value to differentiate (non-scalars are summed)' })
        .option('out', { type: 'string', demandOption: true, describe: 'where to write the forward+backward model' })
        .option('wrt', { type: 'string', array: true, describe: 'parameter name globs to differentiate (default: all float initializers)' })
        .option('freeze', { type: 'string', array: true, default: [], describe: 'parameter name globs to leave out' })
        .option('external-data', { type: 'boolean', default: false, describe: 'store weights in <out>_data beside the model' }),
    (args) => {
      const model = modelFromProto(loadModel(args.model as string).model);
      const r = addGradients(model, { loss: args.loss as string, wrt: args.wrt as string[] | undefined, freeze: args.freeze as string[] });
      saveModel(modelToProto(model), args.out as string, { externalData: args['external-data'] as boolean });
      const lines = [
        `${args.out}: ${r.gradients.size} gradient outputs (grad/<parameter>), ${r.forwardNodes} forward + ${r.backwardNodes} backward nodes`,
      ];
      if (r.unreached.length) lines.push(`  not on a path to '${args.loss}' (no gradient output): ${r.unreached.join(', ')}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    },
  );
}
