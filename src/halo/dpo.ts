// halo-dpo's run: Gran-DPO post-training of a built-in generator on pair records. Loads the base
// model folder (policy and frozen reference start from its weights), builds the training-step graph
// (src/halo/dpo-graph.ts), trains in the runtime's worker-thread Trainer with step-keyed batches,
// logs one JSON line per step, checkpoints to OUT/checkpoint.safetensors (an interrupted run resumes
// exactly), and writes OUT as a model folder that halo-sample takes with --model.
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { HaloError, UsageError } from '../cli/errors.js';
import type { Tensor } from '../graph/tensor.js';
import { ensureDir, writeFileAtomic } from '../io/atomic.js';
import type { ReadOptions } from '../io/jsonl.js';
import { MANIFEST_FILE, isOnnxPart, loadT2VManifest, type T2VManifest } from '../models/manifest.js';
import type { DenoiserConfig, TextEncoderConfig } from '../models/networks.js';
import { Schedule } from '../models/schedule.js';
import type { T2VConfig } from '../models/t2v.js';
import { Tokenizer } from '../models/tokenizer.js';
import type { Device } from '../runtime/ort.js';
import { readSafetensors, writeSafetensors } from '../runtime/safetensors.js';
import { parseSchedule } from '../runtime/schedule.js';
import { Trainer } from '../runtime/trainer.js';
import { TrainingStopped, trainLoop } from '../runtime/loop.js';
import { DPO_METRICS, POLICY, REF, buildDpoStep } from './dpo-graph.js';
import { dpoBatch, loadPairs } from './dpo-data.js';
import type { DpoMode } from './grandpo.js';

export interface DpoOptions {
  inputs: string[];
  read: ReadOptions;
  model: string;
  out: string;
  name?: string;
  steps: number;
  /** Pairs per micro-batch. */
  batch: number;
  accum: number;
  lr: number;
  /** constant | warmup:N | cosine:N[:final] (runtime/schedule.ts). */
  schedule: string;
  beta: number;
  betaPatch?: number;
  lambda: number;
  mode: DpoMode;
  clip: number;
  weightDecay: number;
  /** 'all' | 'denoiser' | 'text': which policy parameters train. */
  train: 'all' | 'denoiser' | 'text';
  seed: number;
  device: Device;
  threads: number;
  checkpointEvery: number;
  force: boolean;
}

export const CHECKPOINT = 'checkpoint.safetensors';
export const TRAIN_LOG = 'train-log.jsonl';
export const WEIGHTS = 'weights.safetensors';

/** The built-in config of a t2v model folder; ONNX generators cannot be post-trained here. */
export function builtinConfig(m: T2VManifest, file: string): T2VConfig {
  if (isOnnxPart(m.text_encoder) || isOnnxPart(m.denoiser)) {
    throw new HaloError(`${file}: halo-dpo trains the built-in networks (weights in safetensors); this folder holds ONNX files, which it cannot post-train yet`);
  }
  if (!m.weights) throw new HaloError(`${file}: weights: missing (a built-in model folder names its safetensors file)`);
  for (const [part, prefix] of [[m.text_encoder, 'text.'], [m.denoiser, 'den.']] as const) {
    if ((part.prefix ?? prefix) !== prefix) throw new HaloError(`${file}: parameter prefix '${String(part.prefix)}' is not supported (expected '${prefix}')`);
  }
  return {
    video: { frames: m.video.frames, height: m.video.height, width: m.video.width, fps: m.video.fps },
    text: m.text_encoder.config as unknown as TextEncoderConfig,
    denoiser: m.denoiser.config as unknown as DenoiserConfig,
    schedule: m.schedule,
  };
}

function settingsOf(o: DpoOptions) {
  return {
    steps: o.steps, batch: o.batch, accum: o.accum, lr: o.lr, schedule: o.schedule, beta: o.beta,
    beta_patch: o.betaPatch ?? o.beta, lambda: o.mode === 'video' ? 0 : o.lambda, mode: o.mode, clip: o.clip,
    weight_decay: o.weightDecay, train: o.train, seed: o.seed,
  };
}

async function sha256File(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

/** Keep the log lines of steps ≤ `step` (after resuming from a checkpoint at `step`). */
async function truncateLog(file: string, step: number): Promise<void> {
  if (!existsSync(file)) return;
  const keep = (await readFile(file, 'utf8')).split('\n').filter((l) => l.trim() && JSON.parse(l).step <= step);
  await writeFileAtomic(file, keep.map((l) => `${l}\n`).join(''));
}

export async function runDpo(o: DpoOptions, emit: (line: Record<string, unknown>) => void, log: (m: string) => void): Promise<{ out: string; steps: number }> {
  if (!(o.steps >= 1)) throw new UsageError('--steps must be at least 1');
  const loaded = await loadT2VManifest(o.model);
  const m = loaded.manifest;
  const config = builtinConfig(m, loaded.file);
  const tokenizer = new Tokenizer(m.tokenizer);
  const schedule = new Schedule(m.schedule);
  const baseWeightsFile = path.resolve(loaded.dir, m.weights!);
  const base = readSafetensors(baseWeightsFile).tensors;
  const baseSha = await sha256File(baseWeightsFile);

  const data = await loadPairs(o.inputs, config, tokenizer, o.read, o.mode !== 'video');
  const nPatch = data.boxes.length;
  log(`${data.pairs.length} pairs, ${nPatch} patches each; base model ${m.name} (${baseSha.slice(0, 12)})`);

  const trainable = o.train === 'all' ? undefined : (name: string) => name.startsWith(o.train === 'denoiser' ? 'den.' : 'text.');
  const step = buildDpoStep({
    config,
    pairs: o.batch,
    boxes: data.boxes,
    dpo: { beta: o.beta, betaPatch: o.betaPatch, lambda: o.lambda, mode: o.mode },
    optimizer: { type: 'adamw', beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: o.weightDecay },
    clipNorm: o.clip > 0 ? o.clip : undefined,
    accum: o.accum,
    trainable,
  });
  const params: Record<string, Tensor> = {};
  for (const p of step.io.params) {
    const bare = p.name.startsWith(POLICY) ? p.name.slice(POLICY.length) : p.name.startsWith(REF) ? p.name.slice(REF.length) : undefined;
    const t = bare === undefined ? undefined : base[bare];
    if (!t) throw new HaloError(`${baseWeightsFile}: no weight '${bare ?? p.name}' for parameter ${p.name} (the weights do not fit the manifest's config)`);
    params[p.name] = t;
  }
  const runConfig = { base: { name: m.name, sha256: baseSha }, grid: data.grid, patches: nPatch, settings: settingsOf(o) };
  const configKey = JSON.stringify(runConfig);

  await ensureDir(o.out);
  const ckpt = path.join(o.out, CHECKPOINT);
  const logFile = path.join(o.out, TRAIN_LOG);
  if (o.force) {
    await rm(ckpt, { force: true });
    await rm(logFile, { force: true });
  }
  const trainer = await Trainer.create(step, { params, seed: o.seed, config: runConfig, session: { device: o.device, threads: o.threads } });
  try {
    if (existsSync(ckpt)) {
      let r;
      try {
        r = await trainer.load(ckpt);
      } catch (e) {
        throw new HaloError(`${ckpt}: cannot resume (${(e as Error).message}); use --force to start over`);
      }
      if (JSON.stringify(r.config) !== configKey) {
        throw new HaloError(`${ckpt}: this checkpoint comes from another base model or other settings (${JSON.stringify(r.config)}); use --force to start over, or another --out`);
      }
      await truncateLog(logFile, r.step);
      log(`resuming from ${ckpt} at step ${r.step}`);
    } else {
      await rm(logFile, { force: true });
    }
    const t0 = performance.now();
    let last = performance.now();
    const lrOf = parseSchedule(o.schedule, o.lr, o.steps);
    try {
      await trainLoop({
        trainer,
        steps: o.steps,
        lr: lrOf,
        batch: (s) => Array.from({ length: o.accum }, (_, k) => dpoBatch(data, config, schedule, o.seed, s, k, o.batch)),
        checkpoint: { path: ckpt, every: o.checkpointEvery },
        onStep: (r) => {
          const now = performance.now();
          const line: Record<string, unknown> = { step: r.step, loss: r.loss };
          for (const k of DPO_METRICS) line[k] = r.metrics[k];
          Object.assign(line, { grad_norm: r.gradNorm, lr: r.lr, seconds: (now - last) / 1000, elapsed: (now - t0) / 1000 });
          last = now;
          appendFileSync(logFile, `${JSON.stringify(line)}\n`);
          emit(line);
        },
        log: { every: Math.max(1, Math.round(o.steps / 20)), write: (l) => log(l) },
      });
    } catch (e) {
      if (e instanceof TrainingStopped) throw new HaloError(e.message);
      throw e;
    }
    const trained = await trainer.getParams();
    const weights: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(trained)) if (k.startsWith(POLICY)) weights[k.slice(POLICY.length)] = v;
    for (const [k, v] of Object.entries(base)) if (!(k in weights)) weights[k] = v;
    writeSafetensors(path.join(o.out, WEIGHTS), weights, { format: 'halo-weights/1', model: m.name });
    const manifest = {
      ...m,
      name: o.name ?? `${m.name}-${o.mode === 'video' ? 'dpo' : o.mode === 'patch' ? 'patch-dpo' : 'halo'}`,
      weights: WEIGHTS,
      provenance: { ...(m.provenance ?? {}), post_training: { method: 'gran-dpo', ...runConfig, pairs: data.pairs.length } },
    };
    await writeFileAtomic(path.join(o.out, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    return { out: o.out, steps: trainer.steps };
  } finally {
    await trainer.close();
  }
}
