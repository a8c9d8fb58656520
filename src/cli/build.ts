/** `distill build`: write the training-step, loop and eval models, the initial state and the manifest. */
import type { Argv } from 'yargs';
import { buildTrainingArtifacts } from '../step/artifacts.js';
import { InputError } from '../errors.js';
import { studentMetadata } from '../params/student.js';
import { elementCount } from '../onnx/tensor.js';
import { optimizerSettings } from '../train/options.js';
import { addOptions, readOptions } from './options.js';

export function register(cli: Argv): Argv {
  return cli.command(
    'build',
    'Build the training-step models (distillation loss, gradients, optimizer update) and their manifest',
    (y) => addOptions(y, 'build'),
    (args) => {
      const o = readOptions(args, 'build');
      const task = o.task ?? studentMetadata(o.student, { hfModel: o.hfModel }).sidecar.task;
      if (!task) throw new InputError(`${o.student}: no --task given, and no config.json 'architectures' or distill.json sidecar names one`);
      const m = buildTrainingArtifacts({
        student: o.student,
        teacher: o.teacher,
        task,
        hfModel: o.hfModel,
        trainable: o.trainable,
        optimizer: o.optimizer,
        optimizerSettings: optimizerSettings(o),
        logits: o.logits,
        freeze: o.freeze,
        chunkedUpdate: o.chunkedUpdate,
        groupedUpdate: o.groupedUpdate,
        narrowRows: o.narrowRows,
        target: o.ep === 'webgpu' ? 'gpu' : 'cpu',
        outDir: o.outputDir,
      });
      const count = m.parameters.reduce((n, p) => n + elementCount(p.shape), 0);
      process.stdout.write(
        `${o.outputDir}: train_step.onnx, train_loop.onnx, eval.onnx, ${m.models.train_grad}, ${Object.values(m.models.train_update).join(', ')}, ${m.models.fetch_state ? `${m.models.fetch_state}, ` : ''}${m.initial_state}, manifest.json (for ${m.target === 'gpu' ? 'GPU' : 'any'} execution providers)\n` +
          `  ${m.parameters.length} trained tensors (${count.toLocaleString('en-US')} values; parameters from ${m.parameter_source}), ${m.frozen.length} frozen, ${m.state.length} optimizer state tensors (${m.optimizer.name})\n`,
      );
      for (const w of m.warnings) process.stderr.write(`warning: ${w}\n`);
    },
  );
}
