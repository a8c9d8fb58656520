/**
 * `tokenizer.json` (Hugging Face `tokenizers` format) through @huggingface/tokenizers, the pure-JS port.
 *
 * The port encodes (normalizer, pre-tokenizer, model, post-processor) like the Rust library but has no
 * truncation, no padding, no offsets and no word ids, and its `encode` treats an empty text pair as no
 * pair. So this module tokenizes each segment without special tokens, truncates the segments itself with
 * the Rust library's `longest_first` rule (the special tokens count toward `maxLength`), and then lets the
 * tokenizer's own post-processor (e.g. TemplateProcessing `[CLS] $A [SEP] $B:1 [SEP]:1`) add the special
 * tokens and token type ids. Words (token classification) are tokenized one by one, which gives the word
 * of every token the way `is_split_into_words=True` does for BERT-style (WordPiece) tokenizers.
 *
 * No files here (tokenize.ts reads them): the browser entry point (web/) shares this class.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { InputError } from '../errors.js';

/** Ids of one encoded text (or pair), special tokens included. */
export interface Encoded {
  ids: number[];
  /** Segment of each token: 0 for the first text, 1 for the pair (from the post-processor). */
  typeIds: number[];
}

/** An encoded list of words: `wordIds[i]` is the word that token i comes from, null for special tokens. */
export interface EncodedWords extends Encoded {
  wordIds: (number | null)[];
}

type PostProcess = (a: string[], b: string[] | null, addSpecial: boolean) => { tokens: string[]; token_type_ids?: number[] };

/** Marker strings that stand for the real tokens while the post-processor adds the special tokens. */
const MARK = '\u0000\u0001';

export class TextTokenizer {
  /** Number of token ids: the largest id in the vocabulary (added tokens included) + 1. */
  readonly vocabSize: number;
  private readonly unkId: number | undefined;
  private readonly added: { single: number; pair: number };

  private constructor(
    /** The file it came from, for messages. */
    readonly file: string,
    private readonly tok: Tokenizer,
  ) {
    let max = -1;
    for (const id of tok.get_vocab(true).values()) if (id > max) max = id;
    this.vocabSize = max + 1;
    this.unkId = tok.model?.unk_token_id;
    this.added = { single: this.assemble([], null).ids.length, pair: this.assemble([], []).ids.length };
  }

  /** From parsed tokenizer.json contents; `file` names it in messages. */
  static fromJSON(json: unknown, file: string, config: object = {}): TextTokenizer {
    if (json === null || typeof json !== 'object' || !('model' in json)) {
      throw new InputError(`${file}: not a tokenizers JSON file (no 'model')`);
    }
    try {
      return new TextTokenizer(file, new Tokenizer(json, config));
    } catch (e) {
      if (e instanceof InputError) throw e;
      throw new InputError(`${file}: unsupported tokenizer (${(e as Error).message})`);
    }
  }

  /**
   * Checks that every token id has a row in the model's embedding matrix (`rows` = the student's
   * vocab_size / word-embedding rows). A smaller tokenizer is fine (unused rows).
   */
  checkVocab(rows: number): void {
    if (this.vocabSize > rows) {
      throw new InputError(`${this.file} has ${this.vocabSize} tokens but the student's embedding has ${rows} rows`);
    }
  }

  /** Number of special tokens the post-processor adds to a single text / a pair. */
  specialTokens(pair: boolean): number {
    return pair ? this.added.pair : this.added.single;
  }

  /** The tokens of a text without special tokens (normalizer, pre-tokenizer, model). */
  tokenize(text: string): string[] {
    return this.tok.tokenize(text, { add_special_tokens: false });
  }

  /** The id of a token (unknown tokens get the unknown-token id). */
  idOf(token: string): number {
    const id = this.tok.token_to_id(token) ?? this.unkId;
    if (id === undefined) throw new InputError(`${this.file}: token ${JSON.stringify(token)} is not in the vocabulary and there is no unknown token`);
    return id;
  }

  /**
   * Encodes a text (or a pair) with special tokens, truncated to `maxLength` tokens in all (special tokens
   * included; `longest_first` for pairs, cutting from the right) when `maxLength` is given.
   */
  encode(text: string, pair: string | null = null, maxLength?: number): Encoded {
    let a = this.tokenize(text);
    let b = pair === null ? null : this.tokenize(pair);
    if (maxLength !== undefined) [a, b] = this.truncate(a, b, maxLength);
    return this.assemble(a, b);
  }

  /**
   * Encodes a list of words (each tokenized on its own, as `is_split_into_words=True`), truncated to
   * `maxLength` tokens with the special tokens; `wordIds` says which word each token belongs to.
   */
  encodeWords(words: readonly string[], maxLength?: number): EncodedWords {
    let tokens: string[] = [];
    let owner: number[] = [];
    words.forEach((w, k) => {
      for (const t of this.tokenize(w)) {
        tokens.push(t);
        owner.push(k);
      }
    });
    if (maxLength !== undefined) {
      const keep = this.truncate(tokens, null, maxLength)[0].length;
      tokens = tokens.slice(0, keep);
      owner = owner.slice(0, keep);
    }
    const { ids, typeIds, source } = this.assembleWithSource(tokens, null);
    return { ids, typeIds, wordIds: source.map((s) => (s < 0 ? null : owner[s]!)) };
  }

  /** Truncates the segments so that they and the special tokens fit in `maxLength` (Rust `longest_first`). */
  private truncate(a: string[], b: string[] | null, maxLength: number): [string[], string[] | null] {
    const added = this.specialTokens(b !== null);
    const max = maxLength - added;
    if (!Number.isInteger(maxLength) || max < 0) {
      throw new InputError(`max length ${maxLength} is too small: the tokenizer adds ${added} special tokens`);
    }
    if (b === null) return [a.length > max ? a.slice(0, max) : a, null];
    if (a.length + b.length <= max) return [a, b];
    // As tokenizers' truncate_encodings (LongestFirst): the shorter segment keeps its length if it can.
    let n1 = Math.min(a.length, b.length);
    let n2 = Math.max(a.length, b.length);
    n2 = n1 > max ? n1 : Math.max(n1, max - n1);
    if (n1 + n2 > max) {
      n1 = Math.floor(max / 2);
      n2 = n1 + (max % 2);
    }
    const [na, nb] = a.length > b.length ? [n2, n1] : [n1, n2];
    return [a.slice(0, na), b.slice(0, nb)];
  }

  private assemble(a: string[], b: string[] | null): Encoded {
    const { ids, typeIds } = this.assembleWithSource(a, b);
    return { ids, typeIds };
  }

  /**
   * Runs the post-processor on marker tokens so that its output says, for every position, whether it is a
   * special token or which input token it is (`source`: index into a, a.length + index into b, or -1).
   */
  private assembleWithSource(a: string[], b: string[] | null): Encoded & { source: number[] } {
    const marks = (n: number, from: number) => Array.from({ length: n }, (_, k) => `${MARK}${from + k}`);
    const ma = marks(a.length, 0);
    const mb = b === null ? null : marks(b.length, a.length);
    const post = this.tok.post_processor as unknown as PostProcess | null;
    const out = post ? post(ma, mb, true) : { tokens: [...ma, ...(mb ?? [])] };
    const all = b === null ? a : [...a, ...b];
    const ids: number[] = [];
    const source: number[] = [];
    for (const t of out.tokens) {
      if (t.startsWith(MARK)) {
        const s = Number(t.slice(MARK.length));
        source.push(s);
        ids.push(this.idOf(all[s]!));
      } else {
        source.push(-1);
        ids.push(this.idOf(t));
      }
    }
    const typeIds = out.token_type_ids && out.token_type_ids.length === ids.length ? out.token_type_ids : source.map((s) => (s >= a.length ? 1 : 0));
    return { ids, typeIds, source };
  }
}

