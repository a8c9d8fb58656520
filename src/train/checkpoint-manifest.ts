/**
 * A checkpoint's proof of itself: `manifest.json`, written last (its folder is renamed into place only after
 * it), lists the size and sha256 of every other file of the checkpoint, plus the run settings a resume must
 * share (seed, batch size, the training data, ...). A bit flip, a truncated or zeroed file, or a hand-edited
 * `global_step` no longer matches it, so resuming never continues from wrong weights without a word.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../util/fs.js';

export const MANIFEST_FILE = 'manifest.json';
const FORMAT = 'onnx-distill checkpoint manifest 1';

/** Settings a resumed run must share with the run that wrote the checkpoint, by their CLI flag. */
export type RunIdentity = Record<string, string | number | boolean>;

interface Manifest {
  format: string;
  files: Record<string, { size: number; sha256: string }>;
  run: RunIdentity;
}

function sha256(file: string): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    // In 16 MiB pieces: a base-size model's optimizer state is over a gigabyte.
    const buf = Buffer.allocUnsafe(16 << 20);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) hash.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/** Writes `<dir>/manifest.json` over every file now in `dir`; call it after the checkpoint's last file. */
export function writeManifest(dir: string, run: RunIdentity): void {
  const files: Manifest['files'] = {};
  for (const name of fs.readdirSync(dir).sort()) {
    if (name === MANIFEST_FILE) continue;
    const file = path.join(dir, name);
    files[name] = { size: fs.statSync(file).size, sha256: sha256(file) };
  }
  const manifest: Manifest = { format: FORMAT, files, run };
  writeFileAtomic(path.join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** Why `dir` is not an intact checkpoint, or null when every file matches its manifest. */
export function checkpointDamage(dir: string): string | null {
  const manifestFile = path.join(dir, MANIFEST_FILE);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as Manifest;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `no ${MANIFEST_FILE} (an interrupted write, or a checkpoint from before manifests)` : `${MANIFEST_FILE} is unreadable (${code ?? 'not valid JSON'})`;
  }
  if (manifest?.format !== FORMAT || typeof manifest.files !== 'object' || manifest.files === null || typeof manifest.run !== 'object') {
    return `${MANIFEST_FILE} is not an onnx-distill checkpoint manifest`;
  }
  const present = fs.readdirSync(dir).filter((n) => n !== MANIFEST_FILE);
  const extra = present.filter((n) => !(n in manifest.files));
  if (extra.length) return `${extra.join(', ')} not in ${MANIFEST_FILE}`;
  for (const [name, want] of Object.entries(manifest.files)) {
    const file = path.join(dir, name);
    const size = fs.statSync(file, { throwIfNoEntry: false })?.size;
    if (size === undefined) return `${name} is missing`;
    if (size !== want.size) return `${name} has ${size} bytes, ${MANIFEST_FILE} says ${want.size}`;
    if (sha256(file) !== want.sha256) return `${name} does not match its sha256 in ${MANIFEST_FILE}`;
  }
  return null;
}

/** The run settings recorded in `dir`'s manifest (call after checkpointDamage returned null). */
export function manifestRun(dir: string): RunIdentity {
  return (JSON.parse(fs.readFileSync(path.join(dir, MANIFEST_FILE), 'utf8')) as Manifest).run;
}

/** The first setting in which `run` differs from the checkpoint's, as a sentence, or null. */
/** Settings a run records since a later version: a checkpoint written before records none, and resumes. */
const RECORDED_LATER = new Set(['--teacher']);

export function runMismatch(recorded: RunIdentity, run: RunIdentity): string | null {
  for (const [flag, value] of Object.entries(run)) {
    if (!(flag in recorded) && RECORDED_LATER.has(flag)) continue;
    if (recorded[flag] !== value) return `was trained with ${flag} ${String(recorded[flag] ?? '(unset)')}, not ${String(value)}`;
  }
  return null;
}
