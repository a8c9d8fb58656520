/**
 * src/data/tokenize.ts: the tokenizer wrapper. Expected token ids come from the Python `tokenizers` library
 * (0.23.2) on models/tokenizer.json — an independent implementation of the same file:
 *   t = Tokenizer.from_file('models/tokenizer.json'); t.encode(...).ids / .type_ids / .word_ids
 *   (truncation: t.enable_truncation(N); words: t.encode(words, is_pretokenized=True)).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { Tokenizer } from '@huggingface/tokenizers';
import { loadTokenizer, TextTokenizer, readTokenizer } from '../src/data/tokenize.js';
import { InputError } from '../src/errors.js';
import { MODELS } from './helpers/fixtures.js';
import { throwsWith } from './helpers/errors.js';
import { tempDir } from './helpers/temp-dir.js';

const { dir: TMP, write } = tempDir('data-test-');

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

/**
 * Truncated single texts are tokenized from a head of the text (text-tokenizer.ts, tokenizeHead). The
 * reference is the whole text tokenized and then cut to maxLength, whose ids the tests above check against
 * Python `tokenizers`; the head must give the same ids on real e-mails and on tokenizers of each
 * pre-tokenizer kind, and tokenizers that do not split at spaces must still see the whole text.
 */
describe('truncated texts are tokenized from their head', () => {
  /** The ids encode() gives, and the longest text it passed to tokenize(). */
  function encodeSpy(t: TextTokenizer, text: string, maxLength: number) {
    let longest = 0;
    const own = t.tokenize.bind(t);
    t.tokenize = (s: string) => {
      longest = Math.max(longest, s.length);
      return own(s);
    };
    try {
      return { ids: t.encode(text, null, maxLength).ids, longest };
    } finally {
      delete (t as { tokenize?: unknown }).tokenize;
    }
  }
  /** The whole text's ids with its tokens cut to what maxLength keeps: [CLS] ... [SEP] for BERT, bare for the others. */
  const expectedIds = (t: TextTokenizer, text: string, maxLength: number) => {
    const all = t.encode(text).ids;
    const keep = maxLength - t.specialTokens(false);
    if (t.specialTokens(false) === 0) return all.slice(0, keep);
    assert.equal(t.specialTokens(false), 2);
    return [all[0], ...all.slice(1, -1).slice(0, keep), all[all.length - 1]];
  };

  it('SpamAssassin e-mails with the demo WordPiece tokenizer: the same ids, from a head of long e-mails', async () => {
    const { loadSpamEmails } = await import('../src/data/spam.js');
    const emails = loadSpamEmails().map((e) => e.text);
    // Besides real e-mails: 300 words of 150 letters, one [UNK] each, so that the first heads fall short.
    const longWords = Array.from({ length: 300 }, (_, i) => String.fromCharCode(97 + (i % 26)).repeat(150)).join(' ');
    const sample = [...emails.slice(0, 80), ...[...emails].sort((a, b) => b.length - a.length).slice(0, 4), longWords];
    for (const text of sample) {
      for (const maxLength of [16, 128]) {
        const got = encodeSpy(tok, text, maxLength);
        assert.deepEqual(got.ids, expectedIds(tok, text, maxLength), `${text.slice(0, 40)}... at ${maxLength}`);
        if (text.length > 20_000 && maxLength === 128) assert.ok(got.longest < text.length, `a ${text.length}-character e-mail was tokenized whole`);
      }
    }
  });

  it("WordPiece (our longest-match loop) gives the port's pieces on e-mails, long words and astral characters", async () => {
    const { loadSpamEmails } = await import('../src/data/spam.js');
    const port = new Tokenizer(JSON.parse(fs.readFileSync(TOKENIZER, 'utf8')), {});
    const texts = [
      ...loadSpamEmails().slice(0, 300).map((e) => e.text.slice(0, 3000)),
      'x'.repeat(100), 'x'.repeat(101), 'unsubscribe'.repeat(9), 'caf\u00e9 \u{1F600}money \u{1D400}\u{1D401}bc na\u00efve \u4e2d\u6587 zzzzqqq',
    ];
    for (const text of texts) assert.deepEqual(tok.tokenize(text), port.tokenize(text, { add_special_tokens: false }), text.slice(0, 60));
  });

  /** A tokenizer with one token per character (plus a byte-level alphabet) around `pre`. */
  function charTokenizer(model: 'BPE' | 'Unigram', pre: unknown): TextTokenizer {
    const chars = [...new Set([...'abcdefghijklmnopqrstuvwxyz0123456789 .,!?\n\u2581\u0120\u010a'])];
    const json: Record<string, unknown> = {
      version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null, pre_tokenizer: pre, post_processor: null, decoder: null,
      model: model === 'BPE'
        ? { type: 'BPE', dropout: null, unk_token: '?', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false,
          vocab: Object.fromEntries(chars.map((c, i) => [c, i])), merges: [] }
        : { type: 'Unigram', unk_id: 0, byte_fallback: false, vocab: chars.map((c) => [c, -1]) },
    };
    return TextTokenizer.fromJSON(json, `${model} tokenizer`);
  }
  const words = (n: number) => Array.from({ length: n }, (_, i) => ['free', 'money', 'now.', 'call', '12', 'win!'][i % 6]).join(' ');

  for (const [name, model, pre, headUsed] of [
    ['byte-level BPE (GPT-2)', 'BPE', { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true }, true],
    ['Metaspace Unigram (SentencePiece)', 'Unigram', { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true }, true],
    ['Metaspace without splitting', 'Unigram', { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: false }, false],
    ['no pre-tokenizer', 'BPE', null, false],
  ] as const) {
    it(`${name}: the same ids; the head is used only where the pre-tokenizer splits at spaces`, () => {
      const t = charTokenizer(model, pre);
      for (const text of [words(3000), `  ${words(400)}   ${words(900)}`, 'x'.repeat(5000) + ' y', words(10)]) {
        const got = encodeSpy(t, text, 64);
        assert.deepEqual(got.ids, expectedIds(t, text, 64));
        if (text.length > 10_000) assert.equal(got.longest < text.length, headUsed, `longest text tokenized: ${got.longest} of ${text.length}`);
      }
    });
  }
});
