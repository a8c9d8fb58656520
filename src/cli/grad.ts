/** `distill grad MODEL --loss NAME --out FILE`: write the forward+backward model. */
import type { Argv } from 'yargs';
import { addGradients } from '../autodiff/gradient-model.js';
import { modelFromProto, modelToProto } from '../ir/convert.js';
import { loadModel, resolveModelPath, saveModel } from '../onnx/model-io.js';
import { prepareStudent } from '../params/student.js';

export function register(cli: Argv): Argv {
  return cli.command(
    'grad <model>',
    'Append reverse-mode gradients of a loss value to a model, as outputs grad/<parameter>',
    (y) =>
      y
        .positional('model', { type: 'string', demandOption: true, describe: 'path to a .onnx file' })
        .option('loss', { type: 'string', demandOption: true, describe: 'name of the value to differentiate (non-scalars are summed)' })
        .option('out', { type: 'string', demandOption: true, describe: 'where to write the forward+backward model' })
        .option('wrt', { type: 'string', array: true, describe: "parameter name globs to differentiate (default: the parameters PyTorch trains, as 'distill inspect --params' lists them)" })
        .option('hf-model', { type: 'string', describe: 'Hugging Face folder of the model (config.json, model.safetensors) for parameter discovery (default: its folder)' })
        .option('freeze', { type: 'string', array: true, default: [], describe: 'parameter name globs to leave out' })
        .option('external-data', { type: 'boolean', default: false, describe: 'store weights in <out>_data beside the model' }),
    (args) => {
      // Without --wrt, the graph is first rewritten to one initializer per PyTorch parameter (params/), so
      // each gradient output is one parameter's: merged biases get one each, constants none.
      const wrt = args.wrt as string[] | undefined;
      const file = resolveModelPath(args.model as string);
      const student = wrt ? null : prepareStudent(file, { hfModel: args['hf-model'] });
      const model = student?.model ?? modelFromProto(loadModel(file).model);
      const parameters = student ? Object.keys(student.sidecar.parameters) : wrt;
      const r = addGradients(model, { loss: args.loss as string, wrt: parameters, freeze: args.freeze as string[], paddingRows: student?.sidecar.padding_rows });
      saveModel(modelToProto(model), args.out as string, { externalData: args['external-data'] as boolean });
      const lines = [
        `${args.out}: ${r.gradients.size} gradient outputs (grad/<parameter>), ${r.forwardNodes} forward + ${r.backwardNodes} backward nodes`,
      ];
      if (r.unreached.length) lines.push(`  not on a path to '${args.loss}' (no gradient output): ${r.unreached.join(', ')}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    },
  );
}
