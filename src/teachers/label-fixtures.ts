// Test data for halo-label: small videos (a coloured square moving over a grey background),
// their patch geometry and storyboards (as halo-patchify lays them out), and the patched sample
// records, written into a folder. Used by the teachers' tests and to make fixtures/labels/.
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { patchLayout, cutPatch, type Triple } from '../halo/patches.js';
import { ensureDir } from '../io/atomic.js';
import { storyboard, writePng } from '../media/image.js';
import { writeVideo } from '../media/video.js';

export interface FixtureOptions {
  videos?: number;
  /** [T, H, W] (default 16×32×32). */
  shape?: Triple;
  grid?: Triple;
  /** Write patch storyboards (default true). */
  storyboards?: boolean;
}

const COLOURS: [number, number, number][] = [
  [220, 40, 40],
  [40, 180, 60],
  [50, 80, 220],
  [230, 200, 40],
];

/** Write videos/, patches/ and samples.jsonl under `dir`; returns the records (paths relative to `dir`). */
export async function makeLabelFixture(dir: string, options: FixtureOptions = {}): Promise<Record<string, any>[]> {
  const n = options.videos ?? 2;
  const [T, H, W] = options.shape ?? [16, 32, 32];
  const grid = options.grid ?? [2, 2, 2];
  const records: Record<string, any>[] = [];
  await ensureDir(path.join(dir, 'videos'));
  for (let v = 0; v < n; v++) {
    const data = new Uint8Array(T * H * W * 3).fill(128);
    const colour = COLOURS[v % COLOURS.length]!;
    for (let t = 0; t < T; t++) {
      const x0 = Math.round((t * (W - 8)) / Math.max(1, T - 1));
      const y0 = (H >> 1) - 4 + (v % 3) - 1;
      for (let y = y0; y < y0 + 8; y++) for (let x = x0; x < x0 + 8; x++) data.set(colour, ((t * H + y) * W + x) * 3);
    }
    const id = `p${String(v).padStart(4, '0')}`;
    const sampleId = `${id}-s00`;
    const video = `videos/${sampleId}.mp4`;
    await writeVideo(path.join(dir, video), { frames: T, height: H, width: W, fps: 8, data });
    const layout = patchLayout([T, H, W], { grid });
    const patchDir = `patches/${sampleId}`;
    const record: Record<string, any> = {
      id,
      prompt: `a ${['red', 'green', 'blue', 'yellow'][v % 4]} square moves right on a gray background`,
      sample_id: sampleId,
      seed: v,
      video,
      frames: T,
      height: H,
      width: W,
      fps: 8,
      patches: { grid: layout.grid, size: layout.size, video: layout.video, boxes: layout.boxes, dir: patchDir },
    };
    if (options.storyboards !== false) {
      const clip = { frames: T, height: H, width: W, data };
      record.patches.storyboards = [];
      for (let i = 0; i < layout.boxes.length; i++) {
        const file = `${patchDir}/p${String(i).padStart(3, '0')}.png`;
        await writePng(path.join(dir, file), storyboard(cutPatch(clip, layout.boxes[i]!)));
        record.patches.storyboards.push(file);
      }
    }
    records.push(record);
  }
  await writeFile(path.join(dir, 'samples.jsonl'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return records;
}
