/** src/data/reader.ts: the streaming JSONL and CSV (RFC 4180) readers. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { readCsv, readJsonl, readRows, type RowAt } from '../src/data/reader.js';
import { rejectsWith, throwsWith } from './helpers/errors.js';
import { collect, tempDir } from './helpers/temp-dir.js';

const { dir: TMP, write } = tempDir('data-test-');

describe('reader: JSONL', () => {
  it('yields objects with their line numbers; skips blank lines; CRLF and BOM', async () => {
    const f = write('a.jsonl', '\ufeff{"text": "hi", "label": 1}\r\n\r\n  \n{"text": "x\\ny", "label": "spam"}\n{"a": [1, 2]}');
    const rows = await collect(readJsonl(f));
    assert.deepEqual(rows, [
      { row: { text: 'hi', label: 1 }, line: 1 },
      { row: { text: 'x\ny', label: 'spam' }, line: 4 },
      { row: { a: [1, 2] }, line: 5 },
    ]);
    assert.deepEqual(await collect(readRows(f)), rows);
  });

  it('a malformed line: FILE:LINE: invalid JSON (...)', async () => {
    const f = write('bad.jsonl', '{"text": "ok"}\n\n{"text": oops}\n');
    let v8 = '';
    try {
      JSON.parse('{"text": oops}');
    } catch (e) {
      v8 = (e as Error).message;
    }
    await rejectsWith(collect(readJsonl(f)), `${f}:3: invalid JSON (${v8})`);
  });

  it('a line that is not an object', async () => {
    const f = write('arr.jsonl', '{"a": 1}\n[1, 2]\n');
    await rejectsWith(collect(readJsonl(f)), `${f}:2: expected a JSON object per line, found an array`);
  });

  it('an empty file (or only blank lines): FILE: no rows', async () => {
    const f = write('empty.jsonl', '');
    await rejectsWith(collect(readJsonl(f)), `${f}: no rows`);
    const g = write('blank.jsonl', '\n \r\n\n');
    await rejectsWith(collect(readRows(g)), `${g}: no rows`);
  });

  it('a missing file or unknown extension', async () => {
    const f = path.join(TMP, 'nope.jsonl');
    await rejectsWith(collect(readRows(f)), `${f}: no such file`);
    const g = write('data.parquet', 'x');
    throwsWith(() => readRows(g), `${g}: unknown data format '.parquet' (use .jsonl, .csv or .tsv)`);
  });
});

describe('reader: CSV (RFC 4180)', () => {
  const CSV = [
    'text,label,note',
    '"Hello, world",ham,plain',
    '"She said ""hi""",spam,"two',
    'lines"',
    'simple,1,',
    '"",0,"crlf\r\ninside"',
    '',
    'last,ham,no newline at end',
  ].join('\r\n');
  const EXPECTED: RowAt[] = [
    { row: { text: 'Hello, world', label: 'ham', note: 'plain' }, line: 2 },
    { row: { text: 'She said "hi"', label: 'spam', note: 'two\r\nlines' }, line: 3 },
    { row: { text: 'simple', label: '1', note: '' }, line: 5 },
    { row: { text: '', label: '0', note: 'crlf\r\ninside' }, line: 6 },
    { row: { text: 'last', label: 'ham', note: 'no newline at end' }, line: 9 },
  ];

  it('quoted fields with commas, quotes, line breaks; header row; line numbers of records', async () => {
    const f = write('a.csv', CSV);
    assert.deepEqual(await collect(readCsv(f)), EXPECTED);
    assert.deepEqual(await collect(readRows(f)), EXPECTED);
  });

  it('the same rows whatever the chunk boundaries (incl. multi-byte characters split across chunks)', async () => {
    const text = `${CSV}\n"é€😀, ""q""",spam,"x\ny"\n`;
    const f = write('chunks.csv', text);
    const whole = await collect(readCsv(f));
    assert.equal(whole.length, 6);
    assert.deepEqual(whole[5], { row: { text: 'é€😀, "q"', label: 'spam', note: 'x\ny' }, line: 10 });
    for (const hwm of [1, 2, 3, 5, 7, 13]) {
      assert.deepEqual(await collect(readCsv(f, { highWaterMark: hwm })), whole, `highWaterMark ${hwm}`);
    }
    const j = write('chunks.jsonl', '{"t": "é€😀"}\n{"t": "\\u00e9"}\r\n');
    for (const hwm of [1, 2, 3, 5]) {
      assert.deepEqual(await collect(readJsonl(j, { highWaterMark: hwm })), [
        { row: { t: 'é€😀' }, line: 1 },
        { row: { t: 'é' }, line: 2 },
      ]);
    }
  });

  it('TSV', async () => {
    const f = write('a.tsv', 'text\tlabel\n"a\tb"\t1\nc\t0\n');
    assert.deepEqual(await collect(readRows(f)), [
      { row: { text: 'a\tb', label: '1' }, line: 2 },
      { row: { text: 'c', label: '0' }, line: 3 },
    ]);
  });

  it('a wrong field count: FILE:LINE: expected N fields, found M', async () => {
    const f = write('count.csv', 'text,label\n"a, b",1\n"multi\nline",0\nx,1,extra\n');
    await rejectsWith(collect(readCsv(f)), `${f}:5: expected 2 fields, found 3`);
    const g = write('few.csv', 'a,b,c\n1,2\n');
    await rejectsWith(collect(readCsv(g)), `${g}:2: expected 3 fields, found 2`);
  });

  it('an empty file or only a header: FILE: no rows', async () => {
    const f = write('empty.csv', '');
    await rejectsWith(collect(readCsv(f)), `${f}: no rows`);
    const g = write('header.csv', 'text,label\r\n');
    await rejectsWith(collect(readCsv(g)), `${g}: no rows`);
  });

  it('unterminated quote, text after a closing quote, duplicate header', async () => {
    const f = write('open.csv', 'text,label\nok,1\n"never closed,0\n');
    await rejectsWith(collect(readCsv(f)), `${f}:3: unterminated quoted field`);
    const g = write('after.csv', 'text,label\n"ab"c,1\n');
    await rejectsWith(collect(readCsv(g)), `${g}:2: unexpected character "c" after a closing quote (quote the whole field and double the quotes inside)`);
    const h = write('dup.csv', 'text,text\na,b\n');
    await rejectsWith(collect(readCsv(h)), `${h}:1: duplicate column 'text' in the header`);
  });
});

describe('reader: streaming', () => {
  const ROWS = 40_000;
  const bigJsonl = () => {
    const f = path.join(TMP, 'big.jsonl');
    if (!fs.existsSync(f)) {
      const lines: string[] = [];
      for (let i = 0; i < ROWS; i++) lines.push(JSON.stringify({ text: `row ${i} ${'lorem ipsum '.repeat(8)}`, label: i % 2 }));
      fs.writeFileSync(f, lines.join('\n') + '\n');
    }
    return f;
  };

  it('yields the first rows of a multi-megabyte file after reading only its first chunks', async () => {
    const f = bigJsonl();
    const size = fs.statSync(f).size;
    assert.ok(size > 4 * 1024 * 1024, `file is ${size} bytes`);
    const stream = fs.createReadStream(f, { highWaterMark: 64 * 1024 });
    let n = 0;
    let bytesAtFirst = -1;
    for await (const { row, line } of readJsonl(f, { stream })) {
      if (n === 0) {
        bytesAtFirst = stream.bytesRead;
        assert.deepEqual([row.label, line], [0, 1]);
      }
      n++;
      if (n === 1000) break; // stopping early closes the stream
    }
    assert.ok(bytesAtFirst > 0 && bytesAtFirst <= 3 * 64 * 1024, `read ${bytesAtFirst} of ${size} bytes before the first row`);
    assert.ok(stream.bytesRead < size / 4, `read ${stream.bytesRead} of ${size} bytes for 1000 rows`);
    assert.ok(stream.destroyed, 'the stream is closed after break');
  });

  it('pulls source chunks on demand (CSV from a generated stream of ~8 MB that is never materialized)', async () => {
    const CHUNKS = 2000;
    let pulled = 0;
    let i = 0;
    const source = new Readable({
      read() {
        if (pulled === CHUNKS) return void this.push(null);
        let s = pulled === 0 ? 'id,text\n' : '';
        for (let k = 0; k < 100; k++, i++) s += `${i},"text ${i}, ${'x'.repeat(20)}"\n`;
        pulled++;
        this.push(Buffer.from(s));
      },
    });
    let rows = 0;
    let pulledAtFirst = -1;
    for await (const { row, line } of readCsv('gen.csv', { stream: source })) {
      if (rows === 0) pulledAtFirst = pulled;
      assert.equal(row.id, String(rows));
      assert.equal(line, rows + 2);
      rows++;
    }
    assert.equal(rows, CHUNKS * 100);
    assert.ok(pulledAtFirst <= 5, `pulled ${pulledAtFirst} of ${CHUNKS} chunks before the first row`);
  });

  it('reads a whole large file with bounded memory', async () => {
    const f = bigJsonl();
    const before = process.memoryUsage().heapUsed;
    let n = 0;
    let peak = 0;
    for await (const _ of readJsonl(f)) {
      if (++n % 5000 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed - before);
    }
    assert.equal(n, ROWS);
    assert.ok(peak < 64 * 1024 * 1024, `heap grew by ${peak} bytes`);
  });
});
