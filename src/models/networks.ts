// The built-in networks as graph-builder functions: the text encoder and two denoiser designs (a DiT
// over spatiotemporal patch tokens, and a (2+1)D convolutional UNet over a space-to-depth grid). Every
// parameter name starts with the caller's prefix, so one graph can hold two copies (policy + frozen
// reference for DPO). In: a builder, a prefix, input Values and a config. Out: output Values.

import { GraphBuilder } from '../graph/builder.js';
import { Value } from '../graph/ir.js';
import { conv, embedding, layerNorm, linear, transformerBlock } from '../graph/nn.js';
import { conditioning, ditBlock, ditFinal, groupNorm, patchify, resBlock3d, unpatchify, zeroConv } from './layers.js';

export type Triple = [number, number, number];

export interface TextEncoderConfig {
  vocab: number;
  /** ids per prompt (the tokenizer's max_length) */
  length: number;
  width: number;
  heads: number;
  layers: number;
  /**
   * How the per-token outputs become the prompt's vector: 'bos' (the <bos> position's output) or 'mean'
   * (the mean over the non-padding positions, <bos> included; the shipped halo-tiny-t2v). Absent means
   * 'bos'. A trained encoder pooled at <bos> learnt to read only the colour and background words
   * (docs/generator.md, "The text path").
   */
  pooling?: 'bos' | 'mean';
  /**
   * Also output every position's features (zero at padding) after the pooled vector, for a denoiser
   * that cross-attends to the words (DiTConfig.textWords): text is then [B, width·(1 + length)].
   */
  words?: boolean;
}

/** Values per prompt of a text encoder's output: the pooled vector, and the word vectors with `words`. */
export function textFeatureSize(cfg: TextEncoderConfig): number {
  return cfg.width * (cfg.words ? 1 + cfg.length : 1);
}

export interface DiTConfig {
  architecture: 'dit';
  patch: Triple;
  width: number;
  depth: number;
  heads: number;
  mlp: number;
  /**
   * Token positions: 'learned' (a parameter per token; absent means learned) or 'sincos' (fixed sin/cos
   * features of the token's time, row and column, see sincosPositions; the shipped model).
   */
  positions?: 'learned' | 'sincos';
  /**
   * The text input holds a pooled vector followed by this many word vectors of the same width (zero
   * rows are padding; TextEncoderConfig.words): every block then cross-attends to the words, after its
   * self-attention, with an adaLN-zero gate. Absent: the text input is the pooled vector alone.
   */
  textWords?: number;
}

/**
 * Fixed 3-D positions [gt·gh·gw, width] in token order (time-major, row, column): the width is split
 * into a time part (a quarter, rounded to even) and equal row and column parts; each part holds
 * sin(p·ω_k) then cos(p·ω_k) of its grid index p, ω_k = 10000^(−k/(n/2)) for its n/2 frequencies.
 */
export function sincosPositions(grid: Triple, width: number): Float32Array {
  const nt = 2 * Math.floor(width / 8);
  const ns = 2 * Math.floor((width - nt) / 4);
  if (nt < 2 || nt + 2 * ns !== width) throw new Error(`sincos positions: width ${width} does not split into time ${nt} + 2 × ${ns}`);
  const [gt, gh, gw] = grid;
  const out = new Float32Array(gt * gh * gw * width);
  const fill = (row: number, at: number, n: number, p: number) => {
    const half = n / 2;
    for (let k = 0; k < half; k++) {
      const w = Math.pow(10000, -k / half);
      out[row * width + at + k] = Math.sin(p * w);
      out[row * width + at + half + k] = Math.cos(p * w);
    }
  };
  let row = 0;
  for (let t = 0; t < gt; t++)
    for (let y = 0; y < gh; y++)
      for (let x = 0; x < gw; x++, row++) {
        fill(row, 0, nt, t);
        fill(row, nt, ns, y);
        fill(row, nt + ns, ns, x);
      }
  return out;
}

export interface UNetConfig {
  architecture: 'unet3d';
  /** space-to-depth factor applied to the video first (the grid the convolutions run on) */
  patch: Triple;
  /** channels at the fine grid and at the coarse (2× downsampled) grid */
  channels: [number, number];
  /** residual blocks in the middle, at the coarse grid */
  mid: number;
  groups: number;
}

export type DenoiserConfig = DiTConfig | UNetConfig;

/** Video tensor shape [C, T, H, W]. */
export type VideoShape = [number, number, number, number];

/**
 * ids [B, L] int64 (<pad> = 0, <bos> first) → text [B, width]: embeddings + positions, transformer
 * layers with padding masked, final LayerNorm, then the <bos> position's output or the mean over the
 * non-padding positions (cfg.pooling).
 */
export function buildTextEncoder(g: GraphBuilder, prefix: string, ids: Value, cfg: TextEncoderConfig): Value {
  const [B, L] = ids.shape;
  const p = (s: string) => `${prefix}${s}`;
  const emb = embedding(g, p('tok'), ids, cfg.vocab, cfg.width);
  const pos = g.param(p('pos'), [L, cfg.width], { init: { normal: 0.02 } });
  let h = g.add(emb, pos);
  const pad = g.equal(ids, g.const({ dtype: 'int64', shape: [], data: BigInt64Array.of(0n) }));
  const mask = g.reshape(g.where(pad, -1e9, g.scalar(0)), [B, 1, 1, L]);
  for (let i = 0; i < cfg.layers; i++) h = transformerBlock(g, p(`block${i}`), h, { heads: cfg.heads, mlp: 4 * cfg.width, mask });
  h = layerNorm(g, p('ln'), h);
  const keep = g.where(pad, 0, g.scalar(1));
  let masked: Value | undefined; // each position's output, zero at padding (built once, where used)
  const words = () => (masked ??= g.mul(h, g.unsqueeze(keep, [2])));
  const pooled =
    (cfg.pooling ?? 'bos') === 'bos'
      ? g.reshape(g.slice(h, [0], [1], [1]), [B, cfg.width])
      : g.div(g.reduceSum(words(), [1], false), g.reduceSum(keep, [1], true));
  if (!cfg.words) return pooled;
  return g.concat([pooled, g.reshape(words(), [B, L * cfg.width])], 1);
}

export interface DenoiserInputs {
  /** noisy video [B, C, T, H, W] */
  x: Value;
  /** diffusion time [B] in [0, 1] */
  t: Value;
  /** text features [B, Dtext] (a pooled vector, then word vectors where the DiT's textWords says so) */
  text: Value;
}

/** The denoiser: noisy video, time and text → x0 prediction [B, C, T, H, W]. */
export function buildDenoiser(g: GraphBuilder, prefix: string, inputs: DenoiserInputs, cfg: DenoiserConfig): Value {
  if (cfg.architecture === 'dit') return buildDiT(g, prefix, inputs, cfg);
  if (cfg.architecture === 'unet3d') return buildUNet3d(g, prefix, inputs, cfg);
  throw new Error(`unknown denoiser architecture '${(cfg as { architecture: string }).architecture}'`);
}

function buildDiT(g: GraphBuilder, prefix: string, { x, t, text }: DenoiserInputs, cfg: DiTConfig): Value {
  const p = (s: string) => `${prefix}${s}`;
  const [, C, T, H, W] = x.shape;
  const tokens = patchify(g, x, cfg.patch);
  const [, N, P] = tokens.shape;
  let h = linear(g, p('embed'), tokens, cfg.width);
  const pos =
    (cfg.positions ?? 'learned') === 'sincos'
      ? g.const({ dtype: 'float32', shape: [N, cfg.width], data: sincosPositions([T / cfg.patch[0], H / cfg.patch[1], W / cfg.patch[2]], cfg.width) })
      : g.param(p('pos'), [N, cfg.width], { init: { normal: 0.02 } });
  h = g.add(h, pos);
  const { pooled, words, mask } = splitText(g, text, cfg.textWords);
  const c = conditioning(g, p('cond'), t, pooled, cfg.width);
  for (let i = 0; i < cfg.depth; i++) h = ditBlock(g, p(`block${i}`), h, c, { heads: cfg.heads, mlp: cfg.mlp, words, mask });
  const out = ditFinal(g, p('final'), h, c, P);
  return unpatchify(g, out, cfg.patch, [C, T, H, W]);
}

/**
 * Text input [B, D·(1 + L)] → the pooled vector [B, D], the word vectors [B, L, D] and an attention
 * mask [B, 1, 1, L] (−1e9 at padding, the all-zero rows). Without `L` the whole input is the pooled vector.
 */
function splitText(g: GraphBuilder, text: Value, L: number | undefined): { pooled: Value; words?: Value; mask?: Value } {
  if (!L) return { pooled: text };
  const [B, n] = text.shape;
  if (n % (1 + L)) throw new Error(`denoiser: text input of ${n} values does not hold a pooled vector and ${L} word vectors`);
  const D = n / (1 + L);
  const words = g.reshape(g.slice(text, [D], [n], [1]), [B, L, D]);
  const pad = g.equal(g.reduceSumSquare(words, [2], false), g.scalar(0));
  return { pooled: g.slice(text, [0], [D], [1]), words, mask: g.reshape(g.where(pad, -1e9, g.scalar(0)), [B, 1, 1, L]) };
}

/** [B, C, T, H, W] → [B, C·pt·ph·pw, T/pt, H/ph, W/pw] (space-to-depth) and back. */
function spaceToDepth(g: GraphBuilder, x: Value, p: Triple): Value {
  const [B, C, T, H, W] = x.shape;
  const [pt, ph, pw] = p;
  const r = g.reshape(x, [B, C, T / pt, pt, H / ph, ph, W / pw, pw]);
  return g.reshape(g.transpose(r, [0, 1, 3, 5, 7, 2, 4, 6]), [B, C * pt * ph * pw, T / pt, H / ph, W / pw]);
}

function depthToSpace(g: GraphBuilder, x: Value, p: Triple, C: number): Value {
  const [B, , gt, gh, gw] = x.shape;
  const [pt, ph, pw] = p;
  const r = g.reshape(x, [B, C, pt, ph, pw, gt, gh, gw]);
  return g.reshape(g.transpose(r, [0, 1, 5, 2, 6, 3, 7, 4]), [B, C, gt * pt, gh * ph, gw * pw]);
}

/** Nearest-neighbour 2× upsampling of [B, C, t, h, w] (reshape + expand, differentiable). */
function upsample2(g: GraphBuilder, x: Value): Value {
  const [B, C, t, h, w] = x.shape;
  const r = g.reshape(x, [B, C, t, 1, h, 1, w, 1]);
  return g.reshape(g.expand(r, [B, C, t, 2, h, 2, w, 2]), [B, C, 2 * t, 2 * h, 2 * w]);
}

function buildUNet3d(g: GraphBuilder, prefix: string, { x, t, text }: DenoiserInputs, cfg: UNetConfig): Value {
  const p = (s: string) => `${prefix}${s}`;
  const [, C] = x.shape;
  const [c0, c1] = cfg.channels;
  const c = conditioning(g, p('cond'), t, text, c1);
  const s = spaceToDepth(g, x, cfg.patch);
  let h = conv(g, p('stem'), s, c0, [1, 1, 1]);
  const skip = resBlock3d(g, p('down0'), h, c, c0, cfg.groups);
  h = conv(g, p('down'), skip, c1, [2, 2, 2], { stride: [2, 2, 2], pad: [0, 0, 0, 0, 0, 0] });
  for (let i = 0; i < cfg.mid; i++) h = resBlock3d(g, p(`mid${i}`), h, c, c1, cfg.groups);
  h = conv(g, p('up'), upsample2(g, h), c0, [1, 1, 1]);
  h = resBlock3d(g, p('up0'), g.concat([h, skip], 1), c, c0, cfg.groups);
  h = g.silu(groupNorm(g, h, cfg.groups));
  const out = zeroConv(g, p('out'), h, s.shape[1], [1, 1, 1]);
  return depthToSpace(g, out, cfg.patch, C);
}

/** Names, shapes and init of all parameters a config declares (built on a throwaway graph). */
export function paramShapes(build: (g: GraphBuilder) => void) {
  const g = new GraphBuilder();
  build(g);
  return [...g.graph.params.values()];
}

