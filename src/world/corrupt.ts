// Controlled corruptions of a clip, to test judges (the oracle, reward models) on defects of
// known kind, place and strength. In: RGB24 frames (T·H·W·3), a kind, a strength and a region
// [t0, t1, y0, y1, x0, x1] (end-exclusive; default the whole clip); out: new frames, changed only
// inside the region. Deterministic (noise takes a seed). Strength, by kind:
//   blur          Gaussian blur, σ in pixels (per frame; pixels outside the region feed the blur)
//   noise         Gaussian noise, σ in 0–255 levels, per channel, pixel and frame
//   colour_shift  hue rotation in degrees about the grey axis (greys and backgrounds stay)
//   flicker       brightness ±strength levels on alternate frames (+ on t0, − on t0+1, …)
//   freeze        the region of frames t0+1 … t0+strength shows frame t0 (the content stalls)
//   teleport      the region's content of frames t0 … t1−1 moves `strength` pixels along
//                 `direction` (default down); uncovered pixels take the background colour
import { makeRng } from './random.js';

export const CORRUPTIONS = ['blur', 'noise', 'colour_shift', 'flicker', 'freeze', 'teleport'] as const;
export type CorruptionKind = (typeof CORRUPTIONS)[number];

/** [t0, t1, y0, y1, x0, x1], end-exclusive (the patch box format). */
export type Region = readonly [number, number, number, number, number, number];

export interface Clip {
  frames: number;
  height: number;
  width: number;
  data: Uint8Array;
}

export interface CorruptionOptions {
  strength: number;
  region?: Region;
  /** Seed of the noise. */
  seed?: number;
  /** teleport: unit direction [dx, dy] of the jump (default [0, 1], down). */
  direction?: readonly [number, number];
  /** teleport: colour of uncovered pixels (default: the commonest corner colour of frame t0). */
  fill?: readonly [number, number, number];
}

const clamp255 = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

function fullRegion(c: Clip): Region {
  return [0, c.frames, 0, c.height, 0, c.width];
}

function clipRegion(c: Clip, r: Region): Region {
  const [t0, t1, y0, y1, x0, x1] = r;
  return [Math.max(0, t0), Math.min(c.frames, t1), Math.max(0, y0), Math.min(c.height, y1), Math.max(0, x0), Math.min(c.width, x1)];
}

function gaussianKernel(sigma: number): Float64Array {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) sum += k[i + radius] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i]! /= sum;
  return k;
}

function blurFrame(src: Uint8Array, offset: number, H: number, W: number, sigma: number): Float64Array {
  const k = gaussianKernel(sigma);
  const r = (k.length - 1) / 2;
  const tmp = new Float64Array(H * W * 3);
  const out = new Float64Array(H * W * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let i = -r; i <= r; i++) {
          const xx = Math.min(W - 1, Math.max(0, x + i));
          s += k[i + r]! * src[offset + (y * W + xx) * 3 + c]!;
        }
        tmp[(y * W + x) * 3 + c] = s;
      }
    }
  }
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let i = -r; i <= r; i++) {
          const yy = Math.min(H - 1, Math.max(0, y + i));
          s += k[i + r]! * tmp[(yy * W + x) * 3 + c]!;
        }
        out[(y * W + x) * 3 + c] = s;
      }
    }
  }
  return out;
}

/** Rotation by `degrees` about the grey axis (1,1,1)/√3 (Rodrigues). */
function hueRotation(degrees: number): number[] {
  const a = (degrees * Math.PI) / 180;
  const c = Math.cos(a);
  const s = Math.sin(a);
  const k = (1 - c) / 3;
  const q = s / Math.sqrt(3);
  return [c + k, k - q, k + q, k + q, c + k, k - q, k - q, k + q, c + k];
}

function commonestCorner(c: Clip, t: number): [number, number, number] {
  const { height: H, width: W, data } = c;
  const at = (y: number, x: number): [number, number, number] => {
    const p = ((t * H + y) * W + x) * 3;
    return [data[p]!, data[p + 1]!, data[p + 2]!];
  };
  const corners = [at(0, 0), at(0, W - 1), at(H - 1, 0), at(H - 1, W - 1)];
  let best = corners[0]!;
  let bestCount = 0;
  for (const a of corners) {
    const n = corners.filter((b) => b[0] === a[0] && b[1] === a[1] && b[2] === a[2]).length;
    if (n > bestCount) {
      best = a;
      bestCount = n;
    }
  }
  return best;
}

/** Apply one corruption; returns new frames (the input is not changed). */
export function corrupt(clip: Clip, kind: CorruptionKind, options: CorruptionOptions): Uint8Array {
  const { frames: T, height: H, width: W, data } = clip;
  if (data.length !== T * H * W * 3) throw new RangeError(`corrupt: ${data.length} bytes for a ${T}×${H}×${W} clip`);
  const strength = options.strength;
  if (!(strength >= 0)) throw new RangeError(`corrupt: strength must be ≥ 0, got ${strength}`);
  const [t0, t1, y0, y1, x0, x1] = clipRegion(clip, options.region ?? fullRegion(clip));
  const out = new Uint8Array(data);
  const idx = (t: number, y: number, x: number): number => ((t * H + y) * W + x) * 3;
  if (strength === 0 || t1 <= t0 || y1 <= y0 || x1 <= x0) return out;
  switch (kind) {
    case 'blur': {
      for (let t = t0; t < t1; t++) {
        const b = blurFrame(data, t * H * W * 3, H, W, strength);
        for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) for (let c = 0; c < 3; c++) out[idx(t, y, x) + c] = clamp255(b[(y * W + x) * 3 + c]!);
      }
      break;
    }
    case 'noise': {
      const rng = makeRng(options.seed ?? 0);
      for (let t = t0; t < t1; t++) for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) for (let c = 0; c < 3; c++) {
        const p = idx(t, y, x) + c;
        out[p] = clamp255(data[p]! + strength * rng.normal());
      }
      break;
    }
    case 'colour_shift': {
      const m = hueRotation(strength);
      for (let t = t0; t < t1; t++) for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) {
        const p = idx(t, y, x);
        const r = data[p]!, g = data[p + 1]!, b = data[p + 2]!;
        out[p] = clamp255(m[0]! * r + m[1]! * g + m[2]! * b);
        out[p + 1] = clamp255(m[3]! * r + m[4]! * g + m[5]! * b);
        out[p + 2] = clamp255(m[6]! * r + m[7]! * g + m[8]! * b);
      }
      break;
    }
    case 'flicker': {
      for (let t = t0; t < t1; t++) {
        const d = (t - t0) % 2 === 0 ? strength : -strength;
        for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) for (let c = 0; c < 3; c++) {
          const p = idx(t, y, x) + c;
          out[p] = clamp255(data[p]! + d);
        }
      }
      break;
    }
    case 'freeze': {
      const last = Math.min(t1 - 1, t0 + Math.round(strength));
      for (let t = t0 + 1; t <= last; t++) for (let y = y0; y < y1; y++) {
        out.copyWithin(idx(t, y, x0), idx(t0, y, x0), idx(t0, y, x1));
      }
      break;
    }
    case 'teleport': {
      const [ux, uy] = options.direction ?? [0, 1];
      const dx = Math.round(ux * strength);
      const dy = Math.round(uy * strength);
      for (let t = t0; t < t1; t++) {
        const fill = options.fill ?? commonestCorner(clip, t0);
        for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) {
          const sy = y - dy;
          const sx = x - dx;
          const p = idx(t, y, x);
          if (sy >= y0 && sy < y1 && sx >= x0 && sx < x1) {
            const q = idx(t, sy, sx);
            out[p] = data[q]!;
            out[p + 1] = data[q + 1]!;
            out[p + 2] = data[q + 2]!;
          } else {
            out[p] = fill[0];
            out[p + 1] = fill[1];
            out[p + 2] = fill[2];
          }
        }
      }
      break;
    }
  }
  return out;
}
