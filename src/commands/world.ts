// halo-world: the embedded shapes world. `prompts` writes prompt records from the grammar
// (a seeded draw, or --all combinations of a split); `render` reads prompt records and writes
// ground-truth videos and sample records (docs/world.md).
import type { Argv } from 'yargs';
import type { CommandSpec } from '../cli/command.js';
import { UsageError } from '../cli/errors.js';
import { inputsOf, readOptions, recordOptions, verboseLog } from '../cli/options.js';
import { renderRecords, worldPrompts } from '../world/records.js';
import type { ObjectCount, Split } from '../world/split.js';

function positiveInt(args: Record<string, unknown>, flag: string, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const v = Number(args[flag]);
  if (!Number.isInteger(v) || v < min || v > max) throw new UsageError(`--${flag}: expected an integer from ${min} to ${max}, got '${String(args[flag])}'`);
  return v;
}

function seedOf(args: Record<string, unknown>): number {
  const v = Number(args.seed);
  if (!Number.isSafeInteger(v) || v < 0) throw new UsageError(`--seed: expected a non-negative integer, got '${String(args.seed)}'`);
  return v;
}

function objectsOf(args: Record<string, unknown>): ObjectCount {
  const v = String(args.objects);
  if (v === '1' || v === '2') return Number(v) as 1 | 2;
  if (v === 'mixed') return 'mixed';
  throw new UsageError(`--objects: expected 1, 2 or mixed, got '${v}'`);
}

async function prompts(args: Record<string, unknown>): Promise<void> {
  const all = Boolean(args.all);
  if (all && args.n !== undefined) throw new UsageError('-n and --all exclude each other');
  if (!all && args.n === undefined) throw new UsageError('give -n N (how many prompts) or --all');
  await worldPrompts({
    n: all ? undefined : positiveInt(args, 'n', 0),
    all,
    seed: seedOf(args),
    split: args.split as Split,
    objects: objectsOf(args),
    idPrefix: idPrefixOf(args),
  });
}

/** --id-prefix: letters, digits, '-' and '_' (ids become file names). */
function idPrefixOf(args: Record<string, unknown>): string | undefined {
  if (args['id-prefix'] === undefined) return undefined;
  const v = String(args['id-prefix']);
  if (!/^[A-Za-z0-9_-]+$/.test(v)) throw new UsageError(`--id-prefix: use letters, digits, '-' and '_' only (ids name files), got '${v}'`);
  return v;
}

async function render(args: Record<string, unknown>): Promise<void> {
  const log = verboseLog(args, 'world');
  const summary = await renderRecords(inputsOf(args), {
    out: String(args.out),
    frames: positiveInt(args, 'frames', 1, 4096),
    height: positiveInt(args, 'height', 16, 4096),
    width: positiveInt(args, 'width', 16, 4096),
    fps: (() => {
      const v = Number(args.fps);
      if (!(v > 0 && v <= 1000)) throw new UsageError(`--fps: expected a positive number, got '${String(args.fps)}'`);
      return v;
    })(),
    seed: seedOf(args),
    samplesPerPrompt: positiveInt(args, 'samples-per-prompt', 1, 10000),
    force: Boolean(args.force),
    read: readOptions(args),
    log,
  });
  log(`rendered ${summary.rendered} clips, skipped ${summary.skipped} already rendered`);
}

export const worldCommand: CommandSpec = {
  name: 'world',
  build: (y: Argv) =>
    y
      .command(
        'prompts',
        'write prompt records (a seeded draw of -n prompts, or --all combinations of a split)',
        (c) =>
          c
            .option('n', { type: 'number', describe: 'how many prompts' })
            .option('all', { type: 'boolean', default: false, describe: 'every combination of the split (in a fixed order)' })
            .option('seed', { type: 'number', default: 0, describe: 'seed of the draw' })
            .option('split', { choices: ['train', 'eval'] as const, default: 'train' as const, describe: 'train prompts, or the held-out eval combinations' })
            .option('objects', { type: 'string', default: '1', describe: 'objects per prompt: 1, 2 or mixed' })
            .option('id-prefix', { type: 'string', describe: 'ids <prefix>0000… instead of p0000… (train) / e0000… (eval), to combine several draws' })
            .example('$0 prompts -n 8 --seed 1', 'eight training prompts')
            .example('$0 prompts --all --split eval', 'every held-out one-object prompt'),
        prompts,
      )
      .command(
        'render [inputs..]',
        'render prompt records (files or stdin) to ground-truth videos and sample records',
        (c) =>
          recordOptions(
            c
              .positional('inputs', { type: 'string', array: true, describe: "prompt record files ('-' or none: stdin)" })
              .option('out', { type: 'string', demandOption: true, describe: 'output folder (videos go to OUT/videos/)' })
              .option('frames', { type: 'number', default: 16, describe: 'frames per clip' })
              .option('height', { type: 'number', default: 32, describe: 'frame height in pixels' })
              .option('width', { type: 'number', default: 32, describe: 'frame width in pixels' })
              .option('fps', { type: 'number', default: 8, describe: 'frames per second of the video files' })
              .option('seed', { type: 'number', default: 0, describe: 'seed of the first clip of each prompt (then seed+1, …)' })
              .option('samples-per-prompt', { type: 'number', default: 1, describe: 'clips per prompt' }),
          ).example('$0 prompts -n 8 | $0 render --out world > world.jsonl', 'eight rendered clips'),
        render,
      )
      .demandCommand(1, 'name a subcommand: prompts or render'),
};
