/**
 * Low-memory training under glibc's malloc with a fixed mmap threshold.
 *
 * glibc serves blocks below its mmap threshold from the heap, and that threshold is dynamic: each freed
 * mmap'd block raises it to the block's size, up to 32 MB. After the first training step nearly every
 * activation and gradient buffer (up to 12 MB each on BERT-base) therefore lives in the heap, whose freed
 * space stays mapped wherever a live block sits above it. Low-memory mode allocates and frees them on every
 * step (ORT runs its gradient model without the arena there), and what the first step leaves mapped sets
 * the peak. A fixed threshold of 4 MB sends the large blocks through mmap, and so back to the system when
 * freed: in the bench's full runs on its base student the low-memory peak went from 2395-2540 MiB to
 * 2027-2058, with steps about 10 % slower (docs/PERFORMANCE.md, "Why the open targets are open"; 16 MB saved nothing, 1 MB made
 * steps 50 % slower).
 *
 * glibc reads the setting from the environment once, at process start, so `distill train --low-memory`
 * starts itself again with it and waits, unless the variable is already set (then it is the user's).
 */
import { spawn } from 'node:child_process';

/** The environment low-memory training runs under (glibc; other C libraries ignore it). */
export const LOW_MEMORY_MALLOC_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: String(4 << 20) };

/** Whether the command line turns low-memory mode on: `--low-memory` or `--low-memory=true`, last one wins. */
function lowMemoryFlag(args: readonly string[]): boolean {
  let on = false;
  for (const a of args) {
    if (a === '--') break;
    if (a === '--low-memory' || a === '--low-memory=true') on = true;
    else if (a === '--no-low-memory' || a === '--low-memory=false') on = false;
  }
  return on;
}

/**
 * The environment to start `distill` again under, or null to go on in this process: only for `train` with
 * low-memory mode on Linux, and only when the user has not set the variable themselves.
 */
export function lowMemoryRelaunch(args: readonly string[], env: NodeJS.ProcessEnv, platform: NodeJS.Platform): NodeJS.ProcessEnv | null {
  if (platform !== 'linux' || args[0] !== 'train' || !lowMemoryFlag(args)) return null;
  if (Object.keys(LOW_MEMORY_MALLOC_ENV).some((k) => env[k] !== undefined)) return null;
  return { ...env, ...LOW_MEMORY_MALLOC_ENV };
}

/** Set in the child's environment to the parent's pid: the child watches for the parent's death by it. */
const PARENT_PID_ENV = 'DISTILL_PARENT_PID';
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Runs this same command line in a child process under `env` and ends this process as the child ended: with
 * its exit code, or by the signal that ended it. The child runs in its own process group, so a terminal's
 * Ctrl-C reaches this process alone and is passed on once, like SIGTERM and SIGHUP and a `kill -INT` of this
 * pid: the child's first signal saves a checkpoint, a second quits it at once (cli/signals.ts).
 */
export function relaunch(env: NodeJS.ProcessEnv): Promise<never> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit', env: { ...env, [PARENT_PID_ENV]: String(process.pid) }, detached: true,
  });
  for (const sig of SIGNALS) process.on(sig, () => child.kill(sig));
  return new Promise<never>(() => {
    child.on('error', (e) => {
      process.stderr.write(`distill: could not start the low-memory training process: ${e.message}\n`);
      process.exit(1);
    });
    child.on('exit', (code, signal) => {
      if (signal) {
        process.removeAllListeners(signal);
        process.kill(process.pid, signal);
      }
      process.exit(code ?? 1);
    });
  });
}

/**
 * In a child started by relaunch(): ends it when its parent is gone (a kill -9 of the parent cannot pass
 * anything on, and Linux reparents the orphan), so no training goes on writing into the folder unseen. Polls
 * the parent pid every 200 ms on an unreferenced timer; the next run removes what the kill left half-written.
 */
export function dieWithParent(env: NodeJS.ProcessEnv): void {
  const parent = Number(env[PARENT_PID_ENV]);
  delete env[PARENT_PID_ENV]; // not for the child's own children
  if (!parent) return;
  if (process.ppid !== parent) process.kill(process.pid, 'SIGKILL');
  setInterval(() => {
    if (process.ppid !== parent) process.kill(process.pid, 'SIGKILL');
  }, 200).unref();
}
