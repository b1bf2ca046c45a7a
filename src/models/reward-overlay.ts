// The picture of where a video goes wrong: a copy of the video with its low-scoring patches boxed in
// red, and a PNG heatmap of its patch scores. In: the video's frames (as decoded, any size), the
// model's patch grid and per-patch scores of one key, a threshold. Out: <dir>/<name>.mp4 (H.264,
// browser-playable, frames upscaled by nearest neighbour to at least 256 px) and <dir>/<name>.png
// (one gh×gw panel per time slice, red = low, green = high), both written atomically.
import path from 'node:path';
import { patchLayout, type Box, type Triple } from '../halo/patches.js';
import { produceAtomic } from '../io/atomic.js';
import { drawBoxes, heatmap, writePng } from '../media/image.js';
import { writeVideo, type Video } from '../media/video.js';

export interface OverlayFiles {
  overlay: string;
  heatmap: string;
  /** Indices of the boxed patches. */
  boxed: number[];
}

/** Patches whose score is below `threshold`, with their boxes in the video's own pixels and frames. */
export function lowPatches(video: { frames: number; height: number; width: number }, grid: Triple, scores: readonly number[], threshold: number): { index: number; box: Box }[] {
  const layout = patchLayout([video.frames, video.height, video.width], { grid });
  return scores.flatMap((s, index) => (s < threshold ? [{ index, box: layout.boxes[index]! }] : []));
}

/** Write the boxed copy and the heatmap of one video (see the header). */
export async function writeOverlay(dir: string, name: string, video: Video, grid: Triple, scores: readonly number[], threshold: number): Promise<OverlayFiles> {
  const low = lowPatches(video, grid, scores, threshold);
  const frames = drawBoxes(video, low.map((l) => l.box));
  const first = frames[0]!;
  const data = new Uint8Array(frames.length * first.height * first.width * 3);
  frames.forEach((f, i) => data.set(f.data, i * f.data.length));
  const overlay = path.join(dir, `${name}.mp4`);
  const png = path.join(dir, `${name}.png`);
  await produceAtomic(overlay, (tmp) => writeVideo(tmp, { frames: frames.length, height: first.height, width: first.width, fps: video.fps, data }, { quality: 'web' }));
  await writePng(png, heatmap(scores, grid, { min: 1, max: 4 }));
  return { overlay, heatmap: png, boxed: low.map((l) => l.index) };
}
