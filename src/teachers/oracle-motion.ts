// Local motion of the oracle (docs/oracle.md §3): how an object's coverage moved between two
// frames inside one patch region. In: a coverage map (frames × H × W floats), a frame pair and a
// region; out: the best translation (integer search, then sub-pixel refinement), the change it
// does not explain (0 = a pure translation, 1 = nothing matches: a jump, a vanishing, a new
// piece), and which directions the region's edges let us observe (an edge only shows the
// motion across it: the aperture problem).

export interface PairMotion {
  /** Displacement from frame t to t+1 (pixels). */
  dx: number;
  dy: number;
  /** Unexplained change after the best translation, 0–1. */
  unexplained: number;
  /** Structure tensor of the region's edges (both frames): [Jxx, Jxy, Jyy]. */
  J: [number, number, number];
  /** Coverage in the region in frame t and t+1. */
  massA: number;
  massB: number;
}

/** Margin (pixels) added around a patch when matching, so motion across its border is seen. */
export const MATCH_MARGIN = 2;

function sample(map: Float32Array, base: number, H: number, W: number, y: number, x: number): number {
  return y < 0 || y >= H || x < 0 || x >= W ? 0 : map[base + y * W + x]!;
}

function bilinear(map: Float32Array, base: number, H: number, W: number, y: number, x: number): number {
  const xf = Math.floor(x);
  const yf = Math.floor(y);
  const ax = x - xf;
  const ay = y - yf;
  const v00 = sample(map, base, H, W, yf, xf);
  const v01 = sample(map, base, H, W, yf, xf + 1);
  const v10 = sample(map, base, H, W, yf + 1, xf);
  const v11 = sample(map, base, H, W, yf + 1, xf + 1);
  return (v00 * (1 - ax) + v01 * ax) * (1 - ay) + (v10 * (1 - ax) + v11 * ax) * ay;
}

/**
 * Smooth coverage maps frame by frame with a 5-tap binomial kernel (σ ≈ 1 pixel, zero outside
 * the frame): sub-pixel motion of a one-pixel anti-aliased edge becomes a smooth change that
 * least squares can measure, and resampling errors stay small.
 */
export function smoothFrames(map: Float32Array, T: number, H: number, W: number): Float32Array {
  const k = [1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16];
  const tmp = new Float32Array(H * W);
  const out = new Float32Array(map.length);
  for (let t = 0; t < T; t++) {
    const base = t * H * W;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let s = 0;
        for (let j = -2; j <= 2; j++) {
          const xx = x + j;
          if (xx >= 0 && xx < W) s += k[j + 2]! * map[base + y * W + xx]!;
        }
        tmp[y * W + x] = s;
      }
    }
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let s = 0;
        for (let j = -2; j <= 2; j++) {
          const yy = y + j;
          if (yy >= 0 && yy < H) s += k[j + 2]! * tmp[yy * W + x]!;
        }
        out[base + y * W + x] = s;
      }
    }
  }
  return out;
}

/** Buffers reused between calls (matching is single-threaded and not re-entrant). */
const scratch = { gx: new Float64Array(256), gy: new Float64Array(256), costs: new Float64Array(64) };

/** Least coverage a region needs before a change in it is judged relative to it (pixels at 32×32). */
export const MIN_REGION_MASS = 8;

/**
 * Match frame t to t+1 of a smoothed coverage map inside region [y0, y1, x0, x1] (grown by
 * MATCH_MARGIN): a descent over integer shifts, within `search` pixels of `guess` (the object's
 * own motion), minimising the symmetric sum of squared differences, then Lucas–Kanade
 * refinement. Returns null when neither frame has coverage in the region.
 */
export function matchPair(
  map: Float32Array,
  dims: { H: number; W: number },
  t: number,
  region: readonly [number, number, number, number],
  guess: readonly [number, number],
  search: number,
  minMass = MIN_REGION_MASS,
): PairMotion | null {
  const { H, W } = dims;
  const HW = H * W;
  const a = t * HW;
  const b = (t + 1) * HW;
  const y0 = Math.max(0, region[0] - MATCH_MARGIN);
  const y1 = Math.min(H, region[1] + MATCH_MARGIN);
  const x0 = Math.max(0, region[2] - MATCH_MARGIN);
  const x1 = Math.min(W, region[3] + MATCH_MARGIN);
  const rw = x1 - x0;
  const n = (y1 - y0) * rw;
  // gradients of frame t (for Lucas–Kanade) and the structure tensor of both frames
  if (scratch.gx.length < n) {
    scratch.gx = new Float64Array(n);
    scratch.gy = new Float64Array(n);
  }
  const gxA = scratch.gx;
  const gyA = scratch.gy;
  let massA = 0;
  let massB = 0;
  let jxx = 0, jxy = 0, jyy = 0;
  for (let y = y0, r = 0; y < y1; y++) {
    for (let x = x0; x < x1; x++, r++) {
      const i = y * W + x;
      massA += map[a + i]!;
      massB += map[b + i]!;
      const l = x > 0 ? i - 1 : -1;
      const rr = x < W - 1 ? i + 1 : -1;
      const u = y > 0 ? i - W : -1;
      const d = y < H - 1 ? i + W : -1;
      const ax = ((rr >= 0 ? map[a + rr]! : 0) - (l >= 0 ? map[a + l]! : 0)) / 2;
      const ay = ((d >= 0 ? map[a + d]! : 0) - (u >= 0 ? map[a + u]! : 0)) / 2;
      const bx = ((rr >= 0 ? map[b + rr]! : 0) - (l >= 0 ? map[b + l]! : 0)) / 2;
      const by = ((d >= 0 ? map[b + d]! : 0) - (u >= 0 ? map[b + u]! : 0)) / 2;
      gxA[r] = ax;
      gyA[r] = ay;
      jxx += ax * ax + bx * bx;
      jxy += ax * ay + bx * by;
      jyy += ay * ay + by * by;
    }
  }
  if (massA < 0.5 && massB < 0.5) return null;
  // symmetric cost at an integer shift: frame t's region against frame t+1 moved by δ, and frame
  // t+1's region against frame t moved back by δ (content that appears or vanishes counts too)
  const integerCost = (dx: number, dy: number, abs: boolean): number => {
    let s = 0;
    for (let y = y0; y < y1; y++) {
      const ya = y + dy;
      const yb = y - dy;
      const rowA = ya >= 0 && ya < H ? b + ya * W : -1;
      const rowB = yb >= 0 && yb < H ? a + yb * W : -1;
      for (let x = x0; x < x1; x++) {
        const i = y * W + x;
        const xa = x + dx;
        const xb = x - dx;
        const fb = rowA >= 0 && xa >= 0 && xa < W ? map[rowA + xa]! : 0;
        const fa = rowB >= 0 && xb >= 0 && xb < W ? map[rowB + xb]! : 0;
        const e1 = fb - map[a + i]!;
        const e2 = map[b + i]! - fa;
        s += abs ? Math.abs(e1) + Math.abs(e2) : e1 * e1 + e2 * e2;
      }
    }
    return s;
  };
  // descent from the guess over the 3×3 neighbourhood, staying within `search` of it
  const gx0 = Math.round(guess[0]);
  const gy0 = Math.round(guess[1]);
  const side = 2 * search + 1;
  if (scratch.costs.length < side * side) scratch.costs = new Float64Array(side * side);
  const seen = scratch.costs;
  seen.fill(NaN, 0, side * side);
  const costAt = (dx: number, dy: number): number => {
    const key = (dy - gy0 + search) * side + (dx - gx0 + search);
    let c = seen[key]!;
    if (Number.isNaN(c)) {
      c = integerCost(dx, dy, false);
      seen[key] = c;
    }
    return c;
  };
  let bx = gx0;
  let by = gy0;
  let best = costAt(bx, by);
  for (let step = 0; step < 2 * search + 2; step++) {
    let nx = bx, ny = by, nb = best;
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        if ((dx === 0 && dy === 0) || Math.abs(bx + dx - gx0) > search || Math.abs(by + dy - gy0) > search) continue;
        const c = costAt(bx + dx, by + dy);
        if (c < nb - 1e-9) {
          nb = c;
          nx = bx + dx;
          ny = by + dy;
        }
      }
    }
    if (nx === bx && ny === by) break;
    bx = nx;
    by = ny;
    best = nb;
  }
  // Lucas–Kanade refinement with frame t's gradients; motion along a lone edge is damped so it
  // stays near the integer estimate
  let hxx = 0, hxy = 0, hyy = 0;
  for (let r = 0; r < n; r++) {
    hxx += gxA[r]! * gxA[r]!;
    hxy += gxA[r]! * gyA[r]!;
    hyy += gyA[r]! * gyA[r]!;
  }
  const damp = 0.01 * (hxx + hyy) + 1e-6;
  const axx = hxx + damp;
  const ayy = hyy + damp;
  const det = axx * ayy - hxy * hxy;
  let fx = bx;
  let fy = by;
  if (det > 1e-12) {
    for (let it = 0; it < 3; it++) {
      let rx = 0, ry = 0;
      for (let y = y0, r = 0; y < y1; y++) {
        for (let x = x0; x < x1; x++, r++) {
          const e = bilinear(map, b, H, W, y + fy, x + fx) - map[a + y * W + x]!;
          rx += gxA[r]! * e;
          ry += gyA[r]! * e;
        }
      }
      const ux = Math.max(-1, Math.min(1, -(ayy * rx - hxy * ry) / det));
      const uy = Math.max(-1, Math.min(1, -(axx * ry - hxy * rx) / det));
      fx = Math.max(bx - 1, Math.min(bx + 1, fx + ux));
      fy = Math.max(by - 1, Math.min(by + 1, fy + uy));
      if (Math.abs(ux) + Math.abs(uy) < 0.01) break;
    }
  }
  let res = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = y * W + x;
      res += Math.abs(bilinear(map, b, H, W, y + fy, x + fx) - map[a + i]!);
      res += Math.abs(map[b + i]! - bilinear(map, a, H, W, y - fy, x - fx));
    }
  }
  res = Math.min(res, integerCost(bx, by, true));
  return {
    dx: fx,
    dy: fy,
    unexplained: Math.min(1, res / Math.max(massA + massB, minMass)),
    J: [jxx, jxy, jyy],
    massA,
    massB,
  };
}

/** Smallest structure-tensor eigenvalue that counts as an observable direction. */
export const EDGE_MIN = 0.5;

/**
 * The projector onto the directions the region's edges make observable: identity (corners,
 * curves), one direction (a straight edge: only motion across it is seen), or none.
 */
export function observable(J: readonly [number, number, number]): [number, number, number] | null {
  const [a, b, c] = J;
  const mean = (a + c) / 2;
  const d = Math.sqrt(((a - c) / 2) ** 2 + b * b);
  const l1 = mean + d;
  const l2 = mean - d;
  if (l1 < EDGE_MIN) return null;
  if (l2 >= 0.2 * l1) return [1, 0, 1];
  // eigenvector of l1
  let ex = b;
  let ey = l1 - a;
  if (Math.abs(ex) + Math.abs(ey) < 1e-12) {
    ex = a >= c ? 1 : 0;
    ey = a >= c ? 0 : 1;
  }
  const n = Math.hypot(ex, ey);
  ex /= n;
  ey /= n;
  return [ex * ex, ex * ey, ey * ey];
}

/** Apply a symmetric 2×2 projector [pxx, pxy, pyy] to a vector. */
export function project(P: readonly [number, number, number], x: number, y: number): [number, number] {
  return [P[0] * x + P[1] * y, P[1] * x + P[2] * y];
}
