// The frames the VLM teacher shows: which frame indices each request needs (evenly spaced over
// the video; evenly spaced within each temporal segment of the patch grid), and one streaming
// decode that keeps only those frames, shrunk to about --image-size when the video is larger, so
// a long high-resolution video never sits whole in memory. In: a video file and the indices;
// out: a FrameSet whose get(t) gives frame t as an RGB image.
import type { Image } from '../media/image.js';
import { decodeFrames } from '../media/video.js';
import type { PatchGeometry } from '../records/schemas.js';

/** Evenly spaced indices in [from, to) (n of them, at most to − from). */
export function evenly(from: number, to: number, n: number): number[] {
  const len = to - from;
  const k = Math.max(1, Math.min(n, len));
  if (k === 1) return [from + Math.floor((len - 1) / 2)];
  return Array.from({ length: k }, (_, i) => from + Math.round((i * (len - 1)) / (k - 1)));
}

export interface Segment {
  index: number;
  /** Frame range of the segment in the patched tensor's time (end-exclusive). */
  t0: number;
  t1: number;
  /** Patch indices of the segment's cells. */
  cells: number[];
  /** Video frames shown for it. */
  frames: number[];
}

/** The grid's temporal segments and the video frames to show for each (`total` = the video's frames). */
export function segmentsOf(geometry: PatchGeometry, total: number, perSegment: number): Segment[] {
  const [gt, gh, gw] = geometry.grid;
  const cellsPer = gh * gw;
  const ft = total / geometry.video[0];
  return Array.from({ length: gt }, (_, s) => {
    const first = s * cellsPer;
    const [t0, t1] = geometry.boxes[first]!;
    const a = Math.min(total - 1, Math.floor(t0 * ft));
    const b = Math.max(a + 1, Math.min(total, Math.floor(t1 * ft)));
    return { index: s, t0, t1, cells: Array.from({ length: cellsPer }, (_, j) => first + j), frames: evenly(a, b, perSegment) };
  });
}

export interface FrameSet {
  /** Frames in the video (as the record says). */
  frames: number;
  /** Size of the decoded frames (the video's, or shrunk to about maxSide). */
  width: number;
  height: number;
  /** Frame t (a frame past the decoded end gives the last one). */
  get(t: number): Image;
}

/** Decode `file` once, keeping frames `wanted`; frames larger than `maxSide` are shrunk to fit it. */
export async function loadFrames(file: string, size: { frames: number; width: number; height: number }, wanted: Iterable<number>, maxSide: number): Promise<FrameSet> {
  const keep = new Set(wanted);
  const last = Math.max(-1, ...keep);
  const big = Math.max(size.width, size.height) > maxSide;
  const f = maxSide / Math.max(size.width, size.height);
  const options = big ? { width: Math.max(1, Math.round(size.width * f)), height: Math.max(1, Math.round(size.height * f)) } : {};
  const got = new Map<number, Image>();
  let final: Image | undefined;
  let width = 0;
  let height = 0;
  for await (const frame of decodeFrames(file, options)) {
    width = frame.width;
    height = frame.height;
    const image = { width: frame.width, height: frame.height, data: frame.data };
    if (keep.has(frame.index)) got.set(frame.index, image);
    final = image;
    if (frame.index >= last) break;
  }
  return {
    frames: size.frames,
    width,
    height,
    get: (t) => got.get(t) ?? final!,
  };
}
