// halo-pretrain: trains the built-in generator (halo-tiny-t2v) on clips of the shapes world rendered
// in-process. Progress on stderr; the run folder gets checkpoints (a re-run resumes), a JSONL log of loss
// per step and model/, a model folder for halo-sample --model (docs/generator.md).
import path from 'node:path';
import type { Argv } from 'yargs';
import type { CommandSpec } from '../cli/command.js';
import { UsageError } from '../cli/errors.js';
import { DENOISERS, PRETRAIN_DEFAULTS, pretrain } from '../models/pretrain.js';

const d = PRETRAIN_DEFAULTS;

export const pretrainCommand: CommandSpec = {
  name: 'pretrain',
  build: (y: Argv) =>
    y
      .option('out', { type: 'string', demandOption: true, describe: 'run folder: checkpoint, train.jsonl, model/' })
      .option('arch', { choices: Object.keys(DENOISERS), default: d.arch, describe: 'denoiser design' })
      .option('steps', { type: 'number', default: d.steps, describe: 'optimizer steps (the LR schedule ends here)' })
      .option('minutes', { type: 'number', describe: 'wall-clock budget: the LR schedule follows elapsed time and training stops at the budget' })
      .option('batch', { type: 'number', default: d.batch })
      .option('lr', { type: 'number', default: d.lr })
      .option('warmup', { type: 'number', default: d.warmup })
      .option('ema', { type: 'number', default: d.ema, describe: 'EMA decay of the weights (kept in the run folder)' })
      .option('weights', { choices: ['raw', 'ema'], default: d.weights, describe: "the model folder's weights: the last step's parameters, or their EMA; re-running a finished run with the other choice re-exports it" })
      .option('seed', { type: 'number', default: d.seed })
      .option('threads', { type: 'number', default: d.threads, describe: 'ONNX Runtime intra-op threads' })
      .option('text-encoder', { choices: ['train', 'frozen'], default: d.textEncoder, describe: 'train the text encoder with the denoiser, or keep it at its random initialisation' })
      .option('text-pooling', { choices: ['bos', 'mean'], default: d.textPooling, describe: "the prompt's vector: the <bos> position's output, or the mean over the words" })
      .option('log-every', { type: 'number', default: d.logEvery })
      .option('checkpoint-every', { type: 'number', default: d.checkpointEvery })
      .check((a) => {
        for (const k of ['steps', 'batch', 'threads', 'log-every', 'checkpoint-every', 'warmup'] as const)
          if (!Number.isInteger(a[k]) || (a[k] as number) < (k === 'warmup' ? 0 : 1)) throw new UsageError(`--${k}: expected a positive integer, got ${a[k]}`);
        if (!Number.isInteger(a.seed)) throw new UsageError(`--seed: expected an integer, got ${a.seed}`);
        if (a.minutes !== undefined && !(a.minutes > 0)) throw new UsageError(`--minutes: expected a positive number, got ${a.minutes}`);
        return true;
      }),
  run: async (args) => {
    const out = path.resolve(String(args.out));
    const command = ['halo-pretrain', ...process.argv.slice(2)].join(' ');
    await pretrain(
      {
        ...d,
        out,
        arch: String(args.arch),
        steps: Number(args.steps),
        minutes: args.minutes === undefined ? undefined : Number(args.minutes),
        batch: Number(args.batch),
        lr: Number(args.lr),
        warmup: Number(args.warmup),
        ema: Number(args.ema),
        weights: args.weights as 'raw' | 'ema',
        seed: Number(args.seed),
        threads: Number(args.threads),
        textEncoder: args['text-encoder'] as 'train' | 'frozen',
        textPooling: args['text-pooling'] as 'bos' | 'mean',
        logEvery: Number(args['log-every']),
        checkpointEvery: Number(args['checkpoint-every']),
        command,
      },
      (line) => process.stderr.write(`halo-pretrain: ${line}\n`),
    );
  },
};
