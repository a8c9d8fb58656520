/** `tokenizer.json` from disk (Node's side of text-tokenizer.ts). */
import * as fs from 'node:fs';
import { InputError } from '../errors.js';
import { TextTokenizer } from './text-tokenizer.js';

export { type Encoded, type EncodedWords, TextTokenizer } from './text-tokenizer.js';

/** Loads `tokenizer.json` (and `tokenizer_config.json` next to it when present). */
export function readTokenizer(file: string): TextTokenizer {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new InputError(`${file}: no such file`);
    if (err instanceof SyntaxError) throw new InputError(`${file}: invalid JSON (${err.message})`);
    throw new InputError(`${file}: cannot read (${err.message})`);
  }
  const configFile = file.replace(/tokenizer\.json$/, 'tokenizer_config.json');
  let config: object = {};
  if (configFile !== file && fs.existsSync(configFile)) {
    try {
      config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as object;
    } catch (e) {
      throw new InputError(`${configFile}: invalid JSON (${(e as Error).message})`);
    }
  }
  return TextTokenizer.fromJSON(json, file, config);
}

/** Loads a tokenizer and, when `embeddingRows` is given, checks its vocabulary against the model's. */
export function loadTokenizer(file: string, embeddingRows?: number): TextTokenizer {
  const tok = readTokenizer(file);
  if (embeddingRows !== undefined) tok.checkVocab(embeddingRows);
  return tok;
}
