/** Reads an artifacts folder's manifest.json (step/contract.ts checks it). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import { type Manifest, parseManifest } from './contract.js';

export function readManifest(dir: string): Manifest {
  const file = path.join(dir, 'manifest.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new InputError(`${file}: no manifest; build the training artifacts with 'distill build' first`);
  }
  return parseManifest(text, file);
}
