// The graph of halo-tiny-rm, the built-in reward model, and its training losses. In: a GraphBuilder,
// the architecture (RewardArch) and a batch size. Out: graph values for the video scores [B, K] and
// the per-patch scores [B, N, K] (K = the five aspects + overall, on the 1–4 scale), and for the
// stage-1 / stage-2 losses (docs/reward-model.md).
//
// Tokens: one per patch of the grid (gt·gh·gw patches of pt×ph×pw×3 values, linearly embedded, plus a
// learned position), the prompt's word tokens (embedded, plus a position) and one [video] token;
// pre-LayerNorm transformer blocks over [video, words, patches], padded words masked out of attention.
// Heads: LayerNorm + linear + 1 + 3·sigmoid, on the [video] token (video head) and on every patch
// token (patch head).
import type { GraphBuilder } from '../graph/builder.js';
import type { Value } from '../graph/ir.js';

export interface RewardArch {
  /** Frames, height, width the model takes (videos are resampled to this). */
  frames: number;
  height: number;
  width: number;
  /** Patches along time, height, width (one token each). */
  grid: [number, number, number];
  dim: number;
  depth: number;
  heads: number;
  mlp: number;
  /** Hidden width of a two-layer (GELU) patch embedding; 0 (or absent) = one linear layer. */
  embedHidden?: number;
  /** Word vocabulary size (id 0 = padding, 1 = unknown word). */
  vocab: number;
  /** Prompt length in words (longer prompts are cut, shorter ones padded). */
  maxWords: number;
  /** Score keys, in the order of the heads' outputs. */
  keys: string[];
}

export const SCORE_LOW = 1;
export const SCORE_HIGH = 4;

export function patchSize(a: RewardArch): [number, number, number] {
  return [a.frames / a.grid[0], a.height / a.grid[1], a.width / a.grid[2]];
}

export function patchCount(a: RewardArch): number {
  return a.grid[0] * a.grid[1] * a.grid[2];
}

/** Throws when the architecture is inconsistent (grid does not divide the video, heads do not divide the width). */
export function checkArch(a: RewardArch): void {
  const dims: [string, number, number][] = [
    ['frames', a.frames, a.grid[0]],
    ['height', a.height, a.grid[1]],
    ['width', a.width, a.grid[2]],
  ];
  for (const [name, n, g] of dims) {
    if (!Number.isInteger(n) || !Number.isInteger(g) || n < 1 || g < 1 || n % g !== 0) {
      throw new Error(`reward model: grid ${a.grid.join('×')} does not divide the ${name} (${n})`);
    }
  }
  if (a.dim % a.heads !== 0) throw new Error(`reward model: ${a.heads} heads do not divide width ${a.dim}`);
  for (const k of ['dim', 'depth', 'heads', 'mlp', 'vocab', 'maxWords'] as const) {
    if (!Number.isInteger(a[k]) || a[k] < 1) throw new Error(`reward model: ${k} must be a positive integer, got ${a[k]}`);
  }
  if (a.keys.length < 1) throw new Error('reward model: no score keys');
}

function linear(g: GraphBuilder, x: Value, name: string, inDim: number, outDim: number, init?: number): Value {
  const w = g.param(`${name}.weight`, [inDim, outDim], { init: init === undefined ? { xavier: 'uniform' } : { normal: init } });
  const b = g.param(`${name}.bias`, [outDim], { init: 'zeros' });
  return g.add(g.matmul(x, w), b);
}

function layerNorm(g: GraphBuilder, x: Value, name: string, dim: number): Value {
  const s = g.param(`${name}.scale`, [dim], { init: 'ones' });
  const b = g.param(`${name}.bias`, [dim], { init: 'zeros' });
  return g.layerNorm(x, s, b, { axis: -1, epsilon: 1e-5 });
}

function attention(g: GraphBuilder, x: Value, maskBias: Value, name: string, a: RewardArch, batch: number, seq: number): Value {
  const dh = a.dim / a.heads;
  const heads = (v: Value) => g.transpose(g.reshape(v, [batch, seq, a.heads, dh]), [0, 2, 1, 3]);
  const q = heads(linear(g, x, `${name}.q`, a.dim, a.dim));
  const k = heads(linear(g, x, `${name}.k`, a.dim, a.dim));
  const v = heads(linear(g, x, `${name}.v`, a.dim, a.dim));
  const logits = g.add(g.mul(g.matmul(q, g.transpose(k, [0, 1, 3, 2])), 1 / Math.sqrt(dh)), maskBias);
  const out = g.matmul(g.softmax(logits, -1), v);
  const merged = g.reshape(g.transpose(out, [0, 2, 1, 3]), [batch, seq, a.dim]);
  return linear(g, merged, `${name}.out`, a.dim, a.dim);
}

function block(g: GraphBuilder, x: Value, maskBias: Value, name: string, a: RewardArch, batch: number, seq: number): Value {
  const h = g.add(x, attention(g, layerNorm(g, x, `${name}.ln1`, a.dim), maskBias, `${name}.attn`, a, batch, seq));
  const m = linear(g, g.gelu(linear(g, layerNorm(g, h, `${name}.ln2`, a.dim), `${name}.mlp.in`, a.dim, a.mlp)), `${name}.mlp.out`, a.mlp, a.dim);
  return g.add(h, m);
}

/** Score head: LayerNorm, linear to K, 1 + 3·sigmoid. */
function head(g: GraphBuilder, x: Value, name: string, a: RewardArch): Value {
  const z = linear(g, layerNorm(g, x, `${name}.ln`, a.dim), name, a.dim, a.keys.length, 0.02);
  return g.add(g.mul(g.sigmoid(z), SCORE_HIGH - SCORE_LOW), SCORE_LOW);
}

/** Cut video [B, T, H, W, 3] into patch tokens [B, N, pt·ph·pw·3] in patch order (time, row, column). */
export function patchTokens(g: GraphBuilder, video: Value, a: RewardArch, batch: number): Value {
  const [gt, gh, gw] = a.grid;
  const [pt, ph, pw] = patchSize(a);
  const x = g.reshape(video, [batch, gt, pt, gh, ph, gw, pw, 3]);
  const t = g.transpose(x, [0, 1, 3, 5, 2, 4, 6, 7]);
  return g.reshape(t, [batch, gt * gh * gw, pt * ph * pw * 3]);
}

export interface RewardOutputs {
  /** [B, K] video scores. */
  video: Value;
  /** [B, N, K] patch scores. */
  patch: Value;
}

/**
 * The forward pass. `video`: float32 [B, T, H, W, 3] in [0, 1]; `words`: int64 [B, maxWords]
 * (0 = padding).
 */
export function rewardForward(g: GraphBuilder, video: Value, words: Value, a: RewardArch, batch: number): RewardOutputs {
  const n = patchCount(a);
  const [pt, ph, pw] = patchSize(a);
  const pv = pt * ph * pw * 3;
  const seq = 1 + a.maxWords + n;
  return g.scope('rm', () => {
    const centred = g.mul(g.sub(video, 0.5), 2);
    const tokens = patchTokens(g, centred, a, batch);
    const embedded = a.embedHidden
      ? linear(g, g.gelu(linear(g, tokens, 'patch_embed.in', pv, a.embedHidden)), 'patch_embed.out', a.embedHidden, a.dim)
      : linear(g, tokens, 'patch_embed', pv, a.dim);
    const patches = g.add(embedded, g.param('patch_pos', [n, a.dim], { init: { normal: 0.02 } }));
    const table = g.param('word_embed', [a.vocab, a.dim], { init: { normal: 0.02 } });
    const wordTok = g.add(g.gather(table, words, 0), g.param('word_pos', [a.maxWords, a.dim], { init: { normal: 0.02 } }));
    const cls = g.expand(g.param('video_token', [1, 1, a.dim], { init: { normal: 0.02 } }), [batch, 1, a.dim]);
    let x = g.concat([cls, wordTok, patches], 1);
    // Additive attention bias: −1e4 on padded word positions (as keys), 0 elsewhere.
    const pad = g.cast(g.equal(words, 0), 'float32');
    const bias = g.concat([g.fill([batch, 1], 0), g.mul(pad, -1e4), g.fill([batch, n], 0)], 1);
    const maskBias = g.reshape(bias, [batch, 1, 1, seq]);
    for (let i = 0; i < a.depth; i++) x = block(g, x, maskBias, `block${i}`, a, batch, seq);
    x = layerNorm(g, x, 'ln_final', a.dim);
    const [first, , rest] = g.split(x, [1, a.maxWords, n], 1);
    const videoScores = head(g, g.reshape(first!, [batch, a.dim]), 'video_head', a);
    const patchScores = head(g, rest!, 'patch_head', a);
    return { video: videoScores, patch: patchScores };
  });
}

/** Mean of mask·(pred − target)² over the entries the mask keeps (at least one, to avoid 0/0). */
export function maskedMse(g: GraphBuilder, pred: Value, target: Value, mask: Value): Value {
  const d = g.sub(pred, target);
  const se = g.reduceSum(g.mul(g.mul(d, d), mask), undefined, false);
  return g.div(se, g.max(g.reduceSum(mask, undefined, false), 1));
}

export interface LossWeights {
  /** Stage 2: weight of the distillation term (video head vs the frozen stage-1 video scores). */
  distill: number;
  /** Stage 2: weight of the video-label term (keep fitting the video labels). */
  video: number;
  /** Stage 2: weight of the tie term (mean patch score vs the stage-1 video score, per key). */
  tie: number;
  /**
   * Both stages: weight of the within-prompt term — the video head's errors on two videos of the same
   * prompt should be equal, i.e. it should order a prompt's samples as the labels do (0: off, and
   * batches are drawn at random; above 0, batches are made of whole prompts' videos).
   */
  rank?: number;
}

export const DEFAULT_LOSS_WEIGHTS: LossWeights = { distill: 0.5, video: 1, tie: 0 };

/**
 * Within-prompt term: mean over ordered pairs (i, j) of the same prompt (same[i, j] = 1, i ≠ j) and
 * keys both labelled of ½((p_i − t_i) − (p_j − t_j))². Zero when the errors within each prompt are
 * equal, whatever they are: it asks only for the right differences between a prompt's videos.
 */
export function withinPromptLoss(g: GraphBuilder, pred: Value, target: Value, mask: Value, same: Value): Value {
  const e = g.mul(g.sub(pred, target), mask); // [B, K]
  const d = g.sub(g.unsqueeze(e, [1]), g.unsqueeze(e, [0])); // [B, B, K]
  const m = g.mul(g.mul(g.unsqueeze(mask, [1]), g.unsqueeze(mask, [0])), g.unsqueeze(same, [2]));
  const se = g.reduceSum(g.mul(g.mul(d, d), m), undefined, false);
  return g.div(g.mul(se, 0.5), g.max(g.reduceSum(m, undefined, false), 1));
}

export interface StageBatch {
  video: Value;
  words: Value;
  /** [B, K] video labels and their mask (1 where the label exists). */
  videoTarget: Value;
  videoMask: Value;
  /** Stage 2 only: [B, N, K] patch labels, mask; [B, K] frozen stage-1 video scores. */
  patchTarget?: Value;
  patchMask?: Value;
  videoRef?: Value;
  /** [B, B]: 1 where videos i ≠ j share a prompt (needed when the rank weight is above 0). */
  samePrompt?: Value;
}

/**
 * The loss of a stage and its parts (each a scalar Value).
 * Stage 'video': L = MSE(video head, video labels).
 * Stage 'patch': L = MSE(patch head, patch labels) + distill·MSE(video head, stage-1 video head)
 *                  + video·MSE(video head, video labels) + tie·MSE(mean_p patch head, stage-1 video head).
 * Both: + rank·withinPromptLoss(video head, video labels) when rank > 0.
 */
export function stageLoss(g: GraphBuilder, b: StageBatch, a: RewardArch, batch: number, stage: 'video' | 'patch', w: LossWeights = DEFAULT_LOSS_WEIGHTS): { loss: Value; parts: Record<string, Value>; out: RewardOutputs } {
  const out = rewardForward(g, b.video, b.words, a, batch);
  return g.scope('loss', () => {
    const videoLoss = maskedMse(g, out.video, b.videoTarget, b.videoMask);
    let rank: Value | undefined;
    if (w.rank) {
      if (!b.samePrompt) throw new Error('the within-prompt term needs the same-prompt matrix');
      rank = withinPromptLoss(g, out.video, b.videoTarget, b.videoMask, b.samePrompt);
    }
    if (stage === 'video') {
      if (!rank) return { loss: videoLoss, parts: { video: videoLoss }, out };
      return { loss: g.add(videoLoss, g.mul(rank, w.rank!)), parts: { video: videoLoss, rank }, out };
    }
    if (!b.patchTarget || !b.patchMask || !b.videoRef) throw new Error('stage patch needs patch targets, masks and the stage-1 video scores');
    const patchLoss = maskedMse(g, out.patch, b.patchTarget, b.patchMask);
    const dv = g.sub(out.video, b.videoRef);
    const distill = g.reduceMean(g.mul(dv, dv), undefined, false);
    const parts: Record<string, Value> = { patch: patchLoss, distill, video: videoLoss };
    let loss = g.add(patchLoss, g.mul(distill, w.distill));
    if (w.video) loss = g.add(loss, g.mul(videoLoss, w.video));
    if (w.tie) {
      const dt = g.sub(g.reduceMean(out.patch, [1], false), b.videoRef);
      const tie = g.reduceMean(g.mul(dt, dt), undefined, false);
      parts.tie = tie;
      loss = g.add(loss, g.mul(tie, w.tie));
    }
    if (rank) {
      parts.rank = rank;
      loss = g.add(loss, g.mul(rank, w.rank!));
    }
    return { loss, parts, out };
  });
}
