// Training-step graphs and the Trainer: optimizers against hand-computed PyTorch-rule references,
// clipping, accumulation, frozen subsets, exact resume from checkpoints, and the NaN guard.
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GraphBuilder } from '../graph/builder.js';
import { DType } from '../graph/dtype.js';
import { linear, mse } from '../graph/nn.js';
import { Rng } from '../graph/rng.js';
import { Tensor, tensor } from '../graph/tensor.js';
import { OptimizerConfig } from '../graph/optim.js';
import { buildTrainStep } from '../graph/train-step.js';
import { Trainer, NonFiniteError } from './trainer.js';
import { trainLoop, TrainingStopped } from './loop.js';
import { constant } from './schedule.js';
import { loadCheckpoint } from './checkpoint.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-train-'));

// least squares: loss = mean((x·W − y)²), W (3, 2); gradient 2/N · xᵀ(xW − y)
function lsqStep(dtype: DType, optimizer: OptimizerConfig, extra: { clipNorm?: number; accum?: number; rows?: number } = {}) {
  const rows = extra.rows ?? 4;
  return buildTrainStep({
    dtype,
    batch: { x: { dtype, shape: [rows, 3] }, y: { dtype, shape: [rows, 2] } },
    build: (g, b) => {
      const w = g.param('w', [3, 2], { init: { normal: 1 } });
      return { loss: mse(g, g.matmul(b.x, w), b.y) };
    },
    optimizer,
    clipNorm: extra.clipNorm,
    accum: extra.accum,
  });
}

function lsqGrad(w: number[], x: number[], y: number[], rows: number): number[] {
  const r: number[] = [];
  for (let i = 0; i < rows; i++) for (let j = 0; j < 2; j++) r.push(x[i * 3] * w[j] + x[i * 3 + 1] * w[2 + j] + x[i * 3 + 2] * w[4 + j] - y[i * 2 + j]);
  const g = Array(6).fill(0);
  for (let k = 0; k < 3; k++) for (let j = 0; j < 2; j++) for (let i = 0; i < rows; i++) g[k * 2 + j] += (2 / (rows * 2)) * x[i * 3 + k] * r[i * 2 + j];
  return g;
}

function batches(n: number, rows = 4, dtype: DType = 'float64') {
  const rng = new Rng(7);
  return Array.from({ length: n }, () => ({ x: tensor(dtype, [rows, 3], rng.fill(rows * 3, (q) => q.normal())), y: tensor(dtype, [rows, 2], rng.fill(rows * 2, (q) => q.normal())) }));
}

const W0 = [0.5, -0.3, 0.8, 0.1, -0.7, 0.2];

test('AdamW follows PyTorch AdamW (float64, hand-computed reference)', async (t) => {
  const cfg = { type: 'adamw' as const, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 };
  const tr = await Trainer.create(lsqStep('float64', cfg), { params: { w: tensor('float64', [3, 2], W0) }, inProcess: true });
  const bs = batches(5);
  const lrs = [1e-2, 5e-2, 3e-2, 1e-2, 2e-2];
  // reference: torch.optim.AdamW (1.13, single-tensor path), in float64
  let w = [...W0];
  const m = Array(6).fill(0);
  const v = Array(6).fill(0);
  for (let s = 0; s < 5; s++) {
    const x = Array.from(bs[s].x.data as Float64Array);
    const y = Array.from(bs[s].y.data as Float64Array);
    const g = lsqGrad(w, x, y, 4);
    const lr = lrs[s];
    const step = s + 1;
    w = w.map((p) => p * (1 - lr * cfg.weightDecay));
    const bc1 = 1 - cfg.beta1 ** step;
    const bc2 = 1 - cfg.beta2 ** step;
    for (let i = 0; i < 6; i++) {
      m[i] = m[i] * cfg.beta1 + g[i] * (1 - cfg.beta1);
      v[i] = v[i] * cfg.beta2 + (1 - cfg.beta2) * g[i] * g[i];
      const denom = Math.sqrt(v[i]) / Math.sqrt(bc2) + cfg.eps;
      w[i] -= (lr / bc1) * (m[i] / denom);
    }
    await tr.step(bs[s], lr);
  }
  const got = Array.from((await tr.getParams()).w.data as Float64Array);
  got.forEach((p, i) => t.true(Math.abs(p - w[i]) < 1e-12, `w[${i}] ${p} vs ${w[i]}`));
  const st = (await tr.getState()).state;
  Array.from(st['exp_avg_sq/w'].data as Float64Array).forEach((p, i) => t.true(Math.abs(p - v[i]) < 1e-14));
  t.is(tr.steps, 5);
  await tr.close();
});

test('AdamW float32 matches a PyTorch 1.13 trajectory (recorded fixture)', async (t) => {
  const fx = JSON.parse(fs.readFileSync(new URL('../../../src/runtime/testdata/adamw-torch.json', import.meta.url), 'utf8'));
  const step = buildTrainStep({
    batch: { x: { dtype: 'float32', shape: fx.x_shape }, y: { dtype: 'float32', shape: fx.y_shape } },
    build: (g, b) => {
      const h = g.tanh(linear(g, 'l1', b.x, fx.hidden));
      return { loss: mse(g, linear(g, 'l2', h, fx.y_shape[1]), b.y) };
    },
    optimizer: { type: 'adamw', beta1: fx.beta1, beta2: fx.beta2, eps: fx.eps, weightDecay: fx.weight_decay },
    clipNorm: fx.clip,
  });
  const params: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(fx.init as Record<string, { shape: number[]; data: number[] }>)) params[k] = tensor('float32', v.shape, v.data);
  const tr = await Trainer.create(step, { params, inProcess: true });
  for (let s = 0; s < fx.steps.length; s++) {
    const r = await tr.step({ x: tensor('float32', fx.x_shape, fx.x[s]), y: tensor('float32', fx.y_shape, fx.y[s]) }, fx.lr[s]);
    t.true(Math.abs(r.loss - fx.steps[s].loss) < 1e-5 * Math.max(1, Math.abs(fx.steps[s].loss)), `step ${s} loss ${r.loss} vs torch ${fx.steps[s].loss}`);
    t.true(Math.abs(r.gradNorm - fx.steps[s].grad_norm) < 1e-4 * Math.max(1, fx.steps[s].grad_norm), `step ${s} grad norm ${r.gradNorm} vs ${fx.steps[s].grad_norm}`);
  }
  const got = await tr.getParams();
  for (const [k, v] of Object.entries(fx.final as Record<string, number[]>)) {
    const d = Array.from(got[k].data as Float32Array);
    const err = Math.max(...d.map((p, i) => Math.abs(p - v[i])));
    t.true(err < 2e-6, `${k}: max error ${err} against PyTorch`);
  }
  await tr.close();
});

test('SGD with momentum, dampening, nesterov and weight decay follows PyTorch SGD', async (t) => {
  for (const cfg of [
    { type: 'sgd' as const, momentum: 0.9, dampening: 0.1, weightDecay: 0.01 },
    { type: 'sgd' as const, momentum: 0.8, nesterov: true },
    { type: 'sgd' as const },
  ]) {
    const tr = await Trainer.create(lsqStep('float64', cfg), { params: { w: tensor('float64', [3, 2], W0) }, inProcess: true });
    const bs = batches(4);
    let w = [...W0];
    let buf: number[] | undefined;
    for (let s = 0; s < 4; s++) {
      let d = lsqGrad(w, Array.from(bs[s].x.data as Float64Array), Array.from(bs[s].y.data as Float64Array), 4);
      const wd = cfg.weightDecay ?? 0;
      d = d.map((x, i) => x + wd * w[i]);
      const mom = cfg.momentum ?? 0;
      if (mom) {
        buf = buf ? buf.map((b, i) => b * mom + (1 - (cfg.dampening ?? 0)) * d[i]) : [...d];
        d = cfg.nesterov ? d.map((x, i) => x + mom * buf![i]) : buf;
      }
      w = w.map((p, i) => p - 0.05 * d[i]);
      await tr.step(bs[s], 0.05);
    }
    const got = Array.from((await tr.getParams()).w.data as Float64Array);
    got.forEach((p, i) => t.true(Math.abs(p - w[i]) < 1e-12, `${JSON.stringify(cfg)} w[${i}] ${p} vs ${w[i]}`));
    await tr.close();
  }
});

test('global-norm clipping reports the norm and scales the update', async (t) => {
  const tr = await Trainer.create(lsqStep('float64', { type: 'sgd' }, { clipNorm: 0.1 }), { params: { w: tensor('float64', [3, 2], W0) }, inProcess: true });
  const [b] = batches(1);
  const g = lsqGrad(W0, Array.from(b.x.data as Float64Array), Array.from(b.y.data as Float64Array), 4);
  const norm = Math.sqrt(g.reduce((a, x) => a + x * x, 0));
  const r = await tr.step(b, 1);
  t.true(Math.abs(r.gradNorm - norm) < 1e-12);
  t.true(norm > 0.1);
  const coef = 0.1 / (norm + 1e-6);
  const got = Array.from((await tr.getParams()).w.data as Float64Array);
  got.forEach((p, i) => t.true(Math.abs(p - (W0[i] - coef * g[i])) < 1e-12));
  await tr.close();
});

test('gradient accumulation over 2 micro-batches equals one step on the whole batch', async (t) => {
  const cfg = { type: 'adamw' as const };
  const one = await Trainer.create(lsqStep('float64', cfg, { rows: 8, clipNorm: 0.5 }), { params: { w: tensor('float64', [3, 2], W0) }, inProcess: true });
  const two = await Trainer.create(lsqStep('float64', cfg, { rows: 4, accum: 2, clipNorm: 0.5 }), { params: { w: tensor('float64', [3, 2], W0) }, inProcess: true });
  const halves = batches(6);
  for (let s = 0; s < 3; s++) {
    const [a, b] = [halves[2 * s], halves[2 * s + 1]];
    const whole = {
      x: tensor('float64', [8, 3], [...(a.x.data as Float64Array), ...(b.x.data as Float64Array)]),
      y: tensor('float64', [8, 2], [...(a.y.data as Float64Array), ...(b.y.data as Float64Array)]),
    };
    const r1 = await one.step(whole, 0.01);
    const r2 = await two.step([a, b], 0.01);
    t.true(Math.abs(r1.loss - r2.loss) < 1e-12);
    t.true(Math.abs(r1.gradNorm - r2.gradNorm) < 1e-12);
  }
  const p1 = Array.from((await one.getParams()).w.data as Float64Array);
  const p2 = Array.from((await two.getParams()).w.data as Float64Array);
  p1.forEach((p, i) => t.true(Math.abs(p - p2[i]) < 1e-12));
  t.is(two.steps, 3);
  await one.close();
  await two.close();
});

test('frozen parameters (a reference copy in the same graph) do not change; trainable subset does', async (t) => {
  const step = buildTrainStep({
    batch: { x: { dtype: 'float32', shape: [4, 3] } },
    build: (g, b) => {
      const pol = linear(g, 'pol', b.x, 2);
      const ref = linear(g, 'ref', b.x, 2);
      const d = g.sub(pol, ref);
      return { loss: g.reduceMean(g.mul(d, d)), metrics: { ref_mean: g.reduceMean(ref) } };
    },
    trainable: /^pol\.weight$/,
    optimizer: { type: 'sgd' },
  });
  t.deepEqual(step.io.params.filter((p) => p.trainable).map((p) => p.name), ['pol.weight']);
  t.false(step.graph.outputs.some((o) => o.includes('ref.')));
  const tr = await Trainer.create(step, { seed: 3 });
  const before = await tr.getParams();
  const [b] = batches(1, 4, 'float32');
  const r = await tr.step({ x: b.x }, 0.1);
  t.true(Number.isFinite(r.metrics.ref_mean));
  const after = await tr.getParams();
  t.deepEqual(after['ref.weight'].data, before['ref.weight'].data);
  t.deepEqual(after['pol.bias'].data, before['pol.bias'].data);
  t.notDeepEqual(after['pol.weight'].data, before['pol.weight'].data);
  await tr.close();
});

function mlpStep() {
  return buildTrainStep({
    batch: { x: { dtype: 'float32', shape: [8, 4] }, y: { dtype: 'float32', shape: [8, 1] } },
    build: (g, b) => ({ loss: mse(g, linear(g, 'out', g.gelu(linear(g, 'hid', b.x, 16)), 1), b.y) }),
    optimizer: { type: 'adamw', weightDecay: 0.01 },
    clipNorm: 1,
  });
}
const mlpBatch = (_: number, rng: Rng) => {
  const x = rng.fill(32, (q) => q.normal());
  return { x: tensor('float32', [8, 4], x), y: tensor('float32', [8, 1], Array.from({ length: 8 }, (_, i) => Math.sin(x[4 * i]) + x[4 * i + 1] * x[4 * i + 2])) };
};

test('resume from a checkpoint continues exactly (same losses and parameters as an uninterrupted run)', async (t) => {
  const step = mlpStep();
  const sched = (s: number) => 1e-2 * (1 + Math.cos(s));
  const full = await Trainer.create(step, { seed: 11, config: { run: 'a' } });
  const lossesFull = (await trainLoop({ trainer: full, steps: 8, batch: mlpBatch, lr: sched })).map((r) => r.loss);
  const finalFull = await full.getParams();
  await full.close();

  const ck = path.join(tmp, 'resume.safetensors');
  const a = await Trainer.create(step, { seed: 11, config: { run: 'a' } });
  const first = await trainLoop({ trainer: a, steps: 4, batch: mlpBatch, lr: sched, checkpoint: { path: ck, every: 2 } });
  await a.close();
  const meta = loadCheckpoint(ck);
  t.is(meta.step, 4);
  t.deepEqual(meta.config, { run: 'a' });
  t.regex(meta.hash, /^[0-9a-f]{64}$/);

  const b = await Trainer.create(step, { seed: 999 });
  const r = await b.load(ck);
  t.is(r.step, 4);
  const second = await trainLoop({ trainer: b, steps: 8, batch: mlpBatch, lr: sched });
  t.deepEqual([...first, ...second].map((x) => x.loss), lossesFull);
  const finalResumed = await b.getParams();
  for (const k of Object.keys(finalFull)) t.deepEqual(finalResumed[k].data, finalFull[k].data, k);
  await b.close();
});

test('a corrupted checkpoint is refused with a hash mismatch', async (t) => {
  const tr = await Trainer.create(mlpStep(), { seed: 1 });
  const ck = path.join(tmp, 'corrupt.safetensors');
  await tr.save(ck);
  const buf = fs.readFileSync(ck);
  buf[buf.length - 3] ^= 0xff;
  fs.writeFileSync(ck, buf);
  await t.throwsAsync(() => tr.load(ck), { message: /content hash mismatch/ });
  await tr.close();
});

test('NaN guard: a non-finite loss stops training, keeps the last good parameters and checkpoint', async (t) => {
  const tr = await Trainer.create(mlpStep(), { seed: 2 });
  const ck = path.join(tmp, 'nan.safetensors');
  const err = await t.throwsAsync(
    trainLoop({
      trainer: tr,
      steps: 10,
      lr: constant(1e-3),
      checkpoint: { path: ck, every: 100 },
      batch: (s, rng) => {
        const b = mlpBatch(s, rng);
        if (s === 3) (b.x.data as Float32Array)[0] = NaN;
        return b;
      },
    }),
  );
  t.true(err instanceof TrainingStopped);
  t.regex(err!.message, /step 4: loss is NaN; parameters were not updated.*last good state \(step 3\) saved/);
  t.is(tr.steps, 3);
  const saved = loadCheckpoint(ck);
  t.is(saved.step, 3);
  const now = await tr.getParams();
  for (const k of Object.keys(now)) {
    t.deepEqual(saved.params[k].data, now[k].data);
    t.true(Array.from(now[k].data as Float32Array).every(Number.isFinite));
  }
  await t.throwsAsync(() => tr.step(mlpBatch(0, new Rng(1)), Infinity), { message: /learning rate Infinity/ });
  await tr.close();
  t.true(NonFiniteError.prototype instanceof Error);
});
