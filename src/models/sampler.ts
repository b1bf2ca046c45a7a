// DDIM (η = 0) and DDPM (ancestral) samplers with classifier-free guidance, over Float32Arrays in JS.
// In: a denoiser that predicts x0 for a batch of noisy videos at times t (with or without the text), the
// schedule, per-sample seeds. Out: clean videos in [−1, 1], one per seed. Each sample draws its noise
// from its own stream seeded by its seed, so batching does not change a video.

import { Rng } from '../graph/rng.js';
import { Schedule } from './schedule.js';

export type SamplerName = 'ddim' | 'ddpm';
export const SAMPLERS: SamplerName[] = ['ddim', 'ddpm'];

export interface SamplerSettings {
  name: SamplerName;
  steps: number;
  /** Classifier-free guidance scale: 1 = conditional only, 0 = unconditional only. */
  guidance: number;
}

/**
 * Predicts x0 for `n` rows of `x` (n·size values) at times `t` (n values); row i uses the text of
 * sample `rows[i]` when `cond[i]`, the unconditional input when not.
 */
export type PredictX0 = (x: Float32Array, t: Float32Array, rows: number[], cond: boolean[]) => Promise<Float32Array>;

export interface SampleOptions {
  /** Values per video (C·T·H·W). */
  size: number;
  seeds: number[];
  settings: SamplerSettings;
  schedule: Schedule;
  predict: PredictX0;
  /** Clip the x0 estimate to [−1, 1] at every step (default true). */
  clip?: boolean;
  onStep?: (step: number, steps: number) => void;
}

/** The noise stream of one sample: initial noise first, then DDPM's per-step noise. */
export function noiseStream(seed: number): Rng {
  return new Rng(`halo-sample/${seed}`);
}

export function normals(rng: Rng, n: number, out = new Float32Array(n), offset = 0): Float32Array {
  for (let i = 0; i < n; i++) out[offset + i] = rng.normal();
  return out;
}

/** Run the sampler; returns n·size values in [−1, 1] (clipped), row i for seeds[i]. */
export async function sample(o: SampleOptions): Promise<Float32Array> {
  const { size, seeds, settings, schedule } = o;
  const n = seeds.length;
  const clip = o.clip ?? true;
  const rngs = seeds.map(noiseStream);
  const x = new Float32Array(n * size);
  rngs.forEach((r, i) => normals(r, size, x, i * size));
  const ts = schedule.grid(settings.steps);
  const w = settings.guidance;
  const useCond = w !== 0;
  const useUncond = w !== 1;
  for (let k = 0; k < settings.steps; k++) {
    const t = ts[k];
    const s = ts[k + 1];
    // one batched call: conditional rows first, then unconditional rows
    const rows: number[] = [];
    const cond: boolean[] = [];
    if (useCond) for (let i = 0; i < n; i++) (rows.push(i), cond.push(true));
    if (useUncond) for (let i = 0; i < n; i++) (rows.push(i), cond.push(false));
    const m = rows.length;
    const xin = m === n ? x : new Float32Array(m * size);
    if (m !== n) {
      xin.set(x, 0);
      xin.set(x, n * size);
    }
    const pred = await o.predict(xin, new Float32Array(m).fill(t), rows, cond);
    if (pred.length !== m * size) throw new Error(`denoiser returned ${pred.length} values, expected ${m * size}`);
    const x0 = new Float32Array(n * size);
    if (useCond && useUncond) {
      for (let i = 0; i < n * size; i++) {
        const u = pred[n * size + i];
        x0[i] = u + w * (pred[i] - u);
      }
    } else x0.set(pred.subarray(0, n * size));
    if (clip) for (let i = 0; i < x0.length; i++) x0[i] = x0[i] > 1 ? 1 : x0[i] < -1 ? -1 : x0[i];
    step(settings.name, schedule, t, s, x, x0, rngs, size);
    o.onStep?.(k + 1, settings.steps);
  }
  return x;
}

/** One update from time t to s < t, in place on x, given the x0 estimate. */
export function step(name: SamplerName, schedule: Schedule, t: number, s: number, x: Float32Array, x0: Float32Array, rngs: Rng[], size: number) {
  const at = schedule.alphaSigma(t);
  if (s <= 0) {
    x.set(x0);
    return;
  }
  const as = schedule.alphaSigma(s);
  if (name === 'ddim') {
    // ε̂ = (x_t − α_t x̂0) / σ_t ;  x_s = α_s x̂0 + σ_s ε̂
    const c = as.sigma / at.sigma;
    const d = as.alpha - c * at.alpha;
    for (let i = 0; i < x.length; i++) x[i] = d * x0[i] + c * x[i];
    return;
  }
  // DDPM posterior q(x_s | x_t, x0): α_{t|s} = α_t/α_s, σ²_{t|s} = σ_t² − α_{t|s}² σ_s²
  const ats = at.alpha / as.alpha;
  const s2ts = Math.max(at.sigma ** 2 - ats ** 2 * as.sigma ** 2, 0);
  const cx = (ats * as.sigma ** 2) / at.sigma ** 2;
  const c0 = (as.alpha * s2ts) / at.sigma ** 2;
  const std = Math.sqrt((s2ts * as.sigma ** 2) / at.sigma ** 2);
  const noise = new Float32Array(size);
  for (let b = 0; b < rngs.length; b++) {
    normals(rngs[b], size, noise);
    const o = b * size;
    for (let i = 0; i < size; i++) x[o + i] = cx * x[o + i] + c0 * x0[o + i] + std * noise[i];
  }
}

/** Convert a model output to an x0 estimate for its parameterisation (in place when possible). */
export function toX0(prediction: 'x0' | 'eps' | 'v', out: Float32Array, x: Float32Array, t: Float32Array, schedule: Schedule, size: number): Float32Array {
  if (prediction === 'x0') return out;
  const r = new Float32Array(out.length);
  for (let b = 0; b < t.length; b++) {
    const { alpha, sigma } = schedule.alphaSigma(t[b]);
    const o = b * size;
    if (prediction === 'eps') {
      const a = Math.max(alpha, 1e-4);
      for (let i = 0; i < size; i++) r[o + i] = (x[o + i] - sigma * out[o + i]) / a;
    } else for (let i = 0; i < size; i++) r[o + i] = alpha * x[o + i] - sigma * out[o + i];
  }
  return r;
}

/** Values in [−1, 1] to bytes, rounding. */
export function toBytes(x: Float32Array, offset = 0, n = x.length - offset): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = Math.round((x[offset + i] + 1) * 127.5);
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return out;
}

/** Bytes to values in [−1, 1]. */
export function fromBytes(b: Uint8Array, out = new Float32Array(b.length), offset = 0): Float32Array {
  for (let i = 0; i < b.length; i++) out[offset + i] = b[i] / 127.5 - 1;
  return out;
}
