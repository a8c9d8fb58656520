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

const enum CsvState {
  FieldStart,
  Unquoted,
  Quoted,
  /** A quote inside a quoted field: either the closing quote or the first of a doubled one. */
  QuoteInQuoted,
}

/** Matches a run of ordinary characters in an unquoted field, so that they are copied in one slice, not one by one. */
function plainRunPattern(delimiter: string): RegExp {
  const escaped = delimiter === '\t' ? '\\t' : delimiter.replace(/[\\\]^-]/g, '\\$&');
  return new RegExp(`[^${escaped}"\\r\\n]+`, 'y');
}

/**
 * The character level of CSV: splits text fed chunk by chunk into records of fields and counts lines.
 * A field or line end may be split across chunks, so all progress lives in the fields, not in `feed`'s locals.
 * Records are handed to `onRecord` as they end (not collected per chunk) so that a bad record is reported
 * before any syntax error further on; blank lines are not records.
 */
class CsvTokenizer {
  private state = CsvState.FieldStart;
  private line = 1; // current physical line
  private recordLine = 1; // line where the current record starts
  private field = '';
  private fields: string[] = [];
  private recordHasContent = false; // false for a blank line
  private afterCR = false; // the previous character was a \r ending a line (a following \n belongs to it)
  private quotedCR = false; // inside a quoted field, the last character was a \r (a \n right after is the same line end)
  private readonly plainRun: RegExp;

  constructor(
    private readonly delimiter: string,
    private readonly onRecord: (fields: string[], line: number) => void,
    private readonly syntaxError: (line: number, reason: string) => Error,
  ) {
    this.plainRun = plainRunPattern(delimiter);
  }

  feed(chunk: string): void {
    let i = 0;
    while (i < chunk.length) {
      const c = chunk[i]!;
      if (this.afterCR) {
        this.afterCR = false;
        if (c === '\n') {
          i++;
          continue;
        }
      }
      switch (this.state) {
        case CsvState.FieldStart:
        case CsvState.Unquoted:
          i = this.unquoted(chunk, i, c);
          break;
        case CsvState.Quoted:
          i = this.quoted(chunk, i);
          break;
        case CsvState.QuoteInQuoted:
          i = this.afterQuote(i, c);
          break;
      }
    }
  }

  /** Ends the input: the last record may lack a line end. */
  end(): void {
    if (this.state === CsvState.Quoted) throw this.syntaxError(this.recordLine, 'unterminated quoted field');
    if (this.recordHasContent || this.fields.length > 0) this.endRecord();
  }

  /** Outside quotes; returns where to go on. */
  private unquoted(chunk: string, i: number, c: string): number {
    if (c === this.delimiter) {
      this.fields.push(this.field);
      this.field = '';
      this.recordHasContent = true;
      this.state = CsvState.FieldStart;
    } else if (c === '\n' || c === '\r') {
      this.endRecord();
      this.line++;
      this.recordLine = this.line;
      this.afterCR = c === '\r';
    } else if (c === '"' && this.state === CsvState.FieldStart) {
      this.state = CsvState.Quoted;
      this.quotedCR = false;
      this.recordHasContent = true;
    } else if (c === '"') {
      this.field += c; // stray quote inside an unquoted field: literal
    } else {
      this.plainRun.lastIndex = i;
      const run = this.plainRun.exec(chunk)?.[0] ?? c;
      this.field += run;
      this.recordHasContent = true;
      this.state = CsvState.Unquoted;
      return i + run.length;
    }
    return i + 1;
  }

  /** Inside quotes: everything up to the next quote belongs to the field, line breaks included. */
  private quoted(chunk: string, i: number): number {
    const quote = chunk.indexOf('"', i);
    const end = quote < 0 ? chunk.length : quote;
    const run = chunk.slice(i, end);
    for (let k = 0; k < run.length; k++) {
      const ch = run.charCodeAt(k);
      if (ch === 13 || (ch === 10 && !this.quotedCR)) this.line++;
      this.quotedCR = ch === 13;
    }
    this.field += run;
    if (quote < 0) return end;
    this.state = CsvState.QuoteInQuoted;
    this.quotedCR = false;
    return end + 1;
  }

  private afterQuote(i: number, c: string): number {
    if (c === '"') {
      this.field += '"';
      this.state = CsvState.Quoted;
      return i + 1;
    }
    if (c === this.delimiter || c === '\n' || c === '\r') {
      this.state = CsvState.Unquoted; // handled as the field's end on the next turn
      return i;
    }
    throw this.syntaxError(this.line, `unexpected character ${JSON.stringify(c)} after a closing quote (quote the whole field and double the quotes inside)`);
  }

  private endRecord(): void {
    this.fields.push(this.field);
    this.field = '';
    const record = this.fields;
    this.fields = [];
    const hasContent = this.recordHasContent;
    this.recordHasContent = false;
    this.state = CsvState.FieldStart;
    if (hasContent) this.onRecord(record, this.recordLine);
  }
}

/** Turns records into rows keyed by the header (the first record), holding them until the reader takes them. */
class CsvRows {
  private header: string[] | null = null;
  private pending: RowAt[] = [];
  /** Rows taken so far. */
  taken = 0;

  constructor(private readonly file: string) {}

  add(record: string[], line: number): void {
    if (this.header === null) {
      const seen = new Set<string>();
      for (const name of record) {
        if (seen.has(name)) throw new InputError(`${this.file}:${line}: duplicate column '${name}' in the header`);
        seen.add(name);
      }
      this.header = record;
      return;
    }
    const header = this.header;
    if (record.length !== header.length) {
      throw new InputError(`${this.file}:${line}: expected ${header.length} fields, found ${record.length}`);
    }
    const row: Record<string, unknown> = {};
    for (let k = 0; k < header.length; k++) row[header[k]!] = record[k];
    this.pending.push({ row, line });
  }

  /** The rows added since the last call. */
  take(): RowAt[] {
    const rows = this.pending;
    this.pending = [];
    this.taken += rows.length;
    return rows;
  }
}

/**
 * Rows of a CSV file with a header row (RFC 4180). Each row maps the header's names to string values;
 * `line` is the line where the record starts (a quoted field may span lines).
 */
export async function* readCsv(file: string, opts: CsvOptions = {}): AsyncGenerator<RowAt> {
  const delimiter = opts.delimiter ?? ',';
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw new InputError(`${file}: invalid CSV delimiter ${JSON.stringify(delimiter)}`);
  }
  const rows = new CsvRows(file);
  const tokenizer = new CsvTokenizer(
    delimiter,
    (record, line) => rows.add(record, line),
    (line, reason) => new InputError(`${file}:${line}: ${reason}`),
  );
  // Rows go out once per chunk, so memory holds one chunk's rows at most.
  for await (const chunk of textChunks(file, opts)) {
    tokenizer.feed(chunk);
    const ready = rows.take();
    if (ready.length > 0) yield* ready;
  }
  tokenizer.end();
  yield* rows.take();
  if (rows.taken === 0) throw new InputError(`${file}: no rows`);
}
