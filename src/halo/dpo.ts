// halo-dpo's run: Gran-DPO post-training of a generator on pair records. Loads the base model
// folder (built-in or ONNX, dpo-model.ts; policy and frozen reference start from its weights),
// builds the training-step graph
// (src/halo/dpo-graph.ts), trains in the runtime's worker-thread Trainer with step-keyed batches,
// logs one JSON line per step, checkpoints to OUT/checkpoint.safetensors (an interrupted run resumes
// exactly), and writes OUT as a model folder that halo-sample takes with --model (built-in: weights
// .safetensors; ONNX: the ONNX files with their trained weights). With LoRA (built-in models) only
// the adapters train; OUT gets the merged weights and the adapters themselves (adapters.safetensors).
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { HaloError, UsageError } from '../cli/errors.js';
import { GradError } from '../graph/autodiff.js';
import { isLoraParam, loraScale, mergeLora, type LoraConfig } from '../graph/lora.js';
import { numel, type Tensor } from '../graph/tensor.js';
import { ensureDir } from '../io/atomic.js';
import type { ReadOptions } from '../io/jsonl.js';
import type { Device } from '../runtime/ort.js';
import { readSafetensorsMetadata, writeSafetensors } from '../runtime/safetensors.js';
import { parseSchedule } from '../runtime/schedule.js';
import { Trainer } from '../runtime/trainer.js';
import { TrainingStopped, trainLoop, truncateStepLog } from '../runtime/loop.js';
import { DEFAULT_LORA_TARGETS, DPO_METRICS, POLICY, REF, buildDpoStep } from './dpo-graph.js';
import { dpoBatch, loadPairs, type DpoPair } from './dpo-data.js';
import { WEIGHTS, loadDpoModel, type DpoModel } from './dpo-model.js';
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
/** halo-dpo's AdamW (its weight decay is --weight-decay). */
export const DPO_ADAMW = { type: 'adamw', beta1: 0.9, beta2: 0.99, eps: 1e-8 } as const;
export const TRAIN_LOG = 'train-log.jsonl';
export const ADAPTERS = 'adapters.safetensors';

/**
 * The LoRA settings of a run (undefined when off), checked against the model: the targets must be a
 * regular expression that matches at least one of its linear layers.
 */
function loraOf(o: DpoOptions, model: DpoModel): (LoraConfig & { layers: string[] }) | undefined {
  const rank = o.lora?.rank ?? 0;
  if (rank === 0) {
    if (o.lora?.alpha !== undefined) throw new UsageError('--lora-alpha needs --lora RANK');
    return undefined;
  }
  if (!Number.isInteger(rank) || rank < 0) throw new UsageError(`--lora must be a non-negative integer (the adapter rank; 0 = off), got ${rank}`);
  const alpha = o.lora?.alpha ?? rank;
  if (!(alpha > 0)) throw new UsageError(`--lora-alpha must be > 0, got ${alpha}`);
  const all = model.linearLayers();
  if (!all) {
    throw new UsageError(`--lora: ${model.name} is an ONNX generator; LoRA adapts the linear layers of the built-in networks only (train its weights with --train all|denoiser|text)`);
  }
  if (o.train !== 'all') throw new UsageError(`--train ${o.train} selects whole parts; with --lora only the adapters train (pick the layers with --lora-targets)`);
  const source = o.lora?.targets ?? DEFAULT_LORA_TARGETS;
  let targets: RegExp;
  try {
    targets = new RegExp(source);
  } catch (e) {
    throw new UsageError(`--lora-targets: not a regular expression: ${(e as Error).message}`);
  }
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

/** A digest of the training pairs as loaded (prompts, both videos, patch preferences and weights). */
function pairsDigest(pairs: readonly DpoPair[]): string {
  const h = createHash('sha256');
  const bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  for (const p of pairs) {
    h.update(`${p.prompt}\n${p.ids.join(',')}\n`);
    for (const a of [p.win, p.lose, p.pref, p.weight]) h.update(bytes(a));
  }
  return h.digest('hex');
}

/** Why a checkpoint's run config is not this run's: the parts that differ, named. */
function otherRun(saved: string | undefined, now: { pairs: { count: number }; settings: Record<string, unknown> } & Record<string, unknown>): string {
  let old: Record<string, unknown>;
  try {
    old = JSON.parse(saved ?? '');
  } catch {
    return 'this checkpoint has no readable run settings';
  }
  const differs = (a: unknown, b: unknown) => JSON.stringify(a) !== JSON.stringify(b);
  const reasons: string[] = [];
  if (differs(old.base, now.base)) reasons.push('another base model');
  if (differs(old.grid, now.grid) || differs(old.patches, now.patches)) reasons.push('another patch grid');
  if (differs(old.pairs, now.pairs)) reasons.push(`other pairs (${now.pairs.count} pairs now, not the ones it was trained on)`);
  const oldSettings = (old.settings ?? {}) as Record<string, unknown>;
  const changed = [...new Set([...Object.keys(oldSettings), ...Object.keys(now.settings)])].filter((k) => differs(oldSettings[k], now.settings[k]));
  if (changed.length) reasons.push(`other settings (${changed.map((k) => `${k}: ${JSON.stringify(oldSettings[k] ?? null)} then, ${JSON.stringify(now.settings[k] ?? null)} now`).join('; ')})`);
  return `this checkpoint comes from ${reasons.join(' and ') || 'another run'}`;
}

export async function runDpo(o: DpoOptions, emit: (line: Record<string, unknown>) => void, log: (m: string) => void): Promise<{ out: string; steps: number }> {
  if (!(o.steps >= 1)) throw new UsageError('--steps must be at least 1');
  const model = await loadDpoModel(o.model);
  const m = model.manifest;
  const lora = loraOf(o, model);
  const base = model.weights;
  const baseSha = model.sha256;

  const data = await loadPairs(o.inputs, model, model.tokenizer, o.read, o.mode !== 'video');
  const nPatch = data.boxes.length;
  log(`${data.pairs.length} pairs, ${nPatch} patches each; base model ${m.name} (${model.kind}, ${baseSha.slice(0, 12)})`);

  const trainable = o.train === 'all' ? undefined : (name: string) => name.startsWith(o.train === 'denoiser' ? 'den.' : 'text.');
  let step;
  try {
    step = buildDpoStep({
      net: model,
      pairs: o.batch,
      boxes: data.boxes,
      dpo: { beta: o.beta, betaPatch: o.betaPatch, lambda: o.lambda, mode: o.mode },
      optimizer: { ...DPO_ADAMW, weightDecay: o.weightDecay },
      clipNorm: o.clip > 0 ? o.clip : undefined,
      accum: o.accum,
      trainable,
      lora,
    });
  } catch (e) {
    if (e instanceof GradError) throw new HaloError(`${model.source}: cannot train ${m.name} (--train ${o.train}): ${e.message}`);
    throw e;
  }
  const params: Record<string, Tensor> = {};
  for (const p of step.io.params) {
    if (isLoraParam(p.name)) continue; // adapters start from their init rule (A random from --seed, B zeros)
    const bare = p.name.startsWith(POLICY) ? p.name.slice(POLICY.length) : p.name.startsWith(REF) ? p.name.slice(REF.length) : undefined;
    const t = bare === undefined ? undefined : base[bare];
    if (!t) throw new HaloError(`${model.source}: no weight '${bare ?? p.name}' for parameter ${p.name} (the weights do not fit the manifest's config)`);
    params[p.name] = t;
  }
  const baseSize = Object.values(base).reduce((n, t) => n + numel(t.shape), 0);
  const trainableSize = step.io.params.filter((p) => p.trainable).reduce((n, p) => n + numel(p.shape), 0);
  const total = baseSize + (lora ? trainableSize : 0);
  log(
    `trainable parameters: ${count(trainableSize)} of ${count(total)} (${((100 * trainableSize) / total).toFixed(2)}%)` +
      (lora ? `; LoRA rank ${lora.rank}, alpha ${lora.alpha} on ${lora.layers.length} layers (${lora.layers.join(', ')})` : ''),
  );
  const runConfig = {
    base: { name: m.name, sha256: baseSha },
    grid: data.grid,
    patches: nPatch,
    pairs: { count: data.pairs.length, sha256: pairsDigest(data.pairs) },
    settings: settingsOf(o, lora),
  };
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
      if (saved !== configKey) throw new HaloError(`${ckpt}: ${otherRun(saved, runConfig)}; use --force to start over, or another --out`);
      let r;
      try {
        r = await trainer.load(ckpt);
      } catch (e) {
        throw cannot(e);
      }
      await truncateStepLog(logFile, r.step);
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
        batch: (s) => Array.from({ length: o.accum }, (_, k) => dpoBatch(data, model, model.schedule, o.seed, s, k, o.batch)),
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
    await model.save(o.out, weights, {
      name: o.name ?? `${m.name}-${o.mode === 'video' ? 'dpo' : o.mode === 'patch' ? 'patch-dpo' : 'halo'}`,
      provenance: {
        ...(m.provenance ?? {}),
        post_training: {
          method: 'gran-dpo', ...runConfig, pairs: data.pairs.length,
          ...(lora ? { lora: { adapters: ADAPTERS, merged: true, layers: lora.layers, parameters: trainableSize } } : {}),
        },
      },
    });
    return { out: o.out, steps: trainer.steps };
  } finally {
    await trainer.close();
  }
}
