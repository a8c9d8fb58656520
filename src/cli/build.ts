/** `distill build`: write the training-step, loop and eval models, the initial state and the manifest. */
import type { Argv } from 'yargs';
import { buildTrainingArtifacts } from '../step/artifacts.js';
import { InputError } from '../errors.js';
import { studentMetadata } from '../params/student.js';
import { TASKS, type Task } from '../losses/distill.js';
import { elementCount } from '../onnx/tensor.js';
import type { OptimizerName } from '../optim/index.js';

export function register(cli: Argv): Argv {
  return cli.command(
    'build',
    'Build the training-step models (distillation loss, gradients, optimizer update) and their manifest',
    (y) =>
      y
        .option('student', { type: 'string', demandOption: true, describe: 'student ONNX file' })
        .option('hf-model', { type: 'string', describe: "Hugging Face folder of the student (config.json, model.safetensors): which initializers are PyTorch's parameters (default: the student's folder)" })
        .option('trainable', { type: 'string', array: true, default: [], describe: 'initializer globs to train although they look like constants' })
        .option('teacher', { type: 'string', describe: 'teacher ONNX file (omit for plain fine-tuning)' })
        .option('task', { choices: TASKS as unknown as string[], describe: "what the logits mean (default: config.json's architectures or the sidecar's task)" })
        .option('optimizer', { choices: ['adamw', 'sgd'], default: 'adamw' })
        .option('momentum', { type: 'number', default: 0, describe: 'SGD momentum' })
        .option('dampening', { type: 'number', default: 0, describe: 'SGD dampening' })
        .option('nesterov', { type: 'boolean', default: false, describe: 'SGD Nesterov momentum' })
        .option('weight-decay', { type: 'number', default: 0, describe: 'SGD: L2 penalty; AdamW: decoupled decay (HF default 0)' })
        .option('adam-beta1', { type: 'number', default: 0.9 })
        .option('adam-beta2', { type: 'number', default: 0.999 })
        .option('adam-epsilon', { type: 'number', default: 1e-8 })
        .option('logits', { type: 'string', default: 'logits', describe: "name of the student's logits output" })
        .option('freeze', { type: 'string', array: true, default: [], describe: 'parameter name globs to keep frozen' })
        .option('chunked-update', {
          type: 'boolean',
          default: true,
          describe: 'update large parameters chunk by chunk in a Scan (faster on CPUs; off in builds for --ep webgpu)',
        })
        .option('ep', {
          choices: ['cpu', 'webgpu'],
          default: 'cpu',
          describe: 'execution provider to build for: webgpu keeps every per-step node on the GPU (float32 scalars, GPU-run ops, fetch_state.onnx; docs/WEBGPU.md)',
        })
        .option('grouped-update', {
          type: 'boolean',
          default: true,
          describe: 'update small parameters (biases, norms) in groups of up to 7, one update each (fewer kernels)',
        })
        .option('narrow-rows', {
          type: 'boolean',
          default: true,
          describe: 'compute only the rows the logits read (a classifier\'s last layer for the [CLS] position alone)',
        })
        .option('out', { type: 'string', alias: 'output-dir', demandOption: true, describe: 'output folder' }),
    (args) => {
      const optimizer = args.optimizer as OptimizerName;
      const settings: Record<string, number | boolean> =
        optimizer === 'sgd'
          ? { momentum: args.momentum, dampening: args.dampening, nesterov: args.nesterov, weightDecay: args['weight-decay'] }
          : { beta1: args['adam-beta1'], beta2: args['adam-beta2'], eps: args['adam-epsilon'], weightDecay: args['weight-decay'] };
      const task = (args.task as Task | undefined) ?? studentMetadata(args.student, { hfModel: args['hf-model'] }).sidecar.task;
      if (!task) throw new InputError(`${args.student}: no --task given, and no config.json 'architectures' or distill.json sidecar names one`);
      const m = buildTrainingArtifacts({
        student: args.student,
        teacher: args.teacher,
        task,
        hfModel: args['hf-model'],
        trainable: args.trainable as string[],
        optimizer,
        optimizerSettings: settings,
        logits: args.logits,
        freeze: args.freeze as string[],
        chunkedUpdate: args['chunked-update'],
        groupedUpdate: args['grouped-update'],
        narrowRows: args['narrow-rows'],
        target: args.ep === 'webgpu' ? 'gpu' : 'cpu',
        outDir: args.out,
      });
      const count = m.parameters.reduce((n, p) => n + elementCount(p.shape), 0);
      process.stdout.write(
        `${args.out}: train_step.onnx, train_loop.onnx, eval.onnx, ${m.models.train_grad}, ${Object.values(m.models.train_update).join(', ')}, ${m.models.fetch_state ? `${m.models.fetch_state}, ` : ''}${m.initial_state}, manifest.json (for ${m.target === 'gpu' ? 'GPU' : 'any'} execution providers)\n` +
          `  ${m.parameters.length} trained tensors (${count.toLocaleString('en-US')} values; parameters from ${m.parameter_source}), ${m.frozen.length} frozen, ${m.state.length} optimizer state tensors (${m.optimizer.name})\n`,
      );
      for (const w of m.warnings) process.stderr.write(`warning: ${w}\n`);
    },
  );
}
