// halo-sample: prompt records in (stdin or files), one video per (prompt, seed) under --out and a sample
// record for each on stdout (seed, model name and hash, size, fps, sampler settings). The model is any
// folder with a manifest (docs/generator.md); the shipped halo-tiny-t2v by default.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import cliProgress from 'cli-progress';
import type { Argv } from 'yargs';
import type { CommandSpec } from '../cli/command.js';
import { UsageError } from '../cli/errors.js';
import { inputsOf, readOptions, recordOptions, verboseLog } from '../cli/options.js';
import { ensureDir } from '../io/atomic.js';
import { RecordWriter, readRecords } from '../io/jsonl.js';
import { Generator } from '../models/generator.js';
import { SAMPLERS, SamplerName } from '../models/sampler.js';
import { planJobs, runJobs } from '../models/sample-run.js';
import { PromptRecord } from '../records/schemas.js';
import { DEVICES, Device } from '../runtime/ort.js';

/** The shipped model, relative to this file in dist/src/commands/. */
export const DEFAULT_MODEL = fileURLToPath(new URL('../../../fixtures/models/halo-tiny-t2v', import.meta.url));

const intFlag = (a: Record<string, unknown>, k: string, min: number) => {
  const v = a[k];
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new UsageError(`--${k}: expected an integer, got '${String(a[k])}'`);
  if (v < min) throw new UsageError(`--${k}: expected an integer >= ${min}, got ${v}`);
};

export const sampleCommand: CommandSpec = {
  name: 'sample',
  build: (y: Argv) =>
    recordOptions(y)
      .positional('inputs', { type: 'string', array: true, describe: 'prompt record files (default: stdin)' })
      .option('out', { type: 'string', demandOption: true, describe: 'output folder (videos/ inside it)' })
      .option('model', { type: 'string', describe: 'model folder with manifest.json (default: the shipped halo-tiny-t2v)' })
      .option('samples-per-prompt', { type: 'number', default: 1, describe: 'K videos per prompt, seeds --seed … --seed+K−1' })
      .option('seed', { type: 'number', default: 0, describe: 'first seed' })
      .option('steps', { type: 'number', describe: "sampler steps (default: the model's, 25 for halo-tiny-t2v)" })
      .option('guidance', { type: 'number', describe: "classifier-free guidance scale (default: the model's, 2)" })
      .option('sampler', { choices: SAMPLERS, describe: "ddim (deterministic) or ddpm (ancestral); default: the model's" })
      .option('batch', { type: 'number', default: 8, describe: 'prompts per denoiser call' })
      .option('device', { choices: DEVICES, default: 'cpu' as Device, describe: 'execution provider (falls back to cpu with a note)' })
      .option('threads', { type: 'number', default: 2, describe: 'ONNX Runtime intra-op threads' })
      .check((a) => {
        intFlag(a, 'samples-per-prompt', 1);
        intFlag(a, 'seed', 0);
        intFlag(a, 'steps', 1);
        intFlag(a, 'batch', 1);
        intFlag(a, 'threads', 1);
        if (a.guidance !== undefined && !Number.isFinite(a.guidance)) throw new UsageError(`--guidance: expected a number, got '${String(a.guidance)}'`);
        return true;
      }),
  run: async (args) => {
    const log = verboseLog(args, 'sample');
    const outFlag = String(args.out);
    const out = path.resolve(outFlag);
    const batch = Number(args.batch);
    const modelDir = typeof args.model === 'string' ? args.model : DEFAULT_MODEL;
    const gen = await Generator.load(modelDir, { device: args.device as Device, threads: Number(args.threads), batch });
    try {
      log(`model ${gen.name} (${gen.sha256.slice(0, 12)}) from ${modelDir}`);
      const dflt = gen.manifest.sampler ?? { name: 'ddim', steps: 25, guidance: 2 };
      const settings = {
        name: (args.sampler as SamplerName | undefined) ?? dflt.name,
        steps: args.steps === undefined ? dflt.steps : Number(args.steps),
        guidance: args.guidance === undefined ? dflt.guidance : Number(args.guidance),
      };
      const prompts = [];
      for await (const r of readRecords(inputsOf(args), PromptRecord, readOptions(args))) prompts.push(r);
      const o = {
        out,
        outFlag,
        seed: Number(args.seed),
        perPrompt: Number(args['samples-per-prompt']),
        settings,
        batch,
        force: Boolean(args.force),
        warn: (m: string) => process.stderr.write(`halo-sample: warning: ${m}\n`),
      };
      const jobs = planJobs(prompts, gen, o);
      if (jobs.length === 0) return;
      await ensureDir(out);
      const bar = process.stderr.isTTY ? new cliProgress.SingleBar({ format: 'halo-sample [{bar}] {value}/{total} videos {eta_formatted}', stream: process.stderr }, cliProgress.Presets.shades_classic) : undefined;
      bar?.start(jobs.length, 0);
      const writer = new RecordWriter();
      try {
        for await (const rec of runJobs(jobs, gen, { ...o, onProgress: (d) => bar?.update(Math.floor(d)) })) await writer.write(rec);
      } finally {
        bar?.stop();
      }
      log(`${jobs.length} samples under ${out}`);
    } finally {
      await gen.close();
    }
  },
};
