// Benchmark (not a test): the oracle's judgement of a world clip (64 patches) against ffmpeg
// decoding the same file to null, interleaved, medians of wall-clock times; also the renderer's
// in-process speed. Last line: `bench oracle: ratio=X (ours/ffmpeg-decode, lower is better)`.
// Env: BENCH_VIDEOS (default 24), BENCH_ROUNDS (3).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { decodeToNull, readVideo, writeVideo } from '../src/media/video.js';
import { judgeVideo } from '../src/teachers/oracle.js';
import { renderScene } from '../src/world/render.js';
import { generateScenes } from '../src/world/split.js';

const VIDEOS = Number(process.env.BENCH_VIDEOS ?? 24);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const dims = { frames: 16, height: 32, width: 32 };

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  // renderer, in-process
  const many = generateScenes({ n: 500, seed: 1, split: 'train', objects: 'mixed' });
  const buffer = new Uint8Array(16 * 32 * 32 * 3);
  for (let i = 0; i < 500; i++) renderScene(many[i]!, dims, i, buffer);
  const renderStart = performance.now();
  const clips = 5000;
  for (let i = 0; i < clips; i++) renderScene(many[i % 500]!, dims, i, buffer);
  const renderMs = (performance.now() - renderStart) / clips;
  console.log(`render: ${renderMs.toFixed(3)} ms per 16×32×32 clip (one or two objects), ${Math.round(1000 / renderMs)} clips/s in-process`);

  const dir = await mkdtemp(path.join(os.tmpdir(), 'halo-bench-oracle-'));
  try {
    const scenes = generateScenes({ n: VIDEOS, seed: 2, split: 'train', objects: 'mixed' });
    const files: string[] = [];
    for (const [i, scene] of scenes.entries()) {
      const file = path.join(dir, `v${i}.mp4`);
      await writeVideo(file, { ...dims, fps: 8, data: renderScene(scene, dims, i) });
      files.push(file);
    }
    const videos = await Promise.all(files.map((f) => readVideo(f)));
    for (const [i, scene] of scenes.entries()) judgeVideo(scene, videos[i]!); // warm-up
    const judge: number[] = [];
    const decode: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      for (const [i, scene] of scenes.entries()) {
        const t0 = performance.now();
        await decodeToNull(files[i]!);
        const t1 = performance.now();
        judgeVideo(scene, videos[i]!);
        const t2 = performance.now();
        decode.push(t1 - t0);
        judge.push(t2 - t1);
      }
    }
    const j = median(judge);
    const d = median(decode);
    console.log(`oracle: ${j.toFixed(2)} ms per clip (median of ${judge.length}), ${Math.round((64 * 1000) / j)} patches/s; ffmpeg decode to null: ${d.toFixed(2)} ms per file`);
    console.log(`bench oracle: ratio=${(j / d).toFixed(3)} (ours/ffmpeg-decode, lower is better)`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
