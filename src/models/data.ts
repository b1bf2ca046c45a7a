// Training batches for the generator from the shapes world, made in-process: scenes of the train split
// rendered with the world's renderer, noised at random times with the schedule. In: the model config,
// a tokenizer, a step number and a seed. Out: feeds for the pretraining step (xt, t, ids, x0, w). The
// batch of a step depends only on (seed, step), so a resumed run sees the same data.

import { Rng } from '../graph/rng.js';
import { Tensor, tensor } from '../graph/tensor.js';
import { allScenes, generateScenes } from '../world/split.js';
import { formatScene, type Scene } from '../world/grammar.js';
import { renderScene } from '../world/render.js';
import { Schedule } from './schedule.js';
import { Tokenizer } from './tokenizer.js';
import { T2VConfig } from './t2v.js';

export interface DataOptions {
  /** Share of two-object scenes (the rest have one object). */
  twoObjects: number;
  /** Probability of replacing the prompt by the unconditional input (classifier-free guidance). */
  condDrop: number;
}

export const DEFAULT_DATA: DataOptions = { twoObjects: 0.15, condDrop: 0.1 };

/** Standard normals into out, two per pair of uniforms (Box–Muller). */
export function fillNormal(rng: Rng, out: Float32Array, offset = 0, n = out.length - offset) {
  let i = 0;
  while (i < n) {
    let u = rng.uniform();
    while (u === 0) u = rng.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    const a = 2 * Math.PI * rng.uniform();
    out[offset + i++] = r * Math.cos(a);
    if (i < n) out[offset + i++] = r * Math.sin(a);
  }
}

/** Frames T·H·W·3 bytes → channels-first C·T·H·W values in [−1, 1], written at out[offset…]. */
export function thwcToCthw(bytes: Uint8Array, T: number, H: number, W: number, out: Float32Array, offset = 0) {
  const plane = T * H * W;
  for (let p = 0; p < plane; p++) {
    out[offset + p] = bytes[3 * p] / 127.5 - 1;
    out[offset + plane + p] = bytes[3 * p + 1] / 127.5 - 1;
    out[offset + 2 * plane + p] = bytes[3 * p + 2] / 127.5 - 1;
  }
}

/** Channels-first values in [−1, 1] → T·H·W·3 bytes. */
export function cthwToThwc(x: Float32Array, T: number, H: number, W: number, offset = 0): Uint8Array {
  const plane = T * H * W;
  const out = new Uint8Array(plane * 3);
  for (let p = 0; p < plane; p++)
    for (let c = 0; c < 3; c++) {
      const v = Math.round((x[offset + c * plane + p] + 1) * 127.5);
      out[3 * p + c] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  return out;
}

export class WorldData {
  private singles: Scene[];
  readonly schedule: Schedule;
  constructor(
    readonly config: T2VConfig,
    readonly tokenizer: Tokenizer,
    readonly seed: number,
    readonly opts: DataOptions = DEFAULT_DATA,
  ) {
    this.singles = [...allScenes('train', 1)];
    this.schedule = new Schedule(config.schedule);
  }

  scene(rng: Rng): Scene {
    if (rng.uniform() < this.opts.twoObjects) return generateScenes({ n: 1, seed: rng.nextU32(), split: 'train', objects: 2 })[0];
    return this.singles[rng.int(this.singles.length)];
  }

  batch(step: number, size: number): Record<string, Tensor> {
    const { frames: T, height: H, width: W } = this.config.video;
    const n = 3 * T * H * W;
    const rng = new Rng(`pretrain/${this.seed}/${step}`);
    const x0 = new Float32Array(size * n);
    const xt = new Float32Array(size * n);
    const eps = new Float32Array(n);
    const ts = new Float32Array(size);
    const w = new Float32Array(size);
    const prompts: (string | null)[] = [];
    for (let b = 0; b < size; b++) {
      const scene = this.scene(rng);
      thwcToCthw(renderScene(scene, { frames: T, height: H, width: W }, rng.nextU32()), T, H, W, x0, b * n);
      prompts.push(rng.uniform() < this.opts.condDrop ? null : formatScene(scene));
      const t = rng.uniform();
      ts[b] = t;
      w[b] = this.schedule.x0LossWeight(t);
      const { alpha, sigma } = this.schedule.alphaSigma(t);
      fillNormal(rng, eps);
      for (let i = 0; i < n; i++) xt[b * n + i] = alpha * x0[b * n + i] + sigma * eps[i];
    }
    const v = [size, 3, T, H, W];
    return {
      xt: tensor('float32', v, xt),
      t: tensor('float32', [size], ts),
      ids: tensor('int64', [size, this.tokenizer.maxLength], this.tokenizer.batch(prompts)),
      x0: tensor('float32', v, x0),
      w: tensor('float32', [size], w),
    };
  }
}
