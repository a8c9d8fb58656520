/** `distill train --low-memory` relaunches itself under glibc's malloc setting (src/cli/relaunch.ts). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { lowMemoryRelaunch } from '../src/cli/relaunch.js';
import { ROOT } from './helpers/fixtures.js';

const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-cli-'));

describe('distill train --low-memory: the glibc malloc relaunch', () => {
  it('decides from the command line and the environment', () => {
    const want = { MALLOC_MMAP_THRESHOLD_: String(4 << 20) };
    assert.deepEqual(lowMemoryRelaunch(['train', '--low-memory', '--student', 's.onnx'], { A: '1' }, 'linux'), { A: '1', ...want });
    assert.deepEqual(lowMemoryRelaunch(['train', '--low-memory=true'], {}, 'linux'), want);
    assert.equal(lowMemoryRelaunch(['train', '--low-memory', '--no-low-memory'], {}, 'linux'), null);
    assert.equal(lowMemoryRelaunch(['train', '--low-memory=false'], {}, 'linux'), null);
    assert.equal(lowMemoryRelaunch(['train', '--', '--low-memory'], {}, 'linux'), null);
    assert.equal(lowMemoryRelaunch(['train'], {}, 'linux'), null);
    assert.equal(lowMemoryRelaunch(['build', '--low-memory'], {}, 'linux'), null);
    assert.equal(lowMemoryRelaunch(['train', '--low-memory'], {}, 'darwin'), null);
    // A value the user set is theirs: no relaunch, no override.
    assert.equal(lowMemoryRelaunch(['train', '--low-memory'], { MALLOC_MMAP_THRESHOLD_: '131072' }, 'linux'), null);
  });

  it('runs the command in a child under the setting, with the same node options, and ends with its exit code', { skip: process.platform !== 'linux' && 'relaunches on Linux only' }, () => {
    // A preloaded module prints what each process sees: the parent (unset) and the child it started.
    const probe = path.join(tmp, 'probe.mjs');
    fs.writeFileSync(probe, "process.stderr.write(`malloc ${process.env.MALLOC_MMAP_THRESHOLD_ ?? 'unset'}\\n`);\n");
    const env = { ...process.env };
    delete env.MALLOC_MMAP_THRESHOLD_;
    const r = spawnSync(process.execPath, ['--import', probe, CLI, 'train', '--low-memory', '--student', path.join(tmp, 'missing.onnx'), '--train-file', 'x', '--output-dir', tmp], { encoding: 'utf8', env });
    assert.equal(r.status, 2, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.deepEqual(lines.filter((l) => l.startsWith('malloc ')).sort(), [`malloc ${4 << 20}`, 'malloc unset']);
    assert.deepEqual(lines.filter((l) => l.startsWith('distill: ')).length, 1, r.stderr);
  });
});
