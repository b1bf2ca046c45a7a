// Benchmark: one Gran-DPO training step as halo-dpo runs it (src/halo/dpo-graph.ts: the policy and the
// frozen reference are the shipped halo-tiny-t2v twice, per-patch weighted x0 errors pooled by a matrix,
// granDpoLoss, backward through the policy only, global-norm clipping, AdamW; in the runtime's worker
// Trainer) against the same step in PyTorch CPU (scripts/bench-dpo.py, /usr/bin/python3; same weights,
// same batch, same threads), interleaved rounds, medians. Before timing, both sides run the same steps
// from the same weights and batch and must agree on loss and gradient norm (the first step's loss is
// 2·ln 2 by construction, policy = reference; the later steps' losses test the update). Both sides wait
// passively (ORT without spinning as halo-dpo, OMP_WAIT_POLICY=PASSIVE) unless --spinning.
// Last line: `bench dpo-step: ratio=X (ours/pytorch, lower is better; target <= 0.7)`.
// Usage: node dist/scripts/bench-dpo.js [--rounds 10] [--steps 2] [--warmup 3] [--pairs 4] [--grid 4,4,4]
//   [--threads 2] [--model DIR] [--python /usr/bin/python3] [--check-steps 2] [--spinning]

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pathNodes } from '../src/graph/autodiff.js';
import { encodeModel } from '../src/graph/onnx.js';
import { Rng } from '../src/graph/rng.js';
import { tensor, type Tensor } from '../src/graph/tensor.js';
import { DEFAULT_MODEL } from '../src/commands/sample.js';
import { POLICY, REF, buildDpoStep } from '../src/halo/dpo-graph.js';
import { dpoBatch, type DpoData } from '../src/halo/dpo-data.js';
import { DPO_ADAMW } from '../src/halo/dpo.js';
import { loadDpoModel, type DpoModel } from '../src/halo/dpo-model.js';
import { parseTriple, patchLayout } from '../src/halo/patches.js';
import { writeSafetensors } from '../src/runtime/safetensors.js';
import { Trainer, type StepResult } from '../src/runtime/trainer.js';

/** The repository root: the nearest folder above this script with a package.json (dist/scripts/ → ./). */
const ROOT = (() => {
  let d = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(d, 'package.json')) && path.dirname(d) !== d) d = path.dirname(d);
  return d;
})();
const args = process.argv.slice(2);
const opt = (k: string, d: string) => {
  const i = args.indexOf(`--${k}`);
  return i >= 0 ? args[i + 1]! : d;
};
const ROUNDS = Number(opt('rounds', '10'));
const STEPS = Number(opt('steps', '2'));
/** Untimed steps on both sides after the check (the first steps of a session run slower). */
const WARMUP = Number(opt('warmup', '3'));
const PAIRS = Number(opt('pairs', '4'));
const GRID = parseTriple(opt('grid', '4,4,4'), '--grid');
const THREADS = Number(opt('threads', '2'));
const MODEL = opt('model', DEFAULT_MODEL);
const PY = opt('python', '/usr/bin/python3');
const CHECK_STEPS = Number(opt('check-steps', '2'));
const SPINNING = args.includes('--spinning');
// halo-dpo's defaults (src/commands/dpo.ts); the LR is constant here (the schedule is a graph input)
const DPO = { beta: 2000, lambda: 1, mode: 'gran' as const };
const LR = 2e-5;
const CLIP = 1;
const WEIGHT_DECAY = 0;
/**
 * Relative tolerances of the equivalence check (float32 on both sides, different kernels): the loss,
 * and the gradient norm (which β = 2000 makes sensitive to the last bits of the errors e_θ − e_ref).
 */
const TOL = 1e-4;
const TOL_NORM = 1e-3;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
};
const ms = (s: number) => `${(s * 1000).toFixed(1)} ms`;

interface PeerStep {
  loss: number;
  grad_norm: number;
  [metric: string]: number;
}

class Peer {
  private lines: AsyncIterableIterator<string>;
  private proc;
  constructor(batchFile: string) {
    const script = path.join(ROOT, 'scripts', 'bench-dpo.py');
    const flags = ['--model', MODEL, '--batch', batchFile, '--threads', String(THREADS), '--beta', String(DPO.beta), '--lambda', String(DPO.lambda), '--mode', DPO.mode, '--lr', String(LR), '--clip', String(CLIP), '--weight-decay', String(WEIGHT_DECAY)];
    const env = { ...process.env, OMP_NUM_THREADS: String(THREADS), OMP_WAIT_POLICY: SPINNING ? 'ACTIVE' : 'PASSIVE' };
    this.proc = spawn(PY, [script, ...flags], { stdio: ['pipe', 'pipe', 'inherit'], env });
    this.proc.on('error', () => undefined); // a missing interpreter shows as an early end of its output
    this.lines = readline.createInterface({ input: this.proc.stdout! })[Symbol.asyncIterator]();
  }
  async next(): Promise<any> {
    const r = await this.lines.next();
    if (r.done) throw new Error(`${PY} scripts/bench-dpo.py ended early (is python3-torch installed?)`);
    return JSON.parse(r.value);
  }
  async check(k: number): Promise<PeerStep[]> {
    this.proc.stdin!.write(`check ${k}\n`);
    return (await this.next()).steps;
  }
  async run(k: number): Promise<number[]> {
    this.proc.stdin!.write(`run ${k}\n`);
    return (await this.next()).times;
  }
  quit() {
    this.proc.stdin!.end('quit\n');
  }
}

/** P synthetic pairs (random videos in [−1, 1], world prompts, patch preferences with ties) → one batch, as halo-dpo makes it. */
function syntheticBatch(model: DpoModel, boxes: DpoData['boxes']): Record<string, Tensor> {
  const rng = new Rng('bench-dpo');
  const { frames: T, height: H, width: W } = model.video;
  const n = 3 * T * H * W;
  const prompts = ['a red circle moves left on a gray background', 'a blue square moves up on a black background', 'a green triangle bounces on a white background', 'a yellow cross stays still on a purple background'];
  const video = () => Float32Array.from({ length: n }, () => 2 * rng.uniform() - 1);
  const pairs = Array.from({ length: PAIRS }, (_, i) => ({
    place: { source: 'bench', line: i + 1 },
    prompt: prompts[i % prompts.length]!,
    win: video(),
    lose: video(),
    ids: model.tokenizer.encode(prompts[i % prompts.length]!),
    pref: Float32Array.from(boxes, () => rng.int(3) - 1),
    weight: Float32Array.from(boxes, () => rng.uniform()),
  }));
  const data: DpoData = { pairs, boxes, grid: GRID };
  // pair k of step 0 is drawn at random from the pool; the batch is fixed for all timed steps
  return dpoBatch(data, model, model.schedule, 0, 0, 0, PAIRS);
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-30);

async function main() {
  console.log(`machine: load average ${os.loadavg()[0]!.toFixed(2)} (${os.cpus().length} cores)${SPINNING ? ', spin-waiting' : ', passive waiting'}; timings drift ±15% between processes, compare the interleaved ratio`);
  // the step exactly as runDpo builds it (src/halo/dpo.ts), from the shipped model folder
  const model = await loadDpoModel(MODEL);
  if (model.kind !== 'built-in') throw new Error(`${MODEL}: the PyTorch peer implements the built-in networks only (this folder holds ONNX files)`);
  const m = model.manifest;
  const base = model.weights;
  const { frames: T, height: H, width: W } = model.video;
  const boxes = patchLayout([T, H, W], { grid: GRID }).boxes;
  const t0 = performance.now();
  const step = buildDpoStep({
    net: model,
    pairs: PAIRS,
    boxes,
    dpo: DPO,
    optimizer: { ...DPO_ADAMW, weightDecay: WEIGHT_DECAY },
    clipNorm: CLIP,
    accum: 1,
  });
  const bytes = encodeModel(step.graph);
  const t1 = performance.now();
  const params: Record<string, Tensor> = {};
  for (const p of step.io.params) {
    const bare = p.name.startsWith(POLICY) ? p.name.slice(POLICY.length) : p.name.slice(REF.length);
    const t = base[bare];
    if (!t) throw new Error(`${MODEL}: no weight '${bare}' for parameter ${p.name}`);
    params[p.name] = t;
  }
  const trainable = step.io.params.filter((p) => p.trainable);
  const count = (ps: typeof step.io.params) => ps.reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
  // the backward pass covers the policy only: no node of the reference network lies on the gradient path
  const g = step.graph;
  const onPath = pathNodes(g, step.io.loss, trainable.map((p) => p.name)).nodes;
  const fromRef = new Set(step.io.params.filter((p) => p.name.startsWith(REF)).map((p) => p.name));
  const fromPolicy = new Set(trainable.map((p) => p.name));
  for (const n of g.nodes) {
    if (n.inputs.some((i) => i && fromRef.has(i))) n.outputs.forEach((o) => fromRef.add(o));
    if (n.inputs.some((i) => i && fromPolicy.has(i))) n.outputs.forEach((o) => fromPolicy.add(o));
  }
  const refOnly = (n: (typeof g.nodes)[number]) => n.outputs.every((o) => fromRef.has(o) && !fromPolicy.has(o));
  const gradNodes = g.nodes.filter((n) => n.name.startsWith('grad/')).length;
  const matmuls = (pick: (n: (typeof g.nodes)[number]) => boolean) => g.nodes.filter((n) => n.op === 'MatMul' && pick(n)).length;
  console.log(
    `graph: ${m.name} from ${MODEL}; ${PAIRS} pairs (${2 * PAIRS} rows), ${boxes.length} patches (grid ${GRID.join('×')}); policy ${count(trainable)} trainable parameters, reference ${count(step.io.params.filter((p) => !p.trainable))} frozen`,
  );
  console.log(
    `graph: ${g.nodes.length} nodes (${gradNodes} backward), MatMul: ${matmuls((n) => refOnly(n))} reference forward, ${matmuls((n) => !n.name.startsWith('grad/') && !refOnly(n))} other forward, ${matmuls((n) => n.name.startsWith('grad/'))} backward; reference-only nodes on the gradient path: ${onPath.filter(refOnly).length}; build+serialize ${(t1 - t0).toFixed(0)} ms, ${(bytes.length / 2 ** 20).toFixed(1)} MiB`,
  );

  const batch = syntheticBatch(model, boxes);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'halo-bench-dpo-'));
  const batchFile = path.join(dir, 'batch.safetensors');
  writeSafetensors(batchFile, { ...batch, boxes: tensor('int64', [boxes.length, 6], boxes.flat()) });

  const t2 = performance.now();
  const trainer = await Trainer.create({ model: bytes, io: step.io }, { params, seed: 0, session: { threads: THREADS, spinning: SPINNING } });
  console.log(`session: created in ${(performance.now() - t2).toFixed(0)} ms (${trainer.provider}, ${THREADS} threads)`);

  let peer: Peer | undefined;
  try {
    peer = new Peer(batchFile);
    const hello = await peer.next();
    console.log(`peer: PyTorch ${hello.torch}, ${hello.threads} threads, ${hello.params} trainable parameters, patch means by ${hello.pool === 'matrix' ? 'a pooling matrix' : 'reshape + mean'}`);
  } catch (e) {
    console.log(`peer unavailable: ${(e as Error).message}`);
    peer = undefined;
  }

  // equivalence: the same steps from the same weights and batch on both sides
  const ours: StepResult[] = [];
  for (let i = 0; i < CHECK_STEPS; i++) ours.push(await trainer.step(batch, LR));
  let failed = false;
  if (peer) {
    const theirs = await peer.check(CHECK_STEPS);
    ours.forEach((o, i) => {
      const p = theirs[i]!;
      const dl = rel(o.loss, p.loss);
      const dn = rel(o.gradNorm, p.grad_norm);
      const ok = dl <= TOL && dn <= TOL_NORM;
      failed ||= !ok;
      console.log(
        `check step ${i + 1}: loss ours ${o.loss.toFixed(7)} pytorch ${p.loss.toFixed(7)} (rel ${dl.toExponential(1)}); grad norm ${o.gradNorm.toPrecision(7)} / ${p.grad_norm.toPrecision(7)} (rel ${dn.toExponential(1)}); margin_video ${o.metrics.margin_video!.toExponential(4)} / ${p.margin_video!.toExponential(4)}; loss_patch ${o.metrics.loss_patch!.toFixed(7)} / ${p.loss_patch!.toFixed(7)} ${ok ? 'ok' : 'MISMATCH'}`,
      );
    });
    console.log(`check: ${failed ? 'FAILED' : 'passed'}: over ${CHECK_STEPS} steps from the same weights and batch the losses agree to ${TOL} relative, the gradient norms to ${TOL_NORM} (β ${DPO.beta}, λ ${DPO.lambda}, lr ${LR}, clip ${CLIP})`);
  }

  const a: number[] = [];
  const inWorker: number[] = [];
  const b: number[] = [];
  if (!failed) {
    for (let i = 0; i < WARMUP; i++) await trainer.step(batch, LR);
    if (peer) await peer.run(WARMUP);
    for (let r = 0; r < ROUNDS; r++) {
      const mine: number[] = [];
      for (let i = 0; i < STEPS; i++) {
        const s0 = performance.now();
        const res = await trainer.step(batch, LR);
        mine.push((performance.now() - s0) / 1000);
        inWorker.push(res.seconds);
      }
      const theirs = peer ? await peer.run(STEPS) : [];
      a.push(...mine);
      b.push(...theirs);
      console.log(`round ${r + 1}: ours ${ms(median(mine))}/step${theirs.length ? `, pytorch ${ms(median(theirs))}/step` : ''} (medians of ${STEPS})`);
    }
  }
  peer?.quit();
  await trainer.close();
  await rm(dir, { recursive: true, force: true });
  if (failed) {
    console.log('bench dpo-step: ratio=NaN (the two implementations disagree; no timing)');
    process.exit(1);
  }
  console.log(`ours: median ${ms(median(a))}/step over ${a.length} steps (${ms(median(inWorker))} inside the worker)`);
  if (peer && b.length) {
    console.log(`pytorch: median ${ms(median(b))}/step over ${b.length} steps`);
    console.log(`bench dpo-step: ratio=${(median(a) / median(b)).toFixed(3)} (ours/pytorch, lower is better; target <= 0.7)`);
  } else console.log('bench dpo-step: ratio=NaN (ours/pytorch; PyTorch peer unavailable)');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
