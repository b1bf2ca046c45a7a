// Flags shared by the record-processing commands, declared once.
import type { Argv } from 'yargs';
import { parseShard, type Shard } from '../io/shard.js';
import type { ReadOptions } from '../io/jsonl.js';

export function recordOptions(y: Argv): Argv {
  return y
    .option('skip-invalid', { type: 'boolean', default: false, describe: 'warn about a bad record and go on instead of stopping' })
    .option('shard', { type: 'string', describe: 'process only shard K of N (K/N, 1-based); each record goes to exactly one shard' })
    .option('force', { type: 'boolean', default: false, describe: 'redo work whose output already exists' })
    .option('verbose', { type: 'boolean', default: false, describe: 'say more on stderr (binaries used, skipped work)' });
}

export function readOptions(args: Record<string, unknown>): ReadOptions {
  const shard: Shard | undefined = typeof args.shard === 'string' ? parseShard(args.shard) : undefined;
  return { skipInvalid: Boolean(args['skip-invalid']), shard };
}

/** Input files from the positional `inputs` (none or '-' = stdin). */
export function inputsOf(args: Record<string, unknown>): string[] {
  const v = args.inputs ?? args._;
  if (Array.isArray(v)) return v.map(String);
  if (typeof v === 'string') return [v];
  return [];
}

/** A logger to stderr that prints only with --verbose. */
export function verboseLog(args: Record<string, unknown>, name: string): (message: string) => void {
  return args.verbose ? (m) => process.stderr.write(`halo-${name}: ${m}\n`) : () => {};
}
