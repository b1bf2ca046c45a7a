// Fitting halo-tiny-rm: stage 1 ('video') on video labels, stage 2 ('patch') from stage 1 on patch
// labels with the video head held to stage 1's outputs (docs/reward-model.md). In: a RewardDataset,
// the architecture (or the stage-1 model), training options. Out: a model folder under `out`
// (manifest.json + weights.safetensors of the best validation step), its JSONL training log
// (train.jsonl), and while training: checkpoint.safetensors + best.safetensors + train-state.json,
// from which an interrupted run resumes.
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { HaloError } from '../cli/errors.js';
import type { GraphBuilder } from '../graph/builder.js';
import type { Value } from '../graph/ir.js';
import { tensor, type Tensor } from '../graph/tensor.js';
import { buildTrainStep, type TensorSpec } from '../graph/train-step.js';
import { ensureDir, sha256, writeFileAtomic } from '../io/atomic.js';
import { spearman, withinStats } from '../halo/agreement.js';
import type { Device } from '../runtime/ort.js';
import { readSafetensors, writeSafetensors } from '../runtime/safetensors.js';
import { Session } from '../runtime/session.js';
import { NonFiniteError, Trainer, type StepResult } from '../runtime/trainer.js';
import { MANIFEST_FILE } from './manifest.js';
import { DEFAULT_LOSS_WEIGHTS, patchCount, stageLoss, type LossWeights, type RewardArch } from './reward-graph.js';
import { splitByPrompt, type RewardDataset, type RewardExample } from './reward-data.js';
import { builtinInference, saveRewardModel, type RewardModel } from './reward-model.js';
import { Tokenizer, type TokenizerSpec } from './tokenizer.js';

export type Stage = 'video' | 'patch';

export interface TrainSettings {
  /** Most optimizer steps (training stops earlier when validation stops improving). */
  steps: number;
  batch: number;
  lr: number;
  /** Linear warm-up steps, then cosine decay to 10% of lr at `steps`. */
  warmup: number;
  weightDecay: number;
  clip: number;
  /** Validate (and checkpoint) every this many steps. */
  evalEvery: number;
  /** Stop after this many validations without a better validation figure (`select`). */
  patience: number;
  /**
   * What picks the kept weights and drives early stopping: the validation loss (default; also
   * when absent), or the validation Spearman of `overall` at the video or the patch level.
   */
  select?: Selection;
  /** Share of prompts held out for validation. */
  valFraction: number;
  seed: number;
  /** Mirror half of each batch (with 'left' ↔ 'right' in the prompt). */
  augment: boolean;
  loss: LossWeights;
}

export const SELECTIONS = ['loss', 'video', 'patch'] as const;
export type Selection = (typeof SELECTIONS)[number];

export const DEFAULT_SETTINGS: TrainSettings = {
  steps: 2000,
  batch: 32,
  lr: 1e-3,
  warmup: 100,
  weightDecay: 0.01,
  clip: 1,
  evalEvery: 100,
  patience: 5,
  valFraction: 0.15,
  seed: 1,
  augment: true,
  loss: DEFAULT_LOSS_WEIGHTS,
};

export interface FitOptions {
  stage: Stage;
  data: RewardDataset;
  out: string;
  /** Stage 'patch': the stage-1 model (required); stage 'video': a model to fine-tune (optional). */
  init?: RewardModel;
  arch: RewardArch;
  tokenizer: TokenizerSpec;
  name: string;
  fps: number;
  settings: TrainSettings;
  force?: boolean;
  device?: Device;
  /** The command line, kept in the model's provenance. */
  command?: string;
  log?: (message: string) => void;
  progress?: (p: FitProgress) => void;
  /** Run the training step in this thread (tests); default: a worker thread. */
  inProcess?: boolean;
}

export interface FitProgress {
  step: number;
  total: number;
  loss: number;
  valLoss?: number;
  bestStep?: number;
}

export interface ValMetrics {
  loss: number;
  parts: Record<string, number>;
  /** Spearman of `overall` against the labels, at video level and over all patches pooled. */
  videoSpearman: number | null;
  patchSpearman: number | null;
  /** Mean over validation prompts of the Spearman of `overall` among the prompt's videos. */
  videoWithin?: number | null;
}

export interface FitResult {
  out: string;
  /** 'fitted' (now), 'resumed' (finished a run that was interrupted), 'skipped' (already fitted with these options). */
  status: 'fitted' | 'resumed' | 'skipped';
  steps: number;
  bestStep: number;
  stoppedEarly: boolean;
  val?: ValMetrics;
  trainVideos: number;
  valVideos: number;
}

const CHECKPOINT = 'checkpoint.safetensors';
const BEST = 'best.safetensors';
const STATE = 'train-state.json';
export const LOG_FILE = 'train.jsonl';

/** Learning rate at step s (1-based): linear warm-up, then cosine from lr to lr/10 at `steps`. */
export function learningRate(s: number, t: TrainSettings): number {
  if (s <= t.warmup) return (t.lr * s) / Math.max(1, t.warmup);
  const u = Math.min(1, (s - t.warmup) / Math.max(1, t.steps - t.warmup));
  return t.lr * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * u)));
}

/** Deterministic batches: epoch e visits the training set in a permutation seeded by (seed, e). */
export function batchIndices(step: number, batch: number, train: readonly number[], seed: number): number[] {
  const n = train.length;
  const out: number[] = [];
  for (let j = 0; j < batch; j++) {
    const pos = (step - 1) * batch + j;
    const epoch = Math.floor(pos / n);
    out.push(train[permutation(n, seed, epoch)[pos % n]!]!);
  }
  return out;
}

/**
 * Deterministic batches of whole prompts (for the within-prompt term): epoch e lists the training
 * prompts in a permutation seeded by (seed, e), each prompt's videos in a permutation of their own, at
 * most `perPrompt` of them, and the batches are consecutive runs of that list.
 */
export function groupedBatchIndices(step: number, batch: number, groups: readonly (readonly number[])[], seed: number, perPrompt = 4): number[] {
  const out: number[] = [];
  const cap = (g: readonly number[]) => Math.min(perPrompt, g.length);
  const perEpoch = groups.reduce((n, g) => n + cap(g), 0);
  for (let j = 0; j < batch; j++) {
    const pos = (step - 1) * batch + j;
    const epoch = Math.floor(pos / perEpoch);
    out.push(epochOrder(groups, seed, epoch, perPrompt)[pos % perEpoch]!);
  }
  return out;
}

const orderCache = new Map<string, number[]>();
function epochOrder(groups: readonly (readonly number[])[], seed: number, epoch: number, perPrompt: number): number[] {
  const key = `${groups.length}:${seed}:${epoch}:${perPrompt}`;
  let order = orderCache.get(key);
  if (!order) {
    order = [];
    for (const gi of permutation(groups.length, seed, epoch)) {
      const g = groups[gi]!;
      const p = permutation(g.length, seed + 7919 * (gi + 1), epoch);
      for (let k = 0; k < Math.min(perPrompt, g.length); k++) order.push(g[p[k]!]!);
    }
    if (orderCache.size > 4) orderCache.clear();
    orderCache.set(key, order);
  }
  return order;
}

const permCache = new Map<string, number[]>();
function permutation(n: number, seed: number, epoch: number): number[] {
  const key = `${n}:${seed}:${epoch}`;
  let p = permCache.get(key);
  if (!p) {
    p = Array.from({ length: n }, (_, i) => i);
    let s = (seed * 2654435761 + epoch * 40503 + 12345) >>> 0;
    const next = () => {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [p[i], p[j]] = [p[j]!, p[i]!];
    }
    if (permCache.size > 4) permCache.clear();
    permCache.set(key, p);
  }
  return p;
}

interface Feeds {
  [name: string]: Tensor;
}

/** The batch tensors of a stage for the examples `idx` (refs: stage-1 video scores per example). */
/**
 * Horizontal flips for augmentation: mirror the frames, the patch columns of the patch targets, and
 * the words 'left' and 'right' of the prompt (the oracle's judgement is mirror-symmetric).
 */
export interface FlipSpec {
  /** Per batch item: flip it. */
  flip: readonly boolean[];
  /** Word ids swapped in a flipped prompt. */
  swap: ReadonlyMap<number, number>;
}

/** Which items of step `step`'s batch are flipped (half on average, deterministic for seed and step). */
export function flipsFor(step: number, batch: number, seed: number): boolean[] {
  return Array.from({ length: batch }, (_, j) => {
    let h = (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(step, 0x85ebca6b) ^ Math.imul(j + 1, 0xc2b2ae35)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
    h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
    return ((h ^ (h >>> 16)) & 1) === 1;
  });
}

export function stageFeeds(stage: Stage, examples: readonly RewardExample[], idx: readonly number[], a: RewardArch, refs?: Float32Array, flips?: FlipSpec, samePrompt = false): Feeds {
  const B = idx.length;
  const K = a.keys.length;
  const N = patchCount(a);
  const per = a.frames * a.height * a.width * 3;
  const video = new Float32Array(B * per);
  const ids = new BigInt64Array(B * a.maxWords);
  const vt = new Float32Array(B * K);
  const vm = new Float32Array(B * K);
  const pt = stage === 'patch' ? new Float32Array(B * N * K) : undefined;
  const pm = stage === 'patch' ? new Float32Array(B * N * K) : undefined;
  const vr = stage === 'patch' ? new Float32Array(B * K) : undefined;
  idx.forEach((e, b) => {
    const ex = examples[e]!;
    const src = ex.video;
    const o = b * per;
    const flip = flips?.flip[b] ?? false;
    if (!flip) for (let i = 0; i < per; i++) video[o + i] = src[i]! / 255;
    else {
      const W = a.width;
      for (let r = 0; r < a.frames * a.height; r++) {
        for (let x = 0; x < W; x++) {
          const si = (r * W + (W - 1 - x)) * 3;
          const di = o + (r * W + x) * 3;
          video[di] = src[si]! / 255;
          video[di + 1] = src[si + 1]! / 255;
          video[di + 2] = src[si + 2]! / 255;
        }
      }
    }
    for (let j = 0; j < a.maxWords; j++) {
      const id = ex.ids[j] ?? 0;
      ids[b * a.maxWords + j] = BigInt(flip ? (flips!.swap.get(id) ?? id) : id);
    }
    for (let k = 0; k < K; k++) {
      const v = ex.videoTarget[k];
      if (typeof v === 'number') {
        vt[b * K + k] = v;
        vm[b * K + k] = 1;
      }
    }
    if (pt && pm && ex.patchTarget) {
      const gw = a.grid[2];
      for (let q = 0; q < N; q++) {
        const from = flip ? q - (q % gw) + (gw - 1 - (q % gw)) : q;
        for (let k = 0; k < K; k++) {
          const v = ex.patchTarget[from]![k];
          if (typeof v === 'number') {
            pt[(b * N + q) * K + k] = v;
            pm[(b * N + q) * K + k] = 1;
          }
        }
      }
    }
    if (vr && refs) vr.set(refs.subarray(e * K, (e + 1) * K), b * K);
  });
  const f: Feeds = {
    video: tensor('float32', [B, a.frames, a.height, a.width, 3], video),
    ids: tensor('int64', [B, a.maxWords], ids),
    video_target: tensor('float32', [B, K], vt),
    video_mask: tensor('float32', [B, K], vm),
  };
  if (pt && pm && vr) {
    f.patch_target = tensor('float32', [B, N, K], pt);
    f.patch_mask = tensor('float32', [B, N, K], pm);
    f.video_ref = tensor('float32', [B, K], vr);
  }
  if (samePrompt) {
    const same = new Float32Array(B * B);
    for (let i = 0; i < B; i++) for (let j = 0; j < B; j++) if (i !== j && examples[idx[i]!]!.prompt === examples[idx[j]!]!.prompt) same[i * B + j] = 1;
    f.same_prompt = tensor('float32', [B, B], same);
  }
  return f;
}

function batchSpecs(stage: Stage, a: RewardArch, B: number, rank: boolean): Record<string, TensorSpec> {
  const K = a.keys.length;
  const N = patchCount(a);
  const s: Record<string, TensorSpec> = {
    video: { dtype: 'float32', shape: [B, a.frames, a.height, a.width, 3] },
    ids: { dtype: 'int64', shape: [B, a.maxWords] },
    video_target: { dtype: 'float32', shape: [B, K] },
    video_mask: { dtype: 'float32', shape: [B, K] },
  };
  if (stage === 'patch') {
    s.patch_target = { dtype: 'float32', shape: [B, N, K] };
    s.patch_mask = { dtype: 'float32', shape: [B, N, K] };
    s.video_ref = { dtype: 'float32', shape: [B, K] };
  }
  if (rank) s.same_prompt = { dtype: 'float32', shape: [B, B] };
  return s;
}

/** The training-step graph of a stage (forward, backward, clipping, AdamW). */
export function rewardTrainStep(stage: Stage, a: RewardArch, s: TrainSettings) {
  return buildTrainStep({
    name: `${stage === 'video' ? 'rm_stage1' : 'rm_stage2'}_step`,
    batch: batchSpecs(stage, a, s.batch, Boolean(s.loss.rank)),
    build: (g: GraphBuilder, b: Record<string, Value>) => {
      const r = stageLoss(
        g,
        { video: b.video!, words: b.ids!, videoTarget: b.video_target!, videoMask: b.video_mask!, patchTarget: b.patch_target, patchMask: b.patch_mask, videoRef: b.video_ref, samePrompt: b.same_prompt },
        a,
        s.batch,
        stage,
        s.loss,
      );
      return { loss: r.loss, metrics: r.parts };
    },
    optimizer: { type: 'adamw', beta1: 0.9, beta2: 0.99, weightDecay: s.weightDecay },
    noDecay: /(\.bias|\.scale|_pos|word_embed|video_token)$/,
    clipNorm: s.clip,
  });
}

/** Score `examples` with given parameters (an inference graph with the parameters as inputs). */
export class ParamScorer {
  private constructor(
    private readonly session: Session,
    private readonly a: RewardArch,
    private readonly batch: number,
  ) {}

  static async create(a: RewardArch, batch: number, device: Device = 'cpu'): Promise<ParamScorer> {
    return new ParamScorer(await Session.create(builtinInference(a, batch), { device }), a, batch);
  }

  /** Video scores [n·K] and patch scores [n·N·K] of the examples, in order. */
  async score(examples: readonly RewardExample[], idx: readonly number[], params: Record<string, Tensor>): Promise<{ video: Float32Array; patch: Float32Array }> {
    const K = this.a.keys.length;
    const N = patchCount(this.a);
    const video = new Float32Array(idx.length * K);
    const patch = new Float32Array(idx.length * N * K);
    for (let s = 0; s < idx.length; s += this.batch) {
      const part = idx.slice(s, s + this.batch);
      const padded = [...part];
      while (padded.length < this.batch) padded.push(part[0]!);
      const f = stageFeeds('video', examples, padded, this.a);
      const r = await this.session.run({ video: f.video!, ids: f.ids!, ...params }, ['video_scores', 'patch_scores']);
      video.set((r.video_scores!.data as Float32Array).subarray(0, part.length * K), s * K);
      patch.set((r.patch_scores!.data as Float32Array).subarray(0, part.length * N * K), s * N * K);
    }
    return { video, patch };
  }

  release() {
    return this.session.release();
  }
}

/** Validation loss (the stage's training loss on held-out prompts) and overall Spearman at both scales. */
export function validationMetrics(stage: Stage, examples: readonly RewardExample[], idx: readonly number[], a: RewardArch, out: { video: Float32Array; patch: Float32Array }, refs: Float32Array | undefined, w: LossWeights): ValMetrics {
  const K = a.keys.length;
  const N = patchCount(a);
  const oi = a.keys.indexOf('overall');
  let vse = 0;
  let vn = 0;
  let pse = 0;
  let pn = 0;
  let dse = 0;
  let tse = 0;
  const vx: number[] = [];
  const vy: number[] = [];
  const px: number[] = [];
  const py: number[] = [];
  idx.forEach((e, i) => {
    const ex = examples[e]!;
    for (let k = 0; k < K; k++) {
      const t = ex.videoTarget[k];
      const p = out.video[i * K + k]!;
      if (typeof t === 'number') {
        vse += (p - t) ** 2;
        vn++;
        if (k === oi) {
          vx.push(p);
          vy.push(t);
        }
      }
      if (refs) {
        dse += (p - refs[e * K + k]!) ** 2;
        let m = 0;
        for (let q = 0; q < N; q++) m += out.patch[(i * N + q) * K + k]!;
        tse += (m / N - refs[e * K + k]!) ** 2;
      }
    }
    if (ex.patchTarget) {
      for (let q = 0; q < N; q++) {
        for (let k = 0; k < K; k++) {
          const t = ex.patchTarget[q]![k];
          if (typeof t !== 'number') continue;
          const p = out.patch[(i * N + q) * K + k]!;
          pse += (p - t) ** 2;
          pn++;
          if (k === oi) {
            px.push(p);
            py.push(t);
          }
        }
      }
    }
  });
  const video = vse / Math.max(1, vn);
  const parts: Record<string, number> = { video };
  let loss = video;
  if (w.rank) {
    // the within-prompt term over all pairs of a prompt's validation videos (i: position in idx)
    const byPrompt = groupByPrompt(
      idx.map((e) => examples[e]!),
      idx.map((_, i) => i),
    );
    let rse = 0;
    let rn = 0;
    for (const members of byPrompt) {
      for (const i of members) {
        for (const j of members) {
          if (i === j) continue;
          for (let k = 0; k < K; k++) {
            const [ti, tj] = [examples[idx[i]!]!.videoTarget[k], examples[idx[j]!]!.videoTarget[k]];
            if (typeof ti !== 'number' || typeof tj !== 'number') continue;
            rse += 0.5 * (out.video[i * K + k]! - ti - (out.video[j * K + k]! - tj)) ** 2;
            rn++;
          }
        }
      }
    }
    parts.rank = rse / Math.max(1, rn);
    loss += w.rank * parts.rank;
  }
  if (stage === 'patch') {
    const patch = pse / Math.max(1, pn);
    const distill = dse / Math.max(1, idx.length * K);
    parts.patch = patch;
    parts.distill = distill;
    loss = patch + w.distill * distill + w.video * video + (w.rank ? w.rank * parts.rank! : 0);
    if (w.tie) {
      parts.tie = tse / Math.max(1, idx.length * K);
      loss += w.tie * parts.tie;
    }
  }
  const groups = vx.length === idx.length ? idx.map((e) => examples[e]!.prompt) : undefined;
  const videoWithin = groups ? withinStats(vx, vy, groups).spearman : null;
  return { loss, parts, videoSpearman: vx.length > 1 ? spearman(vx, vy) : null, patchSpearman: px.length > 1 ? spearman(px, py) : null, videoWithin };
}

/** Stage-2 initial parameters: stage 1's, with the patch head started as a copy of the video head. */
export function patchStageInit(params: Record<string, Tensor>): Record<string, Tensor> {
  const out: Record<string, Tensor> = { ...params };
  for (const [name, t] of Object.entries(params)) {
    if (name.startsWith('rm/video_head') || name.startsWith('video_head')) {
      const target = name.replace('video_head', 'patch_head');
      if (params[target]) out[target] = { ...t, data: t.data.slice() as typeof t.data };
    }
  }
  return out;
}

/** The selection figure of a validation, lower is better (Spearman is negated); null when not measured. */
export function selectionValue(select: Selection | undefined, m: ValMetrics): number | null {
  if (!select || select === 'loss') return m.loss;
  const r = select === 'video' ? m.videoSpearman : m.patchSpearman;
  return r === null || Number.isNaN(r) ? null : -r;
}

interface TrainState {
  step: number;
  /** Best selection value so far (the validation loss, or minus a Spearman; lower is better). */
  bestLoss: number;
  bestStep: number;
  bad: number;
  runKey: string;
}

/** The indices of `idx`, grouped by the examples' prompts (groups in first-seen order). */
function groupByPrompt(examples: readonly RewardExample[], idx: readonly number[]): number[][] {
  const groups = new Map<string, number[]>();
  for (const i of idx) {
    const p = examples[i]!.prompt;
    const g = groups.get(p);
    if (g) g.push(i);
    else groups.set(p, [i]);
  }
  return [...groups.values()];
}

const round = (x: number, d = 5) => Math.round(x * 10 ** d) / 10 ** d;

/** Fit one stage (see the header). */
export async function fitReward(o: FitOptions): Promise<FitResult> {
  const s = o.settings;
  const a = o.arch;
  const log = o.log ?? (() => {});
  const out = path.resolve(o.out);
  const { data } = o;
  if (o.stage === 'patch') {
    if (!o.init) throw new HaloError('stage patch continues from a stage-1 model: pass --init DIR (the folder `fit --stage video` wrote)');
    if (!o.init.params || !o.init.arch) throw new HaloError(`${o.init.dir}: stage patch continues from a built-in ${'halo-tiny-rm'} model; this one is an ONNX network`);
    if (data.withPatches === 0) throw new HaloError('stage patch needs patch labels: none of the labelled videos has labels.patch (label patchified records: halo-patchify | halo-label)');
  }
  const split = splitByPrompt(data.examples, s.valFraction, s.seed);
  if (split.train.length < Math.min(s.batch, 8)) {
    throw new HaloError(`too few labels to fit: ${split.train.length} training videos after holding out ${split.val.length} for validation (need at least ${Math.min(s.batch, 8)})`);
  }
  if (s.select === 'patch' && o.stage !== 'patch') throw new HaloError('--select patch needs --stage patch (stage video has no patch scores to validate)');
  // select 'loss' is the default and leaves the run key as it was before `select` existed
  // and so does rank 0 (the within-prompt term off)
  const keySettings = { ...s, select: s.select === 'loss' ? undefined : s.select, loss: s.loss.rank ? s.loss : { ...s.loss, rank: undefined } };
  const runKey = sha256(JSON.stringify({ stage: o.stage, arch: a, settings: keySettings, data: data.hash, init: o.init?.id ?? null, tokenizer: o.tokenizer }));
  const manifestFile = path.join(out, MANIFEST_FILE);
  const resultOf = (status: FitResult['status'], m: Record<string, any>): FitResult => ({
    out,
    status,
    steps: m.steps,
    bestStep: m.best_step,
    stoppedEarly: m.stopped_early,
    val: m.validation,
    trainVideos: split.train.length,
    valVideos: split.val.length,
  });
  if (!o.force && existsSync(manifestFile)) {
    const m = JSON.parse(await readFile(manifestFile, 'utf8')) as { provenance?: { run_key?: string; training?: Record<string, any> } };
    if (m.provenance?.run_key === runKey) {
      log(`${out}: already fitted with these labels and options (use --force to fit again)`);
      return resultOf('skipped', m.provenance.training ?? {});
    }
    throw new HaloError(`${out}: holds a model fitted from other labels or options; use --force to replace it, or another --out`);
  }
  await ensureDir(out);
  const stateFile = path.join(out, STATE);
  const ckptFile = path.join(out, CHECKPOINT);
  const bestFile = path.join(out, BEST);
  const logFile = path.join(out, LOG_FILE);
  let state: TrainState = { step: 0, bestLoss: Infinity, bestStep: 0, bad: 0, runKey };
  let resumed = false;
  if (!o.force && existsSync(stateFile) && existsSync(ckptFile)) {
    const saved = JSON.parse(await readFile(stateFile, 'utf8')) as TrainState;
    if (saved.runKey !== runKey) throw new HaloError(`${out}: holds an unfinished run with other labels or options; use --force to start over, or another --out`);
    state = { ...saved, bestLoss: saved.bestLoss ?? Infinity };
    resumed = true;
  } else {
    for (const f of [stateFile, ckptFile, bestFile, logFile, manifestFile]) await rm(f, { force: true });
  }

  // Stage-1 outputs for every example: the distillation targets of stage 2.
  const K = a.keys.length;
  let refs: Float32Array | undefined;
  let initParams = o.init?.params;
  if (o.stage === 'patch') {
    const scorer = await ParamScorer.create(a, 32, o.device);
    refs = (await scorer.score(data.examples, data.examples.map((_, i) => i), o.init!.params!)).video;
    await scorer.release();
    initParams = patchStageInit(o.init!.params!);
  }

  const selectName = !s.select || s.select === 'loss' ? 'loss' : `${s.select} Spearman`;
  const step = rewardTrainStep(o.stage, a, s);
  const trainer = await Trainer.create(step, { params: initParams, seed: s.seed, config: { runKey }, session: { device: o.device ?? 'cpu' }, inProcess: o.inProcess });
  const valScorer = await ParamScorer.create(a, 32, o.device);
  let logLines: string[] = [];
  try {
    if (resumed) {
      const r = await trainer.load(ckptFile);
      state.step = r.step;
      const old = existsSync(logFile) ? (await readFile(logFile, 'utf8')).split('\n').filter(Boolean) : [];
      logLines = old.filter((l) => (JSON.parse(l) as { step: number }).step <= r.step);
      log(`${out}: resuming at step ${r.step} (best validation ${selectName} ${round(Math.abs(state.bestLoss))} at step ${state.bestStep})`);
    } else {
      log(`${out}: stage ${o.stage}: ${split.train.length} training videos, ${split.val.length} validation videos (${split.valPrompts.length} held-out prompts), up to ${s.steps} steps of ${s.batch}`);
    }
    await writeFile(logFile, logLines.map((l) => `${l}\n`).join(''));
    const appendLog = async (rec: Record<string, unknown>) => {
      const line = JSON.stringify(rec);
      logLines.push(line);
      await writeFile(logFile, `${line}\n`, { flag: 'a' });
    };
    let last: ValMetrics | undefined;
    let stoppedEarly = false;
    const tok = new Tokenizer(o.tokenizer);
    const swap = new Map<number, number>();
    const [left, right] = [tok.ids.get('left'), tok.ids.get('right')];
    if (left !== undefined && right !== undefined) {
      swap.set(left, right);
      swap.set(right, left);
    }
    const rank = Boolean(s.loss.rank);
    const promptGroups = rank ? groupByPrompt(data.examples, split.train) : [];
    if (rank && promptGroups.every((g) => g.length < 2)) log(`${out}: warning: no training prompt has two videos, so the within-prompt term (--rank) is always zero`);
    const feedsFor = (stepNo: number) =>
      stageFeeds(
        o.stage,
        data.examples,
        rank ? groupedBatchIndices(stepNo, s.batch, promptGroups, s.seed) : batchIndices(stepNo, s.batch, split.train, s.seed),
        a,
        refs,
        s.augment ? { flip: flipsFor(stepNo, s.batch, s.seed), swap } : undefined,
        rank,
      );
    let nextFeeds = feedsFor(state.step + 1);
    let lossAvg = 0;
    let seen = 0;
    const t0 = performance.now();
    while (state.step < s.steps) {
      const stepNo = state.step + 1;
      const lr = learningRate(stepNo, s);
      const pending = trainer.step(nextFeeds, lr);
      // Prepare the next batch while the worker runs this step.
      if (stepNo < s.steps) nextFeeds = feedsFor(stepNo + 1);
      let r: StepResult;
      try {
        r = await pending;
      } catch (e) {
        if (e instanceof NonFiniteError) throw new HaloError(`training diverged: ${e.message}; try a lower --lr`);
        throw e;
      }
      state.step = r.step;
      lossAvg += r.loss;
      seen++;
      const rec: Record<string, unknown> = { stage: o.stage, step: r.step, loss: round(r.loss), lr: round(lr, 8), grad_norm: round(r.gradNorm, 4), seconds: round(r.seconds, 4) };
      for (const [k, v] of Object.entries(r.metrics)) rec[`loss_${k}`] = round(v);
      const evalNow = r.step % s.evalEvery === 0 || r.step === s.steps;
      if (evalNow) {
        const params = await trainer.getParams();
        const scored = await valScorer.score(data.examples, split.val, params);
        last = validationMetrics(o.stage, data.examples, split.val, a, scored, refs?.subarray(0), s.loss);
        rec.val_loss = round(last.loss);
        for (const [k, v] of Object.entries(last.parts)) rec[`val_${k}`] = round(v);
        rec.val_video_spearman = last.videoSpearman === null ? null : round(last.videoSpearman, 4);
        rec.val_video_within = last.videoWithin === null || last.videoWithin === undefined ? null : round(last.videoWithin, 4);
        if (o.stage === 'patch') rec.val_patch_spearman = last.patchSpearman === null ? null : round(last.patchSpearman, 4);
        rec.train_loss_avg = round(lossAvg / Math.max(1, seen));
        rec.elapsed = round((performance.now() - t0) / 1000, 2);
        lossAvg = 0;
        seen = 0;
        // a Spearman that could not be measured (constant scores) ranks below any measured one
        const value = selectionValue(s.select, last) ?? Number.MAX_VALUE;
        if (value < state.bestLoss) {
          state.bestLoss = value;
          state.bestStep = r.step;
          state.bad = 0;
          writeSafetensors(bestFile, params, { step: String(r.step), val_loss: String(last.loss), metrics: JSON.stringify(last) });
          rec.best = true;
        } else state.bad++;
        await trainer.save(ckptFile);
        await writeFileAtomic(stateFile, JSON.stringify(state));
      }
      await appendLog(rec);
      o.progress?.({ step: r.step, total: s.steps, loss: r.loss, valLoss: evalNow ? last?.loss : undefined, bestStep: state.bestStep });
      if (evalNow && state.bad >= s.patience) {
        stoppedEarly = true;
        log(`${out}: validation ${selectName} has not improved for ${s.patience} validations; stopping at step ${r.step} (best: step ${state.bestStep})`);
        break;
      }
    }
    if (!existsSync(bestFile)) throw new HaloError(`${out}: no validation was run (steps ${s.steps} < --eval-every ${s.evalEvery}?)`);
    const best = readSafetensors(bestFile);
    const bestMetrics = JSON.parse(best.metadata.metrics ?? 'null') as ValMetrics | null;
    const training = {
      stage: o.stage,
      steps: state.step,
      best_step: state.bestStep,
      stopped_early: stoppedEarly,
      validation: bestMetrics ?? undefined,
      videos: { train: split.train.length, validation: split.val.length, with_patch_labels: data.withPatches },
      validation_prompts: split.valPrompts,
      settings: s,
      data_sha256: data.hash,
      init: o.init?.id ?? null,
    };
    await saveRewardModel({
      dir: out,
      name: o.name,
      arch: a,
      tokenizer: o.tokenizer,
      params: best.tensors,
      stage: o.stage,
      fps: o.fps,
      provenance: { command: o.command, run_key: runKey, training, created: new Date().toISOString() },
    });
    for (const f of [stateFile, ckptFile, bestFile]) await rm(f, { force: true });
    return resultOf(resumed ? 'resumed' : 'fitted', training);
  } finally {
    await valScorer.release();
    await trainer.close();
  }
}
