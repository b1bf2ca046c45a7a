// Benchmark (not a test): sampling throughput of the built-in generator (halo-tiny-t2v in ONNX Runtime,
// DDIM + classifier-free guidance in JS) against the same model and sampler in PyTorch CPU
// (scripts/bench-sample.py, same weights, same threads), interleaved rounds, medians of wall-clock time
// with model loading excluded; PyTorch runs with OMP_WAIT_POLICY=PASSIVE (OpenMP's spin-waiting makes it
// several times slower on a shared, oversubscribed machine). Also checks that the two implementations agree on one denoiser call.
// Target: ratio ≤ 0.5. Last line: `bench sample: ratio=X (ours/PyTorch, lower is better)`.
// Env: BENCH_MODEL (default the shipped model), BENCH_PROMPTS (8), BENCH_STEPS (25), BENCH_ROUNDS (3), BENCH_THREADS (2).
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MODEL } from '../src/commands/sample.js';
import { Rng } from '../src/graph/rng.js';
import { tensor } from '../src/graph/tensor.js';
import { Generator } from '../src/models/generator.js';
import { sample } from '../src/models/sampler.js';
import { writeSafetensors } from '../src/runtime/safetensors.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MODEL = process.env.BENCH_MODEL ?? DEFAULT_MODEL;
const PROMPTS = Number(process.env.BENCH_PROMPTS ?? 8);
const STEPS = Number(process.env.BENCH_STEPS ?? 25);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const THREADS = Number(process.env.BENCH_THREADS ?? 2);
const GUIDANCE = 2;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const gen = await Generator.load(MODEL, { batch: PROMPTS, threads: THREADS });
const prompts = Array(PROMPTS).fill('a red circle moves left on a gray background');
const settings = { name: 'ddim' as const, steps: STEPS, guidance: GUIDANCE };

async function ours(): Promise<number> {
  const t0 = performance.now();
  const text = await gen.encode([...prompts, ...prompts.map(() => null)]);
  const D = gen.textDim;
  await sample({
    size: gen.size,
    seeds: prompts.map((_, i) => i),
    settings,
    schedule: gen.schedule,
    predict: (x, t, rows, cond) => {
      const f = new Float32Array(rows.length * D);
      rows.forEach((r, k) => f.set(text.subarray((cond[k] ? r : PROMPTS + r) * D, ((cond[k] ? r : PROMPTS + r) + 1) * D), k * D));
      return gen.predictX0(x, t, f);
    },
  });
  return (performance.now() - t0) / 1000;
}

// one denoiser call stored for the PyTorch side to compare against
const dir = await mkdtemp(path.join(os.tmpdir(), 'halo-bench-sample-'));
const check = path.join(dir, 'check.safetensors');
{
  const n = 2 * PROMPTS;
  const rng = new Rng(7);
  const v = gen.video;
  const x = Float32Array.from({ length: n * gen.size }, () => rng.normal());
  const t = Float32Array.from({ length: n }, () => rng.uniform());
  const ps = [...prompts.slice(0, PROMPTS - 1), 'a blue square moves up on a black background', ...Array(PROMPTS).fill(null)];
  const text = await gen.encode(ps);
  const out = await gen.predictX0(x, t, text);
  writeSafetensors(check, {
    ids: tensor('int64', [n, gen.tokenizer.maxLength], gen.tokenizer.batch(ps)),
    x: tensor('float32', [n, 3, v.frames, v.height, v.width], x),
    t: tensor('float32', [n], t),
    text: tensor('float32', [n, gen.textDim], text),
    out: tensor('float32', [n, 3, v.frames, v.height, v.width], out),
  });
}

function torchRun(withCheck: boolean): { seconds: number[]; max_abs_diff?: number; text_max_abs_diff?: number; threads: number; torch: string } {
  const args = [path.join(ROOT, 'scripts', 'bench-sample.py'), '--model', MODEL, '--prompts', String(PROMPTS), '--steps', String(STEPS), '--guidance', String(GUIDANCE), '--threads', String(THREADS), '--runs', '1'];
  if (withCheck) args.push('--check', check);
  const r = spawnSync('/usr/bin/python3', args, { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(THREADS), OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' } });
  if (r.status !== 0) throw new Error(`bench-sample.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

await ours(); // warm-up (sessions are created at load; first runs allocate)
const a: number[] = [];
const b: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  a.push(await ours());
  const t = torchRun(r === 0);
  if (r === 0) console.log(`bench sample: PyTorch ${t.torch} (${t.threads} threads) agrees with ONNX Runtime: denoiser max |Δ| ${t.max_abs_diff?.toExponential(2)}, text encoder max |Δ| ${t.text_max_abs_diff?.toExponential(2)}`);
  b.push(...t.seconds);
  console.log(`bench sample: round ${r + 1}: ours ${a[r].toFixed(2)}s, PyTorch ${t.seconds[0].toFixed(2)}s (${PROMPTS} videos, ${STEPS} DDIM steps, guidance ${GUIDANCE})`);
}
await gen.close();
await rm(dir, { recursive: true, force: true });
const ratio = median(a) / median(b);
console.log(`bench sample: ours ${median(a).toFixed(2)}s (${(PROMPTS / median(a)).toFixed(1)} videos/s), PyTorch ${median(b).toFixed(2)}s (${(PROMPTS / median(b)).toFixed(1)} videos/s), ${THREADS} threads, model ${MODEL}`);
console.log(`bench sample: ratio=${ratio.toFixed(3)} (ours/PyTorch, lower is better)`);
