// JSONL in and out. readRecords() streams records from files or stdin ('-'), numbering lines,
// validating each against a record schema and naming source, line and field on failure;
// RecordWriter writes one JSON object per line to stdout, honouring back-pressure.
import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { z } from 'zod';
import { DataError, HaloError, type Place } from '../cli/errors.js';
import { rebaseMedia } from './rebase.js';
import { inShard, type Shard } from './shard.js';

export const STDIN = '<stdin>';

/**
 * A validated record with where it came from. Its relative media paths have been rebased to the
 * current directory (src/io/rebase.ts), and `dir` (the current directory) resolves them.
 */
export interface Located<T> {
  record: T;
  place: Place;
  dir: string;
}

export interface ReadOptions {
  /** Turn a bad record into a warning on stderr and go on. */
  skipInvalid?: boolean;
  /** Keep only this shard's records. */
  shard?: Shard;
  /** Where warnings go (default: stderr). */
  warn?: (message: string) => void;
  /** The stream to read for '-' (default process.stdin). */
  stdin?: Readable;
}

/** Turn the first zod issue into `field: message`. */
export function describeIssue(error: z.ZodError): { field: string | undefined; detail: string } {
  const issue = error.issues[0];
  if (!issue) return { field: undefined, detail: 'invalid record' };
  const field = issue.path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join('');
  return { field: field || undefined, detail: issue.message };
}

/** Validate one parsed value against a schema, throwing a DataError naming the place. */
export function validate<S extends z.ZodType>(schema: S, value: unknown, place: Place): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const { field, detail } = describeIssue(result.error);
  throw new DataError(place, field, detail);
}

async function* linesOf(source: string, stdin: Readable): AsyncGenerator<string> {
  if (source !== '-') {
    try {
      await access(source);
    } catch {
      throw new HaloError(`${source}: cannot read the file (it does not exist or is not readable)`);
    }
  }
  const input = source === '-' ? stdin : createReadStream(source);
  const rl = createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of rl) yield line;
  } finally {
    rl.close();
  }
}

/** Stream validated records from `sources` ('-' or none = stdin), in order. */
export async function* readRecords<S extends z.ZodType>(
  sources: readonly string[],
  schema: S,
  options: ReadOptions = {},
): AsyncGenerator<Located<z.infer<S>>> {
  const warn = options.warn ?? ((m: string) => process.stderr.write(`warning: ${m}\n`));
  const stdin = options.stdin ?? process.stdin;
  const list = sources.length === 0 ? ['-'] : sources;
  let index = 0;
  for (const source of list) {
    const name = source === '-' ? STDIN : source;
    const fileDir = source === '-' ? process.cwd() : path.dirname(path.resolve(source));
    const dir = process.cwd();
    let line = 0;
    for await (const text of linesOf(source, stdin)) {
      line += 1;
      if (text.trim() === '') continue;
      const place = { source: name, line };
      let record: z.infer<S>;
      try {
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch (e) {
          throw new DataError(place, undefined, `malformed JSON (${(e as Error).message})`);
        }
        if (value === null || typeof value !== 'object' || Array.isArray(value)) {
          throw new DataError(place, undefined, 'expected a JSON object');
        }
        record = validate(schema, rebaseMedia(value, fileDir, dir), place);
      } catch (e) {
        if (options.skipInvalid && e instanceof DataError) {
          warn(`${e.message} (skipped)`);
          continue;
        }
        throw e;
      }
      const i = index++;
      if (options.shard && !inShard(options.shard, shardKey(record, i))) continue;
      yield { record, place, dir };
    }
  }
}

/** The key a record is sharded by: its sample_id, else its id, else its position. */
function shardKey(record: unknown, index: number): string {
  const r = record as { sample_id?: unknown; id?: unknown; prompt_id?: unknown };
  if (typeof r.sample_id === 'string') return r.sample_id;
  if (typeof r.id === 'string') return r.id;
  if (typeof r.prompt_id === 'string') return r.prompt_id;
  return String(index);
}

/** Writes records as JSON lines, waiting on back-pressure. */
export class RecordWriter {
  constructor(private readonly out: Writable = process.stdout) {}

  async write(record: unknown): Promise<void> {
    const ok = this.out.write(`${JSON.stringify(record)}\n`);
    if (!ok) await new Promise<void>((resolve) => this.out.once('drain', resolve));
  }
}

/** Resolve a media path from a record: absolute stays, relative is taken from the record's folder. */
export function resolveMedia(file: string, dir: string): string {
  return path.isAbsolute(file) ? file : path.resolve(dir, file);
}

/**
 * The path to put in an output record for a file this command wrote. Records go to stdout,
 * so relative paths are relative to the current directory (where `> file.jsonl` usually lands);
 * an absolute --out gives absolute paths.
 */
export function recordPath(absFile: string, outFlag: string): string {
  return path.isAbsolute(outFlag) ? absFile : path.relative(process.cwd(), absFile) || '.';
}
