// Benchmark: scoring with the reward model. The same network (halo-tiny-rm, weights of --model) runs
// in ONNX Runtime (loadRewardModel → RewardModel.run) and in PyTorch CPU (scripts/bench-score.py,
// /usr/bin/python3), on the same batch, interleaved rounds, medians; their outputs are compared first.
// Also times scoreVideos end to end on video files (decoding included) for reference.
// Prints patches scored per second; the last line is `bench score: ratio=X (ours/pytorch, …)`.
// Usage: node dist/scripts/bench-score.js [--model DIR] [--batch 32] [--rounds 7] [--runs 5] [--threads 2]
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { writeVideo } from '../src/media/video.js';
import { BUILTIN_MODEL_DIR, loadRewardModel, scoreVideos } from '../src/models/reward-model.js';
import { formatScene } from '../src/world/grammar.js';
import { renderScene } from '../src/world/render.js';
import { generateScenes } from '../src/world/split.js';

const args = process.argv.slice(2);
const opt = (k: string, d: string) => {
  const i = args.indexOf(`--${k}`);
  return i >= 0 ? args[i + 1]! : d;
};
const MODEL = path.resolve(opt('model', BUILTIN_MODEL_DIR));
const B = Number(opt('batch', '32'));
const ROUNDS = Number(opt('rounds', '7'));
const RUNS = Number(opt('runs', '5'));
const THREADS = Number(opt('threads', '2'));
const PY = opt('python', '/usr/bin/python3');

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
};

class Peer {
  private lines: AsyncIterableIterator<string>;
  private proc;
  constructor(inputs: string) {
    this.proc = spawn(PY, [fileURLToPath(new URL('../../scripts/bench-score.py', import.meta.url)), MODEL, inputs, String(THREADS)], {
      stdio: ['pipe', 'pipe', 'inherit'],
      // Passive OpenMP waiting: spinning threads starve each other on a shared 2-core machine.
      env: { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' },
    });
    this.lines = readline.createInterface({ input: this.proc.stdout! })[Symbol.asyncIterator]();
  }
  async next(): Promise<any> {
    const r = await this.lines.next();
    if (r.done) throw new Error(`${PY} scripts/bench-score.py ended early (is python3-torch installed?)`);
    return JSON.parse(r.value);
  }
  async ask(cmd: string): Promise<any> {
    this.proc.stdin!.write(`${cmd}\n`);
    return this.next();
  }
  quit() {
    this.proc.stdin!.end('quit\n');
  }
}

async function main() {
  const model = await loadRewardModel(MODEL, { batch: B, threads: THREADS });
  const { frames, height, width } = model.shape;
  const N = model.grid[0] * model.grid[1] * model.grid[2];
  const K = model.keys.length;
  const L = model.tokenizer.maxLength;
  console.log(`model ${model.id}: ${frames}×${height}×${width}, grid ${model.grid.join('×')} (${N} patches), batch ${B}, ${THREADS} threads`);

  // One batch of world videos with their prompts.
  const scenes = generateScenes({ n: B, seed: 5, split: 'eval', objects: 'mixed' });
  const per = frames * height * width * 3;
  const video = new Float32Array(B * per);
  const ids = new BigInt64Array(B * L);
  const bytes: Uint8Array[] = [];
  scenes.forEach((s, i) => {
    const data = renderScene(s, { frames, height, width }, i);
    bytes.push(data);
    for (let j = 0; j < per; j++) video[i * per + j] = data[j]! / 255;
    model.tokenizer.encode(formatScene(s)).forEach((id, j) => (ids[i * L + j] = BigInt(id)));
  });
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'halo-bench-score-'));
  const inputs = path.join(tmp, 'inputs.bin');
  const header = Buffer.from(`${JSON.stringify({ batch: B, frames, height, width, words: L })}\n`);
  await writeFile(inputs, Buffer.concat([header, Buffer.from(video.buffer), Buffer.from(ids.buffer)]));

  const ours = await model.run(video, ids, B);
  let peer: Peer | undefined;
  try {
    peer = new Peer(inputs);
    const hello = await peer.next();
    console.log(`peer: PyTorch ${hello.torch}, ${hello.threads} threads`);
    const check = await peer.ask('check');
    let maxDiff = 0;
    (check.video as number[]).forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - ours.video[i]!))));
    (check.patch as number[]).forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - ours.patch[i]!))));
    console.log(`outputs agree: max |ORT − PyTorch| = ${maxDiff.toExponential(2)} over ${B * K + B * N * K} scores`);
    if (!(maxDiff < 1e-3)) throw new Error(`the PyTorch peer computes another function (max difference ${maxDiff}); not comparable`);
  } catch (e) {
    console.log(`peer unavailable: ${(e as Error).message}`);
    peer?.quit();
    peer = undefined;
  }

  const mine: number[] = [];
  const theirs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      await model.run(video, ids, B);
      mine.push((performance.now() - t0) / 1000);
    }
    if (peer) theirs.push(...((await peer.ask(`run ${RUNS}`)).times as number[]));
  }
  peer?.quit();

  // End to end: video files through scoreVideos (ffmpeg decoding included), one batch.
  const files = await Promise.all(
    bytes.map(async (data, i) => {
      const f = path.join(tmp, `v${i}.mp4`);
      await writeVideo(f, { frames, height, width, fps: 8, data });
      return f;
    }),
  );
  const t0 = performance.now();
  await scoreVideos(model, files.map((f, i) => ({ video: f, prompt: formatScene(scenes[i]!) })));
  const e2e = (performance.now() - t0) / 1000;
  await model.release();
  await rm(tmp, { recursive: true, force: true });

  const ourMed = median(mine);
  console.log(`ours (ORT): median ${(ourMed * 1000).toFixed(1)} ms per batch of ${B} → ${((B * N) / ourMed).toFixed(0)} patches/s (${(B / ourMed).toFixed(0)} videos/s)`);
  console.log(`end to end from video files (decoding included): ${((B * N) / e2e).toFixed(0)} patches/s (${(B / e2e).toFixed(1)} videos/s)`);
  if (peer && theirs.length) {
    const theirMed = median(theirs);
    console.log(`pytorch: median ${(theirMed * 1000).toFixed(1)} ms per batch → ${((B * N) / theirMed).toFixed(0)} patches/s`);
    console.log(`bench score: ratio=${(ourMed / theirMed).toFixed(3)} (ours/pytorch, lower is better; target ≤ 0.5)`);
  } else console.log('bench score: ratio=NaN (ours/pytorch, lower is better; PyTorch peer unavailable)');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
