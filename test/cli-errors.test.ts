/**
 * Bad options end `distill` in one line on stderr naming the option and what to do, exit code 2, before any
 * file is read (so the files below need not exist): out-of-range and non-numeric values, a flag without its
 * value, a single-valued flag given twice, unknown flags said once, options that together train nothing, and
 * a `distill web` port that is taken or invalid.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from './helpers/fixtures.js';
import { tempDir } from './helpers/temp-dir.js';

const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const tmp = tempDir('distill-cli-errors-');
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: tmp.dir });

const TRAIN = ['train', '--student', 's.onnx', '--train-file', 't.jsonl', '--output-dir', 'out'];
const SEARCH = ['search', '--teacher', 't.onnx', '--student', 's.onnx', '--train-file', 't.jsonl', '--eval-file', 'e.jsonl', '--output-dir', 'out'];
const BUILD = ['build', '--student', 's.onnx', '--output-dir', 'out'];
const EVAL = ['eval', '--model', 'm.onnx', '--eval-file', 'e.jsonl'];

/** Asserts the one-line usage error `expected` (exit 2; never an internal error). */
function refuses(args: string[], expected: RegExp): void {
  const r = cli(...args);
  assert.equal(r.status, 2, `exit code of ${args.join(' ')}: ${r.stderr}`);
  assert.match(r.stderr, /^distill: [^\n]+\n$/, 'one line');
  assert.doesNotMatch(r.stderr, /internal error/);
  assert.match(r.stderr, expected);
}

describe('distill refuses bad option values in one line', () => {
  const cases: [string[], RegExp][] = [
    [[...TRAIN, '--alpha', '1.5'], /--alpha must be a number in \[0, 1\], got '1\.5'/],
    [[...TRAIN, '--alpha', '-0.1'], /--alpha must be a number in \[0, 1\], got '-0\.1'/],
    [[...TRAIN, '--alpha', 'NaN'], /--alpha must be a number in \[0, 1\], got 'NaN'/],
    [[...TRAIN, '--alpha', 'abc'], /--alpha must be .*, got 'abc'/],
    [[...TRAIN, '--alpha='], /--alpha must be .*, got nothing/],
    [[...TRAIN, '--temperature', '-1'], /--temperature must be a number > 0, got '-1'/],
    [[...TRAIN, '--temperature', '0'], /--temperature must be a number > 0, got '0'/],
    [[...TRAIN, '--temperature', 'abc'], /--temperature must be a number > 0, got 'abc'/],
    [[...TRAIN, '--epochs', '0'], /--epochs 0 trains no step: give --epochs 1 or more, or --max-steps N > 0/],
    [[...TRAIN, '--epochs', '-1'], /--epochs must be an integer >= 0 .*, got '-1'/],
    [[...TRAIN, '--epochs', 'three'], /--epochs must be an integer .*, got 'three'/],
    [[...TRAIN, '--epochs', '1.5'], /--epochs must be an integer .*, got '1\.5'/],
    [[...TRAIN, '--max-steps', '2.5'], /--max-steps must be an integer/],
    [[...TRAIN, '--seed', 'abc'], /--seed must be an integer >= 0, got 'abc'/],
    [[...TRAIN, '--batch-size', '0'], /--batch-size must be an integer >= 1, got '0'/],
    [[...TRAIN, '--learning-rate', '0'], /--learning-rate must be a number > 0/],
    [[...TRAIN, '--adam-beta2', '1'], /--adam-beta2 must be a number in \[0, 1\)/],
    [[...TRAIN, '--eval-steps', '0'], /--eval-steps must be an integer >= 1/],
    [[...SEARCH, '--search', 'alpha=0:1', '--alpha', '3'], /--alpha must be a number in \[0, 1\], got '3'/],
    [[...SEARCH, '--search', 'alpha=0:1', '--temperature', '0'], /--temperature must be a number > 0/],
    [[...EVAL, '--batch-size', 'x'], /--batch-size must be an integer >= 1, got 'x'/],
    [[...BUILD, '--momentum', '-1'], /--momentum must be a number >= 0, got '-1'/],
  ];
  for (const [args, expected] of cases) it(args.slice(args.indexOf('out') + 1).join(' ') || args.join(' '), () => refuses(args, expected));
});

describe('distill refuses a flag without its value', () => {
  for (const [args, flag] of [[[...TRAIN, '--learning-rate'], 'learning-rate'], [[...TRAIN, '--learning-rate', '--alpha', '0.5'], 'learning-rate'], [[...TRAIN, '--teacher'], 'teacher']] as const) {
    it(`${args.slice(7).join(' ')}`, () => refuses([...args], new RegExp(`--${flag} needs a value`)));
  }
});

describe('distill refuses a single-valued option given twice', () => {
  it('--train-file a --train-file b (was an internal error on the path)', () =>
    refuses([...TRAIN, '--train-file', 'b.jsonl'], /--train-file given twice \(t\.jsonl and b\.jsonl\); give it once/));
  it('--batch-size 4 --batch-size 8', () => refuses([...TRAIN, '--batch-size', '4', '--batch-size', '8'], /--batch-size given twice \(4 and 8\); give it once/));
  it('--alpha three times', () => refuses([...TRAIN, '--alpha', '0.3', '--alpha', '0.4', '--alpha', '0.5'], /--alpha given 3 times \(0\.3, 0\.4 and 0\.5\); give it once/));
  it("search's own --trials", () => refuses([...SEARCH, '--search', 'alpha=0:1', '--trials', '3', '--trials', '4'], /--trials given twice \(3 and 4\)/));
  it('build --out and --output-dir (aliases)', () => refuses([...BUILD, '--out', 'b'], /--output-dir given twice \(out and b\)/));
  it('list options stay repeatable', () => {
    // Past the option checks, the run stops at the missing student model.
    const r = cli(...TRAIN, '--labels', 'ham', '--labels', 'spam', '--freeze', 'a', '--freeze', 'b');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^distill: s\.onnx: ONNX model does not exist/);
  });
});

describe('distill refuses bad --threads', () => {
  for (const v of ['0', '-1', '1.5', 'all']) {
    it(`--threads ${v}`, () => refuses([...TRAIN, '--threads', v], /--threads must be an integer >= 1 \(leave it out to use all cores\)/));
  }
  it('in eval too', () => refuses([...EVAL, '--threads', '0'], /--threads must be an integer >= 1/));
});

describe('distill names an unknown option once', () => {
  it('--lerning-rate, not also as lerningRate', () => {
    const r = cli(...TRAIN, '--lerning-rate', '1');
    assert.equal(r.status, 2);
    assert.equal(r.stderr, 'distill: Unknown argument: lerning-rate (see distill --help)\n');
  });
  it('several, each once', () => refuses([...SEARCH, '--search', 'alpha=0:1', '--foo-bar', '--baz_qux', '2'], /Unknown arguments: foo-bar, baz_qux \(/));
});

describe('distill search refuses searching epochs when --max-steps fixes the length', () => {
  it('--search epochs=1:3:int --max-steps 5', () =>
    refuses([...SEARCH, '--search', 'epochs=1:3:int', '--max-steps', '5'], /--search epochs=\.\.\.: --max-steps 5 overrides --epochs.*drop --max-steps/));
  it('a searched epochs range needs no --epochs of its own', () => {
    const r = cli(...SEARCH, '--search', 'epochs=1:3', '--epochs', '0');
    assert.equal(r.status, 2);
    assert.doesNotMatch(r.stderr, /--epochs/);
  });
  it('--epochs 0 is fine with --max-steps > 0', () => {
    const r = cli(...TRAIN, '--epochs', '0', '--max-steps', '5');
    assert.match(r.stderr, /^distill: s\.onnx: ONNX model does not exist/);
  });
});

describe('distill web refuses a port it cannot listen on', () => {
  for (const v of ['99999', 'abc', '-1']) {
    it(`--port ${v}`, () => refuses(['web', '--port', v, '--dir', 'demo'], new RegExp(`--port must be an integer in \\[0, 65535\\], got '${v}'`)));
  }
  it('a port another program listens on', async () => {
    const other = net.createServer();
    await new Promise<void>((ok) => other.listen(0, '127.0.0.1', ok));
    const port = (other.address() as net.AddressInfo).port;
    try {
      // Not spawnSync: it would block the event loop that holds `other` (the port stays taken either way).
      const child = spawn(process.execPath, [CLI, 'web', '--port', String(port), '--dir', path.join(tmp.dir, 'demo')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const code = await new Promise<number | null>((ok) => child.once('exit', ok));
      assert.equal(code, 2, stderr);
      assert.match(stderr, new RegExp(`^distill: --port ${port}: another program listens on 127\\.0\\.0\\.1:${port}; pass another --port[^\\n]*\\n$`));
    } finally {
      other.close();
    }
  });
});
