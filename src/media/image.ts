// Images: the only module that imports sharp. Pictures are made as raw RGB buffers (Image) by
// small deterministic drawing functions: a patch's storyboard (its frames tiled, upscaled with
// nearest neighbour so a vision-language model can see 8×8 pixels), frames with red boxes
// around given patches, a per-patch score heatmap, a frame with the patch grid drawn and its
// cells numbered, a contact sheet of several videos. encodePng() writes PNG itself with
// node:zlib (several times faster than a sharp pipeline per small image, which matters at 64
// storyboards per video); sharp, loaded on first use, does resizing (thumbnails), reading
// images and other formats (JPEG, WebP).
import { createRequire } from 'node:module';
import { constants as zc, deflateSync } from 'node:zlib';
import type { Box, Clip, Triple } from '../halo/patches.js';
import { writeFileAtomic } from '../io/atomic.js';
import { FixedDeflate } from './deflate.js';

/** An RGB picture: height × width × 3 bytes, row-major. */
export interface Image {
  width: number;
  height: number;
  data: Uint8Array;
}

export type Rgb = [number, number, number];
export const RED: Rgb = [255, 0, 0];
export const WHITE: Rgb = [255, 255, 255];
export const BLACK: Rgb = [0, 0, 0];
/** Storyboard gaps: dark grey, visible on the light backgrounds of generated videos. */
export const GAP: Rgb = [48, 48, 48];

export function blank(width: number, height: number, color: Rgb = BLACK): Image {
  const data = new Uint8Array(width * height * 3);
  if (color[0] || color[1] || color[2]) fillBytes(data, 0, width * height, color);
  return { width, height, data };
}

/** Set `count` pixels from byte offset `start` to `color` (one pixel, then doubling copies). */
function fillBytes(data: Uint8Array, start: number, count: number, color: Rgb): void {
  if (count <= 0) return;
  data[start] = color[0];
  data[start + 1] = color[1];
  data[start + 2] = color[2];
  const end = start + count * 3;
  for (let filled = 3; start + filled < end; filled *= 2) data.copyWithin(start + filled, start, Math.min(start + 2 * filled, end) - filled);
}

// ---- PNG ---------------------------------------------------------------------------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, body: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, 'latin1');
  out.set(body, 8);
  out.writeUInt32BE(crc32(out, 4, 8 + body.length), 8 + body.length);
  return out;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * Encode an RGB image as PNG (8-bit truecolour). Each row uses the "Up" filter when it equals
 * the row above (upscaled pictures compress to almost nothing) and no filter otherwise.
 * Synchronous: for these small images zlib's thread-pool round trip costs more than the work.
 */
export function encodePng(image: Image, level = 1): Buffer {
  const { width, height, data } = image;
  if (data.length !== width * height * 3) throw new Error(`encodePng: ${data.length} bytes for a ${width}×${height} RGB image`);
  const row = width * 3;
  const raw = Buffer.alloc((row + 1) * height);
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  for (let y = 0; y < height; y++) {
    const o = y * (row + 1);
    const s = y * row;
    if (y > 0 && view.compare(view, s - row, s, s, s + row) === 0) {
      raw[o] = 2; // Up: every byte minus the one above = 0
    } else {
      view.copy(raw, o + 1, s, s + row);
    }
  }
  return pngOf(width, height, raw, level);
}

/** A PNG file from filtered scanlines (each row: filter byte + RGB bytes). */
function pngOf(width: number, height: number, raw: Buffer, level: number): Buffer {
  // Z_RLE: the rows are mostly runs (zeros of "Up" rows, flat colour); 10x cheaper than the
  // default strategy for these pictures and smaller (measured).
  return pngFromIdat(width, height, deflateSync(raw, { level, strategy: zc.Z_RLE }));
}

/** A PNG file (8-bit RGB) around a zlib stream of its filtered scanlines. */
function pngFromIdat(width: number, height: number, idat: Uint8Array): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))]);
}

/** Write an image as PNG, atomically. */
export async function writePng(file: string, image: Image): Promise<void> {
  await writeFileAtomic(file, encodePng(image));
}

// ---- sharp (loaded on first use: importing it costs ~0.2 s) --------------------------------

// sharp's ESM type declarations (0.35) lack the default export, so it is loaded through require,
// whose declarations are complete.
type Sharp = typeof import('sharp', { with: { 'resolution-mode': 'require' } });
let sharpModule: Sharp | undefined;
async function sharp(): Promise<Sharp> {
  if (!sharpModule) {
    const s = createRequire(import.meta.url)('sharp') as Sharp;
    s.cache(false);
    sharpModule = s;
  }
  return sharpModule;
}

/** Read any image sharp can read (PNG, JPEG, WebP, ...) as RGB (alpha flattened on black). */
export async function readImage(file: string | Uint8Array): Promise<Image> {
  const s = await sharp();
  const input = typeof file === 'string' ? file : Buffer.from(file);
  const { data, info } = await s(input).flatten({ background: '#000000' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** Encode an image as JPEG or WebP (smaller for VLM requests) or PNG, through sharp. */
export async function encodeImage(image: Image, format: 'png' | 'jpeg' | 'webp', quality = 90): Promise<Buffer> {
  const s = await sharp();
  const p = s(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.length), { raw: { width: image.width, height: image.height, channels: 3 } });
  if (format === 'jpeg') return p.jpeg({ quality }).toBuffer();
  if (format === 'webp') return p.webp({ quality }).toBuffer();
  return p.png().toBuffer();
}

/**
 * A thumbnail whose longer side is `maxSide`: shrunk with Lanczos, or grown with nearest
 * neighbour (small generated frames stay sharp). Returns PNG bytes.
 */
export async function thumbnail(image: Image, maxSide = 128): Promise<Buffer> {
  const s = await sharp();
  const f = maxSide / Math.max(image.width, image.height);
  const width = Math.max(1, Math.round(image.width * f));
  const height = Math.max(1, Math.round(image.height * f));
  return s(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.length), { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(width, height, { fit: 'fill', kernel: f >= 1 ? 'nearest' : 'lanczos3' })
    .png()
    .toBuffer();
}

// ---- drawing ---------------------------------------------------------------------------------

/** Frame `t` of a clip as an image (a view, not a copy). */
export function frameOf(clip: Clip, t: number): Image {
  const size = clip.height * clip.width * 3;
  return { width: clip.width, height: clip.height, data: clip.data.subarray(t * size, (t + 1) * size) };
}

/** Nearest-neighbour upscale by an integer factor. */
export function upscale(image: Image, factor: number): Image {
  if (factor === 1) return { ...image, data: new Uint8Array(image.data) };
  const width = image.width * factor;
  const height = image.height * factor;
  const data = new Uint8Array(width * height * 3);
  const outRow = width * 3;
  for (let y = 0; y < image.height; y++) {
    const o = y * factor * outRow;
    let p = o;
    for (let x = 0; x < image.width; x++) {
      const s = (y * image.width + x) * 3;
      const r = image.data[s]!;
      const g = image.data[s + 1]!;
      const b = image.data[s + 2]!;
      for (let k = 0; k < factor; k++) {
        data[p++] = r;
        data[p++] = g;
        data[p++] = b;
      }
    }
    for (let k = 1; k < factor; k++) data.copyWithin(o + k * outRow, o, o + outRow);
  }
  return { width, height, data };
}

/** Copy `src` into `dst` with its top-left corner at (x, y). */
export function paste(dst: Image, src: Image, x: number, y: number): void {
  for (let r = 0; r < src.height; r++) {
    const dy = y + r;
    if (dy < 0 || dy >= dst.height) continue;
    const x0 = Math.max(0, x);
    const x1 = Math.min(dst.width, x + src.width);
    if (x1 <= x0) continue;
    const s = (r * src.width + (x0 - x)) * 3;
    dst.data.set(src.data.subarray(s, s + (x1 - x0) * 3), (dy * dst.width + x0) * 3);
  }
}

/** Fill the rectangle [y0, y1) × [x0, x1) (clipped to the image). */
export function fillRect(image: Image, y0: number, y1: number, x0: number, x1: number, color: Rgb): void {
  const ya = Math.max(0, y0);
  const yb = Math.min(image.height, y1);
  const xa = Math.max(0, x0);
  const xb = Math.min(image.width, x1);
  if (xb <= xa || yb <= ya) return;
  const row = image.width * 3;
  fillBytes(image.data, ya * row + xa * 3, xb - xa, color);
  const first = ya * row + xa * 3;
  for (let y = ya + 1; y < yb; y++) image.data.copyWithin(y * row + xa * 3, first, first + (xb - xa) * 3);
}

/** Outline the rectangle [y0, y1) × [x0, x1) with lines `thickness` wide, inside its edge. */
export function strokeRect(image: Image, y0: number, y1: number, x0: number, x1: number, color: Rgb, thickness = 1): void {
  const t = Math.max(1, Math.min(thickness, Math.floor((y1 - y0) / 2) || 1, Math.floor((x1 - x0) / 2) || 1));
  fillRect(image, y0, y0 + t, x0, x1, color);
  fillRect(image, y1 - t, y1, x0, x1, color);
  fillRect(image, y0, y1, x0, x0 + t, color);
  fillRect(image, y0, y1, x1 - t, x1, color);
}

/** The scale that makes a patch's longer side at least `target` pixels (at least 1). */
export function autoScale(height: number, width: number, target = 64): number {
  return Math.max(1, Math.ceil(target / Math.max(height, width)));
}

export interface StoryboardOptions {
  /** Nearest-neighbour factor (default: autoScale, so 8×8 patches become 64×64). */
  scale?: number;
  /** Frames per row (default: all frames in one row up to 8). */
  columns?: number;
  /** Gap between frames, in output pixels (default 2), filled with `background` (default dark grey). */
  gap?: number;
  background?: Rgb;
}

/** A patch's frames tiled left to right, top to bottom, upscaled with nearest neighbour. */
export function storyboard(clip: Clip, options: StoryboardOptions = {}): Image {
  const scale = options.scale ?? autoScale(clip.height, clip.width);
  const columns = Math.max(1, Math.min(options.columns ?? Math.min(clip.frames, 8), clip.frames));
  const rows = Math.ceil(clip.frames / columns);
  const gap = options.gap ?? 2;
  const tw = clip.width * scale;
  const th = clip.height * scale;
  const out = blank(columns * tw + (columns - 1) * gap, rows * th + (rows - 1) * gap, options.background ?? GAP);
  for (let t = 0; t < clip.frames; t++) {
    const tile = upscale(frameOf(clip, t), scale);
    paste(out, tile, (t % columns) * (tw + gap), Math.floor(t / columns) * (th + gap));
  }
  return out;
}

/**
 * storyboard() straight to PNG bytes, without the upscaled picture in between: the compressed
 * stream is written as the layout is walked (src/media/deflate.ts): a source pixel is three
 * literals and a back-reference for its copies, a row that repeats the one above is a PNG "Up"
 * row of zeros. The patchify hot path; same pixels as encodePng(storyboard(cutPatch(video, box),
 * options)). Without `box`, the whole video.
 */
export function storyboardPng(video: Clip, box?: Box, options: StoryboardOptions = {}): Buffer {
  const [t0, , y0, , x0] = box ?? [0, video.frames, 0, video.height, 0, video.width];
  const clip = box ? { frames: box[1] - box[0], height: box[3] - box[2], width: box[5] - box[4] } : video;
  const scale = options.scale ?? autoScale(clip.height, clip.width);
  const columns = Math.max(1, Math.min(options.columns ?? Math.min(clip.frames, 8), clip.frames));
  const rows = Math.ceil(clip.frames / columns);
  const gap = options.gap ?? 2;
  const [br, bgG, bb] = options.background ?? GAP;
  const tw = clip.width * scale;
  const th = clip.height * scale;
  const width = columns * tw + (columns - 1) * gap;
  const height = rows * th + (rows - 1) * gap;
  const rowBytes = width * 3;
  const frameBytes = video.height * video.width * 3;
  const src = video.data;
  const z = new FixedDeflate();
  const upRows = (n: number) => {
    for (let k = 0; k < n; k++) {
      z.literal(2); // Up: same as the row above, so every byte is 0
      z.literal(0);
      z.repeat(1, rowBytes - 1);
    }
  };
  const background = (pixels: number) => {
    if (pixels <= 0) return;
    z.pixel(br, bgG, bb);
    z.repeat(3, 3 * (pixels - 1));
  };
  for (let r = 0; r < rows; r++) {
    for (let sy = 0; sy < clip.height; sy++) {
      z.literal(0); // no filter
      for (let c = 0; c < columns; c++) {
        const t = r * columns + c;
        if (t < clip.frames) {
          let s = (t0 + t) * frameBytes + ((y0 + sy) * video.width + x0) * 3;
          for (let x = 0; x < clip.width; x++, s += 3) {
            const R = src[s]!;
            const G = src[s + 1]!;
            const B = src[s + 2]!;
            if (x > 0 && R === src[s - 3] && G === src[s - 2] && B === src[s - 1]) {
              z.repeat(3, 3 * scale); // same as the pixel to the left
            } else {
              z.pixel(R, G, B);
              z.repeat(3, 3 * (scale - 1));
            }
          }
        } else {
          background(tw);
        }
        if (c < columns - 1) background(gap);
      }
      upRows(scale - 1);
    }
    if (r < rows - 1 && gap > 0) {
      z.literal(0);
      background(width);
      upRows(gap - 1);
    }
  }
  if (z.length !== (rowBytes + 1) * height) throw new Error(`storyboardPng: wrote ${z.length} bytes for ${(rowBytes + 1) * height}`);
  return pngFromIdat(width, height, z.finish());
}

export interface BoxOptions {
  /** Nearest-neighbour factor applied to the frames before drawing (default: frames ≥ 256 px). */
  scale?: number;
  color?: Rgb;
  /** Line width in output pixels (default: max(1, scale / 2)). */
  thickness?: number;
}

/**
 * The frames of a video, upscaled, with a box drawn around each given patch on the frames the
 * patch spans (boxes are [t0, t1, y0, y1, x0, x1] in video pixels, end-exclusive).
 */
export function drawBoxes(video: Clip, boxes: readonly Box[], options: BoxOptions = {}): Image[] {
  const scale = options.scale ?? autoScale(video.height, video.width, 256);
  const color = options.color ?? RED;
  const thickness = options.thickness ?? Math.max(1, Math.floor(scale / 2));
  const frames: Image[] = [];
  for (let t = 0; t < video.frames; t++) {
    const img = upscale(frameOf(video, t), scale);
    for (const [t0, t1, y0, y1, x0, x1] of boxes) {
      if (t >= t0 && t < t1) strokeRect(img, y0 * scale, y1 * scale, x0 * scale, x1 * scale, color, thickness);
    }
    frames.push(img);
  }
  return frames;
}

// A 3×5 bitmap font for digits: each glyph is 5 rows of 3 bits (most significant bit = left).
const DIGITS: Record<string, number[]> = {
  '0': [7, 5, 5, 5, 7],
  '1': [2, 6, 2, 2, 7],
  '2': [7, 1, 7, 4, 7],
  '3': [7, 1, 7, 1, 7],
  '4': [5, 5, 7, 1, 1],
  '5': [7, 4, 7, 1, 7],
  '6': [7, 4, 7, 5, 7],
  '7': [7, 1, 1, 1, 1],
  '8': [7, 5, 7, 5, 7],
  '9': [7, 5, 7, 1, 7],
  '-': [0, 0, 7, 0, 0],
  '.': [0, 0, 0, 0, 2],
};

/** Width in pixels of `text` drawn by drawText at `size` pixels per font dot. */
export function textWidth(text: string, size: number): number {
  return text.length ? (text.length * 4 - 1) * size : 0;
}

/**
 * Draw digits (and '-', '.') with the built-in 3×5 font, `size` pixels per dot, on a
 * `background` plate one dot wider all round (when given), top-left corner at (x, y).
 */
export function drawText(image: Image, text: string, x: number, y: number, size: number, color: Rgb = WHITE, background: Rgb | null = BLACK): void {
  if (background) fillRect(image, y, y + 7 * size, x, x + textWidth(text, size) + 2 * size, background);
  let cx = x + (background ? size : 0);
  const cy = y + (background ? size : 0);
  for (const ch of text) {
    const glyph = DIGITS[ch];
    if (glyph) {
      for (let r = 0; r < 5; r++) {
        for (let c = 0; c < 3; c++) {
          if (glyph[r]! & (4 >> c)) fillRect(image, cy + r * size, cy + (r + 1) * size, cx + c * size, cx + (c + 1) * size, color);
        }
      }
    }
    cx += 4 * size;
  }
}

export interface GridOverlayOptions {
  /** Nearest-neighbour factor (default: frames ≥ 256 px). */
  scale?: number;
  /** Number the cells starting here (patch indices of this frame's time slice); null: no numbers. */
  firstIndex?: number | null;
  lineColor?: Rgb;
}

/**
 * A frame with the patch grid drawn and each cell numbered with its patch index, for asking a
 * vision-language model about many patches in one image. `rows`/`cols` are boundaries in frame
 * pixels (from splitAxis), so uneven grids are drawn as they were cut.
 */
export function gridOverlay(frame: Image, rows: readonly number[], cols: readonly number[], options: GridOverlayOptions = {}): Image {
  const scale = options.scale ?? autoScale(frame.height, frame.width, 256);
  const img = upscale(frame, scale);
  const line = options.lineColor ?? WHITE;
  const lw = Math.max(1, Math.floor(scale / 4));
  for (const y of rows.slice(1, -1)) fillRect(img, y * scale - Math.floor(lw / 2), y * scale + Math.ceil(lw / 2), 0, img.width, line);
  for (const x of cols.slice(1, -1)) fillRect(img, 0, img.height, x * scale - Math.floor(lw / 2), x * scale + Math.ceil(lw / 2), line);
  const first = options.firstIndex === undefined ? 0 : options.firstIndex;
  if (first !== null) {
    const gw = cols.length - 1;
    for (let iy = 0; iy < rows.length - 1; iy++) {
      for (let ix = 0; ix < gw; ix++) {
        const label = String(first + iy * gw + ix);
        const cellW = (cols[ix + 1]! - cols[ix]!) * scale;
        const cellH = (rows[iy + 1]! - rows[iy]!) * scale;
        // The largest dot size whose plate fits a third of the cell (at least 1).
        const size = Math.max(1, Math.min(Math.floor(cellW / 2 / (textWidth(label, 1) + 2)), Math.floor(cellH / 3 / 7)));
        drawText(img, label, cols[ix]! * scale + lw, rows[iy]! * scale + lw, size);
      }
    }
  }
  return img;
}

/** Colour for a score in [min, max]: red (low) through yellow to green (high). */
export function scoreColor(score: number | null | undefined, min = 1, max = 4): Rgb {
  if (score === null || score === undefined || !Number.isFinite(score)) return [96, 96, 96];
  const u = Math.min(1, Math.max(0, (score - min) / (max - min || 1)));
  return u < 0.5 ? [230, Math.round(40 + 400 * u), 40] : [Math.round(230 - 400 * (u - 0.5)), 240, 40];
}

export interface HeatmapOptions {
  min?: number;
  max?: number;
  /** Pixels per cell (default 32). */
  cell?: number;
  /** Gap between time slices (default 4), white. */
  gap?: number;
  /** Write each cell's score (one decimal) in it (default true). */
  numbers?: boolean;
}

/**
 * A heatmap of per-patch scores (in patch order, i = (it·gh + iy)·gw + ix): one gh × gw panel
 * per time slice, side by side, red for low scores, green for high, grey for missing.
 */
export function heatmap(scores: readonly (number | null)[], grid: Triple, options: HeatmapOptions = {}): Image {
  const [gt, gh, gw] = grid;
  if (scores.length !== gt * gh * gw) throw new Error(`heatmap: ${scores.length} scores for a ${grid.join('×')} grid`);
  const cell = options.cell ?? 32;
  const gap = options.gap ?? 4;
  const img = blank(gt * gw * cell + (gt - 1) * gap, gh * cell, WHITE);
  for (let it = 0; it < gt; it++) {
    for (let iy = 0; iy < gh; iy++) {
      for (let ix = 0; ix < gw; ix++) {
        const s = scores[(it * gh + iy) * gw + ix];
        const x = it * (gw * cell + gap) + ix * cell;
        fillRect(img, iy * cell, (iy + 1) * cell, x, x + cell, scoreColor(s, options.min, options.max));
        if (options.numbers !== false && s !== null && s !== undefined && Number.isFinite(s)) {
          const label = s.toFixed(1);
          const size = Math.max(1, Math.floor(cell / 2 / textWidth(label, 1)));
          const tw = textWidth(label, size);
          drawText(img, label, x + Math.floor((cell - tw) / 2), iy * cell + Math.floor((cell - 5 * size) / 2), size, BLACK, null);
        }
      }
    }
  }
  return img;
}

export interface ContactSheetOptions {
  /** Frames shown per video, evenly spaced (default 8). */
  columns?: number;
  /** Nearest-neighbour factor (default: frames ≥ 64 px). */
  scale?: number;
  gap?: number;
}

/** One row per video, `columns` of its frames evenly spaced, upscaled; videos may differ in size. */
export function contactSheet(videos: readonly Clip[], options: ContactSheetOptions = {}): Image {
  if (videos.length === 0) return blank(1, 1, WHITE);
  const columns = options.columns ?? 8;
  const gap = options.gap ?? 4;
  const scaleOf = (v: Clip) => options.scale ?? autoScale(v.height, v.width, 64);
  const widths = videos.map((v) => Math.min(columns, v.frames) * (v.width * scaleOf(v) + gap) - gap);
  const heights = videos.map((v) => v.height * scaleOf(v));
  const img = blank(Math.max(...widths), heights.reduce((a, b) => a + b, 0) + gap * (videos.length - 1), WHITE);
  let y = 0;
  videos.forEach((v, r) => {
    const s = scaleOf(v);
    const n = Math.min(columns, v.frames);
    for (let k = 0; k < n; k++) {
      const t = n === v.frames ? k : Math.floor(((k + 0.5) * v.frames) / n);
      paste(img, upscale(frameOf(v, t), s), k * (v.width * s + gap), y);
    }
    y += heights[r]! + gap;
  });
  return img;
}
