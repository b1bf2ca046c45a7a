// Small models train: a transformer block (attention, LayerNorm, GELU, embeddings) and a conv net
// (Conv 2D with stride and padding, SiLU) both reach a clearly lower loss with AdamW.
import test from 'ava';
import { conv, crossEntropy, embedding, layerNorm, linear, mse, transformerBlock } from './nn.js';
import { buildInference, buildTrainStep } from './train-step.js';
import { Rng } from './rng.js';
import { tensor } from './tensor.js';
import { Trainer } from '../runtime/trainer.js';
import { Session } from '../runtime/session.js';
import { warmupCosine } from '../runtime/schedule.js';

test('a small transformer block learns a sequence task (loss falls)', async (t) => {
  // task: predict, for each token, the id of the previous token (needs attention)
  const [B, T, V, D] = [8, 8, 6, 32];
  const model = (g: Parameters<Parameters<typeof buildTrainStep>[0]['build']>[0], ids: any) => {
    const pos = g.param('pos', [T, D], { init: { normal: 0.1 } });
    let h = g.add(embedding(g, 'tok', ids, V, D), pos);
    h = transformerBlock(g, 'block', h, { heads: 2, mlp: 64, act: 'gelu' });
    return linear(g, 'head', layerNorm(g, 'lnf', h), V);
  };
  const step = buildTrainStep({
    batch: { ids: { dtype: 'int64', shape: [B, T] }, labels: { dtype: 'int64', shape: [B * T] } },
    build: (g, b) => {
      const logits = g.reshape(model(g, b.ids), [B * T, V]);
      return { loss: crossEntropy(g, logits, b.labels) };
    },
    optimizer: { type: 'adamw', beta2: 0.99, weightDecay: 0.01 },
    clipNorm: 1,
  });
  const tr = await Trainer.create(step, { seed: 5 });
  const lr = warmupCosine({ lr: 1e-2, warmup: 10, total: 150, finalRatio: 0.1 });
  const losses: number[] = [];
  for (let s = 0; s < 150; s++) {
    const ids: number[] = [];
    const labels: number[] = [];
    for (let b = 0; b < B; b++) for (let i = 0; i < T; i++) ids.push(tr.rng.int(V));
    for (let b = 0; b < B; b++) for (let i = 0; i < T; i++) labels.push(i === 0 ? 0 : ids[b * T + i - 1]);
    const r = await tr.step({ ids: tensor('int64', [B, T], ids), labels: tensor('int64', [B * T], labels) }, lr(s));
    losses.push(r.loss);
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const start = mean(losses.slice(0, 10));
  const end = mean(losses.slice(-10));
  t.true(start > 1.5, `initial loss ${start} should be near ln 6`);
  t.true(end < 0.5 * start, `loss fell from ${start} to ${end}`);

  // the inference graph of the same model, fed the trained parameters
  const params = await tr.getParams();
  const inf = buildInference({ inputs: { ids: { dtype: 'int64', shape: [1, T] } }, build: (g, x) => ({ logits: model(g, x.ids) }) });
  t.deepEqual([...inf.params.keys()].sort(), step.io.params.map((p) => p.name).sort());
  const s = await Session.create(inf);
  const ids = [3, 1, 4, 1, 5, 2, 0, 2];
  const out = await s.run({ ids: tensor('int64', [1, T], ids), ...params });
  const logits = out.logits.data as Float32Array;
  let correct = 0;
  for (let i = 1; i < T; i++) {
    const row = Array.from(logits.slice(i * V, (i + 1) * V));
    if (row.indexOf(Math.max(...row)) === ids[i - 1]) correct++;
  }
  t.true(correct >= 5, `inference predicts the previous token ${correct}/7 times`);
  await tr.close();
});

test('a small conv net learns to regress a blurred image (loss falls)', async (t) => {
  const [B, C, S] = [4, 3, 12];
  const step = buildTrainStep({
    batch: { x: { dtype: 'float32', shape: [B, C, S, S] }, y: { dtype: 'float32', shape: [B, 1, S / 2, S / 2] } },
    build: (g, b) => {
      let h = g.silu(conv(g, 'c1', b.x, 8, [3, 3]));
      h = g.silu(conv(g, 'c2', h, 8, [3, 3], { stride: [2, 2], pad: [1, 1, 1, 1] }));
      const y = conv(g, 'c3', h, 1, [1, 1]);
      return { loss: mse(g, y, b.y), metrics: { out_mean: g.reduceMean(y) } };
    },
    optimizer: { type: 'adamw', weightDecay: 0 },
  });
  const tr = await Trainer.create(step, { seed: 9 });
  const losses: number[] = [];
  const rng = new Rng(4);
  for (let s = 0; s < 80; s++) {
    const x = rng.fill(B * C * S * S, (q) => q.normal());
    // target: 2×2 average of channel 0 minus channel 1
    const y: number[] = [];
    for (let b = 0; b < B; b++)
      for (let i = 0; i < S / 2; i++)
        for (let j = 0; j < S / 2; j++) {
          let v = 0;
          for (const [di, dj] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
            const at = (c: number) => x[((b * C + c) * S + 2 * i + di) * S + 2 * j + dj];
            v += (at(0) - at(1)) / 4;
          }
          y.push(v);
        }
    const r = await tr.step({ x: tensor('float32', [B, C, S, S], x), y: tensor('float32', [B, 1, S / 2, S / 2], y) }, 1e-2);
    t.true(Number.isFinite(r.metrics.out_mean));
    losses.push(r.loss);
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const start = mean(losses.slice(0, 5));
  const end = mean(losses.slice(-5));
  t.true(end < 0.3 * start, `loss fell from ${start} to ${end}`);
  await tr.close();
});
