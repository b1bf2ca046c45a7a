// halo-dpo's run: Gran-DPO post-training of a built-in generator on pair records. Loads the base
// model folder (policy and frozen reference start from its weights), builds the training-step graph
// (src/halo/dpo-graph.ts), trains in the runtime's worker-thread Trainer with step-keyed batches,
// logs one JSON line per step, checkpoints to OUT/checkpoint.safetensors (an interrupted run resumes
// exactly), and writes OUT as a model folder that halo-sample takes with --model. With LoRA only the
// adapters train; OUT gets the merged weights and the adapters themselves (adapters.safetensors).
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { HaloError, UsageError } from '../cli/errors.js';
import { isLoraParam, loraScale, mergeLora, type LoraConfig } from '../graph/lora.js';
import { numel, type Tensor } from '../graph/tensor.js';
import { ensureDir, writeFileAtomic } from '../io/atomic.js';
import type { ReadOptions } from '../io/jsonl.js';
import { MANIFEST_FILE, isOnnxPart, loadT2VManifest, type T2VManifest } from '../models/manifest.js';
import type { DenoiserConfig, TextEncoderConfig } from '../models/networks.js';
import { Schedule } from '../models/schedule.js';
import { t2vLinearLayers, type T2VConfig } from '../models/t2v.js';
import { Tokenizer } from '../models/tokenizer.js';
import type { Device } from '../runtime/ort.js';
import { readSafetensors, readSafetensorsMetadata, writeSafetensors } from '../runtime/safetensors.js';
import { parseSchedule } from '../runtime/schedule.js';
import { Trainer } from '../runtime/trainer.js';
import { TrainingStopped, trainLoop } from '../runtime/loop.js';
import { DEFAULT_LORA_TARGETS, DPO_METRICS, POLICY, REF, buildDpoStep } from './dpo-graph.js';
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
  /** LoRA adapters instead of whole parameters: rank (0 = off), α (default: rank), target regex (default DEFAULT_LORA_TARGETS). */
  lora?: { rank: number; alpha?: number; targets?: string };
  seed: number;
  device: Device;
  threads: number;
  checkpointEvery: number;
  force: boolean;
}

export const CHECKPOINT = 'checkpoint.safetensors';
export const TRAIN_LOG = 'train-log.jsonl';
export const WEIGHTS = 'weights.safetensors';
export const ADAPTERS = 'adapters.safetensors';

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

/**
 * The LoRA settings of a run (undefined when off), checked against the model: the targets must be a
 * regular expression that matches at least one of its linear layers.
 */
function loraOf(o: DpoOptions, config: T2VConfig): (LoraConfig & { layers: string[] }) | undefined {
  const rank = o.lora?.rank ?? 0;
  if (rank === 0) {
    if (o.lora?.alpha !== undefined) throw new UsageError('--lora-alpha needs --lora RANK');
    return undefined;
  }
  if (!Number.isInteger(rank) || rank < 0) throw new UsageError(`--lora must be a non-negative integer (the adapter rank; 0 = off), got ${rank}`);
  const alpha = o.lora?.alpha ?? rank;
  if (!(alpha > 0)) throw new UsageError(`--lora-alpha must be > 0, got ${alpha}`);
  if (o.train !== 'all') throw new UsageError(`--train ${o.train} selects whole parts; with --lora only the adapters train (pick the layers with --lora-targets)`);
  const source = o.lora?.targets ?? DEFAULT_LORA_TARGETS;
  let targets: RegExp;
  try {
    targets = new RegExp(source);
  } catch (e) {
    throw new UsageError(`--lora-targets: not a regular expression: ${(e as Error).message}`);
  }
  const all = t2vLinearLayers(config);
  const layers = all.filter((l) => targets.test(l));
  if (!layers.length) throw new UsageError(`--lora-targets /${source}/ matches none of the model's linear layers: ${all.join(', ')}`);
  return { rank, alpha, targets, layers };
}

function settingsOf(o: DpoOptions, lora: LoraConfig | undefined) {
  return {
    steps: o.steps, batch: o.batch, accum: o.accum, lr: o.lr, schedule: o.schedule, beta: o.beta,
    beta_patch: o.betaPatch ?? o.beta, lambda: o.mode === 'video' ? 0 : o.lambda, mode: o.mode, clip: o.clip,
    weight_decay: o.weightDecay, train: o.train, seed: o.seed,
    ...(lora ? { lora: { rank: lora.rank, alpha: lora.alpha, targets: lora.targets.source } } : {}),
  };
}

const count = (n: number) => n.toLocaleString('en-US');

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
  const lora = loraOf(o, config);
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
    lora,
  });
  const params: Record<string, Tensor> = {};
  for (const p of step.io.params) {
    if (isLoraParam(p.name)) continue; // adapters start from their init rule (A random from --seed, B zeros)
    const bare = p.name.startsWith(POLICY) ? p.name.slice(POLICY.length) : p.name.startsWith(REF) ? p.name.slice(REF.length) : undefined;
    const t = bare === undefined ? undefined : base[bare];
    if (!t) throw new HaloError(`${baseWeightsFile}: no weight '${bare ?? p.name}' for parameter ${p.name} (the weights do not fit the manifest's config)`);
    params[p.name] = t;
  }
  const baseSize = Object.values(base).reduce((n, t) => n + numel(t.shape), 0);
  const trainableSize = step.io.params.filter((p) => p.trainable).reduce((n, p) => n + numel(p.shape), 0);
  const total = baseSize + (lora ? trainableSize : 0);
  log(
    `trainable parameters: ${count(trainableSize)} of ${count(total)} (${((100 * trainableSize) / total).toFixed(2)}%)` +
      (lora ? `; LoRA rank ${lora.rank}, alpha ${lora.alpha} on ${lora.layers.length} layers (${lora.layers.join(', ')})` : ''),
  );
  const runConfig = { base: { name: m.name, sha256: baseSha }, grid: data.grid, patches: nPatch, settings: settingsOf(o, lora) };
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
      const cannot = (e: unknown) => new HaloError(`${ckpt}: cannot resume (${(e as Error).message}); use --force to start over`);
      let saved: string | undefined;
      try {
        saved = readSafetensorsMetadata(ckpt).config;
      } catch (e) {
        throw cannot(e);
      }
      // compared before loading: a checkpoint of other settings (e.g. without LoRA) holds other parameters
      if (saved !== configKey) {
        throw new HaloError(`${ckpt}: this checkpoint comes from another base model or other settings (${saved}); use --force to start over, or another --out`);
      }
      let r;
      try {
        r = await trainer.load(ckpt);
      } catch (e) {
        throw cannot(e);
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
    const policy: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(await trainer.getParams())) if (k.startsWith(POLICY)) policy[k.slice(POLICY.length)] = v;
    const adaptersFile = path.join(o.out, ADAPTERS);
    let weights: Record<string, Tensor>;
    if (lora) {
      writeSafetensors(adaptersFile, policy, {
        format: 'halo-lora/1', rank: String(lora.rank), alpha: String(lora.alpha), scale: String(loraScale(lora)),
        targets: lora.targets.source, layers: JSON.stringify(lora.layers), base_model: m.name, base_sha256: baseSha,
      });
      weights = mergeLora(base, policy, lora);
    } else {
      await rm(adaptersFile, { force: true });
      weights = { ...base, ...policy };
    }
    writeSafetensors(path.join(o.out, WEIGHTS), weights, { format: 'halo-weights/1', model: m.name });
    const manifest = {
      ...m,
      name: o.name ?? `${m.name}-${o.mode === 'video' ? 'dpo' : o.mode === 'patch' ? 'patch-dpo' : 'halo'}`,
      weights: WEIGHTS,
      provenance: {
        ...(m.provenance ?? {}),
        post_training: {
          method: 'gran-dpo', ...runConfig, pairs: data.pairs.length,
          ...(lora ? { lora: { adapters: ADAPTERS, merged: true, layers: lora.layers, parameters: trainableSize } } : {}),
        },
      },
    };
    await writeFileAtomic(path.join(o.out, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    return { out: o.out, steps: trainer.steps };
  } finally {
    await trainer.close();
  }
}
