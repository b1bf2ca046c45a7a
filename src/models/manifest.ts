// The model-folder manifest (DESIGN.md §5), declared once with zod for both kinds of model folder:
// `kind: "t2v"` (text-to-video generators) and `kind: "reward"` (reward models; fields to be filled by
// the reward model). In: a folder path. Out: the parsed manifest with absolute file paths, or an error
// that names the folder, the file and the field. Built-in models and ONNX exports share the format.

import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { HaloError } from '../cli/errors.js';

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_FORMAT = 'halo-model@1';

const posInt = z.int().positive();
/** A dimension: a fixed size, or a name (e.g. "batch") for a size chosen at run time. */
const Dim = z.union([posInt, z.string().min(1)]);
const DType = z.enum(['float32', 'float64', 'int64', 'int32', 'bool', 'uint8', 'float16']);

/** One input or output of an ONNX file: its name in the file, dtype and shape. */
export const TensorSpec = z.object({ name: z.string().min(1), dtype: DType.default('float32'), shape: z.array(Dim) });
export type TensorSpec = z.infer<typeof TensorSpec>;

/** An ONNX file of the folder with named, shaped inputs and outputs (keys are the roles). */
export const OnnxPart = z.object({
  file: z.string().min(1),
  inputs: z.record(z.string(), TensorSpec),
  outputs: z.record(z.string(), TensorSpec),
});
export type OnnxPart = z.infer<typeof OnnxPart>;

/** A network the toolkit builds from code (src/models), with its weights in a safetensors file. */
export const BuiltinPart = z.looseObject({
  architecture: z.string().min(1),
  config: z.record(z.string(), z.unknown()),
});
export type BuiltinPart = z.infer<typeof BuiltinPart>;

export const TokenizerSpec = z.object({
  type: z.literal('word'),
  vocab: z.array(z.string().min(1)),
  max_length: z.int().min(2),
});

export const ScheduleSpec = z.object({
  type: z.literal('cosine'),
  shift: z.number().positive(),
  logsnr_min: z.number(),
  logsnr_max: z.number(),
});

export const VideoSpec = z.object({ frames: posInt, height: posInt, width: posInt, channels: z.literal(3).default(3), fps: z.number().positive() });

const Base = z.looseObject({
  format: z.literal(MANIFEST_FORMAT, { error: `expected "${MANIFEST_FORMAT}"` }),
  name: z.string().min(1),
  video: VideoSpec,
  tokenizer: TokenizerSpec,
  /** safetensors file with the parameters of the built-in parts (absent for pure ONNX folders). */
  weights: z.string().optional(),
  /** How the weights were made (command line, data, time). */
  provenance: z.record(z.string(), z.unknown()).optional(),
});

/**
 * A generator. Roles: text_encoder inputs {ids} → outputs {text}; denoiser inputs {x, t, text} →
 * outputs {out}. x and out are [batch, 3, T, H, W] in [−1, 1]; t is [batch] diffusion time in [0, 1];
 * `prediction` says what `out` is. The unconditional input of guidance is the tokenizer's <bos>-only row.
 */
export const T2VManifest = Base.extend({
  kind: z.literal('t2v'),
  schedule: ScheduleSpec,
  prediction: z.enum(['x0', 'eps', 'v']),
  text_encoder: z.union([OnnxPart, BuiltinPart]),
  denoiser: z.union([OnnxPart, BuiltinPart]),
  sampler: z.object({ name: z.enum(['ddim', 'ddpm']), steps: posInt, guidance: z.number() }).optional(),
});
export type T2VManifest = z.infer<typeof T2VManifest>;

/**
 * What a reward model scores and how to run it (docs/reward-model.md). `network` is the built-in
 * halo-tiny-rm (architecture + config; weights in `weights`) or an ONNX file with roles
 * inputs {video: float32 [batch, T, H, W, 3] RGB in [0, 1]; ids: int64 [batch, max_length]} and
 * outputs {video: float32 [batch, K]; patch: float32 [batch, N, K]}, K = keys.length, N = patches of
 * `grid` in patch order. A numeric batch dimension is fixed (the scorer pads); a name is free.
 */
export const RewardSpec = z.looseObject({
  /** Score keys in the order of the outputs' last axis (the five aspects and overall). */
  keys: z.array(z.string().min(1)).min(1),
  /** Patch grid [gt, gh, gw] of the patch head. */
  grid: z.tuple([posInt, posInt, posInt], { error: 'expected 3 positive integers' }),
  /** Score range of the outputs. */
  scale: z.tuple([z.number(), z.number()]).default([1, 4]),
  /** The last training stage: 'video' (the patch head is untrained) or 'patch'. */
  stage: z.enum(['video', 'patch']),
  network: z.union([OnnxPart, BuiltinPart]),
});
export type RewardSpec = z.infer<typeof RewardSpec>;

/** A reward model (video and per-patch scores); its own fields live under `reward`. */
export const RewardManifest = Base.extend({
  kind: z.literal('reward'),
  reward: RewardSpec,
});
export type RewardManifest = z.infer<typeof RewardManifest>;

export const Manifest = z.discriminatedUnion('kind', [T2VManifest, RewardManifest]);
export type Manifest = z.infer<typeof Manifest>;

export function isOnnxPart(p: OnnxPart | BuiltinPart): p is OnnxPart {
  return typeof (p as OnnxPart).file === 'string';
}

export interface LoadedManifest<M extends Manifest = Manifest> {
  dir: string;
  file: string;
  manifest: M;
}

/** Read and validate DIR/manifest.json; every file it names must exist. */
export async function loadManifest(dir: string): Promise<LoadedManifest> {
  const abs = path.resolve(dir);
  const file = path.join(abs, MANIFEST_FILE);
  try {
    if (!(await stat(abs)).isDirectory()) throw new HaloError(`${dir}: not a model folder (expected a folder with ${MANIFEST_FILE})`);
  } catch (e) {
    if (e instanceof HaloError) throw e;
    throw new HaloError(`${dir}: no such model folder`);
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new HaloError(`${file}: missing; a model folder needs a ${MANIFEST_FILE} (docs/generator.md)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new HaloError(`${file}: broken manifest: not JSON (${(e as Error).message})`);
  }
  const r = Manifest.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new HaloError(`${file}: ${issue.path.length ? issue.path.join('.') : 'manifest'}: ${issue.message}`);
  }
  const m = r.data;
  const files: [string, string][] = [];
  if (m.weights) files.push(['weights', m.weights]);
  if (m.kind === 't2v') {
    for (const role of ['text_encoder', 'denoiser'] as const) {
      const part = m[role];
      if (isOnnxPart(part)) files.push([`${role}.file`, part.file]);
      else if (!m.weights) throw new HaloError(`${file}: weights: the built-in ${role} '${part.architecture}' needs a weights file`);
    }
  }
  for (const [field, f] of files) {
    try {
      await stat(path.resolve(abs, f));
    } catch {
      throw new HaloError(`${file}: ${field}: file '${f}' not found in ${dir}`);
    }
  }
  return { dir: abs, file, manifest: m };
}

export async function loadT2VManifest(dir: string): Promise<LoadedManifest<T2VManifest>> {
  const l = await loadManifest(dir);
  if (l.manifest.kind !== 't2v') throw new HaloError(`${l.file}: kind: expected "t2v" (a text-to-video generator), got "${l.manifest.kind}"`);
  return l as LoadedManifest<T2VManifest>;
}
