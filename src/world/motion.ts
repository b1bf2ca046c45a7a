// Where each object of a scene is in each frame: the seed picks start position, size, speed (or
// bounce height, growth) within the documented limits below, and keeps objects in frame (and two
// objects apart when it can). In: a scene, clip dimensions and a seed; out: a ScenePlan (centre
// x, y and size s per frame and object). Lengths are in pixels at 32×32 and scale with
// min(height, width)/32. The oracle reads the same limits to know what a prompt asks for.
import { directionOf, formatScene, type Background, type Motion, type Scene, type Shape, type Colour } from './grammar.js';
import { hashString, makeRng, mixSeed, type Rng } from './random.js';
import { extentOf } from './shapes.js';

export const WORLD_LIMITS = {
  /** Size s (radius of the equal-area circle) of objects that do not grow. */
  size: [3.5, 5.0] as const,
  /** Growing objects: start size and growth factor over the clip. */
  growStart: [2.8, 3.5] as const,
  growFactor: [1.6, 1.9] as const,
  /** Path length of straight motions over the whole clip. */
  travel: [10, 16] as const,
  /** Bounces: height of the bounce and number of half swings (up, down, up: 3). */
  bounceHeight: [6, 9] as const,
  bounceHalfSwings: 3,
  /** Free pixels kept between an object and the frame's edge. */
  margin: 1,
  /** Objects are drawn apart (their boxes this many pixels apart) when the seed allows. */
  gap: 1,
};

export interface Dims {
  frames: number;
  height: number;
  width: number;
}

export interface ObjectTrack {
  shape: Shape;
  colour: Colour;
  motion: Motion;
  /** Centre and size per frame. */
  x: Float64Array;
  y: Float64Array;
  s: Float64Array;
}

export interface ScenePlan extends Dims {
  background: Background;
  objects: ObjectTrack[];
}

/** Lengths scale with the clip's smaller side (32 px is the reference). */
export function scaleOf(dims: { height: number; width: number }): number {
  return Math.min(dims.height, dims.width) / 32;
}

const clampRange = (lo: number, hi: number, rng: Rng): number => (hi <= lo ? (lo + hi) / 2 : rng.range(lo, hi));

/** An object's motion as parameters: centre and size at time u ∈ [0, 1]. */
interface Path {
  o: Scene['objects'][number];
  at: (u: number) => [number, number, number];
}

function planObject(o: Scene['objects'][number], dims: Dims, rng: Rng): Path {
  const { height: H, width: W } = dims;
  const sc = scaleOf(dims);
  const m = WORLD_LIMITS.margin;
  const L = WORLD_LIMITS;
  if (o.motion === 'grow') {
    const s0 = rng.range(L.growStart[0], L.growStart[1]) * sc;
    const g = rng.range(L.growFactor[0], L.growFactor[1]);
    const e = extentOf(o.shape, s0 * g);
    const cx = clampRange(e.left + m, W - e.right - m, rng);
    const cy = clampRange(e.up + m, H - e.down - m, rng);
    return { o, at: (u) => [cx, cy, s0 * (1 + (g - 1) * u)] };
  }
  if (o.motion === 'bounce') {
    const size = rng.range(L.size[0], L.size[1]) * sc;
    const e = extentOf(o.shape, size);
    const room = H - e.up - e.down - 2 * m;
    const A = Math.max(0, Math.min(rng.range(L.bounceHeight[0], L.bounceHeight[1]) * sc, room));
    const cx = clampRange(e.left + m, W - e.right - m, rng);
    const floor = clampRange(e.up + m + A, H - e.down - m, rng);
    const k = L.bounceHalfSwings / 2;
    return { o, at: (u) => [cx, floor - A * Math.abs(Math.sin(Math.PI * k * u)), size] };
  }
  const size = rng.range(L.size[0], L.size[1]) * sc;
  const e = extentOf(o.shape, size);
  const dir = directionOf(o.motion) ?? [0, 0];
  let D = o.motion === 'still' ? 0 : rng.range(L.travel[0], L.travel[1]) * sc;
  const roomX = W - e.left - e.right - 2 * m;
  const roomY = H - e.up - e.down - 2 * m;
  if (dir[0] !== 0) D = Math.min(D, Math.max(0, roomX) / Math.abs(dir[0]));
  if (dir[1] !== 0) D = Math.min(D, Math.max(0, roomY) / Math.abs(dir[1]));
  const dx = D * dir[0];
  const dy = D * dir[1];
  const x0 = clampRange(e.left + m - Math.min(dx, 0), W - e.right - m - Math.max(dx, 0), rng);
  const y0 = clampRange(e.up + m - Math.min(dy, 0), H - e.down - m - Math.max(dy, 0), rng);
  return { o, at: (u) => [x0 + dx * u, y0 + dy * u, size] };
}

function materialize(p: Path, T: number): ObjectTrack {
  const x = new Float64Array(T);
  const y = new Float64Array(T);
  const s = new Float64Array(T);
  for (let t = 0; t < T; t++) [x[t], y[t], s[t]] = p.at(T > 1 ? t / (T - 1) : 0);
  return { shape: p.o.shape, colour: p.o.colour, motion: p.o.motion, x, y, s };
}

/** Frames in which the boxes of two paths (plus the gap) overlap; stops counting past `limit`. */
function overlappingFrames(a: Path, b: Path, T: number, limit: number): number {
  let n = 0;
  const g = WORLD_LIMITS.gap;
  const ua = extentOf(a.o.shape, 1);
  const ub = extentOf(b.o.shape, 1);
  for (let t = 0; t < T && n <= limit; t++) {
    const u = T > 1 ? t / (T - 1) : 0;
    const [ax, ay, as] = a.at(u);
    const [bx, by, bs] = b.at(u);
    const sepX = ax + ua.right * as + g <= bx - ub.left * bs || bx + ub.right * bs + g <= ax - ua.left * as;
    const sepY = ay + ua.down * as + g <= by - ub.up * bs || by + ub.down * bs + g <= ay - ua.up * as;
    if (!sepX && !sepY) n++;
  }
  return n;
}

/** The seed of a clip: the render seed mixed with the scene's text, so scenes differ for one seed. */
export function clipSeed(scene: Scene, seed: number): number {
  return mixSeed(seed, hashString(formatScene(scene)));
}

/** Layouts tried for a two-object clip before settling for the least overlapping one. */
export const LAYOUT_ATTEMPTS = 400;

/** Plan a clip: deterministic for (scene, dims, seed). */
export function planScene(scene: Scene, dims: Dims, seed: number): ScenePlan {
  const rng = makeRng(clipSeed(scene, seed));
  let best: Path[] | undefined;
  let bestOverlap = Infinity;
  for (let attempt = 0; attempt < (scene.objects.length > 1 ? LAYOUT_ATTEMPTS : 1); attempt++) {
    const paths = scene.objects.map((o) => planObject(o, dims, rng));
    const overlap = paths.length > 1 ? overlappingFrames(paths[0]!, paths[1]!, dims.frames, bestOverlap) : 0;
    if (overlap < bestOverlap) {
      best = paths;
      bestOverlap = overlap;
    }
    if (overlap === 0) break;
  }
  return { ...dims, background: scene.background, objects: best!.map((p) => materialize(p, dims.frames)) };
}
