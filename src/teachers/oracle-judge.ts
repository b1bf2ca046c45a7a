// The oracle's judgement (docs/oracle.md): a pure function from a parsed prompt, a clip's RGB
// frames and patch boxes to scores 1–4 on the five aspects (plus overall) for the video and for
// every patch, and per-video facts (objects seen, colour, shape and motion matches). Every score
// is 1 + 3·q with q ∈ [0, 1] a product of penalties, each a function of one measured quantity.
import { ASPECTS, overallOf, SCORE_KEYS, type Aspect, type ScoreKey } from '../records/aspects.js';
import { patchLayout, type Box } from '../halo/patches.js';
import { directionOf, MOTIONS, RGB_OF, type Motion, type Scene, type Shape } from '../world/grammar.js';
import { scaleOf, WORLD_LIMITS } from '../world/motion.js';
import { countBlobs, pixelMaps, type Frames, type PixelMaps } from './oracle-maps.js';
import { matchPair, MIN_REGION_MASS, observable, project, smoothFrames, type PairMotion } from './oracle-motion.js';
import { bestShape, minSolid, shapeScore, trackObjects, type Track } from './oracle-tracks.js';

export const ORACLE_NAME = 'oracle';
export const ORACLE_VERSION = 'oracle@1';

/**
 * A patch is defective when any of its five aspects scores below this (the patch defect rate
 * of halo-eval counts such patches).
 */
export const DEFECT_THRESHOLD = 2.5;

/** Whether a patch (or video) with these scores is defective: any aspect below DEFECT_THRESHOLD. */
export function isDefective(scores: Partial<Record<Aspect, number | null>>): boolean {
  return ASPECTS.some((a) => typeof scores[a] === 'number' && scores[a]! < DEFECT_THRESHOLD);
}

/** 1 up to x0, then 1/(1 + ((x − x0)/x1)²): a smooth penalty that never flattens out. */
export function soft(x: number, x0: number, x1: number): number {
  if (!(x > x0)) return 1;
  const z = (x - x0) / x1;
  return 1 / (1 + z * z);
}

/** Penalty for falling short of a target ratio: 1 from `full` up, smooth decay below. */
function reach(ratio: number, full: number, width: number): number {
  return soft(full - ratio, 0, width);
}

const score = (q: number): number => 1 + 3 * Math.min(1, Math.max(0, q));
const round3 = (v: number): number => Math.round(v * 1000) / 1000;

export interface ObjectFacts {
  colour: string;
  shape: Shape;
  motion: Motion;
  /** Share of frames in which the object (its colour's main body) is seen. */
  presence: number;
  /** The shape that fits best in most frames (null when never seen). */
  observedShape: Shape | null;
  /** The motion the track shows, in the grammar's terms ('absent' when seen in < 2 frames). */
  observedMotion: Motion | 'absent';
  /** Net displacement over the clip (pixels, least-squares fit of the centre). */
  displacement: [number, number];
  /** Size at the end over size at the start. */
  growth: number;
}

export interface VideoFacts {
  /** Median over frames of the number of separate non-background blobs. */
  objectCount: number;
  /** Every prompt object is seen in its colour in ≥ 75% of the frames. */
  colourMatch: boolean;
  /** Every prompt object's best-fitting shape (most frames) is the prompt's shape. */
  shapeMatch: boolean;
  /** Every prompt object moves as the prompt says (direction, bounce, growth or stillness). */
  directionMatch: boolean;
  /** The frame borders show the prompt's background colour. */
  backgroundMatch: boolean;
  objects: ObjectFacts[];
}

export type VideoScores = Record<ScoreKey, number>;
export type PatchScores = Record<ScoreKey, number[]>;

export interface Judgement {
  video: VideoScores;
  patch: PatchScores;
  /** The patch boxes scored (the ones given, or the default 4×4×4 grid). */
  boxes: Box[];
  facts: VideoFacts;
}

/** Thresholds and scales of the penalties, in pixels at 32×32 (scaled) or 0–255 levels. */
export const ORACLE_CONSTANTS = {
  /** visual_quality: mean residual colour distance (levels): tolerated, scale. */
  residual: [2, 12],
  /** visual_quality: mean steepest step of α at partial pixels (0.2 < α < 0.8): full marks, scale. */
  sharpness: [0.46, 0.12],
  /** visual_quality: partial pixels per frame from which sharpness is judged with full weight. */
  minEdge: 3,
  /** temporal_consistency: mean colour change between frames that coverage does not explain (levels). */
  flicker: [1, 8],
  /** temporal_consistency: |ln mass ratio| between frames beyond the tolerance. */
  massJump: [0.1, 0.25],
  /** factual_consistency: fragment pixels (per scale²) in the patch. */
  fragments: [0, 6],
  /** factual_consistency: unexplained change after the best translation (0–1). */
  unexplained: [0.15, 0.3],
  /** factual_consistency: motion a frame pair shows beyond what the prompt allows (pixels). */
  jump: [0, 1],
  /** text_alignment: share of object pixels in a colour the prompt does not name. */
  wrongColour: [0.05, 0.2],
} as const;

type Pair = readonly [number, number];

interface MotionModel {
  motion: Motion;
  dir: Pair | null;
  /** Slowest / fastest straight speed allowed (pixels per frame). */
  vmin: number;
  vmax: number;
  /** Bounce: least mean vertical speed; highest peak speed. */
  bounceMean: number;
  bouncePeak: number;
  /** Grow: least growth rate of ln(size) per frame. */
  growRate: number;
}

function motionModel(motion: Motion, T: number, sc: number): MotionModel {
  const L = WORLD_LIMITS;
  const steps = Math.max(1, T - 1);
  const vmin = (L.travel[0] * sc) / steps;
  const vmax = (L.travel[1] * sc) / steps;
  const bounceMean = (L.bounceHeight[0] * L.bounceHalfSwings * sc) / steps;
  const bouncePeak = (L.bounceHeight[1] * Math.PI * (L.bounceHalfSwings / 2) * sc) / steps;
  const growRate = Math.log(L.growFactor[0]) / steps;
  return { motion, dir: directionOf(motion), vmin, vmax, bounceMean, bouncePeak, growRate };
}

/** The default boxes when a record has none: a 4×4×4 grid (fewer parts on tiny clips). */
export function defaultBoxes(clip: Frames): Box[] {
  const grid: [number, number, number] = [Math.min(4, clip.frames), Math.min(4, clip.height), Math.min(4, clip.width)];
  return patchLayout([clip.frames, clip.height, clip.width], { grid }).boxes;
}

/** Least-squares slope of v over t (only finite values). */
function slope(ts: number[], vs: number[]): number {
  const n = ts.length;
  if (n < 2) return 0;
  const mt = ts.reduce((s, v) => s + v, 0) / n;
  const mv = vs.reduce((s, v) => s + v, 0) / n;
  let num = 0, den = 0;
  for (let i = 0; i < n; i++) {
    num += (ts[i]! - mt) * (vs[i]! - mv);
    den += (ts[i]! - mt) ** 2;
  }
  return den > 0 ? num / den : 0;
}

/** Direction reversals of a sequence, ignoring wiggles smaller than `h`. */
function reversals(vs: number[], h: number): number {
  let count = 0;
  let trend = 0;
  let hi = vs[0] ?? 0;
  let lo = hi;
  let ext = hi;
  for (const v of vs) {
    if (trend === 0) {
      hi = Math.max(hi, v);
      lo = Math.min(lo, v);
      if (v < hi - h) {
        trend = -1;
        ext = v;
      } else if (v > lo + h) {
        trend = 1;
        ext = v;
      }
    } else if (trend > 0) {
      if (v > ext) ext = v;
      else if (v < ext - h) {
        count++;
        trend = -1;
        ext = v;
      }
    } else if (v < ext) ext = v;
    else if (v > ext + h) {
      count++;
      trend = 1;
      ext = v;
    }
  }
  return count;
}

function nearestDirection(dx: number, dy: number): Motion {
  let best: Motion = 'right';
  let bestDot = -Infinity;
  for (const m of MOTIONS) {
    const d = directionOf(m);
    if (!d) continue;
    const dot = (d[0] * dx + d[1] * dy) / Math.hypot(dx, dy);
    if (dot > bestDot) {
      bestDot = dot;
      best = m;
    }
  }
  return best;
}

interface GlobalMotion {
  q: number;
  facts: Pick<ObjectFacts, 'observedMotion' | 'displacement' | 'growth'>;
}

/** How well an object's whole track follows its prompt motion (q) and what motion it shows. */
function globalMotion(track: Track, model: MotionModel, T: number, sc: number): GlobalMotion {
  const L = WORLD_LIMITS;
  const ts: number[] = [];
  for (let t = 0; t < T; t++) if (track.present[t]) ts.push(t);
  if (ts.length < 2) return { q: 0, facts: { observedMotion: 'absent', displacement: [0, 0], growth: 1 } };
  const xs = ts.map((t) => track.cx[t]!);
  const ys = ts.map((t) => track.cy[t]!);
  const span = Math.max(1, T - 1);
  const nx = slope(ts, xs) * span;
  const ny = slope(ts, ys) * span;
  const sizeAt = (t: number): number => Math.sqrt(track.mass[t]! / Math.PI);
  const head = ts.slice(0, 2).map(sizeAt);
  const tail = ts.slice(-2).map(sizeAt);
  const growth = tail.reduce((s, v) => s + v, 0) / tail.length / Math.max(1e-6, head.reduce((s, v) => s + v, 0) / head.length);
  const dMin = L.travel[0] * sc;
  const net = Math.hypot(nx, ny);
  const yRange = Math.max(...ys) - Math.min(...ys);
  const revs = reversals(ys, sc);
  let observed: Motion;
  if (Math.log(growth) >= Math.log(1.3) && net < 0.4 * dMin) observed = 'grow';
  else if (revs >= 1 && yRange >= 0.5 * L.bounceHeight[0] * sc && Math.abs(nx) < 0.4 * dMin) observed = 'bounce';
  else if (net < 0.4 * dMin) observed = 'still';
  else observed = nearestDirection(nx, ny);
  let q: number;
  const presence = ts.length / T;
  switch (model.motion) {
    case 'still': {
      const mx = xs.reduce((s, v) => s + v, 0) / xs.length;
      const my = ys.reduce((s, v) => s + v, 0) / ys.length;
      const wander = Math.max(...xs.map((x, i) => Math.hypot(x - mx, ys[i]! - my)));
      q = soft(net / sc, 1, 1.5) * soft(wander / sc, 1, 1.5);
      break;
    }
    case 'grow':
      q = reach(Math.log(Math.max(growth, 1e-6)) / Math.log(L.growFactor[0]), 0.7, 0.35) * soft(net / sc, 1.5, 2);
      break;
    case 'bounce':
      q = reach(yRange / (L.bounceHeight[0] * sc), 0.7, 0.35) * (revs >= 1 ? 1 : 0.4) * soft(Math.abs(nx) / sc, 1.5, 2);
      break;
    default: {
      const [ux, uy] = model.dir!;
      const along = nx * ux + ny * uy;
      const cross = Math.hypot(nx - along * ux, ny - along * uy);
      q = reach(along / dMin, 0.8, 0.35) * soft(cross / dMin, 0.3, 0.4);
    }
  }
  return { q: q * Math.min(1, presence / 0.75), facts: { observedMotion: observed, displacement: [round3(nx), round3(ny)], growth: round3(growth) } };
}

/** Coverage maps remapped for matching: α below 0.15 (noise) is zero, 0.85 and above is one. */
function matchMaps(m: PixelMaps): Float32Array[] {
  const maps: Float32Array[] = [];
  for (let k = 0; k < m.objects; k++) {
    const b = new Float32Array(m.alpha.length);
    for (let i = 0; i < b.length; i++) {
      if (m.owner[i] !== k) continue;
      const v = (m.alpha[i]! - 0.15) / 0.7;
      b[i] = v <= 0 ? 0 : v >= 1 ? 1 : v;
    }
    maps.push(b);
  }
  return maps;
}

interface PatchEvidence {
  dd: number | null;
  scores: Record<Aspect, number>;
}

/** Judge a clip against a scene: scores for the video and each patch, and video facts. */
export function judgeVideo(scene: Scene, clip: Frames, boxes?: readonly Box[]): Judgement {
  const { frames: T, height: H, width: W } = clip;
  if (clip.data.length !== T * H * W * 3) throw new RangeError(`judgeVideo: ${clip.data.length} bytes for a ${T}×${H}×${W} clip`);
  const patchBoxes = boxes ? boxes.map((b) => [...b] as Box) : defaultBoxes(clip);
  const sc = scaleOf({ height: H, width: W });
  const HW = H * W;
  const C = ORACLE_CONSTANTS;
  const m = pixelMaps(scene, clip);
  const tracks = trackObjects(scene, m);
  const models = scene.objects.map((o) => motionModel(o.motion, T, sc));
  const beta = matchMaps(m).map((b) => smoothFrames(b, T, H, W));
  const search = Math.max(2, Math.ceil(2 * sc));
  const minMass = MIN_REGION_MASS * sc * sc;
  // the object's own motion from frame t to t+1 (the track's centre), where matching starts
  const guessOf = (k: number, t: number): [number, number] => {
    const tr = tracks[k]!;
    return tr.present[t] && tr.present[t + 1] ? [tr.cx[t + 1]! - tr.cx[t]!, tr.cy[t + 1]! - tr.cy[t]!] : [0, 0];
  };
  const nObj = scene.objects.length;
  const { alpha, owner, residual, wrong, fragment } = m;
  const data = clip.data;

  // Frames where two objects touch or overlap (their main bodies' boxes, grown by 1 pixel,
  // meet): occlusion is allowed, so the pixels where they meet and the changes it causes
  // (hidden parts, pieces, mixed colours) are not held against the clip.
  const contact: ([number, number, number, number] | null)[] = [];
  for (let t = 0; t < T; t++) {
    const [a, b] = [m.mainBox[t]![0], m.mainBox[t]![1]];
    if (nObj < 2 || !a || !b) {
      contact.push(null);
      continue;
    }
    const box: [number, number, number, number] = [Math.max(a[0], b[0]) - 1, Math.min(a[1], b[1]) + 1, Math.max(a[2], b[2]) - 1, Math.min(a[3], b[3]) + 1];
    contact.push(box[0] < box[1] && box[2] < box[3] ? box : null);
  }
  const touching = (t: number): boolean => contact[t] !== null;
  const inContact = (t: number, y: number, x: number): boolean => {
    const c = contact[t];
    return c !== null && y >= c[0] && y < c[1] && x >= c[2] && x < c[3];
  };

  // per frame and object: shape score (0 when absent, NaN when touching the other object)
  const shapeQ = tracks.map((tr, k) => tr.iou.map((iou, t) => (touching(t) ? NaN : tr.present[t] ? shapeScore(iou, scene.objects[k]!.shape) : 0)));

  // background-to-object colour lines [ux, uy, uz, 1/|u|²]
  const bgColour = RGB_OF[scene.background];
  const lineOf = scene.objects.map((o) => {
    const c = RGB_OF[o.colour];
    const u = [c[0] - bgColour[0], c[1] - bgColour[1], c[2] - bgColour[2]];
    return [u[0]!, u[1]!, u[2]!, 1 / (u[0]! ** 2 + u[1]! ** 2 + u[2]! ** 2)] as const;
  });
  const evidence: PatchEvidence[] = patchBoxes.map((box) => {
    const [t0, t1, y0, y1, x0, x1] = box;
    // ---- pixel sums over the patch
    let resid = 0, count = 0, wrongN = 0, fg = 0, frag = 0;
    const massIn: number[][] = Array.from({ length: nObj }, () => new Array<number>(t1 - t0).fill(0));
    for (let t = t0; t < t1; t++) {
      const base = t * HW;
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const i = base + y * W + x;
          const a = alpha[i]!;
          const k = owner[i]!;
          if (k >= 0) massIn[k]![t - t0]! += a;
          if (inContact(t, y, x)) continue;
          resid += residual[i]!;
          count++;
          if (wrong[i]) {
            wrongN++;
            fg++;
          } else if (a >= 0.5) fg++;
          if (fragment[i] && !touching(t)) frag++;
        }
      }
    }
    // sharpness: at every partial pixel (0.2 < α < 0.8) the steepest step of α to a 4-neighbour;
    // a one-pixel anti-aliased edge steps by ≥ 0.5, a blurred edge by much less
    let partial = 0, steep = 0;
    for (let t = t0; t < t1; t++) {
      const base = t * HW;
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const a = alpha[base + y * W + x]!;
          if (!(a > 0.2 && a < 0.8)) continue;
          partial++;
          let g = 0;
          if (x > 0) g = Math.max(g, Math.abs(alpha[base + y * W + x - 1]! - a));
          if (x < W - 1) g = Math.max(g, Math.abs(alpha[base + y * W + x + 1]! - a));
          if (y > 0) g = Math.max(g, Math.abs(alpha[base + (y - 1) * W + x]! - a));
          if (y < H - 1) g = Math.max(g, Math.abs(alpha[base + (y + 1) * W + x]! - a));
          steep += g;
        }
      }
    }
    // ---- visual quality: palette fidelity and sharpness
    const qResidual = count > 0 ? soft(resid / count, C.residual[0], C.residual[1]) : 1;
    // judged with full confidence from minEdge partial pixels per frame (a corner alone says little)
    const sure = Math.min(1, partial / (C.minEdge * (t1 - t0)));
    const qSharp = partial > 0 ? 1 - sure * (1 - soft(C.sharpness[0] - steep / partial, 0, C.sharpness[1])) : 1;
    const vq = score(qResidual * qSharp);

    // ---- frame pairs of this patch: (t, t+1) with t+1 in [t0, t1), the first one entering the patch
    const pairs: number[] = [];
    for (let t = Math.max(0, t0 - 1); t + 1 < t1; t++) if (t + 1 >= t0) pairs.push(t);

    // ---- temporal consistency: flicker = the mean colour change between frames that moving or
    // resizing objects cannot explain. A change of coverage moves a pixel along the line from the
    // background to its object's colour, so that component is removed and the rest is averaged.
    let flickerSum = 0;
    for (const t of pairs) {
      const a = t * HW;
      const b = (t + 1) * HW;
      let n = 0, s0 = 0, s1 = 0, s2 = 0;
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          if (inContact(t, y, x) || inContact(t + 1, y, x)) continue;
          const i = y * W + x;
          const ia = a + i;
          const ib = b + i;
          let d0 = data[ib * 3]! - data[ia * 3]!;
          let d1 = data[ib * 3 + 1]! - data[ia * 3 + 1]!;
          let d2 = data[ib * 3 + 2]! - data[ia * 3 + 2]!;
          const k = owner[ib]! >= 0 ? owner[ib]! : owner[ia]!;
          if (k >= 0) {
            const u = lineOf[k]!;
            const along = (d0 * u[0] + d1 * u[1] + d2 * u[2]) * u[3];
            d0 -= along * u[0];
            d1 -= along * u[1];
            d2 -= along * u[2];
          }
          s0 += d0;
          s1 += d1;
          s2 += d2;
          n++;
        }
      }
      if (n > 0) flickerSum += Math.hypot(s0, s1, s2) / n;
    }
    const qFlicker = pairs.length ? soft(flickerSum / pairs.length, C.flicker[0], C.flicker[1]) : 1;
    let qMass = 1;
    for (let k = 0; k < nObj; k++) {
      const tr = tracks[k]!;
      const growTol = scene.objects[k]!.motion === 'grow' ? 2 * Math.log(1 + (WORLD_LIMITS.growFactor[1] - 1) / Math.max(1, T - 1)) : 0;
      for (const t of pairs) {
        const inA = t >= t0 ? massIn[k]![t - t0]! : 0;
        const inB = massIn[k]![t + 1 - t0]!;
        if ((inA < 1 && inB < 1) || touching(t) || touching(t + 1)) continue;
        const jump = Math.abs(Math.log((tr.mass[t + 1]! + 1) / (tr.mass[t]! + 1))) - growTol;
        qMass = Math.min(qMass, soft(jump, C.massJump[0], C.massJump[1]));
      }
    }
    const tc = score(qFlicker * qMass);

    const coverIn = (k: number, t: number): number => {
      if (t >= t0) return massIn[k]![t - t0]!;
      let c = 0;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (owner[t * HW + y * W + x] === k) c += alpha[t * HW + y * W + x]!;
      return c;
    };
    // ---- motion: match each object's coverage frame to frame inside the patch
    let qChange = 1;
    let ddNum = 0;
    let ddDen = 0;
    for (let k = 0; k < nObj; k++) {
      const model = models[k]!;
      let w = 0, along = 0, cross = 0, speed = 0, nSpeed = 0;
      for (const t of pairs) {
        if (touching(t) || touching(t + 1)) continue;
        // only where the object itself is in the patch (not just near it) in one of the frames
        if (coverIn(k, t) < 0.5 && coverIn(k, t + 1) < 0.5) continue;
        const pm: PairMotion | null = matchPair(beta[k]!, { H, W }, t, [y0, y1, x0, x1], guessOf(k, t), search, minMass);
        if (!pm) continue;
        let q = soft(pm.unexplained, C.unexplained[0], C.unexplained[1]);
        const P = observable(pm.J);
        if (P && pm.unexplained < 0.5) {
          const [px, py] = project(P, pm.dx, pm.dy);
          let dev: number;
          if (model.motion === 'still' || model.motion === 'grow') {
            const v = Math.hypot(px, py);
            dev = v - (model.motion === 'grow' ? 0.9 * sc : 0.75 * sc);
            if (model.motion === 'still') {
              speed += v;
              nSpeed++;
            }
          } else {
            // the prompt allows motion s·d with s in [lo, hi]; the deviation is the distance of the
            // observed (projected) motion from that segment
            const d = model.motion === 'bounce' ? ([0, 1] as const) : model.dir!;
            const [ax, ay] = project(P, d[0], d[1]);
            const wd = ax * d[0] + ay * d[1];
            const fast = (model.motion === 'bounce' ? 1.3 * model.bouncePeak : 1.3 * model.vmax) + 0.5 * sc;
            const lo = model.motion === 'bounce' ? -fast : -0.5 * sc;
            const sRaw = wd > 1e-9 ? (pm.dx * ax + pm.dy * ay) / wd : 0;
            const sFit = Math.max(lo, Math.min(fast, sRaw));
            dev = Math.hypot(px - sFit * ax, py - sFit * ay);
            if (wd >= 0.25) {
              // the prompt's motion is observable here: evidence for dynamic_degree
              const c = Math.hypot(px - sRaw * ax, py - sRaw * ay);
              w += wd;
              // bounces: mean vertical speed (slow near the top is fine); straight motions: every
              // pair must keep up (a stall is not made good by catching up later)
              along += wd * (model.motion === 'bounce' ? Math.abs(sRaw) : reach(sRaw / model.vmin, 0.8, 0.35));
              cross += wd * c;
            }
          }
          q *= soft(Math.max(0, dev), C.jump[0], C.jump[1] * sc);
        }
        qChange = Math.min(qChange, q);
      }
      // dynamic degree of object k in this patch
      let qd: number | null = null;
      let weight = 0;
      if (model.motion === 'still') {
        if (nSpeed > 0) {
          qd = 1 - Math.min(1, nSpeed / 2) * (1 - soft(speed / nSpeed, 0.15 * sc, 0.3 * sc));
          weight = nSpeed;
        }
      } else if (model.motion === 'grow') {
        const tr = tracks[k]!;
        const tA = Math.max(0, t0 - 1);
        const tB = t1 - 1;
        const inPatch = massIn[k]!.some((v) => v >= 1);
        if (inPatch && tB > tA && tr.present[tA] && tr.present[tB]) {
          const rate = (0.5 * Math.log(tr.mass[tB]! / tr.mass[tA]!)) / (tB - tA);
          const drift = Math.hypot(tr.cx[tB]! - tr.cx[tA]!, tr.cy[tB]! - tr.cy[tA]!) / (tB - tA);
          qd = reach(rate / model.growRate, 0.7, 0.35) * soft(drift / sc, 0.15, 0.3);
          weight = 1;
        }
      } else if (w >= 0.5) {
        const ref = model.motion === 'bounce' ? model.bounceMean : model.vmin;
        const full = model.motion === 'bounce' ? 0.25 : 0.8;
        const qAmount = model.motion === 'bounce' ? reach(along / w / ref, full, 0.2) : along / w;
        qd = qAmount * soft(cross / w / ref, 0.35, 0.5);
        // little evidence (an edge seen in one pair) counts less: full weight from two pairs' worth
        qd = 1 - Math.min(1, w / 2) * (1 - qd);
        weight = w;
      }
      if (qd !== null) {
        ddNum += weight * qd;
        ddDen += weight;
      }
    }
    const ddQ = ddDen > 0 ? ddNum / ddDen : null;
    const dd = ddQ === null ? 4 : score(ddQ);

    // ---- factual consistency: fragments, jumps and unexplained changes
    const fc = score(soft(frag / (sc * sc), C.fragments[0], C.fragments[1]) * qChange);

    // ---- text alignment: colours the prompt does not name, shape of the objects seen here
    const qColour = soft(wrongN / Math.max(fg, 4), C.wrongColour[0], C.wrongColour[1]);
    let sNum = 0, sDen = 0;
    for (let k = 0; k < nObj; k++) {
      for (let t = t0; t < t1; t++) {
        const w = massIn[k]![t - t0]!;
        if (w < 0.5 || !tracks[k]!.present[t] || touching(t)) continue;
        sNum += w * shapeQ[k]![t]!;
        sDen += w;
      }
    }
    const qShape = sDen > 0 ? sNum / sDen : 1;
    const ta = score(qColour * qShape);
    return { dd: ddQ, scores: { visual_quality: vq, temporal_consistency: tc, dynamic_degree: dd, text_alignment: ta, factual_consistency: fc } };
  });

  // ---- video level
  const agg = (xs: number[]): number => {
    if (xs.length === 0) return 4;
    const sorted = [...xs].sort((a, b) => a - b);
    const k = Math.max(1, Math.ceil(sorted.length / 10));
    const worst = sorted.slice(0, k).reduce((s, v) => s + v, 0) / k;
    return 0.5 * (xs.reduce((s, v) => s + v, 0) / xs.length) + 0.5 * worst;
  };
  const col = (a: Aspect): number[] => evidence.map((e) => e.scores[a]);
  const presence = tracks.map((tr) => tr.present.filter((p, t) => p || touching(t)).length / T);
  const gm = tracks.map((tr, k) => globalMotion(tr, models[k]!, T, sc));

  // objects seen, wrong colours, background
  const bgRGB = RGB_OF[scene.background];
  const contrast = Math.min(...scene.objects.map((o) => Math.hypot(...RGB_OF[o.colour].map((v, c) => v - bgRGB[c]!))));
  const counts: number[] = [];
  for (let t = 0; t < T; t++) if (!touching(t)) counts.push(countBlobs(m, t, 0.4 * contrast, minSolid({ height: H, width: W })));
  if (counts.length === 0) for (let t = 0; t < T; t++) counts.push(countBlobs(m, t, 0.4 * contrast, minSolid({ height: H, width: W })));
  counts.sort((a, b) => a - b);
  const objectCount = counts[Math.floor(counts.length / 2)]!;
  let wrongAll = 0, fgAll = 0;
  for (let i = 0; i < alpha.length; i++) {
    if (wrong[i]) {
      wrongAll++;
      fgAll++;
    } else if (alpha[i]! >= 0.5) fgAll++;
  }
  const border: number[] = [];
  for (let t = 0; t < T; t++) {
    for (let x = 0; x < W; x++) border.push(m.fromBackground[t * HW + x]!, m.fromBackground[t * HW + (H - 1) * W + x]!);
    for (let y = 1; y < H - 1; y++) border.push(m.fromBackground[t * HW + y * W]!, m.fromBackground[t * HW + y * W + W - 1]!);
  }
  border.sort((a, b) => a - b);
  const bgDistance = border[Math.floor(border.length / 2)]!;

  const meanOf = (xs: number[]): number => (xs.length ? xs.reduce((s, v) => s + v, 0) / xs.length : 0);
  const qShapeVideo = meanOf(
    shapeQ.map((qs) => {
      const seen = qs.filter((q) => !Number.isNaN(q));
      return seen.length ? meanOf(seen) : 1; // always touching the other object: nothing to judge
    }),
  );
  const qColourVideo = meanOf(presence) * soft(wrongAll / Math.max(fgAll, 4), C.wrongColour[0], C.wrongColour[1]);
  const qCount = soft(Math.abs(objectCount - nObj), 0, 0.7);
  const qBackground = soft(bgDistance, 10, 20);
  const ddPatches = evidence.filter((e) => e.dd !== null).map((e) => e.scores.dynamic_degree);
  const qMotion = meanOf(gm.map((g) => g.q));
  const fragFrames = meanOf(scene.objects.map((_, k) => m.fragmentSize.filter((f, t) => f[k]! > 0 && !touching(t)).length / T));
  const video: Record<Aspect, number> = {
    visual_quality: agg(col('visual_quality')),
    temporal_consistency: 1 + (agg(col('temporal_consistency')) - 1) * Math.min(...presence.map((p) => Math.min(1, p / 0.9))),
    dynamic_degree: ddPatches.length ? 1 + 3 * (0.5 * qMotion + 0.5 * ((agg(ddPatches) - 1) / 3)) : score(qMotion),
    text_alignment: score(qCount * qColourVideo * qShapeVideo * qBackground),
    factual_consistency: 1 + (agg(col('factual_consistency')) - 1) * (1 - 0.5 * fragFrames),
  };

  const videoScores = {} as VideoScores;
  for (const a of ASPECTS) videoScores[a] = round3(video[a]);
  videoScores.overall = round3(overallOf(video)!);
  const patch = {} as PatchScores;
  for (const key of SCORE_KEYS) patch[key] = [];
  for (const e of evidence) {
    for (const a of ASPECTS) patch[a].push(round3(e.scores[a]));
    patch.overall.push(round3(overallOf(e.scores)!));
  }

  const objects: ObjectFacts[] = scene.objects.map((o, k) => {
    const shapes = tracks[k]!.iou.map((iou, t) => (tracks[k]!.present[t] ? bestShape(iou) : null)).filter((s): s is Shape => s !== null);
    const tally = new Map<Shape, number>();
    for (const s of shapes) tally.set(s, (tally.get(s) ?? 0) + 1);
    let observedShape: Shape | null = null;
    for (const [s, n] of tally) if (observedShape === null || n > tally.get(observedShape)!) observedShape = s;
    return { colour: o.colour, shape: o.shape, motion: o.motion, presence: round3(presence[k]!), observedShape, ...gm[k]!.facts };
  });
  const facts: VideoFacts = {
    objectCount,
    colourMatch: presence.every((p) => p >= 0.75),
    shapeMatch: objects.every((o) => o.observedShape === o.shape),
    directionMatch: objects.every((o) => o.observedMotion === o.motion),
    backgroundMatch: bgDistance < 20,
    objects,
  };
  return { video: videoScores, patch, boxes: patchBoxes, facts };
}
