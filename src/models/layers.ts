// Building blocks shared by the built-in networks, on top of src/graph/nn.ts. In: a builder, a
// parameter-name prefix and Values. Out: Values (video patchify/unpatchify, sinusoidal time features,
// adaLN-zero transformer blocks, group norm and FiLM residual conv blocks).

import { GraphBuilder } from '../graph/builder.js';
import { Value } from '../graph/ir.js';
import { attention, conv, layerNorm, linear, mlp, modulate } from '../graph/nn.js';
import { tensor } from '../graph/tensor.js';

/** [B, C, T, H, W] → [B, N, C·pt·ph·pw] tokens, time-major then row then column (the patch-grid order of §3). */
export function patchify(g: GraphBuilder, x: Value, p: readonly number[]): Value {
  const [B, C, T, H, W] = x.shape;
  const [pt, ph, pw] = p;
  if (T % pt || H % ph || W % pw) throw new Error(`patchify: video ${T}×${H}×${W} is not divisible by patch ${pt}×${ph}×${pw}`);
  const [gt, gh, gw] = [T / pt, H / ph, W / pw];
  const r = g.reshape(x, [B, C, gt, pt, gh, ph, gw, pw]);
  const tr = g.transpose(r, [0, 2, 4, 6, 1, 3, 5, 7]);
  return g.reshape(tr, [B, gt * gh * gw, C * pt * ph * pw]);
}

/** Inverse of patchify: [B, N, C·pt·ph·pw] → [B, C, T, H, W]. */
export function unpatchify(g: GraphBuilder, tokens: Value, p: readonly number[], video: readonly number[]): Value {
  const [B] = tokens.shape;
  const [C, T, H, W] = video;
  const [pt, ph, pw] = p;
  const [gt, gh, gw] = [T / pt, H / ph, W / pw];
  const r = g.reshape(tokens, [B, gt, gh, gw, C, pt, ph, pw]);
  const tr = g.transpose(r, [0, 4, 1, 5, 2, 6, 3, 7]);
  return g.reshape(tr, [B, C, T, H, W]);
}

/** Sinusoidal features of diffusion time t ∈ [0, 1] ([B]) → [B, dim]: sin and cos of 1000·t·f_k. */
export function timeFeatures(g: GraphBuilder, t: Value, dim: number): Value {
  const half = dim / 2;
  const freqs = Array.from({ length: half }, (_, k) => 1000 * Math.exp((-Math.log(10000) * k) / half));
  const f = g.const(tensor('float32', [1, half], freqs));
  const arg = g.mul(g.unsqueeze(t, [1]), f);
  return g.concat([g.op('Sin', [arg]), g.op('Cos', [arg])], 1);
}

/** The conditioning vector: MLP(time features) + linear(text), [B, width]. */
export function conditioning(g: GraphBuilder, name: string, t: Value, text: Value, width: number, freqDim = 64): Value {
  const tf = timeFeatures(g, t, freqDim);
  const te = linear(g, `${name}.time.fc2`, g.silu(linear(g, `${name}.time.fc1`, tf, width)), width);
  const xe = linear(g, `${name}.text`, text, width);
  return g.scope(name, () => g.add(te, xe));
}

/**
 * DiT block with adaLN-zero: modulation from c (gates start at zero, so each block starts as identity).
 * With `words` ([B, L, D'], masked by `mask`), a cross-attention to them follows the self-attention,
 * gated the same way.
 */
export function ditBlock(g: GraphBuilder, name: string, x: Value, c: Value, o: { heads: number; mlp: number; words?: Value; mask?: Value }): Value {
  const D = x.shape[2];
  const parts = o.words ? 7 : 6;
  const mod = linear(g, `${name}.ada`, g.silu(c), parts * D, { init: 'zeros' });
  const [sh1, sc1, g1, sh2, sc2, g2, gx] = g.scope(name, () => g.split(mod, new Array<number>(parts).fill(D), 1));
  const a = attention(g, `${name}.attn`, modulate(g, layerNorm(g, `${name}.ln1`, x, { affine: false, eps: 1e-6 }), sh1, sc1), { heads: o.heads });
  let h = g.scope(name, () => g.add(x, g.mul(a, g.unsqueeze(g1, [1]))));
  if (o.words) {
    const xa = attention(g, `${name}.xattn`, layerNorm(g, `${name}.ln3`, h, { affine: false, eps: 1e-6 }), { heads: o.heads, context: o.words, mask: o.mask });
    h = g.scope(name, () => g.add(h, g.mul(xa, g.unsqueeze(gx, [1]))));
  }
  const m = mlp(g, `${name}.mlp`, modulate(g, layerNorm(g, `${name}.ln2`, h, { affine: false, eps: 1e-6 }), sh2, sc2), o.mlp, { act: 'gelu_tanh' });
  return g.scope(name, () => g.add(h, g.mul(m, g.unsqueeze(g2, [1]))));
}

/** The DiT output layer: adaLN (zero-init) + linear (zero-init) to `out` values per token. */
export function ditFinal(g: GraphBuilder, name: string, x: Value, c: Value, out: number): Value {
  const D = x.shape[2];
  const mod = linear(g, `${name}.ada`, g.silu(c), 2 * D, { init: 'zeros' });
  const [sh, sc] = g.scope(name, () => g.split(mod, [D, D], 1));
  const h = modulate(g, layerNorm(g, `${name}.ln`, x, { affine: false, eps: 1e-6 }), sh, sc);
  return linear(g, `${name}.out`, h, out, { init: 'zeros' });
}

/** Group norm over [B, C, …] with `groups` groups, no affine (FiLM supplies scale and shift). */
export function groupNorm(g: GraphBuilder, x: Value, groups: number, eps = 1e-5): Value {
  const [B, C, ...sp] = x.shape;
  const r = g.reshape(x, [B, groups, (C / groups) * sp.reduce((a, b) => a * b, 1)]);
  const mean = g.reduceMean(r, [2], true);
  const d = g.sub(r, mean);
  const v = g.reduceMean(g.mul(d, d), [2], true);
  return g.reshape(g.div(d, g.sqrt(g.add(v, eps))), [...x.shape]);
}

/** Per-channel scale and shift from c: x·(1 + s) + b, with c [B, D] and x [B, C, …]. */
export function film(g: GraphBuilder, name: string, x: Value, c: Value): Value {
  const C = x.shape[1];
  const mod = linear(g, name, g.silu(c), 2 * C, { init: 'zeros' });
  const extra = x.shape.length - 2;
  const [s, b] = g.scope(name, () => g.split(mod, [C, C], 1)).map((v) => g.reshape(v, [x.shape[0], C, ...Array(extra).fill(1)]));
  return g.add(g.mul(x, g.add(s, 1)), b);
}

/**
 * Residual (2+1)D conv block: GN → FiLM(c) → SiLU → conv 1×3×3 → conv 3×1×1 → GN → SiLU → conv 1×1×1
 * (zero-init, so the block starts as identity); a 1×1×1 conv matches channels when they change.
 */
export function resBlock3d(g: GraphBuilder, name: string, x: Value, c: Value, out: number, groups = 8): Value {
  let h = g.silu(film(g, `${name}.film`, groupNorm(g, x, groups), c));
  h = conv(g, `${name}.conv_s`, h, out, [1, 3, 3]);
  h = conv(g, `${name}.conv_t`, h, out, [3, 1, 1]);
  h = g.silu(groupNorm(g, h, groups));
  h = zeroConv(g, `${name}.conv_out`, h, out, [1, 1, 1]);
  const skip = x.shape[1] === out ? x : conv(g, `${name}.skip`, x, out, [1, 1, 1]);
  return g.add(skip, h);
}

/** A same-padded conv whose weights start at zero. */
export function zeroConv(g: GraphBuilder, name: string, x: Value, out: number, kernel: number[]): Value {
  const w = g.param(`${name}.weight`, [out, x.shape[1], ...kernel], { init: 'zeros' });
  const b = g.param(`${name}.bias`, [out], { init: 'zeros' });
  const pads = kernel.map((k) => (k - 1) >> 1).concat(kernel.map((k) => k >> 1));
  return g.scope(name, () => g.conv(x, w, b, { pads }));
}
