/**
 * One error path for the file system. A write that fails for a cause outside the program (a full disk, a
 * read-only mount, no permission, a file where a folder should be) is the user's to fix, so it becomes an
 * InputError (exit 2) naming the path and what to do, never an `internal error`.
 */
import { InputError } from '../errors.js';

/** What to do about each errno a user can cause or fix. */
const ADVICE: Record<string, string> = {
  ENOSPC: 'the disk is full; free space or choose another path',
  EDQUOT: 'the disk quota is used up; free space or choose another path',
  EROFS: 'the file system is read-only; choose another path',
  EACCES: 'permission denied; fix its permissions or choose another path',
  EPERM: 'operation not permitted; fix its permissions or choose another path',
  EEXIST: 'a file is in the way; move it or choose another path',
  ENOTDIR: 'a part of the path is a file, not a folder; choose another path',
  EISDIR: 'is a folder where a file was expected; move it or choose another path',
  EMFILE: 'too many open files; raise the limit (ulimit -n)',
  // Node's recursive mkdir reports a folder it cannot create on a read-only mount as ENOENT.
  ENOENT: 'no such file or folder, or a folder on the path cannot be created; check the path',
  EIO: 'input/output error from the disk; check the device',
};

/** True for an error the file system raised for a cause outside the program. */
export function isUserFsError(err: unknown): err is NodeJS.ErrnoException {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && code in ADVICE;
}

/**
 * The InputError for a file-system error met while working on `file` (Node's fd-based calls such as
 * writeSync carry no path, so the caller names it); any other error is returned unchanged.
 */
export function fsInputError(err: unknown, file?: string): unknown {
  if (!isUserFsError(err)) return err;
  const where = err.path ?? file ?? '(unknown path)';
  const to = (err as { dest?: string }).dest;
  const dest = to && to !== where ? ` -> ${to}` : '';
  return new InputError(`${where}${dest}: ${err.code} during ${err.syscall ?? 'a file operation'}: ${ADVICE[err.code!]}`);
}

/** Runs `work`, turning a file-system error into the InputError naming `file`. */
export function withFsErrors<T>(file: string, work: () => T): T {
  try {
    return work();
  } catch (e) {
    throw fsInputError(e, file);
  }
}
