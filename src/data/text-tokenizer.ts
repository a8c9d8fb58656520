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
 * A single text truncated to `maxLength` is tokenized from its head only (`tokenizeHead`): e-mails and
 * documents run to hundreds of kilobytes, of which 128 tokens are kept, and tokenizing whole texts was
 * most of a short run's time (docs/PERFORMANCE.md lists what this and fastWordPieces bought).
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

/**
 * Pre-tokenizers that cut the text at every space, so that no token spans one. For these, the tokens of a
 * text cut just before a space are the full text's first tokens; only the normalizer can change the last
 * ones (a pattern that ends past the cut), which HEAD_MARGIN covers.
 */
const SPLITS_AT_SPACES: Record<string, (p: Record<string, unknown>) => boolean> = {
  BertPreTokenizer: () => true,
  Whitespace: () => true,
  WhitespaceSplit: () => true,
  ByteLevel: (p) => p.use_regex !== false,
  Metaspace: (p) => p.split !== false,
};
/** Tokens beyond the ones kept that a head must yield before its cut is trusted (see SPLITS_AT_SPACES). */
const HEAD_MARGIN = 16;

function splitsAtSpaces(pre: unknown): boolean {
  if (pre === null || typeof pre !== 'object') return false;
  const p = pre as Record<string, unknown>;
  if (p.type === 'Sequence' && Array.isArray(p.pretokenizers)) return p.pretokenizers.some(splitsAtSpaces);
  return SPLITS_AT_SPACES[String(p.type)]?.(p) ?? false;
}

/** Words whose WordPiece pieces are kept; the memo starts over when it is full (a bound on memory). */
const WORD_MEMO_SIZE = 200_000;

interface WordPieceModel {
  config: { type?: string; continuing_subword_prefix?: string };
  tokens_to_ids: Map<string, number>;
  unk_token: string;
  max_input_chars_per_word: number;
  encode(words: string[]): string[];
}

/**
 * The port's WordPiece model tries every substring from a word's end down (a new string per candidate,
 * quadratic in the word's length), which made tokenizing e-mails full of long URLs and base64 most of a
 * short run's time. The same greedy longest-match-first rule, with candidates no longer than the longest
 * vocabulary entry (no longer one can match), and each word's pieces remembered (e-mails repeat their
 * words; a word's pieces depend on the word alone). test/data-tokenize.test.ts checks the ids against
 * Python `tokenizers`.
 */
function fastWordPieces(tok: Tokenizer): void {
  const model = tok.model as unknown as WordPieceModel | undefined;
  if (model?.config?.type !== 'WordPiece' || !(model.tokens_to_ids instanceof Map)) return;
  const vocab = model.tokens_to_ids;
  const prefix = model.config.continuing_subword_prefix ?? '##';
  // No candidate longer than the longest entry can match (an entry's length bounds both a word-initial
  // piece and, prefix stripped, a continuation).
  let longest = 0;
  for (const t of vocab.keys()) longest = Math.max(longest, [...t].length);
  const piecesOf = (word: string): string[] => {
    // Characters, not UTF-16 units; a word without astral characters is sliced as it is.
    const chars: string | string[] = /[\uD800-\uDBFF]/.test(word) ? [...word] : word;
    const slice = typeof chars === 'string' ? (a: number, b: number) => chars.slice(a, b) : (a: number, b: number) => chars.slice(a, b).join('');
    if (chars.length > model.max_input_chars_per_word) return [model.unk_token];
    const pieces: string[] = [];
    for (let start = 0; start < chars.length; ) {
      let end = Math.min(chars.length, start + longest);
      let piece: string | null = null;
      for (; end > start; end--) {
        const sub = (start > 0 ? prefix : '') + slice(start, end);
        if (vocab.has(sub)) {
          piece = sub;
          break;
        }
      }
      if (piece === null) return [model.unk_token];
      pieces.push(piece);
      start = end;
    }
    return pieces;
  };
  const memo = new Map<string, string[]>();
  model.encode = (words: string[]) => {
    const out: string[] = [];
    for (const w of words) {
      let pieces = memo.get(w);
      if (!pieces) {
        if (memo.size >= WORD_MEMO_SIZE) memo.clear();
        pieces = piecesOf(w);
        memo.set(w, pieces);
      }
      for (const p of pieces) out.push(p);
    }
    return out;
  };
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
    /** Whether a text's head tokenizes as the start of the whole text (see SPLITS_AT_SPACES). */
    private readonly headIsExact: boolean,
  ) {
    let max = -1;
    for (const id of tok.get_vocab(true).values()) if (id > max) max = id;
    this.vocabSize = max + 1;
    this.unkId = tok.model?.unk_token_id;
    fastWordPieces(tok);
    this.added = { single: this.assemble([], null).ids.length, pair: this.assemble([], []).ids.length };
  }

  /** From parsed tokenizer.json contents; `file` names it in messages. */
  static fromJSON(json: unknown, file: string, config: object = {}): TextTokenizer {
    if (json === null || typeof json !== 'object' || !('model' in json)) {
      throw new InputError(`${file}: not a tokenizers JSON file (no 'model')`);
    }
    try {
      return new TextTokenizer(file, new Tokenizer(json, config), splitsAtSpaces((json as { pre_tokenizer?: unknown }).pre_tokenizer));
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

  /**
   * At least the first `keep` tokens of `text` (all of them if it has fewer), from as short a head of it
   * as gives them: a head cut before a space, doubled until it yields `keep` + HEAD_MARGIN
   * tokens. Tokenizers whose pre-tokenizer does not split at spaces get the whole text tokenized.
   */
  tokenizeHead(text: string, keep: number): string[] {
    if (this.headIsExact) {
      // 8 characters per token is generous for English WordPiece/BPE; a head that falls short doubles.
      for (let chars = Math.max(256, 8 * (keep + HEAD_MARGIN)); chars < text.length; chars *= 2) {
        // At a plain space: every pre-tokenizer above splits there (Metaspace at nothing else).
        const cut = text.indexOf(' ', chars);
        if (cut < 0) break;
        const tokens = this.tokenize(text.slice(0, cut));
        if (tokens.length >= keep + HEAD_MARGIN) return tokens;
      }
    }
    return this.tokenize(text);
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
    let a = pair === null && maxLength !== undefined ? this.tokenizeHead(text, maxLength - this.added.single) : this.tokenize(text);
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

