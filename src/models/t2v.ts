// The built-in text-to-video model as a whole: its config (video size, tokenizer, text encoder,
// denoiser, schedule), the pretraining loss graph and the inference graphs, all from the graph-builder
// functions of networks.ts. In: a config (and, for loss graphs, batch Values). Out: Values and Graphs.
// halo-dpo builds its policy + reference copies with buildT2V(g, prefix, …) and x0Loss.

import path from 'node:path';
import { GraphBuilder } from '../graph/builder.js';
import { Graph, Value } from '../graph/ir.js';
import { linearLayers } from '../graph/lora.js';
import { Tensor } from '../graph/tensor.js';
import { TensorSpec } from '../graph/train-step.js';
import { readSafetensors } from '../runtime/safetensors.js';
import { T2VManifest, isOnnxPart, loadT2VManifest } from './manifest.js';
import { DenoiserConfig, TextEncoderConfig, VideoShape, buildDenoiser, buildTextEncoder, textFeatureSize } from './networks.js';
import { Schedule, ScheduleSpec } from './schedule.js';
import { Tokenizer } from './tokenizer.js';

export interface T2VConfig {
  video: { frames: number; height: number; width: number; fps: number };
  text: TextEncoderConfig;
  denoiser: DenoiserConfig;
  schedule: ScheduleSpec;
}

export function videoShape(c: T2VConfig): VideoShape {
  return [3, c.video.frames, c.video.height, c.video.width];
}

/** Graph inputs of buildT2V for `batch` rows: x [B, 3, T, H, W], t [B], ids [B, L]. */
export function t2vInputs(g: GraphBuilder, c: T2VConfig, batch: number): { x: Value; t: Value; ids: Value } {
  return { x: g.input('x', 'float32', [batch, ...videoShape(c)]), t: g.input('t', 'float32', [batch]), ids: g.input('ids', 'int64', [batch, c.text.length]) };
}

/** The names of the model's linear layers (`text.block0.attn.qkv`, `den.block0.mlp.fc1`, …) in build order: what LoRA can adapt. */
export function t2vLinearLayers(c: T2VConfig): string[] {
  return linearLayers((g) => buildT2V(g, '', t2vInputs(g, c, 1), c));
}

/** Text encoder + denoiser in one graph: (x_t, t, ids) → x0 prediction. Parameter names `${prefix}text.*`, `${prefix}den.*`. */
export function buildT2V(g: GraphBuilder, prefix: string, inputs: { x: Value; t: Value; ids: Value }, c: T2VConfig): Value {
  const text = buildTextEncoder(g, `${prefix}text.`, inputs.ids, c.text);
  return buildDenoiser(g, `${prefix}den.`, { x: inputs.x, t: inputs.t, text }, c.denoiser);
}

/**
 * Per-sample weighted x0 error: w_b · mean over the video of (pred − x0)², shape [B]. With w = min(SNR+1, 5)
 * (Schedule.x0LossWeight) its mean is the pretraining loss; DPO uses it per sample (and per patch via `mask`).
 */
export function x0Error(g: GraphBuilder, pred: Value, x0: Value, weight: Value): Value {
  const d = g.sub(pred, x0);
  const B = pred.shape[0];
  const n = pred.shape.slice(1).reduce((a, b) => a * b, 1);
  const per = g.reduceMean(g.reshape(g.mul(d, d), [B, n]), [1], false);
  return g.mul(per, weight);
}

/** Batch inputs of the pretraining step: noisy videos, times, token ids, clean videos, loss weights. */
export function pretrainBatchSpec(c: T2VConfig, batch: number): Record<string, TensorSpec> {
  const v = videoShape(c);
  return {
    xt: { dtype: 'float32', shape: [batch, ...v] },
    t: { dtype: 'float32', shape: [batch] },
    ids: { dtype: 'int64', shape: [batch, c.text.length] },
    x0: { dtype: 'float32', shape: [batch, ...v] },
    w: { dtype: 'float32', shape: [batch] },
  };
}

/** The pretraining loss: mean over the batch of x0Error (for buildTrainStep's build function). */
export function pretrainLoss(g: GraphBuilder, b: Record<string, Value>, c: T2VConfig, prefix = '') {
  const pred = buildT2V(g, prefix, { x: b.xt, t: b.t, ids: b.ids }, c);
  const err = x0Error(g, pred, b.x0, b.w);
  const d = g.sub(pred, b.x0);
  return { loss: g.reduceMean(err, undefined, false), metrics: { mse: g.reduceMean(g.mul(d, d), undefined, false) } };
}

/** Inference graph of the text encoder: ids [B, L] → text [B, textFeatureSize]; parameters are inputs (bake them). */
export function textEncoderGraph(c: T2VConfig, batch: number, prefix = 'text.'): Graph {
  const g = new GraphBuilder({ name: 'text_encoder' });
  const ids = g.input('ids', 'int64', [batch, c.text.length]);
  g.output(buildTextEncoder(g, prefix, ids, c.text), 'text');
  return g.graph;
}

/** Inference graph of the denoiser: x [B, 3, T, H, W], t [B], text [B, textFeatureSize] → out (x0). */
export function denoiserGraph(c: T2VConfig, batch: number, prefix = 'den.'): Graph {
  const g = new GraphBuilder({ name: 'denoiser' });
  const x = g.input('x', 'float32', [batch, ...videoShape(c)]);
  const t = g.input('t', 'float32', [batch]);
  const text = g.input('text', 'float32', [batch, textFeatureSize(c.text)]);
  g.output(buildDenoiser(g, prefix, { x, t, text }, c.denoiser), 'out');
  return g.graph;
}

/** The T2VConfig of a manifest whose text encoder and denoiser are built-in networks. */
export function t2vConfigOf(m: T2VManifest, file = 'manifest.json'): T2VConfig {
  const te = m.text_encoder;
  const de = m.denoiser;
  if (isOnnxPart(te) || isOnnxPart(de)) throw new Error(`${file}: not a built-in model (its parts are ONNX files); only built-in models can be rebuilt as graphs`);
  if ((te.prefix ?? 'text.') !== 'text.' || (de.prefix ?? 'den.') !== 'den.') throw new Error(`${file}: parameter prefixes must be 'text.' and 'den.'`);
  return {
    video: { frames: m.video.frames, height: m.video.height, width: m.video.width, fps: m.video.fps },
    text: te.config as unknown as TextEncoderConfig,
    denoiser: de.config as unknown as DenoiserConfig,
    schedule: m.schedule,
  };
}

/**
 * A built-in model folder as graph material: its config, its weights (names `text.*`, `den.*`, as
 * buildT2V(g, '', …) declares them; prefix them to build copies), tokenizer and schedule.
 */
export async function loadBuiltinT2V(dir: string) {
  const loaded = await loadT2VManifest(dir);
  const m = loaded.manifest;
  const config = t2vConfigOf(m, loaded.file);
  const params = readSafetensors(path.resolve(loaded.dir, m.weights!)).tensors;
  return { manifest: m, dir: loaded.dir, config, params, tokenizer: new Tokenizer(m.tokenizer), schedule: new Schedule(m.schedule) };
}

/** Rename parameters for a copy built with another prefix: `den.x` → `${prefix}den.x`. */
export function withPrefix(params: Record<string, Tensor>, prefix: string): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [prefix + k, v]));
}
