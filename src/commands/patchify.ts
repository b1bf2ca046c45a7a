// halo-patchify: sample records (or video files) in, records with patch geometry out; storyboard
// PNGs (and optionally clips) of every patch under --out/patches/<sample_id>/ (docs/media.md).
import os from 'node:os';
import type { Argv } from 'yargs';
import type { CommandSpec } from '../cli/command.js';
import { UsageError } from '../cli/errors.js';
import { inputsOf, readOptions, recordOptions, verboseLog } from '../cli/options.js';
import { patchify, type Sampling } from '../halo/patchify.js';
import { DEFAULT_GRID, parseTriple, type GridSpec } from '../halo/patches.js';
import { RecordWriter } from '../io/jsonl.js';

function positiveInt(v: unknown, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag}: expected a positive integer, got '${String(v)}'`);
  return n;
}

function parseSize(text: string): [number, number] {
  const parts = String(text).split(/[,x×]/).map((p) => Number(p.trim()));
  if (parts.length !== 2 || parts.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new UsageError(`--resize: expected H,W (two positive integers), got '${text}'`);
  }
  return parts as [number, number];
}

export const patchifyCommand: CommandSpec = {
  name: 'patchify',
  build: (y: Argv) =>
    recordOptions(
      y
        .usage(
          'halo-patchify [inputs..] --out DIR\n\nInputs: JSONL files of sample records (none or - = stdin), or video files (a record is made for each).',
        )
        .positional('inputs', { type: 'string', array: true, describe: 'JSONL files of sample records, or video files' })
        .option('out', { type: 'string', demandOption: true, describe: 'folder for artifacts (patches/<sample_id>/p000.png, ...)' })
        .option('grid', { type: 'string', describe: `patches per axis T,H,W (default ${DEFAULT_GRID.join(',')})` })
        .option('patch', { type: 'string', describe: 'largest patch size t,h,w instead of --grid (grid = ceil(size / patch))' })
        .conflicts('grid', 'patch')
        .option('frames', { type: 'number', describe: 'keep N frames, evenly spaced over each video' })
        .option('fps', { type: 'number', describe: 'resample each video to this frame rate first' })
        .option('resize', { type: 'string', describe: 'scale frames to H,W before cutting' })
        .option('scale', { type: 'number', describe: 'storyboard upscale factor (default: patch side ≥ 64 px)' })
        .option('clips', { type: 'boolean', default: false, describe: 'also write each patch as a lossless .mp4 clip' })
        .option('prompt', { type: 'string', describe: 'prompt for records made from video files (default: the file name)' })
        .option('jobs', {
          alias: 'j',
          type: 'number',
          default: Math.max(1, os.availableParallelism?.() ?? os.cpus().length),
          describe: 'ffmpeg decoders at once (each decodes up to 8 small videos)',
        }),
    ),
  run: async (args) => {
    const spec: GridSpec = args.patch !== undefined
      ? { patch: parseTriple(String(args.patch), '--patch') }
      : { grid: args.grid !== undefined ? parseTriple(String(args.grid), '--grid') : DEFAULT_GRID };
    const fps = args.fps === undefined ? undefined : Number(args.fps);
    if (fps !== undefined && !(fps > 0)) throw new UsageError(`--fps: expected a positive number, got '${String(args.fps)}'`);
    const sampling: Sampling = {};
    const frames = positiveInt(args.frames, '--frames');
    if (frames) sampling.frames = frames;
    if (fps) sampling.fps = fps;
    if (args.resize !== undefined) sampling.size = parseSize(String(args.resize));
    const writer = new RecordWriter();
    await patchify(
      inputsOf(args),
      {
        out: String(args.out),
        spec,
        sampling,
        scale: positiveInt(args.scale, '--scale'),
        clips: Boolean(args.clips),
        jobs: positiveInt(args.jobs, '--jobs') ?? 1,
        force: Boolean(args.force),
        prompt: typeof args.prompt === 'string' ? args.prompt : undefined,
        read: readOptions(args),
        log: verboseLog(args, 'patchify'),
        warn: (m) => process.stderr.write(`halo-patchify: warning: ${m}\n`),
        progress: Boolean(process.stderr.isTTY) && !args.verbose,
      },
      (r) => writer.write(r),
    );
  },
};
