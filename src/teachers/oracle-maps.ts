// Per-pixel maps of the oracle (docs/oracle.md §1). In: RGB24 frames and the parsed scene; out:
// for every pixel, which prompt object explains it and how much (its coverage α on the line
// from the background colour to the object's colour), how far it is from every colour the
// prompt allows (the residual), whether it shows a palette colour the prompt does not name,
// and per frame and object the connected components of the object (main body and fragments).
import { COLOURS, RGB_OF, type Scene } from '../world/grammar.js';

export interface Frames {
  frames: number;
  height: number;
  width: number;
  data: Uint8Array;
}

/** Coverage below this is background; the α of the owning object is kept from here on. */
export const OWN_MIN = 0.02;
/** A pixel is "solid" object (counted in components and shapes) from this coverage on. */
export const SOLID = 0.5;
/** A pixel this far (0–255 levels, RGB distance) from every prompt colour line may be a wrong colour. */
const WRONG_RESIDUAL = 40;

export interface PixelMaps {
  T: number;
  H: number;
  W: number;
  objects: number;
  /** Coverage of the owning object (0 for background), per pixel. */
  alpha: Float32Array;
  /** Owning object index, −1 for background. */
  owner: Int8Array;
  /** Distance (levels) from the pixel to the nearest allowed colour (background–object segments). */
  residual: Float32Array;
  /** 1 where the pixel shows a palette colour that the prompt does not name. */
  wrong: Uint8Array;
  /** 1 where the pixel is a solid part of a fragment (an object component that is not its main body). */
  fragment: Uint8Array;
  /** Distance (levels) of the pixel from the background colour. */
  fromBackground: Float32Array;
  /** Per frame and object: the main component's bounding box [y0, y1, x0, x1] (end-exclusive) or null. */
  mainBox: ([number, number, number, number] | null)[][];
  /** Per frame and object: pixels in the main component / in fragments (solid pixels). */
  mainSize: number[][];
  fragmentSize: number[][];
}

interface Line {
  u: [number, number, number];
  inv: number;
}

function lineTo(bg: readonly number[], c: readonly number[]): Line {
  const u: [number, number, number] = [c[0]! - bg[0]!, c[1]! - bg[1]!, c[2]! - bg[2]!];
  return { u, inv: 1 / (u[0] * u[0] + u[1] * u[1] + u[2] * u[2]) };
}

/** Compute the pixel maps of a clip for a scene. */
export function pixelMaps(scene: Scene, clip: Frames): PixelMaps {
  const { frames: T, height: H, width: W, data } = clip;
  const N = T * H * W;
  const bg = RGB_OF[scene.background];
  const lines = scene.objects.map((o) => lineTo(bg, RGB_OF[o.colour]));
  const others = COLOURS.filter((c) => !scene.objects.some((o) => o.colour === c)).map((c) => lineTo(bg, RGB_OF[c]));
  const nObj = lines.length;
  const alpha = new Float32Array(N);
  const owner = new Int8Array(N);
  const residual = new Float32Array(N);
  const wrong = new Uint8Array(N);
  const fromBackground = new Float32Array(N);
  for (let i = 0, p = 0; i < N; i++, p += 3) {
    const d0 = data[p]! - bg[0];
    const d1 = data[p + 1]! - bg[1];
    const d2 = data[p + 2]! - bg[2];
    const dd = d0 * d0 + d1 * d1 + d2 * d2;
    fromBackground[i] = Math.sqrt(dd);
    let bestR = Infinity;
    let bestA = 0;
    let bestK = -1;
    for (let k = 0; k < nObj; k++) {
      const { u, inv } = lines[k]!;
      let a = (d0 * u[0] + d1 * u[1] + d2 * u[2]) * inv;
      a = a < 0 ? 0 : a > 1 ? 1 : a;
      const r0 = d0 - a * u[0];
      const r1 = d1 - a * u[1];
      const r2 = d2 - a * u[2];
      const r = r0 * r0 + r1 * r1 + r2 * r2;
      if (r < bestR) {
        bestR = r;
        bestA = a;
        bestK = k;
      }
    }
    const res = Math.sqrt(bestR);
    residual[i] = res;
    if (bestA >= OWN_MIN) {
      alpha[i] = bestA;
      owner[i] = bestK;
    } else {
      owner[i] = -1;
    }
    if (res > WRONG_RESIDUAL) {
      // Does another palette colour explain it (at least half covered, much closer)?
      for (const { u, inv } of others) {
        const a = (d0 * u[0] + d1 * u[1] + d2 * u[2]) * inv;
        if (a < SOLID) continue;
        const ac = a > 1 ? 1 : a;
        const r0 = d0 - ac * u[0];
        const r1 = d1 - ac * u[1];
        const r2 = d2 - ac * u[2];
        if (Math.sqrt(r0 * r0 + r1 * r1 + r2 * r2) < 0.5 * res) {
          wrong[i] = 1;
          break;
        }
      }
    }
  }
  const maps: PixelMaps = {
    T, H, W, objects: nObj, alpha, owner, residual, wrong, fragment: new Uint8Array(N), fromBackground,
    mainBox: [], mainSize: [], fragmentSize: [],
  };
  labelComponents(maps);
  return maps;
}

/** 4-connected components of each object's solid pixels, per frame: main body and fragments. */
function labelComponents(m: PixelMaps): void {
  const { T, H, W, alpha, owner, fragment } = m;
  const HW = H * W;
  const label = new Int32Array(HW);
  const stack = new Int32Array(HW);
  for (let t = 0; t < T; t++) {
    const base = t * HW;
    const boxes: ([number, number, number, number] | null)[] = [];
    const mains: number[] = [];
    const frags: number[] = [];
    for (let k = 0; k < m.objects; k++) {
      label.fill(0);
      const comps: { size: number; box: [number, number, number, number] }[] = [];
      for (let s = 0; s < HW; s++) {
        if (label[s] !== 0 || owner[base + s] !== k || alpha[base + s]! < SOLID) continue;
        const id = comps.length + 1;
        let top = 0;
        stack[top++] = s;
        label[s] = id;
        let size = 0;
        let y0 = H, y1 = 0, x0 = W, x1 = 0;
        while (top > 0) {
          const q = stack[--top]!;
          size++;
          const y = (q / W) | 0;
          const x = q - y * W;
          if (y < y0) y0 = y;
          if (y >= y1) y1 = y + 1;
          if (x < x0) x0 = x;
          if (x >= x1) x1 = x + 1;
          const push = (n: number): void => {
            if (label[n] === 0 && owner[base + n] === k && alpha[base + n]! >= SOLID) {
              label[n] = id;
              stack[top++] = n;
            }
          };
          if (x > 0) push(q - 1);
          if (x < W - 1) push(q + 1);
          if (y > 0) push(q - W);
          if (y < H - 1) push(q + W);
        }
        comps.push({ size, box: [y0, y1, x0, x1] });
      }
      let main = -1;
      for (let c = 0; c < comps.length; c++) if (main < 0 || comps[c]!.size > comps[main]!.size) main = c;
      let fragSize = 0;
      if (comps.length > 1) {
        for (let s = 0; s < HW; s++) {
          const l = label[s]!;
          if (l !== 0 && l - 1 !== main) fragment[base + s] = 1;
        }
        for (let c = 0; c < comps.length; c++) if (c !== main) fragSize += comps[c]!.size;
      }
      boxes.push(main >= 0 ? comps[main]!.box : null);
      mains.push(main >= 0 ? comps[main]!.size : 0);
      frags.push(fragSize);
    }
    m.mainBox.push(boxes);
    m.mainSize.push(mains);
    m.fragmentSize.push(frags);
  }
}

let blobScratch = { seen: new Uint8Array(0), stack: new Int32Array(0) };

/** Count connected blobs of non-background pixels (≥ minSize pixels) in frame t: objects seen. */
export function countBlobs(m: PixelMaps, t: number, minDistance: number, minSize: number): number {
  const { H, W, fromBackground } = m;
  const HW = H * W;
  const base = t * HW;
  if (blobScratch.seen.length < HW) blobScratch = { seen: new Uint8Array(HW), stack: new Int32Array(HW) };
  const { seen, stack } = blobScratch;
  seen.fill(0, 0, HW);
  let count = 0;
  for (let s = 0; s < HW; s++) {
    if (seen[s] || fromBackground[base + s]! < minDistance) continue;
    let top = 0;
    stack[top++] = s;
    seen[s] = 1;
    let size = 0;
    while (top > 0) {
      const q = stack[--top]!;
      size++;
      const y = (q / W) | 0;
      const x = q - y * W;
      const push = (n: number): void => {
        if (!seen[n] && fromBackground[base + n]! >= minDistance) {
          seen[n] = 1;
          stack[top++] = n;
        }
      };
      if (x > 0) push(q - 1);
      if (x < W - 1) push(q + 1);
      if (y > 0) push(q - W);
      if (y < H - 1) push(q + W);
    }
    if (size >= minSize) count++;
  }
  return count;
}
