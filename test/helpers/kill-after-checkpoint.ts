/**
 * Crash-test hook, loaded into a `distill` process with `node --import` (test/train-trainer.test.ts): a real SIGKILL
 * right after the checkpoint of step DISTILL_TEST_SIGKILL_AFTER_CHECKPOINT is renamed into place, the moment
 * it is whole on disk. It wraps fs.renameSync, which seals every checkpoint (train/checkpoint.ts), so the
 * production code carries no test hook. `--import` travels in process.execArgv, so the low-memory child that
 * cli/relaunch.ts starts (its own process group, which a kill from outside would not reach alone) loads it too;
 * the parent then ends by the child's signal.
 */
import { createRequire, syncBuiltinESMExports } from 'node:module';
import * as path from 'node:path';

const step = process.env.DISTILL_TEST_SIGKILL_AFTER_CHECKPOINT;
if (step) {
  const fs = createRequire(import.meta.url)('node:fs') as typeof import('node:fs');
  const rename = fs.renameSync;
  fs.renameSync = (from, to) => {
    rename(from, to);
    if (path.basename(String(to)) === `checkpoint-${step}`) process.kill(process.pid, 'SIGKILL');
  };
  // ES modules' `import * as fs from 'node:fs'` see the wrapper only after this.
  syncBuiltinESMExports();
}
