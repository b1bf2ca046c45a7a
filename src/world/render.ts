// The renderer of the shapes world: a pure function from a scene, clip dimensions and a seed to
// RGB24 frames (T·H·W·3 bytes, row-major, frame-major). Objects are anti-aliased by analytic
// coverage (a one-pixel ramp of the shape's signed distance, src/world/shapes.ts) and composited
// in prompt order over the plain background. Fast enough to make training clips in-process
// (docs/world.md gives the measured rate).
import { RGB_OF, type Scene } from './grammar.js';
import { planScene, type Dims, type ScenePlan } from './motion.js';
import { coverage, extentOf } from './shapes.js';

/** Version of the renderer; recorded in sample records as halo-world-render@VERSION. */
export const RENDERER_VERSION = 1;
export const RENDERER_NAME = `halo-world-render@${RENDERER_VERSION}`;

/** Fill `out` (or a new buffer) with the frames of a plan. */
export function renderPlan(plan: ScenePlan, out?: Uint8Array): Uint8Array {
  const { frames: T, height: H, width: W } = plan;
  const size = T * H * W * 3;
  const data = out ?? new Uint8Array(size);
  if (data.length < size) throw new RangeError(`renderPlan: buffer of ${data.length} bytes, need ${size}`);
  const [br, bg, bb] = RGB_OF[plan.background];
  data[0] = br;
  data[1] = bg;
  data[2] = bb;
  for (let filled = 3; filled < size; filled *= 2) data.copyWithin(filled, 0, Math.min(filled, size - filled));
  for (const o of plan.objects) {
    const [cr, cg, cb] = RGB_OF[o.colour];
    for (let t = 0; t < T; t++) {
      const cx = o.x[t]!;
      const cy = o.y[t]!;
      const s = o.s[t]!;
      const e = extentOf(o.shape, s);
      const x0 = Math.max(0, Math.floor(cx - e.left - 1));
      const x1 = Math.min(W - 1, Math.ceil(cx + e.right + 1));
      const y0 = Math.max(0, Math.floor(cy - e.up - 1));
      const y1 = Math.min(H - 1, Math.ceil(cy + e.down + 1));
      const frame = t * H * W * 3;
      for (let y = y0; y <= y1; y++) {
        const py = y + 0.5 - cy;
        let p = frame + (y * W + x0) * 3;
        for (let x = x0; x <= x1; x++, p += 3) {
          const a = coverage(o.shape, x + 0.5 - cx, py, s);
          if (a <= 0) continue;
          data[p] = Math.round(data[p]! + (cr - data[p]!) * a);
          data[p + 1] = Math.round(data[p + 1]! + (cg - data[p + 1]!) * a);
          data[p + 2] = Math.round(data[p + 2]! + (cb - data[p + 2]!) * a);
        }
      }
    }
  }
  return data;
}

/** Render a scene: deterministic for (scene, dims, seed). Returns T·H·W·3 RGB bytes. */
export function renderScene(scene: Scene, dims: Dims, seed: number, out?: Uint8Array): Uint8Array {
  return renderPlan(planScene(scene, dims, seed), out);
}
