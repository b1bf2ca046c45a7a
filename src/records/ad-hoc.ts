// The sample-shaped record made for a video file named on the command line (halo-patchify,
// halo-score): id and sample_id from the file name, the prompt given (or the file name), seed 0.
import path from 'node:path';
import type { SampleRecord } from './schemas.js';

export function adHocRecord(file: string, prompt: string | undefined, video: { frames: number; height: number; width: number; fps: number }): SampleRecord {
  const id = path.basename(file).replace(/\.[^.]+$/, '');
  return {
    id,
    prompt: prompt || id,
    sample_id: id,
    seed: 0,
    video: path.isAbsolute(file) ? file : path.relative(process.cwd(), path.resolve(file)),
    frames: video.frames,
    height: video.height,
    width: video.width,
    fps: video.fps,
  };
}
