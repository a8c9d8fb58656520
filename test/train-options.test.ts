/** The option table (src/train/options.ts) and the yargs options it makes (src/cli/options.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import yargs from 'yargs';
import { InputError } from '../src/errors.js';
import { addOptions, readNumber, readOptions, unknownOnce } from '../src/cli/options.js';
import {
  type Command, OPTIONS, type OptionSpec, type OptionsOf, TRAIN_DEFAULTS, checkCombination, checkOptionValues, describeRange, hfName, inRange, optimizerSettings,
} from '../src/train/options.js';

const specs = Object.entries(OPTIONS) as [string, OptionSpec][];
function parse<C extends Command>(command: C, argv: string[]): OptionsOf<C> {
  const y = yargs(argv).strict().exitProcess(false).fail((message, err) => {
    throw err ?? new Error(message);
  });
  return readOptions(addOptions(y, command).parseSync(), command);
}

describe('option table', () => {
  it('declares every option once, with a flag in kebab-case and help text', () => {
    const flags = specs.map(([, s]) => s.flag).filter((f) => f !== null);
    assert.equal(new Set(flags).size, flags.length, 'flags are unique');
    for (const [key, spec] of specs) {
      assert.ok(spec.help.length > 10, `${key} has help text`);
      assert.ok(Object.keys(spec.in).length > 0, `${key} belongs to a command`);
      if (spec.flag !== null) assert.equal(spec.flag.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()), key === 'models' ? 'model' : key);
    }
  });

  it('gives TRAIN_DEFAULTS exactly the defaults of the options train takes', () => {
    const expected = Object.fromEntries(specs.filter(([, s]) => s.in.train && s.default !== undefined).map(([k, s]) => [k, s.default]));
    assert.deepEqual(TRAIN_DEFAULTS, expected);
    assert.equal(TRAIN_DEFAULTS.learningRate, 5e-5);
    assert.equal(TRAIN_DEFAULTS.callBytes, 256 * 2 ** 20);
  });

  it("names HF's TrainingArguments fields where HF has the option", () => {
    assert.equal(hfName('batchSize'), 'per_device_train_batch_size');
    assert.equal(hfName('epochs'), 'num_train_epochs');
    assert.equal(hfName('lrScheduler'), 'lr_scheduler_type');
    assert.equal(hfName('temperature'), undefined);
  });

  it('reads train flags under the table names, with defaults, comma lists and SGD settings', () => {
    const o = parse('train', ['--student', 's.onnx', '--train-file', 't.jsonl', '--output-dir', 'out', '--optimizer', 'sgd', '--momentum', '0.9', '--dampening', '0.1', '--nesterov', '--labels', 'ham,spam', 'eggs', '--no-shuffle']);
    assert.equal(o.student, 's.onnx');
    assert.equal(o.trainFile, 't.jsonl');
    assert.equal(o.batchSize, 32);
    assert.equal(o.shuffle, false);
    assert.deepEqual(o.labels, ['ham', 'spam', 'eggs']);
    assert.equal(o.teacher, undefined);
    assert.ok(!Object.keys(o).includes('callBytes'), 'library-only options have no flag');
    assert.deepEqual(optimizerSettings({ ...TRAIN_DEFAULTS, ...o }), { momentum: 0.9, dampening: 0.1, nesterov: true, weightDecay: 0 });
    assert.deepEqual(optimizerSettings({ ...TRAIN_DEFAULTS, optimizer: 'adamw' }), { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 });
  });

  it('build takes --output-dir and still --out; each command takes only its own flags', () => {
    assert.equal(parse('build', ['--student', 's.onnx', '--output-dir', 'a']).outputDir, 'a');
    assert.equal(parse('build', ['--student', 's.onnx', '--out', 'b']).outputDir, 'b');
    assert.throws(() => parse('build', ['--student', 's.onnx', '--out', 'b', '--ep', 'cuda']), /Invalid values/);
    assert.throws(() => parse('build', ['--student', 's.onnx', '--out', 'b', '--learning-rate', '1']), /Unknown argument/);
    const e = parse('eval', ['--model', 'a.onnx', 'b.onnx', '--eval-file', 'e.jsonl']);
    assert.deepEqual(e.models, ['a.onnx', 'b.onnx']);
    assert.equal(e.repeats, 1);
    assert.throws(() => parse('eval', ['--eval-file', 'e.jsonl']), /Missing required argument: model/);
  });

  it("search takes train's options but those it sets per trial, and demands the teacher and eval data", () => {
    const base = ['--teacher', 't.onnx', '--student', 's.onnx', '--train-file', 't.jsonl', '--eval-file', 'e.jsonl', '--output-dir', 'out'];
    const o = parse('search', [...base, '--optimizer', 'sgd', '--warmup-steps', '10', '--labels', 'ham,spam']) as Record<string, unknown>;
    assert.equal(o.optimizer, 'sgd');
    assert.equal(o.warmupSteps, 10);
    assert.deepEqual(o.labels, ['ham', 'spam']);
    assert.equal(o.learningRate, TRAIN_DEFAULTS.learningRate);
    for (const args of [['--resume-from-checkpoint', 'latest'], ['--overwrite-output-dir'], ['--logging-steps', '5']]) {
      assert.throws(() => parse('search', [...base, ...args]), new RegExp(`Unknown arguments?: ${args[0]!.slice(2)}`), args[0]);
    }
    assert.throws(() => parse('search', base.slice(2)), /Missing required argument: teacher/);
    assert.throws(() => parse('search', base.filter((a, i) => a !== '--eval-file' && base[i - 1] !== '--eval-file')), /Missing required argument: eval-file/);
  });
});

describe('option values', () => {
  const base = ['--student', 's.onnx', '--train-file', 't.jsonl', '--output-dir', 'out'];

  it('gives every number option a default its range allows', () => {
    for (const [key, spec] of specs) {
      if (spec.type === 'number' && typeof spec.default === 'number') assert.ok(inRange(spec.default, spec.range ?? {}), `${key}: ${spec.default} is ${describeRange(spec.range ?? {})}`);
    }
  });

  it('reads numbers from the text typed, and lists them as numbers in --help', async () => {
    const o = parse('train', [...base, '--alpha', '0.25', '--epochs', '2', '--learning-rate', '1e-3', '--seed', '0']);
    assert.deepEqual([o.alpha, o.epochs, o.learningRate, o.seed, o.temperature], [0.25, 2, 1e-3, 0, 2]);
    const help = await addOptions(yargs(['--help']).exitProcess(false), 'train').getHelp();
    assert.match(help, /--alpha\s+weight of the cross-entropy term[^[]*\[number\] \[default: 0\.5\]/);
  });

  it('refuses values outside the range, naming the flag and the text typed', () => {
    const refused: [string[], RegExp][] = [
      [['--alpha', '1.5'], /^--alpha must be a number in \[0, 1\], got '1\.5'$/],
      [['--alpha', 'abc'], /^--alpha must be a number in \[0, 1\], got 'abc'$/],
      [['--temperature', '0'], /^--temperature must be a number > 0, got '0'$/],
      [['--seed', 'abc'], /^--seed must be an integer >= 0, got 'abc'$/],
      [['--threads', '0'], /^--threads must be an integer >= 1 \(leave it out to use all cores\), got '0'$/],
      [['--epochs', '0'], /^--epochs 0 trains no step/],
      [['--learning-rate'], /^--learning-rate needs a value/],
      [['--batch-size', '4', '--batch-size', '8'], /^--batch-size given twice \(4 and 8\); give it once$/],
      [['--lerning-rate', '1'], /^Unknown argument: lerning-rate \(see distill --help\)$/],
    ];
    for (const [args, message] of refused) {
      assert.throws(() => parse('train', [...base, ...args]), (e: Error) => e instanceof InputError && message.test(e.message), args.join(' '));
    }
    assert.equal(parse('train', [...base, '--epochs', '0', '--max-steps', '4']).epochs, 0);
    assert.deepEqual(parse('train', [...base, '--freeze', 'a', '--freeze', 'b']).freeze, ['a', 'b']);
  });

  it('reads a number from its text or default', () => {
    assert.equal(readNumber('port', '8081', { integer: true, min: 0, max: 65535 }), 8081);
    assert.equal(readNumber('port', 8080, { integer: true }), 8080);
    assert.throws(() => readNumber('port', '', {}), /^InputError: --port must be a number, got nothing$/);
    assert.throws(() => readNumber('port', ' 1e99 ', { integer: true }), /--port must be an integer, got '1e99'/);
    assert.throws(() => readNumber('x', 'Infinity'), /--x must be a number, got 'Infinity'/);
  });

  it('says ranges in words', () => {
    assert.equal(describeRange({}), 'a number');
    assert.equal(describeRange({ min: 0, max: 1 }), 'a number in [0, 1]');
    assert.equal(describeRange({ min: 0, below: 1 }), 'a number in [0, 1)');
    assert.equal(describeRange({ above: 0 }), 'a number > 0');
    assert.equal(describeRange({ integer: true, min: 1 }), 'an integer >= 1');
  });

  it('checks the values a library caller gives, and options that together train nothing', () => {
    checkOptionValues({ ...TRAIN_DEFAULTS, threads: 2 });
    assert.throws(() => checkOptionValues({ alpha: 2 }), /--alpha must be a number in \[0, 1\], got 2/);
    assert.throws(() => checkOptionValues({ callBytes: 0 }), /--callBytes must be an integer >= 1/);
    assert.throws(() => checkCombination({ epochs: 0, maxSteps: -1 }), /--epochs 0 trains no step/);
    checkCombination({ epochs: 0, maxSteps: 3 });
    checkCombination({ epochs: 0, maxSteps: -1 }, ['epochs']);
    assert.throws(() => checkCombination({ epochs: 3, maxSteps: 3 }, ['epochs']), /--max-steps 3 overrides --epochs/);
  });

  it('names each unknown flag once, as typed', () => {
    assert.equal(unknownOnce(['lerning-rate', 'lerningRate']), 'Unknown argument: lerning-rate');
    assert.equal(unknownOnce(['a-b', 'aB', 'c_d', 'cD', 'x']), 'Unknown arguments: a-b, c_d, x');
  });
});
