/**
 * Which checkpoint a run resumes from, and the housekeeping of the checkpoint folders: a damaged newest
 * checkpoint falls back to the newest one that verifies (saying so), temporary folders of writes a kill
 * interrupted are removed, and `--save-total-limit` deletes the oldest checkpoints.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import { withFsErrors } from '../util/fs-errors.js';
import { checkpointDamage, manifestRun, runMismatch, type RunIdentity } from './checkpoint-manifest.js';
import { CHECKPOINT_TEMP, checkpointName, checkpointSteps, type LoadedCheckpoint, readCheckpoint } from './checkpoint.js';

export interface Resumed extends LoadedCheckpoint {
  dir: string;
}

/** Reads `dir` after checking it against its manifest; throws an InputError saying what is wrong. */
function readVerified(dir: string, run: RunIdentity): Resumed {
  const damage = checkpointDamage(dir);
  if (damage) throw new DamagedCheckpoint(`${dir}: damaged checkpoint (${damage})`);
  const mismatch = runMismatch(manifestRun(dir), run);
  // The same for every checkpoint of the run, so no fallback: the user resumes with other settings.
  if (mismatch) throw new InputError(`${dir}: the checkpoint ${mismatch}; resume with the same settings`);
  try {
    return { dir, ...readCheckpoint(dir) };
  } catch (e) {
    if (e instanceof InputError) throw new DamagedCheckpoint(e.message);
    throw e;
  }
}

class DamagedCheckpoint extends InputError {}

/**
 * The checkpoint to resume from: `spec` is a folder (which must verify) or 'latest', the newest checkpoint in
 * `outputDir` that verifies; each newer one that does not is reported through `onInfo` in one line.
 */
export function resumeFrom(spec: string, outputDir: string, run: RunIdentity, onInfo?: (m: string) => void): Resumed {
  if (spec !== 'latest') {
    if (!fs.existsSync(spec)) throw new InputError(`${spec}: checkpoint folder does not exist`);
    try {
      return readVerified(spec, run);
    } catch (e) {
      if (e instanceof DamagedCheckpoint) throw new InputError(`${e.message}; resume from an earlier checkpoint, or --resume-from-checkpoint latest`);
      throw e;
    }
  }
  const skipped: string[] = [];
  for (const step of checkpointSteps(outputDir)) {
    const dir = path.join(outputDir, checkpointName(step));
    try {
      const found = readVerified(dir, run);
      if (skipped.length) onInfo?.(`${skipped.join('; ')}; resuming from ${dir}, the newest checkpoint that verifies`);
      return found;
    } catch (e) {
      if (!(e instanceof DamagedCheckpoint)) throw e;
      skipped.push(e.message);
    }
  }
  if (skipped.length) throw new InputError(`${outputDir}: no checkpoint verifies (${skipped.join('; ')}); start again with --overwrite-output-dir`);
  throw new InputError(`${outputDir}: no checkpoint to resume from`);
}

/**
 * Removes what writes interrupted by a kill leave in `outputDir`: `checkpoint-<step>.tmp-<pid>` folders and
 * `.<file>.tmp-<pid>` files. Only while holding the output-dir lock, so no other run is writing them.
 */
export function removeInterruptedWrites(outputDir: string): string[] {
  if (!fs.existsSync(outputDir)) return [];
  const stale = fs.readdirSync(outputDir).filter((n) => CHECKPOINT_TEMP.test(n) || /^\..+\.tmp-\d+$/.test(n));
  for (const n of stale) withFsErrors(path.join(outputDir, n), () => fs.rmSync(path.join(outputDir, n), { recursive: true, force: true }));
  return stale;
}

/**
 * HF's save_total_limit: deletes the oldest checkpoints until `limit` remain, never the newest and never
 * `keep` (the best model's checkpoint). Returns the deleted folders.
 */
export function pruneCheckpoints(outputDir: string, limit: number, keep: readonly (string | null)[]): string[] {
  const dirs = checkpointSteps(outputDir).map((s) => path.join(outputDir, checkpointName(s)));
  const kept = new Set(keep.filter((k): k is string => k !== null).map((k) => path.resolve(k)));
  const removable = dirs.slice(1).filter((d) => !kept.has(path.resolve(d)));
  let excess = dirs.length - Math.max(1, limit);
  const removed: string[] = [];
  for (const dir of removable.reverse()) {
    if (excess-- <= 0) break;
    withFsErrors(dir, () => fs.rmSync(dir, { recursive: true, force: true }));
    removed.push(dir);
  }
  return removed;
}
