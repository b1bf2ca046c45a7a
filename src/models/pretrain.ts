// Pretraining of the built-in generator on the shapes world (docs/generator.md): AdamW with warm-up and
// cosine decay, gradient clipping, EMA of the weights, condition dropout, checkpoints and exact resume.
// In: PretrainOptions (run folder, architecture, steps or a time budget). Out: in the run folder,
// checkpoint.safetensors + ema.safetensors (resume), train.jsonl (one line per step), and model/ — a
// model folder (manifest.json + weights.safetensors: the last step's parameters, or their EMA) that
// halo-sample reads.

import { HaloError } from '../cli/errors.js';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Tensor, cloneTensor } from '../graph/tensor.js';
import { buildTrainStep } from '../graph/train-step.js';
import { readSafetensors, writeSafetensors } from '../runtime/safetensors.js';
import { Trainer } from '../runtime/trainer.js';
import { truncateStepLog } from '../runtime/loop.js';
import { WORDS } from '../world/grammar.js';
import { DEFAULT_DATA, WorldData } from './data.js';
import { MANIFEST_FILE, MANIFEST_FORMAT, T2VManifest } from './manifest.js';
import { DenoiserConfig } from './networks.js';
import { DEFAULT_SCHEDULE } from './schedule.js';
import { T2VConfig, pretrainBatchSpec, pretrainLoss } from './t2v.js';
import { Tokenizer } from './tokenizer.js';

export const MODEL_NAME = 'halo-tiny-t2v';
/** Ids per prompt: the longest two-object prompt of the grammar has 21 words, plus <bos>. */
export const MAX_LENGTH = 24;

export const DENOISERS: Record<string, DenoiserConfig> = {
  dit: { architecture: 'dit', patch: [4, 8, 8], width: 128, depth: 4, heads: 4, mlp: 512 },
  /** the same DiT on 2×8×8 tokens (128 of them): motion within a token spans 2 frames, not 4 */
  'dit-t2': { architecture: 'dit', patch: [2, 8, 8], width: 128, depth: 4, heads: 4, mlp: 512 },
  /** the DiT with fixed sin/cos 3-D token positions instead of learned ones (the shipped weights until 2026-12-07) */
  'dit-sincos': { architecture: 'dit', patch: [4, 8, 8], width: 128, depth: 4, heads: 4, mlp: 512, positions: 'sincos' },
  /** dit-sincos whose blocks also cross-attend to the text encoder's word vectors (the shipped weights, the default) */
  'dit-xattn': { architecture: 'dit', patch: [4, 8, 8], width: 128, depth: 4, heads: 4, mlp: 512, positions: 'sincos', textWords: MAX_LENGTH },
  unet3d: { architecture: 'unet3d', patch: [2, 4, 4], channels: [64, 128], mid: 2, groups: 8 },
};

export function defaultConfig(arch: string, tokenizer: Tokenizer, pooling: 'bos' | 'mean' = 'bos'): T2VConfig {
  const denoiser = DENOISERS[arch];
  if (!denoiser) throw new Error(`unknown architecture '${arch}' (expected ${Object.keys(DENOISERS).join('|')})`);
  const words = denoiser.architecture === 'dit' && denoiser.textWords !== undefined;
  if (words && denoiser.textWords !== tokenizer.maxLength) throw new Error(`${arch}: cross-attends to ${denoiser.textWords} words, the tokenizer makes ${tokenizer.maxLength}`);
  return {
    video: { frames: 16, height: 32, width: 32, fps: 8 },
    text: { vocab: tokenizer.vocabSize, length: tokenizer.maxLength, width: 128, heads: 4, layers: 1, ...(pooling === 'mean' ? { pooling } : {}), ...(words ? { words } : {}) },
    denoiser,
    schedule: DEFAULT_SCHEDULE,
  };
}

export interface PretrainOptions {
  out: string;
  arch: string;
  steps: number;
  batch: number;
  lr: number;
  warmup: number;
  /** LR at the end as a fraction of lr. */
  finalRatio: number;
  /** EMA decay of the weights (kept in ema.safetensors); see `weights`. */
  ema: number;
  /**
   * What the model folder gets: 'raw' (the parameters of the last step; the default) or 'ema' (their
   * exponential moving average). With this budget the EMA lags behind a model that is still improving:
   * the shipped run's raw weights drew one object of the prompt's colour in 80% of held-out samples,
   * its EMA weights in 71% (docs/generator.md).
   */
  weights: 'raw' | 'ema';
  clip: number;
  seed: number;
  /** Wall-clock budget: the LR schedule follows max(step/steps, elapsed/budget) and training stops at the budget. */
  minutes?: number;
  logEvery: number;
  checkpointEvery: number;
  threads: number;
  /** The command line, recorded in the model's provenance. */
  command?: string;
  twoObjects?: number;
  condDrop?: number;
  /**
   * 'frozen' (the default, the shipped weights) keeps the text encoder at its seeded random
   * initialisation, as real text-to-video models keep a pretrained one frozen; 'train' trains it with the
   * denoiser, and it then learns to drop the motion and shape words (docs/generator.md).
   */
  textEncoder: 'train' | 'frozen';
  /** The text encoder's pooling ('mean': the default, the shipped weights; 'bos': TextEncoderConfig.pooling). */
  textPooling: 'bos' | 'mean';
}

export const PRETRAIN_DEFAULTS: Omit<PretrainOptions, 'out'> = {
  arch: 'dit-xattn', steps: 4000, batch: 32, lr: 1e-3, warmup: 200, finalRatio: 0.1, ema: 0.999, weights: 'raw', clip: 1, seed: 0,
  logEvery: 50, checkpointEvery: 250, threads: 2, textEncoder: 'frozen', textPooling: 'mean',
};

export interface PretrainResult {
  modelDir: string;
  steps: number;
  seconds: number;
  finalLoss: number;
}

const yieldToWorker = () => new Promise<void>((r) => setImmediate(r));

export async function pretrain(o: PretrainOptions, log: (line: string) => void): Promise<PretrainResult> {
  await mkdir(o.out, { recursive: true });
  const tokenizer = Tokenizer.fromWords(WORDS, MAX_LENGTH);
  const config = defaultConfig(o.arch, tokenizer, o.textPooling);
  const data = new WorldData(config, tokenizer, o.seed, { twoObjects: o.twoObjects ?? DEFAULT_DATA.twoObjects, condDrop: o.condDrop ?? DEFAULT_DATA.condDrop });
  const step = buildTrainStep({
    batch: pretrainBatchSpec(config, o.batch),
    build: (g, b) => pretrainLoss(g, b, config),
    trainable: o.textEncoder === 'frozen' ? (name) => !name.startsWith('text.') : undefined,
    optimizer: { type: 'adamw', beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.01 },
    noDecay: /(\.bias|\.pos|ln\d?\.weight|tok\.weight)$/,
    clipNorm: o.clip,
    name: `pretrain_${o.arch}`,
  });
  const runConfig = { options: { ...o, command: undefined }, model: config };
  const trainer = await Trainer.create(step, { seed: o.seed, config: runConfig, session: { threads: o.threads } });
  const ckpt = path.join(o.out, 'checkpoint.safetensors');
  const emaFile = path.join(o.out, 'ema.safetensors');
  const logFile = path.join(o.out, 'train.jsonl');
  let ema: Record<string, Tensor>;
  let elapsedBefore = 0;
  let resumedLoss = NaN;
  try {
    if (existsSync(ckpt) && existsSync(emaFile)) {
      const r = await trainer.load(ckpt);
      checkResume(ckpt, r.config, runConfig);
      const e = readSafetensors(emaFile);
      if (Number(e.metadata.step) !== r.step) throw new HaloError(`${emaFile}: EMA is at step ${e.metadata.step}, checkpoint at ${r.step}; delete the run folder to start over`);
      ema = e.tensors;
      elapsedBefore = Number(e.metadata.seconds ?? 0);
      const kept = await truncateStepLog(logFile, r.step);
      resumedLoss = kept.length ? Number(kept[kept.length - 1]!.loss) : NaN;
      log(`resumed from ${ckpt} at step ${r.step}`);
    } else {
      ema = Object.fromEntries(Object.entries(await trainer.getParams()).map(([k, v]) => [k, cloneTensor(v)]));
      await writeFile(logFile, '');
    }
    const nParams = Object.values(ema).reduce((a, t) => a + t.data.length, 0);
    log(`${o.arch}: ${nParams} parameters, batch ${o.batch}, ${o.steps} steps${o.minutes ? ` or ${o.minutes} min` : ''}, provider ${trainer.provider}`);

    const budget = o.minutes ? o.minutes * 60 : Infinity;
    const t0 = performance.now();
    const elapsed = () => elapsedBefore + (performance.now() - t0) / 1000;
    // linear warm-up over steps, then cosine decay to finalRatio·lr over the steps (or over the time budget)
    const lrAt = (s: number) => {
      const warm = Math.min(1, (s + 1) / Math.max(1, o.warmup));
      const p = o.minutes ? Math.max(s / o.steps, elapsed() / budget) : Math.max(0, (s - o.warmup) / Math.max(1, o.steps - o.warmup));
      return o.lr * warm * (o.finalRatio + (1 - o.finalRatio) * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, p))));
    };
    let next = data.batch(trainer.steps, o.batch);
    let lastLoss = resumedLoss;
    let rateStart = trainer.steps;
    const rateT0 = performance.now();
    while (trainer.steps < o.steps && elapsed() < budget) {
      const s = trainer.steps;
      const lr = lrAt(s);
      const pending = trainer.step(next, lr);
      // make the next batch while the worker runs this step
      await yieldToWorker();
      next = data.batch(s + 1, o.batch);
      const r = await pending;
      lastLoss = r.loss;
      const params = await trainer.getParams();
      const d = Math.min(o.ema, (1 + r.step) / (10 + r.step));
      for (const k of Object.keys(ema)) {
        const e = ema[k].data as Float32Array;
        const p = params[k].data as Float32Array;
        for (let i = 0; i < e.length; i++) e[i] = d * e[i] + (1 - d) * p[i];
      }
      await appendFile(logFile, JSON.stringify({ step: r.step, loss: r.loss, mse: r.metrics.mse, grad_norm: r.gradNorm, lr, seconds: +elapsed().toFixed(2) }) + '\n');
      if (r.step % o.logEvery === 0) {
        const rate = (r.step - rateStart) / ((performance.now() - rateT0) / 1000);
        const left = Math.min((o.steps - r.step) / rate, budget - elapsed());
        log(`step ${r.step}/${o.steps} loss ${r.loss.toFixed(4)} mse ${r.metrics.mse.toFixed(4)} |g| ${r.gradNorm.toFixed(2)} lr ${lr.toExponential(2)} ${rate.toFixed(2)} it/s elapsed ${elapsed().toFixed(0)}s left ${left.toFixed(0)}s`);
      }
      if (r.step % o.checkpointEvery === 0) await save(trainer, ckpt, emaFile, ema, r.step, elapsed());
    }
    await save(trainer, ckpt, emaFile, ema, trainer.steps, elapsed());
    const modelDir = path.join(o.out, 'model');
    await exportModel(modelDir, config, tokenizer, o.weights === 'ema' ? ema : await trainer.getParams(), {
      command: o.command ?? '',
      arch: o.arch,
      steps: trainer.steps,
      planned_steps: o.steps,
      batch: o.batch,
      seconds: Math.round(elapsed()),
      seed: o.seed,
      lr: o.lr,
      ema: o.ema,
      weights: o.weights,
      text_encoder: o.textEncoder,
      final_loss: lastLoss,
    });
    log(`done: ${trainer.steps} steps in ${elapsed().toFixed(0)}s; model folder ${modelDir}`);
    return { modelDir, steps: trainer.steps, seconds: elapsed(), finalLoss: lastLoss };
  } finally {
    await trainer.close();
  }
}

async function save(trainer: Trainer, ckpt: string, emaFile: string, ema: Record<string, Tensor>, step: number, seconds: number) {
  writeSafetensors(emaFile, ema, { step: String(step), seconds: seconds.toFixed(2) });
  await trainer.save(ckpt);
}

/** Options that make a different run: resuming a checkpoint under other values would mix two runs. */
const RUN_DEFINING = ['arch', 'batch', 'seed', 'textEncoder', 'textPooling'] as const;

function checkResume(ckpt: string, stored: unknown, now: { options: PretrainOptions; model: T2VConfig }) {
  const s = (stored ?? {}) as { options?: Partial<PretrainOptions>; model?: unknown };
  const differ = RUN_DEFINING.filter((k) => s.options?.[k] !== undefined && s.options[k] !== now.options[k]);
  if (differ.length)
    throw new HaloError(`${ckpt}: this run was started with ${differ.map((k) => `${k} ${String(s.options![k])}`).join(', ')}, not ${differ.map((k) => String(now.options[k])).join(', ')}; use the same options to resume, or another --out`);
  if (s.model !== undefined && JSON.stringify(s.model) !== JSON.stringify(now.model))
    throw new HaloError(`${ckpt}: this run's model config differs from the one these options make; use another --out`);
}

/** Write a model folder: weights.safetensors (text.* and den.* parameters) and manifest.json. */
export async function exportModel(dir: string, config: T2VConfig, tokenizer: Tokenizer, params: Record<string, Tensor>, provenance: Record<string, unknown>) {
  await mkdir(dir, { recursive: true });
  writeSafetensors(path.join(dir, 'weights.safetensors'), params, { format: 'halo-weights/1', model: MODEL_NAME });
  const manifest: T2VManifest = {
    format: MANIFEST_FORMAT,
    kind: 't2v',
    name: MODEL_NAME,
    video: { ...config.video, channels: 3 },
    tokenizer: tokenizer.spec,
    schedule: config.schedule,
    prediction: 'x0',
    weights: 'weights.safetensors',
    text_encoder: { architecture: 'text-transformer', prefix: 'text.', config: { ...config.text } },
    denoiser: { architecture: config.denoiser.architecture, prefix: 'den.', config: { ...config.denoiser } },
    sampler: { name: 'ddim', steps: 25, guidance: 2 },
    provenance,
  };
  await writeFile(path.join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
}
