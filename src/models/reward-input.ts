// What a reward model takes, made from a video file and a prompt. In: any ffmpeg-readable video and the
// model's frames × height × width; a prompt and the model's tokenizer. Out: RGB bytes of exactly that
// shape (resampled when the video differs, with a sentence saying how) and the prompt's word ids.
//
// Resampling (docs/reward-model.md): the frame size is scaled by ffmpeg's area filter to the model's
// size, ignoring the aspect ratio (a 16:9 video is squeezed, not cropped); the frame count is taken
// evenly over the whole clip (frame ⌊(k + ½)·M/N⌋ of M for k < N), and a shorter clip repeats frames
// (frame ⌊k·M/N⌋). The frame rate is ignored: the model sees the clip's N frames, whatever its length.
import { evenlySpaced, readVideo, readVideos, type Video } from '../media/video.js';
import { Tokenizer, words } from './tokenizer.js';

export interface ModelShape {
  frames: number;
  height: number;
  width: number;
}

export interface ModelVideo {
  /** frames × height × width × 3 bytes, RGB. */
  data: Uint8Array;
  /** The video as read: frames (decoded), height, width, fps. */
  source: { frames: number; height: number; width: number; fps: number };
  /** How the video was changed to fit the model; undefined when it already fitted. */
  resampled?: string;
  /** The frames as decoded, before resampling (when asked for with keepSource). */
  original?: Video;
}

/** Frame indices that give `n` frames from `m`: evenly spaced when m ≥ n, repeated when m < n. */
export function frameIndices(n: number, m: number): number[] {
  if (m >= n) return evenlySpaced(n, m);
  return Array.from({ length: n }, (_, k) => Math.floor((k * m) / n));
}

/** Resample a decoded video to the model's shape (a second decode when the frame size differs). */
async function fitToModel(file: string, decoded: Video, shape: ModelShape, keepSource: boolean): Promise<ModelVideo> {
  let v = decoded;
  const original: Video | undefined = keepSource ? { frames: v.frames, height: v.height, width: v.width, fps: v.fps, data: v.data } : undefined;
  const source = { frames: v.frames, height: v.height, width: v.width, fps: v.fps };
  const notes: string[] = [];
  if (v.height !== shape.height || v.width !== shape.width) {
    v = await readVideo(file, { width: shape.width, height: shape.height });
    notes.push(`frames scaled from ${source.width}×${source.height} to ${shape.width}×${shape.height} (area filter${source.width * shape.height !== source.height * shape.width ? ', aspect ratio not kept' : ''})`);
  }
  let data = v.data;
  if (v.frames !== shape.frames) {
    const idx = frameIndices(shape.frames, v.frames);
    const size = shape.height * shape.width * 3;
    data = new Uint8Array(shape.frames * size);
    idx.forEach((src, k) => data.set(v.data.subarray(src * size, (src + 1) * size), k * size));
    notes.push(`${v.frames} frames ${v.frames > shape.frames ? 'sampled evenly down' : 'repeated up'} to ${shape.frames}`);
  }
  return { data, source, resampled: notes.length ? notes.join('; ') : undefined, original };
}

/** Read `file` and resample it to the model's shape (see the header). */
export async function loadModelVideo(file: string, shape: ModelShape, keepSource = false): Promise<ModelVideo> {
  return fitToModel(file, await readVideo(file), shape, keepSource);
}

/**
 * Several files at once (small ones decoded by one ffmpeg process, src/media/video.ts readVideos),
 * each resampled as loadModelVideo does; results in order, a failure as a rejected entry.
 */
export async function loadModelVideos(files: readonly string[], shape: ModelShape, keepSource = false): Promise<PromiseSettledResult<ModelVideo>[]> {
  const decoded = await readVideos(files.map((file) => ({ file })));
  return Promise.all(
    decoded.map(async (d, i): Promise<PromiseSettledResult<ModelVideo>> => {
      if (d.status === 'rejected') return d;
      try {
        return { status: 'fulfilled', value: await fitToModel(files[i]!, d.value, shape, keepSource) };
      } catch (reason) {
        return { status: 'rejected', reason };
      }
    }),
  );
}

/**
 * Word ids of a prompt for the model: the tokenizer's row, with words past its length dropped
 * (returned in `dropped`) rather than failing, and words outside the vocabulary as <unk> (`unknown`).
 */
export function promptIds(tokenizer: Tokenizer, prompt: string): { ids: number[]; dropped: number; unknown: string[] } {
  const ws = words(prompt);
  const keep = ws.slice(0, tokenizer.maxLength - 1);
  const unknown: string[] = [];
  const ids = keep.length ? tokenizer.encode(keep.join(' '), unknown) : tokenizer.nullIds();
  return { ids, dropped: ws.length - keep.length, unknown };
}

/** Bytes 0–255 to float32 0–1, written into `out` at `offset`. */
export function bytesToUnit(bytes: Uint8Array, out: Float32Array, offset = 0): void {
  for (let i = 0; i < bytes.length; i++) out[offset + i] = bytes[i]! / 255;
}
