// The pairs of a halo-dpo run, in memory: read and checked against the model (same prompt on both
// sides, patch preferences of the grid's length, one patch geometry for all pairs, videos of the
// model's size), videos decoded to channels-first values in [−1, 1], prompts tokenized. And the
// batch of a step: P pairs drawn with a step-keyed RNG, one timestep and one noise per pair shared by
// winner and loser, and each row's training target and loss weight in the model's parameterisation
// (x0, ε or v). In: pair record files, the model's sizes, prediction type and tokenizer. Out: tensors
// for the Gran-DPO step graph.
import { DataError, HaloError, type Place } from '../cli/errors.js';
import { Rng } from '../graph/rng.js';
import { tensor, type Tensor } from '../graph/tensor.js';
import { readRecords, resolveMedia, type ReadOptions } from '../io/jsonl.js';
import { readVideo } from '../media/video.js';
import { fillNormal, thwcToCthw } from '../models/data.js';
import { Schedule } from '../models/schedule.js';
import type { Tokenizer } from '../models/tokenizer.js';
import { PairRecord } from '../records/schemas.js';
import type { Box, DpoShape } from './dpo-graph.js';

/** What the generator's network outputs (the manifest's `prediction`). */
export type Prediction = 'x0' | 'eps' | 'v';

/** The sizes of a batch and the parameterisation of its targets (default x0). */
export interface DpoBatchShape extends DpoShape {
  prediction?: Prediction;
}

export interface DpoPair {
  place: Place;
  prompt: string;
  win: Float32Array;
  lose: Float32Array;
  ids: number[];
  pref: Float32Array;
  weight: Float32Array;
}

export interface DpoData {
  pairs: DpoPair[];
  /** Patch boxes of the pairs' grid ([] for video-only pairs). */
  boxes: Box[];
  grid: [number, number, number] | null;
}

function sameBoxes(a: readonly Box[], b: readonly Box[]): boolean {
  return a.length === b.length && a.every((x, i) => x.every((v, j) => v === b[i]![j]));
}

/** The whole video as one box: video-level pairs without patch geometry get a single "patch". */
function wholeVideo(c: DpoShape): Box {
  return [0, c.video.frames, 0, c.video.height, 0, c.video.width];
}

export async function loadPairs(sources: string[], c: DpoShape, tokenizer: Tokenizer, read: ReadOptions, needPatches: boolean): Promise<DpoData> {
  const pairs: DpoPair[] = [];
  let boxes: Box[] | undefined;
  let grid: [number, number, number] | null = null;
  const { frames: T, height: H, width: W } = c.video;
  const n = 3 * T * H * W;
  for await (const { record, place, dir } of readRecords(sources, PairRecord, read)) {
    for (const side of ['win', 'lose'] as const) {
      const s = record[side];
      if (s.id !== record.prompt_id || s.prompt !== record.prompt) {
        throw new DataError(place, `${side}.prompt`, `the ${side === 'win' ? 'winner' : 'loser'} belongs to prompt '${s.id}' ("${s.prompt}"), the pair to '${record.prompt_id}' ("${record.prompt}"): pairs must compare videos of one prompt`);
      }
    }
    const geom = (record.win as { patches?: { boxes?: Box[]; grid?: [number, number, number]; video?: number[] } }).patches;
    let pairBoxes: Box[];
    if (record.patch_pref.length === 0) {
      if (needPatches) throw new DataError(place, 'patch_pref', 'empty: this mode needs per-patch preferences (make pairs from patch scores)');
      pairBoxes = boxes ?? [wholeVideo(c)];
    } else {
      if (!geom?.boxes) throw new DataError(place, 'win.patches', 'missing: per-patch preferences need the patch geometry of the videos (halo-patchify)');
      if (geom.video && (geom.video[0] !== T || geom.video[1] !== H || geom.video[2] !== W)) {
        throw new DataError(place, 'win.patches.video', `the pairs' patches were cut on a ${geom.video.join('×')} video, the model makes ${T}×${H}×${W}: the model's grid differs from the pairs' grid`);
      }
      pairBoxes = geom.boxes;
      if (record.patch_pref.length !== pairBoxes.length) {
        throw new DataError(place, 'patch_pref', `expected ${pairBoxes.length} entries (one per patch of the grid), got ${record.patch_pref.length}`);
      }
      if (record.patch_weight.length !== pairBoxes.length) {
        throw new DataError(place, 'patch_weight', `expected ${pairBoxes.length} entries (one per patch of the grid), got ${record.patch_weight.length}`);
      }
      for (const b of pairBoxes) {
        if (b[1] > T || b[3] > H || b[5] > W || b[0] < 0 || b[2] < 0 || b[4] < 0) {
          throw new DataError(place, 'win.patches.boxes', `box [${b.join(',')}] lies outside the model's ${T}×${H}×${W} video`);
        }
      }
    }
    if (boxes && !sameBoxes(boxes, pairBoxes)) throw new DataError(place, 'win.patches', 'this pair was cut on another patch grid than the first pair');
    boxes = pairBoxes;
    grid = geom?.grid ?? grid;
    const videos: Float32Array[] = [];
    for (const side of ['win', 'lose'] as const) {
      const s = record[side];
      const file = resolveMedia(s.video, dir);
      let v;
      try {
        v = await readVideo(file);
      } catch (e) {
        throw new DataError(place, `${side}.video`, (e as Error).message);
      }
      if (v.frames !== T || v.height !== H || v.width !== W) {
        throw new DataError(place, `${side}.video`, `${file} is ${v.frames}×${v.height}×${v.width} (frames×height×width), the model makes ${T}×${H}×${W}`);
      }
      const x = new Float32Array(n);
      thwcToCthw(v.data, T, H, W, x, 0);
      videos.push(x);
    }
    let ids: number[];
    try {
      ids = tokenizer.encode(record.prompt);
    } catch (e) {
      throw new DataError(place, 'prompt', (e as Error).message);
    }
    const np = pairBoxes.length;
    pairs.push({
      place,
      prompt: record.prompt,
      win: videos[0]!,
      lose: videos[1]!,
      ids,
      pref: record.patch_pref.length ? Float32Array.from(record.patch_pref) : new Float32Array(np),
      weight: record.patch_weight.length ? Float32Array.from(record.patch_weight) : new Float32Array(np),
    });
  }
  if (pairs.length === 0) throw new HaloError('no pairs to train on (the input was empty)');
  return { pairs, boxes: boxes!, grid };
}

/**
 * The batch of micro-step `micro` of optimizer step `step`: P pairs as 2P rows (winners, then losers).
 * Each row's target and loss weight are those of the model's training loss (DESIGN.md §6): x0 with
 * w = min(SNR + 1, 5) for x0-prediction, ε with w = 1 for ε-prediction, v = α·ε − σ·x0 with w = 1
 * for v-prediction.
 */
export function dpoBatch(data: DpoData, c: DpoBatchShape, schedule: Schedule, seed: number, step: number, micro: number, P: number): Record<string, Tensor> {
  const rng = new Rng(`dpo/${seed}/${step}/${micro}`);
  const { frames: T, height: H, width: W } = c.video;
  const n = 3 * T * H * W;
  const np = data.boxes.length;
  const rows = 2 * P;
  const L = c.text.length;
  const prediction = c.prediction ?? 'x0';
  const target = new Float32Array(rows * n);
  const xt = new Float32Array(rows * n);
  const ts = new Float32Array(rows);
  const w = new Float32Array(rows);
  const ids = new BigInt64Array(rows * L);
  const pref = new Float32Array(P * np);
  const weight = new Float32Array(P * np);
  const eps = new Float32Array(n);
  for (let i = 0; i < P; i++) {
    const pair = data.pairs[rng.int(data.pairs.length)]!;
    const t = rng.uniform();
    const { alpha, sigma } = schedule.alphaSigma(t);
    fillNormal(rng, eps);
    pref.set(pair.pref, i * np);
    weight.set(pair.weight, i * np);
    for (const [row, video] of [[i, pair.win], [P + i, pair.lose]] as const) {
      for (let k = 0; k < n; k++) xt[row * n + k] = alpha * video[k]! + sigma * eps[k]!;
      if (prediction === 'x0') target.set(video, row * n);
      else if (prediction === 'eps') target.set(eps, row * n);
      else for (let k = 0; k < n; k++) target[row * n + k] = alpha * eps[k]! - sigma * video[k]!;
      ts[row] = t;
      w[row] = prediction === 'x0' ? schedule.x0LossWeight(t) : 1;
      for (let j = 0; j < L; j++) ids[row * L + j] = BigInt(pair.ids[j]!);
    }
  }
  const v = [rows, 3, T, H, W];
  return {
    xt: tensor('float32', v, xt),
    t: tensor('float32', [rows], ts),
    ids: tensor('int64', [rows, L], ids),
    target: tensor('float32', v, target),
    w: tensor('float32', [rows], w),
    pref: tensor('float32', [P, np], pref),
    weight: tensor('float32', [P, np], weight),
  };
}
