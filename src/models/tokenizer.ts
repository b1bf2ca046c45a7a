// Word-level tokenizer for prompts. In: a vocabulary (the world's word list, stored in the model's
// manifest) and prompt strings. Out: fixed-length int64 id rows [BOS, w1, …, wn, PAD…]. Unknown words map
// to <unk> (counted, never an error); an empty prompt or one longer than the limit is an error that says so.

export const PAD = '<pad>';
export const UNK = '<unk>';
export const BOS = '<bos>';
export const SPECIALS = [PAD, UNK, BOS] as const;

export interface TokenizerSpec {
  type: 'word';
  /** Words after the three specials; id = index in [<pad>, <unk>, <bos>, ...vocab]. */
  vocab: string[];
  /** Ids per prompt, <bos> included. */
  max_length: number;
}

export class TokenizerError extends Error {}

/** Lower-case words: runs of letters and digits (hyphens and punctuation split words). */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

export class Tokenizer {
  readonly ids = new Map<string, number>();
  readonly maxLength: number;
  readonly vocabSize: number;

  constructor(readonly spec: TokenizerSpec) {
    if (!Number.isInteger(spec.max_length) || spec.max_length < 2) throw new TokenizerError(`tokenizer: max_length must be an integer >= 2, got ${spec.max_length}`);
    const all = [...SPECIALS, ...spec.vocab];
    all.forEach((w, i) => {
      if (this.ids.has(w)) throw new TokenizerError(`tokenizer: word '${w}' appears twice in the vocabulary`);
      this.ids.set(w, i);
    });
    this.maxLength = spec.max_length;
    this.vocabSize = all.length;
  }

  /** A tokenizer over a word list (deduplicated, sorted, specials removed). */
  static fromWords(list: Iterable<string>, maxLength: number): Tokenizer {
    const set = new Set<string>();
    for (const w of list) for (const x of words(w)) set.add(x);
    for (const s of SPECIALS) set.delete(s);
    return new Tokenizer({ type: 'word', vocab: [...set].sort(), max_length: maxLength });
  }

  /** Ids of one prompt; `unknown` collects words outside the vocabulary. */
  encode(prompt: string, unknown?: string[]): number[] {
    const ws = words(prompt);
    if (ws.length === 0) throw new TokenizerError(`empty prompt: no words in ${JSON.stringify(prompt)}`);
    if (ws.length > this.maxLength - 1)
      throw new TokenizerError(`prompt too long: ${ws.length} words, the tokenizer takes at most ${this.maxLength - 1}`);
    const ids = [this.ids.get(BOS)!];
    for (const w of ws) {
      const id = this.ids.get(w);
      if (id === undefined) unknown?.push(w);
      ids.push(id ?? this.ids.get(UNK)!);
    }
    while (ids.length < this.maxLength) ids.push(this.ids.get(PAD)!);
    return ids;
  }

  /** The unconditional input of classifier-free guidance: <bos> alone. */
  nullIds(): number[] {
    const ids = [this.ids.get(BOS)!];
    while (ids.length < this.maxLength) ids.push(this.ids.get(PAD)!);
    return ids;
  }

  /** Rows of ids as one BigInt64Array [n, max_length]; null entries give the unconditional row. */
  batch(prompts: (string | null)[]): BigInt64Array {
    const out = new BigInt64Array(prompts.length * this.maxLength);
    prompts.forEach((p, i) => {
      const ids = p === null ? this.nullIds() : this.encode(p);
      for (let j = 0; j < ids.length; j++) out[i * this.maxLength + j] = BigInt(ids[j]);
    });
    return out;
  }

  decode(ids: ArrayLike<number | bigint>): string {
    const inv = [...SPECIALS, ...this.spec.vocab];
    return Array.from(ids, (i) => inv[Number(i)] ?? UNK)
      .filter((w) => w !== PAD && w !== BOS)
      .join(' ');
  }
}
