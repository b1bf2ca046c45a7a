// Layer helpers on the builder: each declares its named parameters with g.param (PyTorch-like
// initialisation) and returns the output Value. In: a builder, a parameter-name prefix and inputs.
// Out: Values; parameters appear in g.graph.params as `${prefix}.weight`, `${prefix}.bias`, ….

import { GraphBuilder } from './builder.js';
import { Value } from './ir.js';

const last = (v: Value) => v.shape[v.shape.length - 1];

/** y = x·W + b with W of shape (in, out), plus the builder's linear-hook term if any (LoRA adapters). */
export function linear(g: GraphBuilder, name: string, x: Value, out: number, o: { bias?: boolean; init?: 'default' | 'zeros' } = {}): Value {
  const inF = last(x);
  const zero = o.init === 'zeros';
  const w = g.param(`${name}.weight`, [inF, out], { init: zero ? 'zeros' : { kaiming: 'uniform', fanIn: inF } });
  let y = g.scope(name, () => g.matmul(x, w));
  if (o.bias !== false) {
    const b = g.param(`${name}.bias`, [out], { init: zero ? 'zeros' : { kaiming: 'uniform', fanIn: inF } });
    y = g.scope(name, () => g.add(y, b));
  }
  const extra = g.linearExtra(name, x, w);
  return extra ? g.scope(name, () => g.add(y, extra)) : y;
}

/** LayerNormalization over the last axis, with learnable scale and shift unless affine is false. */
export function layerNorm(g: GraphBuilder, name: string, x: Value, o: { eps?: number; affine?: boolean } = {}): Value {
  const d = last(x);
  if (o.affine === false) return g.scope(name, () => g.layerNorm(x, g.fill([d], 1, x.dtype), null, { epsilon: o.eps ?? 1e-5 }));
  const s = g.param(`${name}.weight`, [d], { init: 'ones' });
  const b = g.param(`${name}.bias`, [d], { init: 'zeros' });
  return g.scope(name, () => g.layerNorm(x, s, b, { epsilon: o.eps ?? 1e-5 }));
}

export type Activation = 'gelu' | 'gelu_tanh' | 'relu' | 'silu' | 'tanh';

export function activation(g: GraphBuilder, x: Value, act: Activation): Value {
  switch (act) {
    case 'gelu': return g.gelu(x, 'none');
    case 'gelu_tanh': return g.gelu(x, 'tanh');
    case 'relu': return g.relu(x);
    case 'silu': return g.silu(x);
    case 'tanh': return g.tanh(x);
  }
}

/** Two linear layers with an activation between. */
export function mlp(g: GraphBuilder, name: string, x: Value, hidden: number, o: { act?: Activation; out?: number } = {}): Value {
  const h = activation(g, linear(g, `${name}.fc1`, x, hidden), o.act ?? 'gelu');
  return linear(g, `${name}.fc2`, h, o.out ?? last(x));
}

/**
 * Multi-head attention over x (B, T, D); with `context` (B, S, C) it is cross-attention.
 * `mask` (broadcastable to B, H, T, S) is added to the scores (0 keeps, a large negative drops).
 */
export function attention(g: GraphBuilder, name: string, x: Value, o: { heads: number; context?: Value; mask?: Value }): Value {
  const [B, T, D] = x.shape;
  const H = o.heads;
  if (D % H !== 0) throw new Error(`attention ${name}: width ${D} is not divisible by ${H} heads`);
  const dh = D / H;
  let q: Value, k: Value, v: Value;
  if (!o.context) {
    const qkv = linear(g, `${name}.qkv`, x, 3 * D);
    [q, k, v] = g.scope(name, () => g.split(qkv, [D, D, D], 2));
  } else {
    q = linear(g, `${name}.q`, x, D);
    const kv = linear(g, `${name}.kv`, o.context, 2 * D);
    [k, v] = g.scope(name, () => g.split(kv, [D, D], 2));
  }
  const S = k.shape[1];
  const out = g.scope(name, () => {
    const qh = g.transpose(g.reshape(g.mul(q, 1 / Math.sqrt(dh)), [B, T, H, dh]), [0, 2, 1, 3]);
    const kh = g.transpose(g.reshape(k, [B, S, H, dh]), [0, 2, 3, 1]);
    const vh = g.transpose(g.reshape(v, [B, S, H, dh]), [0, 2, 1, 3]);
    let scores = g.matmul(qh, kh);
    if (o.mask) scores = g.add(scores, o.mask);
    const att = g.softmax(scores, -1);
    return g.reshape(g.transpose(g.matmul(att, vh), [0, 2, 1, 3]), [B, T, D]);
  });
  return linear(g, `${name}.proj`, out, D);
}

/** Pre-norm transformer block: x + attn(LN(x)), then + mlp(LN(x)). */
export function transformerBlock(g: GraphBuilder, name: string, x: Value, o: { heads: number; mlp: number; act?: Activation; mask?: Value }): Value {
  const a = attention(g, `${name}.attn`, layerNorm(g, `${name}.ln1`, x), { heads: o.heads, mask: o.mask });
  const h = g.scope(name, () => g.add(x, a));
  const m = mlp(g, `${name}.mlp`, layerNorm(g, `${name}.ln2`, h), o.mlp, { act: o.act });
  return g.scope(name, () => g.add(h, m));
}

/** adaLN modulation: x·(1 + scale) + shift, with scale and shift (B, D) broadcast over tokens. */
export function modulate(g: GraphBuilder, x: Value, shift: Value, scale: Value): Value {
  const s = g.unsqueeze(scale, [1]);
  const t = g.unsqueeze(shift, [1]);
  return g.add(g.mul(x, g.add(s, 1)), t);
}

/** Convolution (1D/2D/3D by the kernel's rank) with weight (out, in, k…) and bias. */
export function conv(g: GraphBuilder, name: string, x: Value, out: number, kernel: number[], o: { stride?: number[]; pad?: number[]; bias?: boolean } = {}): Value {
  const cin = x.shape[1];
  const fanIn = cin * kernel.reduce((a, b) => a * b, 1);
  const w = g.param(`${name}.weight`, [out, cin, ...kernel], { init: { kaiming: 'uniform', fanIn } });
  const b = o.bias === false ? null : g.param(`${name}.bias`, [out], { init: { kaiming: 'uniform', fanIn } });
  const pads = o.pad ? (o.pad.length === kernel.length ? [...o.pad, ...o.pad] : o.pad) : kernel.map((k) => (k - 1) >> 1).concat(kernel.map((k) => k >> 1));
  return g.scope(name, () => g.conv(x, w, b, { strides: o.stride, pads }));
}

/** Token embeddings: ids (int64, any shape) → (…, dim). */
export function embedding(g: GraphBuilder, name: string, ids: Value, vocab: number, dim: number): Value {
  const w = g.param(`${name}.weight`, [vocab, dim], { init: { normal: 0.02 } });
  return g.scope(name, () => g.gather(w, ids, 0));
}

/** Mean squared error over all elements. */
export function mse(g: GraphBuilder, a: Value, b: Value): Value {
  const d = g.sub(a, b);
  return g.reduceMean(g.mul(d, d), undefined, false);
}

/** Mean cross-entropy of logits (N, C) against int64 labels (N). */
export function crossEntropy(g: GraphBuilder, logits: Value, labels: Value): Value {
  const [N, C] = logits.shape;
  const logp = g.logSoftmax(logits, -1);
  const onehot = g.cast(g.equal(g.unsqueeze(labels, [1]), g.const({ dtype: 'int64', shape: [1, C], data: BigInt64Array.from({ length: C }, (_, i) => BigInt(i)) })), logits.dtype);
  return g.div(g.neg(g.reduceSum(g.mul(logp, onehot), undefined, false)), N);
}
