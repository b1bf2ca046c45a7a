// A corpus of training videos for the reward model: shapes-world renders with a wide spread of
// defects, so that the oracle's labels span the 1–4 scale at video and patch level. In: a split, a
// seed, a count and the clip size. Out: the videos (RGB bytes) with the scene they are judged against
// and the recipe that made them (scripts/reward-data.ts writes them as files and sample records).
//
// Recipe per video (deterministic for seed and index; `variantOf`): prompts come in groups of
// --per-prompt videos (different clip seeds); each video is, by draw,
//   clean (25%)           the prompt's scene as rendered;
//   mismatched (15%)      a scene differing in one attribute (colour, shape, motion or background)
//                         rendered for the prompt, so text alignment has something to judge;
//   corrupted (60%)       1–3 corruptions of src/world/corrupt.ts (blur, noise, colour shift,
//                         flicker, freeze, teleport) of random strength, each over a region that is
//                         the whole clip (15%) or a box of 4–16 frames and 6–20 pixels, centred on an
//                         object at its start frame in 70% of draws.
import { corrupt, CORRUPTIONS, type CorruptionKind, type Region } from '../world/corrupt.js';
import { BACKGROUNDS, COLOURS, MOTIONS, SHAPES, type Scene } from '../world/grammar.js';
import { planScene } from '../world/motion.js';
import { renderScene } from '../world/render.js';
import { generateScenes, type Split } from '../world/split.js';

export const RECIPE = 'halo-rm-data@1';

export interface Dims {
  frames: number;
  height: number;
  width: number;
}

export interface Applied {
  kind: CorruptionKind;
  strength: number;
  region: Region;
}

export interface Variant {
  /** The scene of the prompt (what the video is judged against). */
  scene: Scene;
  /** The scene rendered (differs from `scene` for mismatched videos). */
  rendered: Scene;
  seed: number;
  corruptions: Applied[];
  data: Uint8Array;
}

/** mulberry32: a small seeded generator (numbers in [0, 1)). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(xs: readonly T[], r: () => number): T => xs[Math.floor(r() * xs.length)]!;
const range = (lo: number, hi: number, r: () => number) => lo + (hi - lo) * r();

const STRENGTH: Record<CorruptionKind, [number, number]> = {
  blur: [0.6, 2.5],
  noise: [8, 60],
  colour_shift: [30, 180],
  flicker: [10, 80],
  freeze: [2, 8],
  teleport: [2, 10],
};

/** A scene that differs from `s` in one attribute. */
function mismatch(s: Scene, r: () => number): Scene {
  const objects = s.objects.map((o) => ({ ...o }));
  const o = objects[Math.floor(r() * objects.length)]!;
  const what = Math.floor(r() * 4);
  const other = <T>(xs: readonly T[], cur: T): T => pick(xs.filter((x) => x !== cur), r);
  if (what === 0) {
    const used = new Set(objects.map((x) => x.colour));
    o.colour = pick(COLOURS.filter((c) => !used.has(c)), r);
  } else if (what === 1) o.shape = other(SHAPES, o.shape);
  else if (what === 2) o.motion = other(MOTIONS, o.motion);
  else return { objects, background: other(BACKGROUNDS, s.background) };
  return { objects, background: s.background };
}

/** One video of the recipe (see the header). */
export function variantOf(scene: Scene, dims: Dims, seed: number, draw: number): Variant {
  const r = rng(draw * 7919 + 17);
  const u = r();
  if (u < 0.25) return { scene, rendered: scene, seed, corruptions: [], data: renderScene(scene, dims, seed) };
  if (u < 0.4) {
    const rendered = mismatch(scene, r);
    return { scene, rendered, seed, corruptions: [], data: renderScene(rendered, dims, seed) };
  }
  let data = renderScene(scene, dims, seed);
  const plan = planScene(scene, dims, seed);
  const corruptions: Applied[] = [];
  const n = 1 + Math.floor(r() * 3);
  for (let k = 0; k < n; k++) {
    const kind = pick(CORRUPTIONS, r);
    const [lo, hi] = STRENGTH[kind];
    const strength = kind === 'freeze' || kind === 'teleport' ? Math.round(range(lo, hi, r)) : Math.round(range(lo, hi, r) * 100) / 100;
    let region: Region;
    if (r() < 0.15) region = [0, dims.frames, 0, dims.height, 0, dims.width];
    else {
      const len = Math.min(dims.frames, 4 + Math.floor(r() * 13));
      const t0 = Math.floor(r() * (dims.frames - len + 1));
      const h = 6 + Math.floor(r() * 15);
      const w = 6 + Math.floor(r() * 15);
      let cy: number;
      let cx: number;
      if (r() < 0.7) {
        const o = pick(plan.objects, r);
        cy = o.y[t0]!;
        cx = o.x[t0]!;
      } else {
        cy = r() * dims.height;
        cx = r() * dims.width;
      }
      const y0 = Math.max(0, Math.min(dims.height - h, Math.round(cy - h / 2)));
      const x0 = Math.max(0, Math.min(dims.width - w, Math.round(cx - w / 2)));
      region = [t0, t0 + len, y0, y0 + h, x0, x0 + w];
    }
    const angle = r() * 2 * Math.PI;
    data = corrupt({ ...dims, data }, kind, { strength, region, seed: draw * 31 + k, direction: [Math.cos(angle), Math.sin(angle)] });
    corruptions.push({ kind, strength, region });
  }
  return { scene, rendered: scene, seed, corruptions, data };
}

export interface DataOptions {
  n: number;
  split: Split;
  seed: number;
  perPrompt: number;
  dims: Dims;
}

/** The recipe's videos, lazily: prompts of the split drawn with `seed`, `perPrompt` videos each. */
export function* variants(o: DataOptions): Generator<{ promptId: string; sampleId: string; variant: Variant }> {
  const prompts = Math.ceil(o.n / o.perPrompt);
  const scenes = generateScenes({ n: prompts, seed: o.seed, split: o.split, objects: 'mixed' });
  const prefix = o.split === 'eval' ? 'e' : 'p';
  let i = 0;
  for (let p = 0; p < scenes.length && i < o.n; p++) {
    for (let k = 0; k < o.perPrompt && i < o.n; k++, i++) {
      const promptId = `${prefix}${String(p).padStart(4, '0')}`;
      yield { promptId, sampleId: `${promptId}-v${k}`, variant: variantOf(scenes[p]!, o.dims, o.seed * 1000 + k, o.seed * 1_000_003 + p * 101 + k) };
    }
  }
}

