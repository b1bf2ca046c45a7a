// Object tracks of the oracle (docs/oracle.md §2). In: the pixel maps and the scene; out: per
// object and frame whether the object is there, its centre, mass (sum of coverage) and size,
// and how well each shape's template fits it (soft IoU of the observed coverage with the
// shape's anti-aliased template of the same area at the same centre).
import { SHAPES, type Scene, type Shape } from '../world/grammar.js';
import { scaleOf, WORLD_LIMITS } from '../world/motion.js';
import { coverage, extentOf } from '../world/shapes.js';
import type { PixelMaps } from './oracle-maps.js';

export interface Track {
  /** Per frame: the object's main body has at least `minSolid` solid pixels. */
  present: boolean[];
  cx: Float64Array;
  cy: Float64Array;
  /** Sum of coverage around the main body (≈ area in pixels). */
  mass: Float64Array;
  /** Per frame and shape (SHAPES order): soft IoU with that shape's template; NaN when absent. */
  iou: Float64Array[];
}

/** The smallest main body that counts as the object being there (pixels). */
export function minSolid(dims: { height: number; width: number }): number {
  const s = WORLD_LIMITS.growStart[0] * scaleOf(dims);
  return Math.max(3, 0.25 * Math.PI * s * s);
}

/** Soft IoU of observed coverage with the template of `shape` (size from mass, centre given). */
function templateIoU(m: PixelMaps, k: number, base: number, shape: Shape, cx: number, cy: number, s: number, box: [number, number, number, number]): number {
  const { H, W, alpha, owner } = m;
  const e = extentOf(shape, s);
  const y0 = Math.max(0, Math.min(box[0] - 1, Math.floor(cy - e.up - 1)));
  const y1 = Math.min(H, Math.max(box[1] + 1, Math.ceil(cy + e.down + 2)));
  const x0 = Math.max(0, Math.min(box[2] - 1, Math.floor(cx - e.left - 1)));
  const x1 = Math.min(W, Math.max(box[3] + 1, Math.ceil(cx + e.right + 2)));
  let inter = 0;
  let union = 0;
  for (let y = y0; y < y1; y++) {
    const py = y + 0.5 - cy;
    for (let x = x0; x < x1; x++) {
      const i = base + y * W + x;
      const a = owner[i] === k ? alpha[i]! : 0;
      const c = coverage(shape, x + 0.5 - cx, py, s);
      inter += a < c ? a : c;
      union += a > c ? a : c;
    }
  }
  return union > 0 ? inter / union : 0;
}

/** Track every object of the scene through the clip. */
export function trackObjects(scene: Scene, m: PixelMaps): Track[] {
  const { T, H, W, alpha, owner } = m;
  const minSize = minSolid({ height: H, width: W });
  return scene.objects.map((_, k) => {
    const track: Track = {
      present: [],
      cx: new Float64Array(T).fill(NaN),
      cy: new Float64Array(T).fill(NaN),
      mass: new Float64Array(T),
      iou: [],
    };
    for (let t = 0; t < T; t++) {
      const base = t * H * W;
      const box = m.mainBox[t]![k];
      const present = !!box && m.mainSize[t]![k]! >= minSize;
      track.present.push(present);
      if (!box || !present) {
        track.iou.push(new Float64Array(SHAPES.length).fill(NaN));
        continue;
      }
      // centre and mass over the main body's box grown by one pixel (takes in the edge ramp)
      const y0 = Math.max(0, box[0] - 1);
      const y1 = Math.min(H, box[1] + 1);
      const x0 = Math.max(0, box[2] - 1);
      const x1 = Math.min(W, box[3] + 1);
      let sm = 0, sx = 0, sy = 0;
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const i = base + y * W + x;
          if (owner[i] !== k || m.fragment[i]) continue;
          const a = alpha[i]!;
          sm += a;
          sx += a * (x + 0.5);
          sy += a * (y + 0.5);
        }
      }
      const cx = sx / sm;
      const cy = sy / sm;
      track.cx[t] = cx;
      track.cy[t] = cy;
      track.mass[t] = sm;
      const s = Math.sqrt(sm / Math.PI);
      track.iou.push(Float64Array.from(SHAPES, (shape) => templateIoU(m, k, base, shape, cx, cy, s, box)));
    }
    return track;
  });
}

/** Per-frame shape score of object k: how clearly the prompted shape beats the others, 0–1. */
export function shapeScore(iou: Float64Array, shape: Shape): number {
  const want = SHAPES.indexOf(shape);
  const mine = iou[want]!;
  if (!Number.isFinite(mine)) return 0;
  let other = 0;
  for (let j = 0; j < iou.length; j++) if (j !== want && iou[j]! > other) other = iou[j]!;
  const margin = mine - other;
  // SHAPE_MARGIN: full marks from a margin of +0.04; 0 at −0.04 (another shape fits better)
  const q = (margin + 0.04) / 0.08;
  return q < 0 ? 0 : q > 1 ? 1 : q;
}

/** The best-fitting shape of a frame, or null when the object is absent. */
export function bestShape(iou: Float64Array): Shape | null {
  let best = -1;
  for (let j = 0; j < iou.length; j++) if (Number.isFinite(iou[j]!) && (best < 0 || iou[j]! > iou[best]!)) best = j;
  return best < 0 ? null : SHAPES[best]!;
}
