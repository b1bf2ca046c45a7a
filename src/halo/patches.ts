// Patch geometry: cut a video tensor [T, H, W] into a grid of spatiotemporal patches.
// In: the video's shape and either a grid (`--grid T,H,W`: patches per axis) or a patch size
// (`--patch t,h,w`: the largest a patch may be; the grid is ceil(L/p) per axis). Out: the grid,
// the nominal patch size (the largest box) and one box [t0, t1, y0, y1, x0, x1] (end-exclusive)
// per patch, ordered time-major, then row, then column: i = (it·gh + iy)·gw + ix.
// Uneven division: an axis of length L in g parts has boundaries floor(k·L/g), so part sizes
// differ by at most one (10 in 4 → 2, 3, 2, 3). Every patch gets at least one frame and pixel;
// a grid with more parts than the axis has values is an error (docs/media.md).
import { HaloError, UsageError } from '../cli/errors.js';

export type Triple = [number, number, number];
/** [t0, t1, y0, y1, x0, x1], end-exclusive. */
export type Box = [number, number, number, number, number, number];

/** The default: 4×4×4 patches (4×8×8 each on the world's 16×32×32 videos). */
export const DEFAULT_GRID: Triple = [4, 4, 4];

export type GridSpec = { grid: Triple } | { patch: Triple };

export interface PatchLayout {
  grid: Triple;
  size: Triple;
  video: Triple;
  boxes: Box[];
}

const AXES = ['time', 'height', 'width'] as const;
const UNITS = ['frames', 'rows', 'columns'] as const;

/** The grid does not fit the video (more parts than values along an axis). */
export class GridError extends HaloError {
  constructor(message: string) {
    super(message);
    this.name = 'GridError';
  }
}

/** Parse `a,b,c` (or `axbxc`) as three positive integers; a UsageError names the flag. */
export function parseTriple(text: string, flag: string): Triple {
  const parts = String(text).trim().split(/[,x×]/);
  const nums = parts.map((p) => Number(p.trim()));
  if (nums.length !== 3 || nums.some((n, i) => !Number.isInteger(n) || n < 1 || parts[i]!.trim() === '')) {
    throw new UsageError(`${flag}: expected three positive integers T,H,W (e.g. 4,4,4), got '${text}'`);
  }
  return nums as Triple;
}

/** Boundaries of `parts` near-equal pieces of [0, length): floor(k·length/parts), k = 0..parts. */
export function splitAxis(length: number, parts: number): number[] {
  return Array.from({ length: parts + 1 }, (_, k) => Math.floor((k * length) / parts));
}

/** The grid that `spec` asks for on a video of shape `video`. */
export function gridFor(video: Triple, spec: GridSpec): Triple {
  if ('grid' in spec) return [...spec.grid] as Triple;
  return video.map((l, a) => Math.ceil(l / spec.patch[a]!)) as Triple;
}

/** Cut a video of shape [T, H, W] into patches (see the header). Throws GridError when it does not fit. */
export function patchLayout(video: Triple, spec: GridSpec): PatchLayout {
  for (let a = 0; a < 3; a++) {
    if (!Number.isInteger(video[a]) || video[a]! < 1) throw new GridError(`the video has ${video[a]} ${UNITS[a]}`);
  }
  const grid = gridFor(video, spec);
  for (let a = 0; a < 3; a++) {
    if (grid[a]! > video[a]!) {
      throw new GridError(
        `a grid of ${grid.join('×')} does not fit a ${video.join('×')} video: ${grid[a]} patches along ${AXES[a]} but only ${video[a]} ${UNITS[a]} (each patch needs at least one)`,
      );
    }
  }
  const [bt, by, bx] = [0, 1, 2].map((a) => splitAxis(video[a]!, grid[a]!)) as [number[], number[], number[]];
  const boxes: Box[] = [];
  for (let it = 0; it < grid[0]; it++) {
    for (let iy = 0; iy < grid[1]; iy++) {
      for (let ix = 0; ix < grid[2]; ix++) {
        boxes.push([bt[it]!, bt[it + 1]!, by[iy]!, by[iy + 1]!, bx[ix]!, bx[ix + 1]!]);
      }
    }
  }
  const size = [bt, by, bx].map((b) => Math.max(...b.slice(1).map((v, i) => v - b[i]!))) as Triple;
  return { grid, size, video: [...video] as Triple, boxes };
}

/** Index of the patch at grid position (it, iy, ix). */
export function patchIndex(grid: Triple, it: number, iy: number, ix: number): number {
  return (it * grid[1] + iy) * grid[2] + ix;
}

/** Grid position [it, iy, ix] of patch `i`. */
export function patchPosition(grid: Triple, i: number): Triple {
  const ix = i % grid[2];
  const iy = Math.floor(i / grid[2]) % grid[1];
  const it = Math.floor(i / (grid[1] * grid[2]));
  return [it, iy, ix];
}

/** An RGB clip: frames × height × width × 3 bytes. */
export interface Clip {
  frames: number;
  height: number;
  width: number;
  data: Uint8Array;
}

/** Copy the pixels of one box out of a video. */
export function cutPatch(video: Clip, box: Box): Clip {
  const [t0, t1, y0, y1, x0, x1] = box;
  if (t0 < 0 || t1 > video.frames || y0 < 0 || y1 > video.height || x0 < 0 || x1 > video.width || t0 >= t1 || y0 >= y1 || x0 >= x1) {
    throw new GridError(`box [${box.join(',')}] is outside the ${video.frames}×${video.height}×${video.width} video`);
  }
  const frames = t1 - t0;
  const height = y1 - y0;
  const width = x1 - x0;
  const row = width * 3;
  const data = new Uint8Array(frames * height * row);
  let o = 0;
  for (let t = t0; t < t1; t++) {
    for (let y = y0; y < y1; y++) {
      const s = ((t * video.height + y) * video.width + x0) * 3;
      data.set(video.data.subarray(s, s + row), o);
      o += row;
    }
  }
  return { frames, height, width, data };
}
