// --shard K/N: split a run over N processes or machines. Shards are numbered 1..N; each record
// goes to exactly one of them, by a stable hash (FNV-1a) of its id, so every shard sees the
// same assignment whatever order or machine.
import { UsageError } from '../cli/errors.js';

export interface Shard {
  index: number; // 1-based
  count: number;
}

export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (!m) throw new UsageError(`--shard: expected K/N (e.g. 1/4), got '${text}'`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index < 1 || index > count) {
    throw new UsageError(`--shard: K must be between 1 and N, got '${text}'`);
  }
  return { index, count };
}

export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function inShard(shard: Shard, key: string): boolean {
  return (fnv1a(key) % shard.count) + 1 === shard.index;
}
