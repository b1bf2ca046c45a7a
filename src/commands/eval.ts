// halo-eval: compare generators on held-out prompts with the same seeds (DESIGN.md §7). Prompt
// records in; OUT/eval.json, per-model samples with oracle labels and reward scores, and a table on
// stdout (`--json`: eval.json instead); `--report` also writes the HTML report (halo-report).
import path from 'node:path';
import type { Argv } from 'yargs';
import type { CommandSpec } from '../cli/command.js';
import { UsageError } from '../cli/errors.js';
import { inputsOf, readOptions } from '../cli/options.js';
import { parseModelFlag, runEval } from '../halo/evaluate.js';
import { writeReport } from '../halo/report.js';
import { evalTableText } from '../halo/report-html.js';
import { BUILTIN_MODEL_DIR } from '../models/reward-model.js';
import { SAMPLERS, type SamplerName } from '../models/sampler.js';
import { DEVICES, type Device } from '../runtime/ort.js';

export const evalCommand: CommandSpec = {
  name: 'eval',
  build: (y: Argv) =>
    y
      .positional('inputs', { type: 'string', array: true, describe: 'prompt record files (default: stdin)' })
      .option('model', { type: 'string', array: true, demandOption: true, describe: 'NAME=DIR of a generator folder; repeat; the first is the baseline' })
      .option('out', { type: 'string', demandOption: true, describe: 'output folder (eval.json, <model>/videos, <model>/samples.jsonl)' })
      .option('samples-per-prompt', { type: 'number', default: 2, describe: 'seeds per prompt: --seed … --seed+K−1, the same for every model' })
      .option('seed', { type: 'number', default: 1000, describe: 'first seed' })
      .option('steps', { type: 'number', describe: "sampler steps (default: each model's)" })
      .option('guidance', { type: 'number', describe: "guidance scale (default: each model's)" })
      .option('sampler', { choices: SAMPLERS, describe: "sampler (default: each model's)" })
      .option('reward-model', { type: 'string', default: BUILTIN_MODEL_DIR, defaultDescription: 'the shipped halo-tiny-rm', describe: "reward model folder whose agreement with the oracle is reported ('none' to skip)" })
      .option('batch', { type: 'number', default: 8, describe: 'prompts per denoiser call' })
      .option('device', { choices: DEVICES, default: 'cpu' as Device })
      .option('threads', { type: 'number', default: 2 })
      .option('json', { type: 'boolean', default: false, describe: 'print eval.json instead of the table' })
      .option('report', { type: 'boolean', default: false, describe: 'also write the HTML report to OUT/report/index.html' })
      .option('force', { type: 'boolean', default: false, describe: 'sample again even where videos exist' })
      .option('skip-invalid', { type: 'boolean', default: false })
      .option('verbose', { type: 'boolean', default: false })
      .check((a) => {
        for (const k of ['samples-per-prompt', 'batch', 'threads']) if (!Number.isInteger(a[k]) || (a[k] as number) < 1) throw new UsageError(`--${k} must be a positive integer`);
        if (!Number.isInteger(a.seed) || (a.seed as number) < 0) throw new UsageError('--seed must be a non-negative integer');
        if (a.steps !== undefined && (!Number.isInteger(a.steps) || (a.steps as number) < 1)) throw new UsageError('--steps must be a positive integer');
        return true;
      }),
  run: async (args) => {
    const log = (m: string) => process.stderr.write(`halo-eval: ${m}\n`);
    const outFlag = String(args.out);
    const rmFlag = String(args['reward-model']);
    const result = await runEval({
      inputs: inputsOf(args),
      read: readOptions(args),
      models: (args.model as string[]).map(parseModelFlag),
      out: path.resolve(outFlag),
      outFlag,
      seed: args.seed as number,
      perPrompt: args['samples-per-prompt'] as number,
      sampler: { name: args.sampler as SamplerName | undefined, steps: args.steps as number | undefined, guidance: args.guidance as number | undefined },
      batch: args.batch as number,
      device: args.device as Device,
      threads: args.threads as number,
      rewardModel: rmFlag === 'none' ? null : rmFlag,
      force: Boolean(args.force),
      log,
    });
    process.stdout.write(args.json ? `${JSON.stringify(result, null, 2)}\n` : `${evalTableText(result)}\n`);
    log(`wrote ${path.join(outFlag, 'eval.json')} (${result.seconds}s)`);
    if (args.report) {
      const r = await writeReport({ evalFile: path.join(path.resolve(outFlag), 'eval.json'), out: path.join(path.resolve(outFlag), 'report'), videos: 4 });
      log(`wrote ${path.relative(process.cwd(), r.html)}`);
    }
  },
};
