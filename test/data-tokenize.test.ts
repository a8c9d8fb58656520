/**
 * src/data/tokenize.ts: the tokenizer wrapper. Expected token ids come from the Python `tokenizers` library
 * (0.23.2) on models/tokenizer.json — an independent implementation of the same file:
 *   t = Tokenizer.from_file('models/tokenizer.json'); t.encode(...).ids / .type_ids / .word_ids
 *   (truncation: t.enable_truncation(N); words: t.encode(words, is_pretokenized=True)).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadTokenizer, TextTokenizer, readTokenizer } from '../src/data/tokenize.js';
import { InputError } from '../src/errors.js';
import { MODELS } from './helpers/fixtures.js';

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'data-test-'));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));

function write(name: string, text: string | Buffer): string {
  const f = path.join(TMP, name);
  fs.writeFileSync(f, text);
  return f;
}

function throwsWith(fn: () => unknown, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof InputError, `expected an InputError, got ${String(e)}`);
    assert.equal(e.message, message);
    return true;
  });
}

const TOKENIZER = path.join(MODELS, 'tokenizer.json');
const tok = readTokenizer(TOKENIZER);

describe('tokenize (models/tokenizer.json vs Python tokenizers)', () => {
  it('ids of single texts, with [CLS]/[SEP]', () => {
    assert.deepEqual(tok.encode('Hello, World! Café naïve').ids, [2, 1452, 132, 135, 16, 1984, 5, 1215, 512, 56, 280, 957, 3]);
    assert.deepEqual(tok.encode('FREE money!!! Click http://x.com/abc?d=1').ids, [2, 1403, 1602, 5, 5, 5, 1246, 1468, 30, 19, 19, 66, 18, 1255, 19, 1101, 123, 35, 46, 33, 21, 3]);
    assert.deepEqual(tok.encode('Subject: meeting tomorrow at 10am\nSee you there.').ids, [2, 1848, 30, 1582, 497, 633, 1905, 133, 789, 882, 143, 1156, 1037, 296, 1779, 1996, 1890, 18, 3]);
    assert.deepEqual(tok.encode('').ids, [2, 3]);
  });

  it('pairs: ids and token type ids; an empty second text is still a pair', () => {
    const e = tok.encode('Is this spam?', 'Win a FREE prize now');
    assert.deepEqual(e.ids, [2, 1512, 1897, 1824, 35, 3, 1973, 43, 1403, 1694, 678, 1635, 3]);
    assert.deepEqual(e.typeIds, [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]);
    assert.deepEqual(tok.encode('a', '').ids, [2, 43, 3, 3]);
    assert.equal(tok.specialTokens(false), 2);
    assert.equal(tok.specialTokens(true), 3);
  });

  it('truncation to maxLength counts the special tokens (longest_first for pairs)', () => {
    assert.deepEqual(tok.encode('Hello, World! Café naïve', null, 8).ids, [2, 1452, 132, 135, 16, 1984, 5, 3]);
    assert.deepEqual(tok.encode('FREE money!!! Click http://x.com/abc?d=1', null, 8).ids, [2, 1403, 1602, 5, 5, 5, 1246, 3]);
    assert.deepEqual(tok.encode('Subject: meeting tomorrow at 10am\nSee you there.', null, 8).ids, [2, 1848, 30, 1582, 497, 633, 1905, 3]);
    const p = tok.encode('Is this spam?', 'Win a FREE prize now', 8);
    assert.deepEqual(p.ids, [2, 1512, 1897, 3, 1973, 43, 1403, 3]);
    assert.deepEqual(p.typeIds, [0, 0, 0, 0, 1, 1, 1, 1]);
    assert.deepEqual(tok.encode('Win a FREE prize now please', 'ok', 8).ids, [2, 1973, 43, 1403, 3, 57, 131, 3]);
    // Both segments longer than the budget (14 and 11 tokens, 5 places): Rust `truncate_encodings` gives the
    // longer one the odd place (3 + 2), as tokenizers <= 0.22 does. tokenizers 0.23.2 gives [2, 1973, 749, 3,
    // 1923, 122, 633, 3] (2 + 3): its new early exit caps both segments at max_length (at a word end) before
    // truncate_encodings, so they tie and the swap does not happen. We keep the documented algorithm.
    assert.deepEqual(tok.encode('Winning lottery prizes delivered weekly', 'Unsubscribing immediately from mailing lists', 8).ids, [2, 1973, 749, 1561, 3, 1923, 122, 3]);
    assert.deepEqual(tok.encode('short', null, 128).ids, tok.encode('short').ids);
    throwsWith(() => tok.encode('x', 'y', 2), 'max length 2 is too small: the tokenizer adds 3 special tokens');
  });

  it('words (is_split_into_words): ids and word ids, with truncation', () => {
    const words = ['John', 'lives', 'in', 'Zürich', 'unsubscribe'];
    const e = tok.encodeWords(words);
    assert.deepEqual(e.ids, [2, 1518, 559, 1537, 957, 139, 1483, 68, 942, 581, 1924, 3]);
    assert.deepEqual(e.wordIds, [null, 0, 0, 1, 1, 1, 2, 3, 3, 3, 4, null]);
    const t = tok.encodeWords(words, 6);
    assert.deepEqual(t.ids, [2, 1518, 559, 1537, 957, 3]);
    assert.deepEqual(t.wordIds, [null, 0, 0, 1, 1, null]);
  });

  it("vocabulary size against the student's embedding rows", () => {
    assert.equal(tok.vocabSize, 2000);
    loadTokenizer(TOKENIZER, 2000);
    loadTokenizer(TOKENIZER, 30522);
    throwsWith(() => loadTokenizer(TOKENIZER, 1000), `${TOKENIZER} has 2000 tokens but the student's embedding has 1000 rows`);
    // A BERT-base-sized vocabulary: the same tokenizer with ids up to 30521.
    const json = JSON.parse(fs.readFileSync(TOKENIZER, 'utf8')) as { model: { vocab: Record<string, number> } };
    for (let i = 2000; i < 30522; i++) json.model.vocab[`[unused${i}]`] = i;
    const big = TextTokenizer.fromJSON(json, 'tokenizer.json');
    assert.equal(big.vocabSize, 30522);
    throwsWith(() => big.checkVocab(2000), "tokenizer.json has 30522 tokens but the student's embedding has 2000 rows");
  });

  it('a missing or broken tokenizer file', () => {
    const f = path.join(TMP, 'missing', 'tokenizer.json');
    throwsWith(() => readTokenizer(f), `${f}: no such file`);
    const g = write('tokenizer.json', '{"model": ');
    assert.throws(() => readTokenizer(g), (e: unknown) => e instanceof InputError && e.message.startsWith(`${g}: invalid JSON (`));
  });
});
