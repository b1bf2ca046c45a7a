// Benchmark (not a test): halo-patchify against ffmpeg decoding the same files to null, in one
// run, interleaved, medians of wall-clock times; then halo-patchify's peak memory (VmHWM) for 100
// and 2,000 records, which must stay flat. Target: ratio ≤ 1.25. Last line:
// `bench patchify: ratio=X (ours/ffmpeg-decode, lower is better)`.
// Env: BENCH_VIDEOS (default 40), BENCH_ROUNDS (5), BENCH_JOBS (CPU count), BENCH_SKIP_MEMORY=1.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeToNull, resolveFfmpeg, writeVideo } from '../src/media/video.js';
import { orderedMap } from '../src/halo/ordered.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin', 'halo-patchify.js');
const VIDEOS = Number(process.env.BENCH_VIDEOS ?? 40);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const JOBS = Number(process.env.BENCH_JOBS ?? Math.max(1, os.availableParallelism?.() ?? os.cpus().length));

/** A world-like clip: a coloured square moving over a plain background with a little noise. */
function clip(seed: number, T = 16, H = 32, W = 32) {
  let s = seed * 2654435761 + 1;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const bg = [rnd() * 255, rnd() * 255, rnd() * 255];
  const fg = [rnd() * 255, rnd() * 255, rnd() * 255];
  const data = new Uint8Array(T * H * W * 3);
  const size = 6 + Math.floor(rnd() * 8);
  const [vx, vy] = [rnd() * 2 - 1, rnd() * 2 - 1];
  const [x0, y0] = [rnd() * (W - size), rnd() * (H - size)];
  for (let t = 0; t < T; t++) {
    const cx = x0 + vx * t;
    const cy = y0 + vy * t;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const inside = x >= cx && x < cx + size && y >= cy && y < cy + size;
        const c = inside ? fg : bg;
        const o = ((t * H + y) * W + x) * 3;
        for (let k = 0; k < 3; k++) data[o + k] = Math.max(0, Math.min(255, Math.round(c[k]! + (rnd() - 0.5) * 6)));
      }
    }
  }
  return { frames: T, height: H, width: W, fps: 8, data };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function drain<T>(it: AsyncIterable<T>): Promise<void> {
  for await (const _ of it);
}

/** Run halo-patchify on a records file; returns seconds and peak resident memory (MB, Linux). */
function runPatchify(records: string, out: string, env: Record<string, string> = {}, nodeFlags: string[] = []): Promise<{ seconds: number; peakMb: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const proc = spawn(process.execPath, [...nodeFlags, BIN, records, '--out', out, '--force', '--jobs', String(JOBS)], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...env },
    });
    let peakKb = 0;
    let stderr = '';
    proc.stderr.on('data', (d) => (stderr += d));
    const poll = setInterval(() => {
      readFile(`/proc/${proc.pid}/status`, 'utf8')
        .then((s) => {
          const m = /VmHWM:\s+(\d+) kB/.exec(s);
          if (m) peakKb = Math.max(peakKb, Number(m[1]));
        })
        .catch(() => {});
    }, 20);
    proc.on('close', (code) => {
      clearInterval(poll);
      if (code !== 0) reject(new Error(`halo-patchify exited ${code}: ${stderr}`));
      else resolve({ seconds: (performance.now() - t0) / 1000, peakMb: peakKb / 1024 });
    });
  });
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'halo-bench-patchify-'));
  try {
    const ff = resolveFfmpeg();
    const files: string[] = [];
    for (let i = 0; i < VIDEOS; i++) files.push(path.join(dir, `v${String(i).padStart(4, '0')}.mp4`));
    await drain(orderedMap(toAsync(files.map((f, i) => ({ f, i }))), JOBS, ({ f, i }) => writeVideo(f, clip(i))));
    const record = (i: number, n: number) =>
      JSON.stringify({ id: `p${i}`, prompt: 'a square moves', sample_id: `p${i}-s${n}`, seed: n, video: files[i % files.length], frames: 16, height: 32, width: 32, fps: 8 });
    const recordsFile = path.join(dir, 'records.jsonl');
    await writeFile(recordsFile, files.map((_, i) => record(i, 0)).join('\n') + '\n');
    console.log(`patchify: ${VIDEOS} videos of 16×32×32, grid 4×4×4 (64 storyboards each), jobs ${JOBS}, ffmpeg ${ff.path} (${ff.origin}), ${ROUNDS} interleaved rounds`);

    const ours: number[] = [];
    const peer: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const t0 = performance.now();
      await drain(orderedMap(toAsync(files), JOBS, decodeToNull));
      peer.push((performance.now() - t0) / 1000);
      await rm(path.join(dir, 'out'), { recursive: true, force: true }); // a first run each time, not a re-run
      const run = await runPatchify(recordsFile, path.join(dir, 'out'));
      ours.push(run.seconds);
      console.log(`round ${r + 1}: ffmpeg-decode ${peer[r]!.toFixed(2)} s, patchify ${ours[r]!.toFixed(2)} s (${(ours[r]! / peer[r]!).toFixed(2)}×)`);
    }
    const ratio = median(ours) / median(peer);
    console.log(`median: ffmpeg-decode ${median(peer).toFixed(2)} s, patchify ${median(ours).toFixed(2)} s; per video ${((median(ours) / VIDEOS) * 1000).toFixed(1)} ms vs ${((median(peer) / VIDEOS) * 1000).toFixed(1)} ms`);

    if (process.env.BENCH_SKIP_MEMORY !== '1') {
      // Peak memory is halo-patchify's own (Node's); any ffmpeg does for it, so the fast-starting
      // static build of @ffmpeg-installer is used when present, to keep 2,000 decodes short.
      const bundled = path.join(ROOT, 'node_modules/@ffmpeg-installer/linux-x64/ffmpeg');
      const env: Record<string, string> = process.env.HALO_FFMPEG ? {} : existsSync(bundled) ? { HALO_FFMPEG: bundled } : {};
      console.log(`memory runs: ffmpeg ${env.HALO_FFMPEG ?? `${ff.path} (${ff.origin})`}`);
      // The third run caps V8's heap: it finishes at the same flat size when nothing is retained
      // per record (V8 otherwise grows its heap lazily, which shows as a slow rise in RSS).
      const runs: [number, string[]][] = [
        [100, []],
        [2000, []],
        [2000, ['--max-old-space-size=48']],
      ];
      for (const [n, flags] of runs) {
        const f = path.join(dir, `records-${n}.jsonl`);
        await writeFile(f, Array.from({ length: n }, (_, k) => record(k % files.length, Math.floor(k / files.length))).join('\n') + '\n');
        const run = await runPatchify(f, path.join(dir, `mem-${n}`), env, flags);
        console.log(`peak memory: ${n} records${flags.length ? ` (${flags.join(' ')})` : ''}: ${run.peakMb.toFixed(1)} MB (${run.seconds.toFixed(1)} s)`);
        await rm(path.join(dir, `mem-${n}`), { recursive: true, force: true });
      }
    }
    console.log(`bench patchify: ratio=${ratio.toFixed(2)} (ours/ffmpeg-decode, lower is better)`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function* toAsync<T>(xs: Iterable<T>): AsyncGenerator<T> {
  yield* xs;
}

await main();
