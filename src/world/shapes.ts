// Shape geometry of the shapes world: a signed distance (pixels, negative inside) for each shape
// at size s, and its extent. In: a point relative to the shape's centre (image coordinates, y
// down) and the size s; out: the distance, or the pixel coverage clamp(0.5 − d, 0, 1), which is
// the anti-aliasing of the renderer (a one-pixel linear ramp across every edge) and the template
// of the oracle's shape check. Every shape has the area of a circle of radius s (π·s²), so
// sizes are comparable and s can be estimated from an object's mass as √(mass/π).
import type { Shape } from './grammar.js';

const SQRT3 = Math.sqrt(3);
/** Half side of the square: (2h)² = π s². */
const SQUARE_H = Math.sqrt(Math.PI) / 2;
/** Half diagonal of the diamond: 2 d² = π s². */
const DIAMOND_D = Math.sqrt(Math.PI / 2);
/** Half side of the equilateral triangle (pointing up): √3 r² = π s². */
const TRIANGLE_R = Math.sqrt(Math.PI / SQRT3);
/** Cross (plus sign): arms of half length L and half thickness W: 8LW − 4W² ≈ π s². */
const CROSS_L = 1.1;
const CROSS_W = 0.44;

function box(px: number, py: number, hx: number, hy: number): number {
  const qx = Math.abs(px) - hx;
  const qy = Math.abs(py) - hy;
  const ox = qx > 0 ? qx : 0;
  const oy = qy > 0 ? qy : 0;
  return Math.sqrt(ox * ox + oy * oy) + Math.min(Math.max(qx, qy), 0);
}

/** Signed distance from (px, py) (relative to the centre) to the shape of size s. */
export function sdf(shape: Shape, px: number, py: number, s: number): number {
  switch (shape) {
    case 'circle':
      return Math.sqrt(px * px + py * py) - s;
    case 'square': {
      const h = SQUARE_H * s;
      return box(px, py, h, h);
    }
    case 'diamond':
      return (Math.abs(px) + Math.abs(py) - DIAMOND_D * s) * Math.SQRT1_2;
    case 'triangle': {
      // Inigo Quilez's equilateral triangle, y up; the centroid sits at the origin.
      const r = TRIANGLE_R * s;
      let x = Math.abs(px) - r;
      let y = -py + r / SQRT3;
      if (x + SQRT3 * y > 0) {
        const nx = (x - SQRT3 * y) / 2;
        const ny = (-SQRT3 * x - y) / 2;
        x = nx;
        y = ny;
      }
      x -= Math.min(Math.max(x, -2 * r), 0);
      const len = Math.sqrt(x * x + y * y);
      return y > 0 ? -len : len;
    }
    case 'cross': {
      const l = CROSS_L * s;
      const w = CROSS_W * s;
      return Math.min(box(px, py, l, w), box(px, py, w, l));
    }
  }
}

/** Coverage of the pixel whose centre is at (px, py) relative to the shape's centre. */
export function coverage(shape: Shape, px: number, py: number, s: number): number {
  const c = 0.5 - sdf(shape, px, py, s);
  return c <= 0 ? 0 : c >= 1 ? 1 : c;
}

/** How far the shape reaches from its centre: left/right/up/down, in pixels, at size s. */
export interface Extent {
  left: number;
  right: number;
  up: number;
  down: number;
}

export function extentOf(shape: Shape, s: number): Extent {
  switch (shape) {
    case 'circle':
      return { left: s, right: s, up: s, down: s };
    case 'square':
      return { left: SQUARE_H * s, right: SQUARE_H * s, up: SQUARE_H * s, down: SQUARE_H * s };
    case 'diamond':
      return { left: DIAMOND_D * s, right: DIAMOND_D * s, up: DIAMOND_D * s, down: DIAMOND_D * s };
    case 'triangle': {
      const r = TRIANGLE_R * s;
      return { left: r, right: r, up: (2 * r) / SQRT3, down: r / SQRT3 };
    }
    case 'cross':
      return { left: CROSS_L * s, right: CROSS_L * s, up: CROSS_L * s, down: CROSS_L * s };
  }
}
