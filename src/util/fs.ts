import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsInputError } from './fs-errors.js';

/**
 * Writes a file so that readers see either the old or the new contents, never a torn file: write to a
 * temporary file in the same folder, fsync, then rename over the target. A failure (a full disk, a
 * read-only folder) removes the temporary file and throws an InputError naming `file`.
 */
export function writeFileAtomic(file: string, data: Uint8Array | string | readonly Uint8Array[]): void {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}`);
  try {
    fs.mkdirSync(dir, { recursive: true });
    const fd = fs.openSync(tmp, 'w');
    try {
      if (typeof data === 'string') fs.writeSync(fd, data);
      else if (data instanceof Uint8Array) writeAll(fd, data);
      else for (const chunk of data) writeAll(fd, chunk);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // The folder itself refuses writes: there is no temporary file to remove.
    }
    throw fsInputError(e, file);
  }
}

/** fs.writeSync may write less than asked (large buffers): loop until all is written. */
function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
}

/**
 * fs.mkdirSync(dir, { recursive: true }), but with the real cause when the last folder cannot be made:
 * Node's recursive mkdir reports a read-only parent as ENOENT; a plain mkdir there says EROFS or EACCES.
 */
export function makeDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && fs.existsSync(path.dirname(path.resolve(dir)))) fs.mkdirSync(dir);
    throw e;
  }
}
