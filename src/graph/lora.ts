// LoRA adapters (Hu et al., 2021) on the linear layers of networks built with nn.ts. Inside withLora,
// a targeted layer x·W + b gets the term (α/r)·(x·A)·B with A [in, r] (Kaiming-uniform, as PyTorch's
// peft) and B [r, out] (zeros), so the adapted network starts equal to its base; mergeLora folds
// trained adapters back into plain weights W' = W + (α/r)·A·B. In: a builder, the LoRA settings and a
// build function; or weights and adapter tensors. Out: Values; layer names; merged weight tensors.

import { GraphBuilder } from './builder.js';
import { Value } from './ir.js';
import { Tensor, tensor } from './tensor.js';

export interface LoraConfig {
  /** r ≥ 1 */
  rank: number;
  /** α: the adapter's product is scaled by α/r */
  alpha: number;
  /** Layers that get adapters, tested against the layer name without the network's prefix (e.g. `den.block0.attn.qkv`). */
  targets: RegExp;
}

/** Adapter parameter suffixes: layer `L` gets `L.lora_a` [in, r] and `L.lora_b` [r, out]. */
export const LORA_A = '.lora_a';
export const LORA_B = '.lora_b';

export const loraScale = (c: LoraConfig): number => c.alpha / c.rank;

export const isLoraParam = (name: string): boolean => name.endsWith(LORA_A) || name.endsWith(LORA_B);

/** The adapter term scale·(x·A)·B, the scale applied to the rank-r intermediate (the smallest tensor). */
export function loraTerm(g: GraphBuilder, x: Value, a: Value, b: Value, scale: number): Value {
  const down = g.matmul(x, a);
  return g.matmul(scale === 1 ? down : g.mul(down, scale), b);
}

/**
 * Run `build` with adapters on its linear layers: a layer `${prefix}${name}` whose `name` matches
 * c.targets gets parameters `${adapters}${name}.lora_a` and `.lora_b`. `adapters` defaults to `prefix`;
 * another prefix lets the adapted network use the frozen parameters of a copy built with `prefix`
 * (halo-dpo's policy = the reference's weights + adapters). Throws when no layer matches.
 */
export function withLora<T>(g: GraphBuilder, c: LoraConfig, names: { prefix: string; adapters?: string }, build: () => T): T {
  if (!Number.isInteger(c.rank) || c.rank < 1) throw new Error(`LoRA rank must be a positive integer, got ${c.rank}`);
  const { prefix, adapters = prefix } = names;
  const seen: string[] = [];
  let adapted = 0;
  const out = g.withLinearHook(
    (g, name, x, w) => {
      if (!name.startsWith(prefix)) return undefined;
      const layer = name.slice(prefix.length);
      seen.push(layer);
      if (!c.targets.test(layer)) return undefined;
      const [inF, outF] = w.shape as [number, number];
      const a = g.param(`${adapters}${layer}${LORA_A}`, [inF, c.rank], { init: { kaiming: 'uniform', fanIn: inF }, dtype: w.dtype });
      const b = g.param(`${adapters}${layer}${LORA_B}`, [c.rank, outF], { init: 'zeros', dtype: w.dtype });
      adapted++;
      return g.scope('lora', () => loraTerm(g, x, a, b, loraScale(c)));
    },
    build,
  );
  if (!adapted) throw new Error(`LoRA targets /${c.targets.source}/ match no linear layer (layers: ${seen.join(', ') || 'none'})`);
  return out;
}

/** The names (`${prefix}`-relative, in build order) of the nn.ts linear layers that `build` makes under `prefix`. */
export function linearLayers(build: (g: GraphBuilder) => void, prefix = ''): string[] {
  const g = new GraphBuilder();
  const seen: string[] = [];
  g.withLinearHook(
    (_g, name) => {
      if (name.startsWith(prefix)) seen.push(name.slice(prefix.length));
      return undefined;
    },
    () => build(g),
  );
  return seen;
}

/**
 * Weights with trained adapters folded in: for every layer L of `adapters` (`L.lora_a`, `L.lora_b`),
 * `L.weight` becomes W + (α/r)·A·B (accumulated in float64); every other tensor is passed through.
 */
export function mergeLora(weights: Record<string, Tensor>, adapters: Record<string, Tensor>, c: LoraConfig): Record<string, Tensor> {
  const out = { ...weights };
  const s = loraScale(c);
  for (const an of Object.keys(adapters).filter((k) => k.endsWith(LORA_A))) {
    const layer = an.slice(0, -LORA_A.length);
    const A = adapters[an]!;
    const B = adapters[layer + LORA_B];
    const W = weights[`${layer}.weight`];
    if (!B) throw new Error(`adapter ${layer}: ${layer}${LORA_B} is missing`);
    if (!W) throw new Error(`adapter ${layer}: the weights have no ${layer}.weight`);
    const [n, r] = A.shape as [number, number];
    const m = B.shape[1]!;
    if (W.shape.join() !== `${n},${m}` || B.shape[0] !== r) throw new Error(`adapter ${layer}: A [${A.shape}] · B [${B.shape}] does not fit ${layer}.weight [${W.shape}]`);
    const merged = new Float64Array(n * m);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < m; j++) {
        let acc = 0;
        for (let k = 0; k < r; k++) acc += Number(A.data[i * r + k]) * Number(B.data[k * m + j]);
        merged[i * m + j] = Number(W.data[i * m + j]) + s * acc;
      }
    }
    out[`${layer}.weight`] = tensor(W.dtype, W.shape, merged);
  }
  return out;
}
