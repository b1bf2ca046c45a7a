// Test data for the reward model: a few videos of the training corpus (src/models/reward-corpus.ts)
// written as lossless files, with patch geometry and the oracle's labels (judged in-process, as
// `halo-label --teacher oracle` would). In: a folder, a count. Out: DIR/videos/*.mp4 and the label
// records (paths relative to DIR), also written as DIR/labels.jsonl and DIR/samples.jsonl.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { patchLayout, type Triple } from '../halo/patches.js';
import { ensureDir } from '../io/atomic.js';
import { writeVideo } from '../media/video.js';
import { judgeVideo, ORACLE_NAME, ORACLE_VERSION } from '../teachers/oracle-judge.js';
import { formatScene } from '../world/grammar.js';
import { variants } from './reward-corpus.js';

export interface RewardFixture {
  samples: Record<string, any>[];
  labels: Record<string, any>[];
}

export async function makeRewardFixture(dir: string, n: number, o: { seed?: number; split?: 'train' | 'eval'; grid?: Triple; perPrompt?: number } = {}): Promise<RewardFixture> {
  const dims = { frames: 16, height: 32, width: 32 };
  const grid = o.grid ?? [4, 4, 4];
  await ensureDir(path.join(dir, 'videos'));
  const samples: Record<string, any>[] = [];
  const labels: Record<string, any>[] = [];
  for (const { promptId, sampleId, variant } of variants({ n, split: o.split ?? 'train', seed: o.seed ?? 1, perPrompt: o.perPrompt ?? 2, dims })) {
    const video = `videos/${sampleId}.mp4`;
    await writeVideo(path.join(dir, video), { ...dims, fps: 8, data: variant.data });
    const layout = patchLayout([dims.frames, dims.height, dims.width], { grid });
    const sample = {
      id: promptId,
      prompt: formatScene(variant.scene),
      sample_id: sampleId,
      seed: variant.seed,
      video,
      ...dims,
      fps: 8,
      patches: { grid: layout.grid, size: layout.size, video: layout.video, boxes: layout.boxes, dir: `patches/${sampleId}` },
    };
    const j = judgeVideo(variant.scene, { ...dims, data: variant.data }, layout.boxes);
    samples.push(sample);
    labels.push({ ...sample, labels: { source: { teacher: ORACLE_NAME, version: ORACLE_VERSION }, video: j.video, patch: j.patch } });
  }
  const lines = (rs: unknown[]) => rs.map((r) => `${JSON.stringify(r)}\n`).join('');
  await writeFile(path.join(dir, 'samples.jsonl'), lines(samples));
  await writeFile(path.join(dir, 'labels.jsonl'), lines(labels));
  return { samples, labels };
}
