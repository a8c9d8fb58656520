/**
 * Streaming row readers for training data: JSON Lines and CSV/TSV (RFC 4180).
 *
 * Both read the file as a stream and yield rows as the chunks arrive (an async generator), so a data set
 * larger than memory works: at most one stream chunk (64 KiB by default) plus the rows of that chunk are
 * held at a time. Every row comes with the 1-based line number where it starts in the file, which the
 * later stages put in their error messages (`FILE:LINE: ...`).
 *
 * JSONL: one JSON object per line; blank lines are skipped; `\r\n` line ends are fine.
 * CSV:   RFC 4180 with a header row: fields separated by commas, quoted fields (`"..."`) may hold commas,
 *        line breaks and doubled quotes (`""`); CRLF or LF line ends; blank lines are skipped. A quote in
 *        the middle of an unquoted field is kept literally (as Python's csv module does); text after a
 *        closing quote is an error. Values are strings (`examples.ts` converts them).
 * TSV:   the same parser with a tab as the separator.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { InputError } from '../errors.js';

import type { RowAt } from './examples.js';

export type { RowAt } from './examples.js';

export type DataFormat = 'jsonl' | 'csv' | 'tsv';

export interface ReadOptions {
  /** Overrides the format implied by the file extension. */
  format?: DataFormat;
  /** Read from this stream instead of opening `file` (tests, stdin); `file` then only names it in messages. */
  stream?: Readable;
  /** Chunk size when opening `file` (bytes; default 64 KiB). */
  highWaterMark?: number;
}

const EXTENSIONS: Record<string, DataFormat> = {
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.json': 'jsonl',
  '.csv': 'csv',
  '.tsv': 'tsv',
};

/** The format implied by a file name: .jsonl/.ndjson/.json -> jsonl, .csv -> csv, .tsv -> tsv. */
export function formatOf(file: string): DataFormat {
  const f = EXTENSIONS[path.extname(file).toLowerCase()];
  if (!f) throw new InputError(`${file}: unknown data format '${path.extname(file)}' (use .jsonl, .csv or .tsv)`);
  return f;
}

/** Rows of a JSONL, CSV or TSV file (format from the extension unless given). */
export function readRows(file: string, opts: ReadOptions = {}): AsyncGenerator<RowAt> {
  const format = opts.format ?? formatOf(file);
  return format === 'jsonl' ? readJsonl(file, opts) : readCsv(file, { ...opts, delimiter: format === 'tsv' ? '\t' : ',' });
}

/** Text chunks of the file, decoded as UTF-8 (multi-byte characters split across chunks are kept whole). */
async function* textChunks(file: string, opts: ReadOptions): AsyncGenerator<string> {
  const stream = opts.stream ?? fs.createReadStream(file, { highWaterMark: opts.highWaterMark ?? 64 * 1024 });
  const decoder = new StringDecoder('utf8');
  let first = true;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer | string>) {
      let text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
      if (first && text.length > 0) {
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
        first = false;
      }
      if (text.length > 0) yield text;
    }
    const rest = decoder.end();
    if (rest.length > 0) yield rest;
  } catch (e) {
    if (e instanceof InputError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new InputError(`${file}: no such file`);
    if (err.code === 'EISDIR') throw new InputError(`${file}: is a folder, not a data file`);
    throw new InputError(`${file}: cannot read (${err.message})`);
  } finally {
    stream.destroy();
  }
}

/** Lines of the file (without `\n` / `\r\n`) with their 1-based numbers. */
async function* lines(file: string, opts: ReadOptions): AsyncGenerator<{ text: string; line: number }> {
  let pending: string[] = [];
  let line = 0;
  for await (const chunk of textChunks(file, opts)) {
    let start = 0;
    for (let nl = chunk.indexOf('\n'); nl >= 0; nl = chunk.indexOf('\n', start)) {
      pending.push(chunk.slice(start, nl));
      let text = pending.length === 1 ? pending[0]! : pending.join('');
      pending = [];
      if (text.endsWith('\r')) text = text.slice(0, -1);
      yield { text, line: ++line };
      start = nl + 1;
    }
    if (start < chunk.length) pending.push(chunk.slice(start));
  }
  if (pending.length > 0) {
    let text = pending.join('');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    yield { text, line: ++line };
  }
}

function oneLine(message: string, max = 160): string {
  const s = message.replace(/\s+/g, ' ').trim();
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

/** Rows of a JSON Lines file: one JSON object per line, blank lines skipped. */
export async function* readJsonl(file: string, opts: ReadOptions = {}): AsyncGenerator<RowAt> {
  let rows = 0;
  for await (const { text, line } of lines(file, opts)) {
    if (text.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new InputError(`${file}:${line}: invalid JSON (${oneLine((e as Error).message)})`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
      throw new InputError(`${file}:${line}: expected a JSON object per line, found ${kind}`);
    }
    rows++;
    yield { row: value as Record<string, unknown>, line };
  }
  if (rows === 0) throw new InputError(`${file}: no rows`);
}

export interface CsvOptions extends ReadOptions {
  /** Field separator (one character); default ','. */
  delimiter?: string;
}

const enum S {
  FieldStart,
  Unquoted,
  Quoted,
  /** A quote inside a quoted field: either the closing quote or the first of a doubled one. */
  QuoteInQuoted,
}

/**
 * Rows of a CSV file with a header row (RFC 4180). Each row maps the header's names to string values;
 * `line` is the line where the record starts (a quoted field may span lines).
 */
export async function* readCsv(file: string, opts: CsvOptions = {}): AsyncGenerator<RowAt> {
  const delim = opts.delimiter ?? ',';
  if (delim.length !== 1 || delim === '"' || delim === '\n' || delim === '\r') {
    throw new InputError(`${file}: invalid CSV delimiter ${JSON.stringify(delim)}`);
  }
  // A run of ordinary characters in an unquoted field.
  const plain = new RegExp(`[^${delim === '\t' ? '\\t' : delim.replace(/[\\\]^-]/g, '\\$&')}"\\r\\n]+`, 'y');

  let header: string[] | null = null;
  let rows = 0;
  let state = S.FieldStart;
  let line = 1; // current physical line
  let recordLine = 1; // line where the current record starts
  let field = '';
  let fields: string[] = [];
  let recordHasContent = false; // false for a blank line
  let afterCR = false; // the previous character was a \r ending a line (a following \n belongs to it)
  let quotedCR = false; // inside a quoted field, the last character was a \r (a \n right after is the same line end)
  const ready: RowAt[] = [];

  const endRecord = () => {
    fields.push(field);
    field = '';
    const rec = fields;
    fields = [];
    const start = recordLine;
    const content = recordHasContent;
    recordHasContent = false;
    state = S.FieldStart;
    if (!content) return; // blank line
    if (header === null) {
      const seen = new Set<string>();
      for (const name of rec) {
        if (seen.has(name)) throw new InputError(`${file}:${start}: duplicate column '${name}' in the header`);
        seen.add(name);
      }
      header = rec;
      return;
    }
    if (rec.length !== header.length) {
      throw new InputError(`${file}:${start}: expected ${header.length} fields, found ${rec.length}`);
    }
    const row: Record<string, unknown> = {};
    for (let k = 0; k < header.length; k++) row[header[k]!] = rec[k];
    ready.push({ row, line: start });
  };

  for await (const chunk of textChunks(file, opts)) {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      const c = chunk[i]!;
      if (afterCR) {
        afterCR = false;
        if (c === '\n') {
          i++;
          continue;
        }
      }
      switch (state) {
        case S.FieldStart:
        case S.Unquoted:
          if (c === delim) {
            fields.push(field);
            field = '';
            recordHasContent = true;
            state = S.FieldStart;
            i++;
          } else if (c === '\n' || c === '\r') {
            endRecord();
            line++;
            recordLine = line;
            afterCR = c === '\r';
            i++;
          } else if (c === '"' && state === S.FieldStart) {
            state = S.Quoted;
            quotedCR = false;
            recordHasContent = true;
            i++;
          } else if (c === '"') {
            field += c; // stray quote inside an unquoted field: literal
            i++;
          } else {
            plain.lastIndex = i;
            const m = plain.exec(chunk);
            const run = m ? m[0] : c;
            field += run;
            recordHasContent = true;
            state = S.Unquoted;
            i += run.length;
          }
          break;
        case S.Quoted: {
          const q = chunk.indexOf('"', i);
          const end = q < 0 ? n : q;
          const run = chunk.slice(i, end);
          for (let k = 0; k < run.length; k++) {
            const ch = run.charCodeAt(k);
            if (ch === 13 || (ch === 10 && !quotedCR)) line++;
            quotedCR = ch === 13;
          }
          field += run;
          i = end;
          if (q >= 0) {
            state = S.QuoteInQuoted;
            quotedCR = false;
            i++;
          }
          break;
        }
        case S.QuoteInQuoted:
          if (c === '"') {
            field += '"';
            state = S.Quoted;
            i++;
          } else if (c === delim || c === '\n' || c === '\r') {
            state = S.Unquoted; // handled as the field's end on the next turn
          } else {
            throw new InputError(`${file}:${line}: unexpected character ${JSON.stringify(c)} after a closing quote (quote the whole field and double the quotes inside)`);
          }
          break;
      }
    }
    if (ready.length > 0) {
      rows += ready.length;
      yield* ready.splice(0, ready.length);
    }
  }
  if (state === S.Quoted) throw new InputError(`${file}:${recordLine}: unterminated quoted field`);
  if (recordHasContent || fields.length > 0) endRecord();
  rows += ready.length;
  yield* ready.splice(0, ready.length);
  if (rows === 0) throw new InputError(`${file}: no rows`);
}
