// Benchmark: one training step (forward, backward, clipping, AdamW) of a pre-norm transformer block
// (batch 16, 128 tokens, width 128, 4 heads, MLP 512, float32, 2 threads) in ONNX Runtime against the
// same model and step in PyTorch (scripts/bench-train.py, /usr/bin/python3), interleaved, medians.
// Also: achieved GFLOP/s against a plain large MatMul in ORT, and graph build + session creation time
// for 1, 4 and 16 blocks. Prints ratios; the last line is `bench train-step: ratio=X (ours/pytorch…)`.
// Usage: node dist/scripts/bench-train.js [--rounds 7] [--steps 5] [--threads 2] [--python /usr/bin/python3] [--passive]

import { spawn } from 'node:child_process';
import * as readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { GraphBuilder } from '../src/graph/builder.js';
import { transformerBlock, mse } from '../src/graph/nn.js';
import { Rng } from '../src/graph/rng.js';
import { tensor } from '../src/graph/tensor.js';
import { buildTrainStep } from '../src/graph/train-step.js';
import { encodeModel } from '../src/graph/onnx.js';
import { Session } from '../src/runtime/session.js';
import { Trainer } from '../src/runtime/trainer.js';

const args = process.argv.slice(2);
const opt = (k: string, d: string) => {
  const i = args.indexOf(`--${k}`);
  return i >= 0 ? args[i + 1] : d;
};
const ROUNDS = Number(opt('rounds', '7'));
const STEPS = Number(opt('steps', '5'));
const THREADS = Number(opt('threads', '2'));
const PY = opt('python', '/usr/bin/python3');
/** --passive: no spin-waiting in either runtime (ORT allow_spinning 0, OMP_WAIT_POLICY=PASSIVE), for loaded machines. */
const PASSIVE = args.includes('--passive');
const SESSION = { threads: THREADS, spinning: !PASSIVE };
const [B, T, D, H, M] = [16, 128, 128, 4, 512];

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

function blockStep(blocks: number) {
  return buildTrainStep({
    batch: { x: { dtype: 'float32', shape: [B, T, D] }, y: { dtype: 'float32', shape: [B, T, D] } },
    build: (g, b) => {
      let h = b.x;
      for (let i = 0; i < blocks; i++) h = transformerBlock(g, `blocks.${i}`, h, { heads: H, mlp: M, act: 'gelu' });
      return { loss: mse(g, h, b.y) };
    },
    optimizer: { type: 'adamw', weightDecay: 0.01 },
    clipNorm: 1,
  });
}

// FLOPs of one training step: forward matmuls ×3 (forward, input gradient, weight gradient)
const N = B * T;
const fwdFlops = 2 * N * (3 * D * D + D * D + 2 * D * M) + 2 * 2 * B * T * T * D;
const stepFlops = 3 * fwdFlops;

class Peer {
  private lines: AsyncIterableIterator<string>;
  private proc;
  constructor() {
    this.proc = spawn(PY, [fileURLToPath(new URL('../../scripts/bench-train.py', import.meta.url)), ...[B, T, D, H, M, THREADS].map(String)], { stdio: ['pipe', 'pipe', 'inherit'], env: PASSIVE ? { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' } : process.env });
    this.lines = readline.createInterface({ input: this.proc.stdout! })[Symbol.asyncIterator]();
  }
  async next(): Promise<any> {
    const r = await this.lines.next();
    if (r.done) throw new Error(`${PY} scripts/bench-train.py ended early (is python3-torch installed?)`);
    return JSON.parse(r.value);
  }
  async run(k: number): Promise<number[]> {
    this.proc.stdin!.write(`run ${k}\n`);
    return (await this.next()).times;
  }
  quit() {
    this.proc.stdin!.end('quit\n');
  }
}

/** A plain 1024³ MatMul session, timed a few runs at a time between the training steps. */
async function matmulBench() {
  const n = 1024;
  const g = new GraphBuilder();
  const a = g.input('a', 'float32', [n, n]);
  const b = g.input('b', 'float32', [n, n]);
  g.output(g.matmul(a, b), 'c');
  const s = await Session.create(g.graph, SESSION);
  const rng = new Rng(1);
  const feeds = { a: tensor('float32', [n, n], rng.fill(n * n, (q) => q.normal())), b: tensor('float32', [n, n], rng.fill(n * n, (q) => q.normal())) };
  await s.run(feeds);
  return {
    flops: 2 * n * n * n,
    async time(k: number): Promise<number[]> {
      const times: number[] = [];
      for (let i = 0; i < k; i++) {
        const t0 = performance.now();
        await s.run(feeds);
        times.push((performance.now() - t0) / 1000);
      }
      return times;
    },
    release: () => s.release(),
  };
}

async function main() {
  const load = (await import('node:os')).loadavg()[0];
  console.log(`machine: load average ${load.toFixed(1)}${PASSIVE ? ', passive waiting' : ''}; timings drift ±15% between processes, compare the interleaved ratios`);
  // build + session creation
  for (const blocks of [1, 4, 16]) {
    const t0 = performance.now();
    const st = blockStep(blocks);
    const bytes = encodeModel(st.graph);
    const t1 = performance.now();
    const s = await Session.create(bytes, SESSION);
    const t2 = performance.now();
    await s.release();
    console.log(`build ${blocks} block(s): ${st.graph.nodes.length} nodes, build+serialize ${(t1 - t0).toFixed(0)} ms, session ${(t2 - t1).toFixed(0)} ms`);
  }

  const step = blockStep(1);
  const trainer = await Trainer.create(step, { seed: 0, session: SESSION });
  const rng = new Rng(0);
  const batch = { x: tensor('float32', [B, T, D], rng.fill(N * D, (q) => q.normal())), y: tensor('float32', [B, T, D], rng.fill(N * D, (q) => q.normal())) };
  for (let i = 0; i < 3; i++) await trainer.step(batch, 1e-3);

  let peer: Peer | undefined;
  try {
    peer = new Peer();
    const hello = await peer.next();
    console.log(`peer: PyTorch ${hello.torch}, ${hello.threads} threads`);
  } catch (e) {
    console.log(`peer unavailable: ${(e as Error).message}`);
    peer = undefined;
  }
  const mm = await matmulBench();
  const ours: number[] = [];
  const theirs: number[] = [];
  const mmTimes: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    mmTimes.push(...(await mm.time(STEPS)));
    for (let i = 0; i < STEPS; i++) {
      const t0 = performance.now();
      await trainer.step(batch, 1e-3);
      ours.push((performance.now() - t0) / 1000);
    }
    if (peer) theirs.push(...(await peer.run(STEPS)));
  }
  peer?.quit();
  await trainer.close();
  await mm.release();
  const mmGflops = mm.flops / median(mmTimes) / 1e9;
  const ourMed = median(ours);
  const achieved = stepFlops / ourMed / 1e9;
  console.log(`ours: median ${(ourMed * 1000).toFixed(1)} ms/step over ${ours.length} steps, ${achieved.toFixed(1)} GFLOP/s`);
  console.log(`ORT MatMul 1024³: ${mmGflops.toFixed(1)} GFLOP/s (median of ${mmTimes.length}, interleaved); the training step reaches ${(achieved / mmGflops).toFixed(2)} of it (target ≥ 0.5)`);
  console.log(`gflops: ratio=${(mmGflops / achieved).toFixed(3)} (matmul GFLOP/s / training-step GFLOP/s; target ≤ 2)`);
  if (peer && theirs.length) {
    const theirMed = median(theirs);
    console.log(`pytorch: median ${(theirMed * 1000).toFixed(1)} ms/step over ${theirs.length} steps`);
    console.log(`bench train-step: ratio=${(ourMed / theirMed).toFixed(3)} (ours/pytorch, lower is better; target ≤ 0.7)`);
  } else console.log(`bench train-step: ratio=NaN (ours/pytorch, lower is better; PyTorch peer unavailable)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
