// Reward models at run time: load a model folder (the built-in halo-tiny-rm or any ONNX reward
// network with a manifest), score videos at video and patch level, and save a trained model folder.
// In: a folder path (manifest.json + weights.safetensors or an ONNX file), videos (files or bytes
// already at the model's shape) with their prompts. Out: per video, scores per key (1–4) for the
// video and for every patch of the model's grid (docs/reward-model.md).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HaloError } from '../cli/errors.js';
import type { GraphBuilder } from '../graph/builder.js';
import type { Value } from '../graph/ir.js';
import { bakeParams } from '../graph/bake.js';
import { tensor, type Tensor } from '../graph/tensor.js';
import { buildInference } from '../graph/train-step.js';
import { sha256 } from '../io/atomic.js';
import type { Device } from '../runtime/ort.js';
import { readSafetensors, writeSafetensors } from '../runtime/safetensors.js';
import { Session } from '../runtime/session.js';
import { writeFileAtomic } from '../io/atomic.js';
import { MANIFEST_FILE, MANIFEST_FORMAT } from './manifest.js';
import { checkArch, patchCount, rewardForward, type RewardArch } from './reward-graph.js';
import { bytesToUnit, loadModelVideos, promptIds, type ModelVideo } from './reward-input.js';
import { loadRewardManifest, type RewardSpec } from './reward-manifest.js';
import { Tokenizer, type TokenizerSpec } from './tokenizer.js';
import type { OnnxPart } from './manifest.js';

export const ARCHITECTURE = 'halo-tiny-rm';
export const WEIGHTS_FILE = 'weights.safetensors';
export const WEIGHTS_FORMAT = 'halo-weights/1';
/** The shipped model (fixtures/models/halo-tiny-rm), the default of halo-score --model. */
export const BUILTIN_MODEL_DIR = fileURLToPath(new URL('../../../fixtures/models/halo-tiny-rm', import.meta.url));

export interface RewardModel {
  dir: string;
  name: string;
  /** `name@<first 12 hex of the weights' sha256>`: what score records carry as `scores.model`. */
  id: string;
  keys: string[];
  grid: [number, number, number];
  /** Frames, height, width, fps the network takes. */
  shape: { frames: number; height: number; width: number; fps: number };
  tokenizer: Tokenizer;
  stage: 'video' | 'patch';
  /** Built-in models: architecture and parameters (for fine-tuning and export). */
  arch?: RewardArch;
  params?: Record<string, Tensor>;
  provider: string;
  /** Score `n` prepared inputs: video float32 [n·T·H·W·3] in [0, 1], ids int64 [n·L]. */
  run(video: Float32Array, ids: BigInt64Array, n: number): Promise<{ video: Float32Array; patch: Float32Array }>;
  release(): Promise<void>;
}

export interface LoadOptions {
  device?: Device;
  /** Videos per network call (the built-in network is built for this batch; default 16). */
  batch?: number;
  threads?: number;
}

/** Inputs and outputs of the built-in network's inference graph. */
export function builtinInference(arch: RewardArch, batch: number) {
  return buildInference({
    name: ARCHITECTURE,
    inputs: {
      video: { dtype: 'float32', shape: [batch, arch.frames, arch.height, arch.width, 3] },
      ids: { dtype: 'int64', shape: [batch, arch.maxWords] },
    },
    build: (g: GraphBuilder, x: Record<string, Value>) => {
      const out = rewardForward(g, x.video!, x.ids!, arch, batch);
      return { video_scores: out.video, patch_scores: out.patch };
    },
  });
}

/** Read a weights file (params by name), naming the file on failure. */
export function readWeights(file: string): Record<string, Tensor> {
  try {
    return readSafetensors(file).tensors;
  } catch (e) {
    throw new HaloError(`${file}: cannot read the weights (${(e as Error).message})`);
  }
}

function archOf(spec: RewardSpec, file: string, tokenizer: Tokenizer, video: { frames: number; height: number; width: number }): RewardArch {
  const net = spec.network as { architecture: string; config: Record<string, unknown> };
  if (net.architecture !== ARCHITECTURE) throw new HaloError(`${file}: reward.network.architecture: expected '${ARCHITECTURE}' (or an ONNX network with 'file'), got '${net.architecture}'`);
  const c = net.config;
  const arch: RewardArch = {
    frames: video.frames,
    height: video.height,
    width: video.width,
    grid: spec.grid,
    dim: Number(c.dim),
    depth: Number(c.depth),
    heads: Number(c.heads),
    mlp: Number(c.mlp),
    embedHidden: c.embed_hidden === undefined ? 0 : Number(c.embed_hidden),
    vocab: tokenizer.vocabSize,
    maxWords: tokenizer.maxLength,
    keys: spec.keys,
  };
  try {
    checkArch(arch);
  } catch (e) {
    throw new HaloError(`${file}: reward.network.config: ${(e as Error).message}`);
  }
  return arch;
}

/** Load a reward model folder (DESIGN.md §5; manifest fields in src/models/reward-manifest.ts). */
export async function loadRewardModel(dir: string, o: LoadOptions = {}): Promise<RewardModel> {
  const loaded = await loadRewardManifest(dir);
  const { manifest: m, reward: spec } = loaded;
  const tokenizer = new Tokenizer(m.tokenizer as TokenizerSpec);
  const shape = { frames: m.video.frames, height: m.video.height, width: m.video.width, fps: m.video.fps };
  const n = patchCount({ grid: spec.grid } as RewardArch);
  const batch = o.batch ?? 16;
  const sessionOpts = { device: o.device ?? 'cpu', threads: o.threads };
  if ('file' in spec.network) {
    const net = spec.network as OnnxPart;
    const file = path.resolve(loaded.dir, net.file);
    const bytes = await readFile(file);
    let session: Session;
    try {
      session = await Session.create(new Uint8Array(bytes), sessionOpts);
    } catch (e) {
      throw new HaloError(`${file}: cannot load the ONNX reward network (${(e as Error).message.split('\n')[0]})`);
    }
    const fixed = net.inputs.video!.shape[0];
    const runBatch = typeof fixed === 'number' ? fixed : batch;
    const names = { video: net.inputs.video!.name, ids: net.inputs.ids!.name, outVideo: net.outputs.video!.name, outPatch: net.outputs.patch!.name };
    return makeModel({ dir: loaded.dir, name: m.name, id: `${m.name}@${sha256(bytes).slice(0, 12)}`, keys: spec.keys, grid: spec.grid, shape, tokenizer, stage: spec.stage, provider: session.provider, n, runBatch, padToBatch: typeof fixed === 'number', session, names });
  }
  const weightsFile = path.resolve(loaded.dir, m.weights!);
  const arch = archOf(spec, loaded.file, tokenizer, shape);
  const params = readWeights(weightsFile);
  const graph = builtinInference(arch, batch);
  for (const p of graph.params.values()) {
    const t = params[p.name];
    if (!t) throw new HaloError(`${weightsFile}: no tensor '${p.name}' (the weights do not match the manifest's network config)`);
    if (t.shape.join() !== p.shape.join()) throw new HaloError(`${weightsFile}: tensor '${p.name}' is [${t.shape}], the network config needs [${p.shape}]`);
  }
  const session = await Session.create(bakeParams(graph, params), sessionOpts);
  const bytes = await readFile(weightsFile);
  const names = { video: 'video', ids: 'ids', outVideo: 'video_scores', outPatch: 'patch_scores' };
  return makeModel({ dir: loaded.dir, name: m.name, id: `${m.name}@${sha256(bytes).slice(0, 12)}`, keys: spec.keys, grid: spec.grid, shape, tokenizer, stage: spec.stage, provider: session.provider, n, runBatch: batch, padToBatch: true, session, names, arch, params });
}

interface MakeArgs {
  dir: string;
  name: string;
  id: string;
  keys: string[];
  grid: [number, number, number];
  shape: RewardModel['shape'];
  tokenizer: Tokenizer;
  stage: 'video' | 'patch';
  provider: string;
  n: number;
  runBatch: number;
  padToBatch: boolean;
  session: Session;
  names: { video: string; ids: string; outVideo: string; outPatch: string };
  arch?: RewardArch;
  params?: Record<string, Tensor>;
}

function makeModel(a: MakeArgs): RewardModel {
  const { frames, height, width } = a.shape;
  const per = frames * height * width * 3;
  const L = a.tokenizer.maxLength;
  const K = a.keys.length;
  const run = async (video: Float32Array, ids: BigInt64Array, n: number) => {
    const outV = new Float32Array(n * K);
    const outP = new Float32Array(n * a.n * K);
    for (let s = 0; s < n; s += a.runBatch) {
      const m = Math.min(a.runBatch, n - s);
      const b = a.padToBatch ? a.runBatch : m;
      const v = new Float32Array(b * per);
      v.set(video.subarray(s * per, (s + m) * per));
      const t = new BigInt64Array(b * L);
      t.set(ids.subarray(s * L, (s + m) * L));
      const r = await a.session.run({ [a.names.video]: tensor('float32', [b, frames, height, width, 3], v), [a.names.ids]: tensor('int64', [b, L], t) }, [a.names.outVideo, a.names.outPatch]);
      const rv = r[a.names.outVideo]!;
      const rp = r[a.names.outPatch]!;
      if (rv.data.length !== b * K || rp.data.length !== b * a.n * K) {
        throw new HaloError(`${a.dir}: the reward network gave outputs of shape [${rv.shape}] and [${rp.shape}], expected [${b},${K}] and [${b},${a.n},${K}]`);
      }
      outV.set((rv.data as Float32Array).subarray(0, m * K), s * K);
      outP.set((rp.data as Float32Array).subarray(0, m * a.n * K), s * a.n * K);
    }
    return { video: outV, patch: outP };
  };
  return {
    dir: a.dir,
    name: a.name,
    id: a.id,
    keys: a.keys,
    grid: a.grid,
    shape: a.shape,
    tokenizer: a.tokenizer,
    stage: a.stage,
    arch: a.arch,
    params: a.params,
    provider: a.provider,
    run,
    release: () => a.session.release(),
  };
}

/** A video to score: a file (resampled to the model's shape) or bytes already at that shape. */
export interface ScoreItem {
  video: string | ModelVideo;
  prompt: string;
}

export interface VideoScores {
  /** Score per key for the whole video. */
  video: Record<string, number>;
  /** Scores per key for each patch of the model's grid, in patch order. */
  patch: Record<string, number[]>;
  /** How the video was resampled to fit the model (absent when it fitted). */
  resampled?: string;
  /** Prompt words the model could not use (outside its vocabulary, or past its length). */
  unknownWords?: string[];
}

const round = (x: number) => Math.round(x * 1e4) / 1e4;

/** Score videos with their prompts (in-process API; halo-eval and halo-score use it). */
export async function scoreVideos(model: RewardModel, items: readonly ScoreItem[]): Promise<VideoScores[]> {
  const { frames, height, width } = model.shape;
  const per = frames * height * width * 3;
  const L = model.tokenizer.maxLength;
  const K = model.keys.length;
  const N = model.grid[0] * model.grid[1] * model.grid[2];
  const video = new Float32Array(items.length * per);
  const ids = new BigInt64Array(items.length * L);
  const notes: { resampled?: string; unknown: string[] }[] = [];
  // Files are decoded 8 to an ffmpeg process.
  const files = items.flatMap((it, i) => (typeof it.video === 'string' ? [[i, it.video] as const] : []));
  const decoded = new Map<number, ModelVideo>();
  for (let s = 0; s < files.length; s += 8) {
    const part = files.slice(s, s + 8);
    const r = await loadModelVideos(part.map(([, f]) => f), model.shape);
    r.forEach((x, j) => {
      if (x.status === 'rejected') throw x.reason;
      decoded.set(part[j]![0], x.value);
    });
  }
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    const mv = typeof it.video === 'string' ? decoded.get(i)! : it.video;
    if (mv.data.length !== per) throw new HaloError(`scoreVideos: item ${i} has ${mv.data.length} bytes, the model takes ${frames}×${height}×${width}×3`);
    bytesToUnit(mv.data, video, i * per);
    const p = promptIds(model.tokenizer, it.prompt);
    for (let j = 0; j < L; j++) ids[i * L + j] = BigInt(p.ids[j]!);
    const unknown = [...p.unknown];
    if (p.dropped) unknown.push(`(${p.dropped} words past the model's ${L - 1})`);
    notes.push({ resampled: mv.resampled, unknown });
  }
  const out = await model.run(video, ids, items.length);
  return items.map((_, i) => {
    const v: Record<string, number> = {};
    const p: Record<string, number[]> = {};
    model.keys.forEach((k, j) => {
      v[k] = round(out.video[i * K + j]!);
      const arr = new Array<number>(N);
      for (let q = 0; q < N; q++) arr[q] = round(out.patch[(i * N + q) * K + j]!);
      p[k] = arr;
    });
    const r: VideoScores = { video: v, patch: p };
    if (notes[i]!.resampled) r.resampled = notes[i]!.resampled;
    if (notes[i]!.unknown.length) r.unknownWords = notes[i]!.unknown;
    return r;
  });
}

export interface SaveModelArgs {
  dir: string;
  name: string;
  arch: RewardArch;
  tokenizer: TokenizerSpec;
  params: Record<string, Tensor>;
  stage: 'video' | 'patch';
  fps: number;
  provenance?: Record<string, unknown>;
}

/** The manifest of a built-in reward model folder. */
export function builtinManifest(a: Omit<SaveModelArgs, 'dir' | 'params'>): Record<string, unknown> {
  return {
    format: MANIFEST_FORMAT,
    kind: 'reward',
    name: a.name,
    video: { frames: a.arch.frames, height: a.arch.height, width: a.arch.width, channels: 3, fps: a.fps },
    tokenizer: a.tokenizer,
    weights: WEIGHTS_FILE,
    reward: {
      keys: a.arch.keys,
      grid: a.arch.grid,
      scale: [1, 4],
      stage: a.stage,
      network: { architecture: ARCHITECTURE, config: { dim: a.arch.dim, depth: a.arch.depth, heads: a.arch.heads, mlp: a.arch.mlp, embed_hidden: a.arch.embedHidden ?? 0 } },
    },
    ...(a.provenance ? { provenance: a.provenance } : {}),
  };
}

/** Write a built-in model folder: weights first, the manifest last (a folder with a manifest is complete). */
export async function saveRewardModel(a: SaveModelArgs): Promise<void> {
  const params: Record<string, Tensor> = {};
  for (const k of Object.keys(a.params).sort()) params[k] = a.params[k]!;
  writeSafetensors(path.join(a.dir, WEIGHTS_FILE), params, { format: WEIGHTS_FORMAT, architecture: ARCHITECTURE });
  await writeFileAtomic(path.join(a.dir, MANIFEST_FILE), `${JSON.stringify(builtinManifest(a), null, 2)}\n`);
}
