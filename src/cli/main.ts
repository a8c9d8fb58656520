#!/usr/bin/env node
/**
 * The `distill` executable. It loads nothing heavy itself: `distill train --low-memory` on Linux first starts
 * itself again under the malloc settings of low-memory mode (cli/relaunch.ts), and that parent process should
 * stay small; every other run goes straight to the commands.
 */
import { dieWithParent, lowMemoryRelaunch, relaunch } from './relaunch.js';

const args = process.argv.slice(2);
dieWithParent(process.env);
const env = lowMemoryRelaunch(args, process.env, process.platform);
if (env) await relaunch(env);
else await (await import('./commands.js')).run();
