// halo-dpo: Gran-DPO post-training (DESIGN.md §6). Pair records in; a model folder (OUT) out, a
// JSONL training log on stdout (and in OUT/train-log.jsonl), progress on stderr. Plain Diffusion-DPO
// is `--patch-weight 0` (or `--mode video`); `--mode patch` trains on the patch term alone; `--lora R`
// trains rank-R adapters on frozen base weights (merged into OUT's weights at the end).
import type { Argv } from 'yargs';
import type { CommandSpec } from '../cli/command.js';
import { UsageError } from '../cli/errors.js';
import { inputsOf, readOptions } from '../cli/options.js';
import { DEFAULT_LORA_TARGETS } from '../halo/dpo-graph.js';
import { runDpo } from '../halo/dpo.js';
import type { DpoMode } from '../halo/grandpo.js';
import { DEVICES, type Device } from '../runtime/ort.js';
import { DEFAULT_MODEL as BUILTIN_T2V_DIR } from './sample.js';

export const dpoCommand: CommandSpec = {
  name: 'dpo',
  build: (y: Argv) =>
    y
      .positional('inputs', { type: 'string', array: true, describe: 'pair record files (default: stdin)' })
      .option('model', { type: 'string', default: BUILTIN_T2V_DIR, defaultDescription: 'the shipped halo-tiny-t2v', describe: 'base model folder (policy and frozen reference start from it)' })
      .option('out', { type: 'string', demandOption: true, describe: 'output model folder (checkpoint, training log, weights, manifest)' })
      .option('name', { type: 'string', describe: 'model name in the output manifest' })
      .option('mode', { choices: ['gran', 'video', 'patch'] as const, default: 'gran', describe: 'gran: L_video + λ L_patch; video: Diffusion-DPO (λ = 0); patch: L_patch only' })
      .option('patch-weight', { alias: 'lambda', type: 'number', default: 1, describe: 'λ, weight of the patch term (0 = plain Diffusion-DPO)' })
      .option('beta', { type: 'number', default: 2000, describe: 'β of the video term (on per-element mean errors)' })
      .option('beta-patch', { type: 'number', describe: 'β_p of the patch term (default: β)' })
      .option('steps', { type: 'number', default: 200, describe: 'optimizer steps' })
      .option('batch', { type: 'number', default: 4, describe: 'pairs per micro-batch' })
      .option('accum', { type: 'number', default: 1, describe: 'micro-batches per optimizer step (gradient accumulation)' })
      .option('lr', { type: 'number', default: 2e-5, describe: 'peak learning rate (AdamW)' })
      .option('schedule', { type: 'string', default: 'cosine:20:0.1', describe: 'LR schedule: constant | warmup:N | cosine:N[:final-ratio]' })
      .option('clip', { type: 'number', default: 1, describe: 'global gradient-norm clipping (0: none)' })
      .option('weight-decay', { type: 'number', default: 0, describe: 'AdamW weight decay' })
      .option('train', { choices: ['all', 'denoiser', 'text'] as const, default: 'all', describe: 'which parameters of the policy train' })
      .option('lora', { type: 'number', default: 0, describe: 'train LoRA adapters of this rank on frozen base weights instead (0: off)' })
      .option('lora-alpha', { type: 'number', describe: 'LoRA α: adapters are scaled by α/rank (default: the rank)' })
      .option('lora-targets', { type: 'string', default: DEFAULT_LORA_TARGETS, defaultDescription: "the denoiser blocks' attention (qkv, proj) and MLP (fc1, fc2) linears", describe: 'regular expression over linear-layer names (e.g. den.block0.attn.qkv, text.block0.mlp.fc1) that get adapters' })
      .option('seed', { type: 'number', default: 0, describe: 'seed of pair sampling, timesteps and noise' })
      .option('device', { choices: DEVICES, default: 'cpu' as Device, describe: 'execution provider' })
      .option('threads', { type: 'number', default: 2, describe: 'ONNX Runtime intra-op threads' })
      .option('checkpoint-every', { type: 'number', default: 25, describe: 'steps between checkpoints (an interrupted run resumes from the last)' })
      .option('force', { type: 'boolean', default: false, describe: 'start over instead of resuming from OUT/checkpoint.safetensors' })
      .option('skip-invalid', { type: 'boolean', default: false, describe: 'warn about a bad pair record and go on' })
      .option('verbose', { type: 'boolean', default: false })
      .check((a) => {
        for (const k of ['steps', 'batch', 'accum', 'checkpoint-every', 'threads']) {
          const v = a[k] as number;
          if (!Number.isInteger(v) || v < 1) throw new UsageError(`--${k} must be a positive integer, got ${v}`);
        }
        if (!Number.isInteger(a.seed)) throw new UsageError(`--seed must be an integer, got ${a.seed}`);
        for (const k of ['beta', 'lr']) if (!((a[k] as number) > 0)) throw new UsageError(`--${k} must be > 0`);
        if ((a['patch-weight'] as number) < 0) throw new UsageError('--patch-weight must be >= 0');
        return true;
      }),
  run: async (args) => {
    const mode = (args['patch-weight'] === 0 && args.mode === 'gran' ? 'video' : args.mode) as DpoMode;
    await runDpo(
      {
        inputs: inputsOf(args),
        read: readOptions(args),
        model: String(args.model),
        out: String(args.out),
        name: args.name as string | undefined,
        steps: args.steps as number,
        batch: args.batch as number,
        accum: args.accum as number,
        lr: args.lr as number,
        schedule: String(args.schedule),
        beta: args.beta as number,
        betaPatch: args['beta-patch'] as number | undefined,
        lambda: args['patch-weight'] as number,
        mode,
        clip: args.clip as number,
        weightDecay: args['weight-decay'] as number,
        train: args.train as 'all' | 'denoiser' | 'text',
        lora: { rank: args.lora as number, alpha: args['lora-alpha'] as number | undefined, targets: String(args['lora-targets']) },
        seed: args.seed as number,
        device: args.device as Device,
        threads: args.threads as number,
        checkpointEvery: args['checkpoint-every'] as number,
        force: Boolean(args.force),
      },
      (line) => process.stdout.write(`${JSON.stringify(line)}\n`),
      (m) => process.stderr.write(`halo-dpo: ${m}\n`),
    );
  },
};
