// What a prompt's motion asks of an object (docs/oracle.md §3–4), from the world's limits
// (src/world/motion.ts), and how well a whole track follows it. In: the motion, clip length and
// scale, an object's track; out: a MotionModel (speeds and rates the renderer guarantees), and
// for a track a 0–1 match and the motion it shows in the grammar's terms.
import { directionOf, MOTIONS, type Motion } from '../world/grammar.js';
import { WORLD_LIMITS } from '../world/motion.js';
import { reach, round3, soft } from './oracle-scale.js';
import type { Track } from './oracle-tracks.js';

type Pair = readonly [number, number];

export interface MotionModel {
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

/** What a motion asks over a clip of T frames at scale sc (the renderer's limits, per frame). */
export function motionModel(motion: Motion, T: number, sc: number): MotionModel {
  const L = WORLD_LIMITS;
  const steps = Math.max(1, T - 1);
  const vmin = (L.travel[0] * sc) / steps;
  const vmax = (L.travel[1] * sc) / steps;
  const bounceMean = (L.bounceHeight[0] * L.bounceHalfSwings * sc) / steps;
  const bouncePeak = (L.bounceHeight[1] * Math.PI * (L.bounceHalfSwings / 2) * sc) / steps;
  const growRate = Math.log(L.growFactor[0]) / steps;
  return { motion, dir: directionOf(motion), vmin, vmax, bounceMean, bouncePeak, growRate };
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

export interface GlobalMotion {
  q: number;
  facts: {
    /** The motion the track shows, in the grammar's terms ('absent' when seen in < 2 frames). */
    observedMotion: Motion | 'absent';
    /** Net displacement over the clip (pixels, least-squares fit of the centre). */
    displacement: [number, number];
    /** Size at the end over size at the start. */
    growth: number;
  };
}

/** How well an object's whole track follows its prompt motion (q) and what motion it shows. */
export function globalMotion(track: Track, model: MotionModel, T: number, sc: number): GlobalMotion {
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
