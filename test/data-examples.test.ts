/**
 * src/data/examples.ts: rows -> examples (labels, pre-tokenized rows, token-cls word alignment). Expected token ids come from the Python `tokenizers` library
 * (0.23.2) on models/tokenizer.json — an independent implementation of the same file:
 *   t = Tokenizer.from_file('models/tokenizer.json'); t.encode(...).ids / .type_ids / .word_ids
 *   (truncation: t.enable_truncation(N); words: t.encode(words, is_pretokenized=True)).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { readRows } from '../src/data/reader.js';
import { labelSet, toExample, toExamples, type ExampleOptions, type LabelSet } from '../src/data/examples.js';
import { readTokenizer } from '../src/data/tokenize.js';
import { MODELS } from './helpers/fixtures.js';
import { rejectsWith, throwsWith } from './helpers/errors.js';
import { tempDir } from './helpers/temp-dir.js';

const { write } = tempDir('data-test-');

const TOKENIZER = path.join(MODELS, 'tokenizer.json');
const tok = readTokenizer(TOKENIZER);
const SPAM: LabelSet = labelSet(JSON.parse(fs.readFileSync(path.join(MODELS, 'bert-student', 'distill.json'), 'utf8')));
const TOKCLS: LabelSet = labelSet(JSON.parse(fs.readFileSync(path.join(MODELS, 'bert-tokcls', 'distill.json'), 'utf8')));

describe('examples', () => {
  const F = 'train.jsonl';
  const seq = (extra: Partial<ExampleOptions> = {}): ExampleOptions => ({ task: 'seq-cls', file: F, tokenizer: tok, labels: SPAM, maxLength: 128, ...extra });

  it('label sets from the sidecar or an explicit list', () => {
    assert.deepEqual(SPAM, { count: 2, names: ['ham', 'spam'] });
    assert.deepEqual(TOKCLS, { count: 3, names: ['O', 'B-ENT', 'I-ENT'] });
    assert.deepEqual(labelSet({ num_labels: 2, label2id: { spam: 1, ham: 0 } }), { count: 2, names: ['ham', 'spam'] });
    assert.deepEqual(labelSet({ num_labels: 2 }, ['neg', 'pos']), { count: 2, names: ['neg', 'pos'] });
    assert.deepEqual(labelSet({ num_labels: 3 }), { count: 3, names: null });
    throwsWith(() => labelSet({ num_labels: 2 }, ['a', 'b', 'c']), 'the label list has 3 names (a, b, c) but the model has 2 labels');
  });

  it('raw text + label names / ids / numeric strings -> class ids', () => {
    const a = toExample({ text: 'FREE money!!!', label: 'spam' }, 1, seq());
    assert.deepEqual(a, { input_ids: [2, 1403, 1602, 5, 5, 5, 3], token_type_ids: [0, 0, 0, 0, 0, 0, 0], label: 1, line: 1 });
    assert.equal(toExample({ text: 'x', label: 0 }, 2, seq()).label, 0);
    assert.equal(toExample({ text: 'x', label: '1' }, 3, seq()).label, 1); // CSV
    assert.equal(toExample({ text: 'x', label: 'ham' }, 3, seq()).label, 0);
    assert.equal(toExample({ text: 'x', labels: 1 }, 4, seq()).label, 1);
    assert.equal(toExample({ body: 'x', y: 'spam' }, 5, seq({ textField: 'body', labelField: 'y' })).label, 1);
    assert.equal(toExample({ text: 'x', label: 1 }, 5, seq({ labels: labelSet({ num_labels: 2 }, ['neg', 'pos']) })).label, 1);
    const long = toExample({ text: 'a b c d e f g h i j', label: 0 }, 6, seq({ maxLength: 5 }));
    assert.deepEqual(long.input_ids, [2, 43, 44, 45, 3]);
  });

  it('text pairs', () => {
    const e = toExample({ q: 'Is this spam?', a: 'Win a FREE prize now', label: 'spam' }, 1, seq({ textField: 'q', textPairField: 'a' }));
    assert.deepEqual(e.input_ids, [2, 1512, 1897, 1824, 35, 3, 1973, 43, 1403, 1694, 678, 1635, 3]);
    assert.deepEqual(e.token_type_ids, [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]);
    throwsWith(() => toExample({ q: 'x', label: 0 }, 4, seq({ textField: 'q', textPairField: 'a' })), `${F}:4: no field 'a' (fields: q, label)`);
  });

  it('label errors: outside the labels, unknown name, not a label', () => {
    throwsWith(() => toExample({ text: 'x', label: 7 }, 3, seq()), `${F}:3: label 7 is outside the model's 2 labels (0..1)`);
    throwsWith(() => toExample({ text: 'x', label: '-1' }, 4, seq()), `${F}:4: label -1 is outside the model's 2 labels (0..1)`);
    throwsWith(() => toExample({ text: 'x', label: 'foo' }, 5, seq()), `${F}:5: unknown label 'foo' (known: ham, spam)`);
    throwsWith(() => toExample({ text: 'x', label: 'foo' }, 5, seq({ labels: labelSet({ num_labels: 2 }) })), `${F}:5: unknown label 'foo' (the model has no label names; use ids 0..1)`);
    throwsWith(() => toExample({ text: 'x', label: 0.5 }, 6, seq()), `${F}:6: label 0.5 is neither a class id nor a label name`);
  });

  it('a missing field', () => {
    throwsWith(() => toExample({ body: 'x', label: 0 }, 12, seq()), `${F}:12: no field 'text' (fields: body, label)`);
    throwsWith(() => toExample({ text: 3, label: 0 }, 13, seq()), `${F}:13: field 'text' must be a string, found a number`);
  });

  it('unlabeled rows: an error unless allowed (transfer set), then label -100', () => {
    const msg = (line: number, field = 'label', fields = 'text') =>
      `${F}:${line}: no label; field '${field}' is missing, empty or -100 (fields: ${fields}); unlabeled rows are only allowed in a distillation transfer set`;
    throwsWith(() => toExample({ text: 'x' }, 7, seq()), msg(7));
    throwsWith(() => toExample({ text: 'x', label: null }, 8, seq()), msg(8, 'label', 'text, label'));
    throwsWith(() => toExample({ text: 'x', label: -100 }, 9, seq()), msg(9, 'label', 'text, label'));
    assert.equal(toExample({ text: 'x' }, 7, seq({ allowUnlabeled: true })).label, -100);
    assert.equal(toExample({ text: 'x', label: '' }, 8, seq({ allowUnlabeled: true })).label, -100);
    assert.equal(toExample({ text: 'x', label: 'spam' }, 8, seq({ allowUnlabeled: true })).label, 1);
    const tc: ExampleOptions = { task: 'token-cls', file: F, tokenizer: tok, labels: TOKCLS };
    throwsWith(() => toExample({ tokens: ['a', 'b'] }, 10, tc), msg(10, 'labels', 'tokens'));
    assert.deepEqual(toExample({ text: 'a b' }, 11, { ...tc, allowUnlabeled: true }).labels, [-100, -100, -100, -100]);
  });

  it('pre-tokenized rows (lists or CSV strings), with attention mask; id range; truncation', () => {
    const o = seq({ vocabSize: 2000, maxLength: 4 });
    assert.deepEqual(toExample({ input_ids: [2, 17, 9, 3], attention_mask: [1, 1, 1, 0], label: 'ham' }, 1, o), {
      input_ids: [2, 17, 9, 3],
      attention_mask: [1, 1, 1, 0],
      label: 0,
      line: 1,
    });
    assert.deepEqual(toExample({ input_ids: '[2, 17, 9, 3, 3]', label: '1' }, 2, o).input_ids, [2, 17, 9, 3]);
    assert.deepEqual(toExample({ input_ids: '2 17 3', label: '1' }, 2, o).input_ids, [2, 17, 3]);
    throwsWith(() => toExample({ input_ids: [2, 2500], label: 0 }, 3, o), `${F}:3: token id 2500 is outside the vocabulary (0..1999)`);
    throwsWith(() => toExample({ input_ids: [2, 3], attention_mask: [1], label: 0 }, 4, o), `${F}:4: field 'attention_mask' has 1 values but 'input_ids' has 2`);
    throwsWith(() => toExample({ input_ids: [2, 'x'], label: 0 }, 5, o), `${F}:5: field 'input_ids' must be a list of integers, found "x"`);
    const lm = toExample({ text: 'hello world' }, 6, { task: 'causal-lm', file: F, tokenizer: tok });
    assert.deepEqual(lm, { input_ids: [2, 1452, 132, 135, 1984, 3], token_type_ids: [0, 0, 0, 0, 0, 0], line: 6 });
  });

  it('token-cls: pre-tokenized labels per token; words with labels per word aligned to the first sub-token', () => {
    const tc: ExampleOptions = { task: 'token-cls', file: F, tokenizer: tok, labels: TOKCLS, maxLength: 128 };
    const pre = toExample({ input_ids: [2, 50, 51, 3], labels: [-100, 'B-ENT', 0, -100] }, 1, tc);
    assert.deepEqual(pre.labels, [-100, 1, 0, -100]);
    // word ids from Python: [None, 0, 0, 1, 1, 1, 2, 3, 3, 3, 4, None]
    const row = { tokens: ['John', 'lives', 'in', 'Zürich', 'unsubscribe'], labels: ['B-ENT', 'O', 'O', 'B-ENT', 2] };
    const e = toExample(row, 2, tc);
    assert.deepEqual(e.input_ids, [2, 1518, 559, 1537, 957, 139, 1483, 68, 942, 581, 1924, 3]);
    assert.deepEqual(e.labels, [-100, 1, -100, 0, -100, -100, 0, 1, -100, -100, 2, -100]);
    const cut = toExample(row, 2, { ...tc, maxLength: 6 });
    assert.deepEqual(cut.labels, [-100, 1, -100, 0, -100, -100]);
    const csv = toExample({ tokens: 'John lives', labels: 'B-ENT O' }, 3, tc);
    assert.deepEqual(csv.labels, [-100, 1, -100, 0, -100, -100, -100]);
    throwsWith(() => toExample({ tokens: ['a', 'b'], labels: ['O'] }, 4, tc), `${F}:4: 2 words but 1 labels`);
    throwsWith(() => toExample({ input_ids: [2, 3], labels: [0] }, 5, tc), `${F}:5: field 'labels' has 1 labels but 'input_ids' has 2 tokens`);
    throwsWith(() => toExample({ tokens: ['a'], labels: ['X'] }, 6, tc), `${F}:6: unknown label 'X' (known: O, B-ENT, I-ENT)`);
    throwsWith(() => toExample({ tokens: ['a'], labels: [3] }, 7, tc), `${F}:7: label 3 is outside the model's 3 labels (0..2)`);
  });

  it('rows from a file -> examples, errors with the file and line', async () => {
    const f = write('train.csv', 'text,label\nhello,ham\n"FREE, money",spam\nbye,maybe\n');
    const got: number[] = [];
    await rejectsWith(
      (async () => {
        for await (const e of toExamples(readRows(f), seq({ file: f }))) got.push(e.label!);
      })(),
      `${f}:4: unknown label 'maybe' (known: ham, spam)`,
    );
    assert.deepEqual(got, [0, 1]);
  });
});
