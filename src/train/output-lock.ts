/**
 * One run per output folder. `<outputDir>/.distill.lock` holds the pid and host of the run that owns the
 * folder; a second run fails with one line naming them. The file is created with its contents in place
 * (written beside it, then hard-linked, which fails if the lock exists), so no run ever sees an empty lock.
 * A lock whose process is gone (same host, no such pid: a kill -9) is stale and taken over.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import { makeDir } from '../util/fs.js';
import { fsInputError } from '../util/fs-errors.js';

export const LOCK_FILE = '.distill.lock';

interface LockInfo {
  pid: number;
  host: string;
  started: string;
}

export interface OutputLock {
  file: string;
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(file: string): LockInfo | null {
  try {
    const info = JSON.parse(fs.readFileSync(file, 'utf8')) as LockInfo;
    return Number.isSafeInteger(info.pid) && typeof info.host === 'string' ? info : null;
  } catch {
    return null;
  }
}

/** Creates `outputDir` if needed and takes its lock, or throws an InputError naming the run that holds it. */
export function lockOutputDir(outputDir: string): OutputLock {
  const file = path.join(outputDir, LOCK_FILE);
  const me: LockInfo = { pid: process.pid, host: os.hostname(), started: new Date().toISOString() };
  const stat = fs.statSync(outputDir, { throwIfNoEntry: false });
  if (stat && !stat.isDirectory()) throw new InputError(`${outputDir}: is a file, not a folder; choose another --output-dir`);
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    makeDir(outputDir);
    fs.writeFileSync(tmp, `${JSON.stringify(me)}\n`);
    for (let attempt = 0; ; attempt++) {
      try {
        fs.linkSync(tmp, file);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw e;
      }
      const holder = readLock(file);
      if (holder && holder.host !== me.host) {
        throw new InputError(`${outputDir} is in use by another training run (pid ${holder.pid} on ${holder.host}, since ${holder.started}); wait for it, or delete ${file} if that run is gone`);
      }
      if (holder && holder.pid !== process.pid && alive(holder.pid)) {
        throw new InputError(`${outputDir} is in use by another training run (pid ${holder.pid}, since ${holder.started}); wait for it or choose another --output-dir`);
      }
      // Stale: its process is gone (or the file is unreadable, which a lock we write never is).
      fs.rmSync(file, { force: true });
    }
  } catch (e) {
    throw fsInputError(e, file);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  return {
    file,
    release: () => {
      // Only our own lock: never a lock another run took over after ours was judged stale.
      if (readLock(file)?.pid === process.pid) fs.rmSync(file, { force: true });
    },
  };
}
