// A cache on disk of validated teacher answers, so that a re-run or a resumed run pays for no
// request twice. The key is the SHA-256 of the whole request as sent (model, prompt-template
// version, messages with their images as data: URLs, decoding parameters): the same content,
// model and template give the same key. Entries are JSON files written atomically under
// DIR/<first 2 hex>/<key>.json; only answers that passed validation are stored.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sha256, writeFileAtomic } from '../io/atomic.js';

/** The default cache folder: $HALO_CACHE_DIR, else $XDG_CACHE_HOME/halo, else ~/.cache/halo; then /teachers. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.HALO_CACHE_DIR || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'halo');
  return path.join(base, 'teachers');
}

/** JSON with object keys sorted, so equal values hash equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}

export function cacheKey(request: unknown): string {
  return sha256(canonicalJson(request));
}

export interface CacheEntry<T> {
  key: string;
  /** What the entry is, for people reading the folder: model, template, kind. */
  meta: Record<string, unknown>;
  value: T;
  created: string;
}

export class AnswerCache {
  hits = 0;
  misses = 0;
  writes = 0;

  /** `dir` undefined = no cache (every lookup misses, nothing is written). */
  constructor(readonly dir: string | undefined) {}

  private fileOf(key: string): string {
    return path.join(this.dir!, key.slice(0, 2), `${key}.json`);
  }

  async get<T>(key: string): Promise<T | undefined> {
    if (!this.dir) {
      this.misses++;
      return undefined;
    }
    try {
      const entry = JSON.parse(await readFile(this.fileOf(key), 'utf8')) as CacheEntry<T>;
      if (entry.key === key) {
        this.hits++;
        return entry.value;
      }
    } catch {
      // absent or unreadable: a miss (a corrupt entry is overwritten by the next put)
    }
    this.misses++;
    return undefined;
  }

  async put<T>(key: string, value: T, meta: Record<string, unknown> = {}): Promise<void> {
    if (!this.dir) return;
    const entry: CacheEntry<T> = { key, meta, value, created: new Date().toISOString() };
    await writeFileAtomic(this.fileOf(key), `${JSON.stringify(entry)}\n`);
    this.writes++;
  }
}
