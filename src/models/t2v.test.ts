// Unit tests of the generator's pieces that need no trained weights: tokenizer, schedule, sampler
// determinism and batching, patchify round trip, the text encoder's mean pooling, the manifest schema.
// (halo-pretrain itself: src/commands/pretrain.test.ts.)
import test from 'ava';
import { GraphBuilder } from '../graph/builder.js';
import { bakeParams } from '../graph/bake.js';
import { initParams } from '../graph/init.js';
import { Session } from '../runtime/session.js';
import { tensor } from '../graph/tensor.js';
import { WORDS } from '../world/grammar.js';
import { patchify, unpatchify } from './layers.js';
import { buildTextEncoder, textFeatureSize } from './networks.js';
import { Manifest } from './manifest.js';
import { sample, type PredictX0 } from './sampler.js';
import { Schedule, DEFAULT_SCHEDULE } from './schedule.js';
import { Tokenizer, TokenizerError } from './tokenizer.js';

const tok = Tokenizer.fromWords(WORDS, 24);

test('tokenizer: prompts of the grammar map to known ids, <bos> first, padded', (t) => {
  const unknown: string[] = [];
  const ids = tok.encode('a red circle moves left on a gray background', unknown);
  t.is(ids.length, 24);
  t.is(ids[0], tok.ids.get('<bos>')!);
  t.deepEqual(unknown, []);
  t.is(ids.filter((i) => i === 0).length, 24 - 10);
  t.is(tok.decode(ids), 'a red circle moves left on a gray background');
});

test('tokenizer: unknown words become <unk> and are reported, not an error', (t) => {
  const unknown: string[] = [];
  const ids = tok.encode('A Magenta hexagon, moves LEFT!', unknown);
  t.deepEqual(unknown, ['magenta', 'hexagon']);
  t.is(ids[2], tok.ids.get('<unk>')!);
  t.is(ids[3], tok.ids.get('<unk>')!);
  t.is(ids[4], tok.ids.get('moves')!);
});

test('bad input: tokenizer rejects an empty prompt and one over the limit', (t) => {
  t.throws(() => tok.encode(' ?! '), { instanceOf: TokenizerError, message: /empty prompt/ });
  t.throws(() => tok.encode(Array(24).fill('red').join(' ')), { instanceOf: TokenizerError, message: /too long: 24 words, .* at most 23/ });
  t.notThrows(() => tok.encode(Array(23).fill('red').join(' ')));
});

test('schedule: logSNR decreases with t, is shifted by −2·ln(shift) and clipped; α²+σ²=1', (t) => {
  const s = new Schedule(DEFAULT_SCHEDULE);
  const plain = new Schedule({ ...DEFAULT_SCHEDULE, shift: 1 });
  let prev = Infinity;
  for (let i = 0; i <= 100; i++) {
    const u = i / 100;
    const l = s.logSnr(u);
    t.true(l <= prev);
    prev = l;
    const { alpha, sigma } = s.alphaSigma(u);
    t.true(Math.abs(alpha * alpha + sigma * sigma - 1) < 1e-9);
  }
  t.true(Math.abs(s.logSnr(0.5) - (plain.logSnr(0.5) - 2 * Math.log(4))) < 1e-9);
  t.is(s.logSnr(0), 15);
  t.is(s.logSnr(1), -15);
  t.true(Math.abs(plain.logSnr(0.5)) < 1e-9); // tan(π/4) = 1
  t.is(s.x0LossWeight(0), 5);
  t.true(Math.abs(s.x0LossWeight(1) - (1 + Math.exp(-15))) < 1e-9);
});

// a fake denoiser: x0 estimate = 0.5·x shrunk, plus a per-row constant depending on cond
const fake: PredictX0 = async (x, t, rows, cond) => {
  const size = x.length / t.length;
  const out = new Float32Array(x.length);
  for (let i = 0; i < t.length; i++) for (let j = 0; j < size; j++) out[i * size + j] = 0.5 * x[i * size + j] * t[i] + (cond[i] ? 0.3 : -0.1) + rows[i] * 0;
  return out;
};

for (const name of ['ddim', 'ddpm'] as const) {
  test(`sampler ${name}: same seed gives the same video, whatever the batch; other seeds differ`, async (t) => {
    const settings = { name, steps: 6, guidance: 2 };
    const schedule = new Schedule();
    const a = await sample({ size: 12, seeds: [3, 4], settings, schedule, predict: fake });
    const b = await sample({ size: 12, seeds: [4], settings, schedule, predict: fake });
    const c = await sample({ size: 12, seeds: [3], settings, schedule, predict: fake });
    t.deepEqual(Array.from(a.subarray(12)), Array.from(b));
    t.deepEqual(Array.from(a.subarray(0, 12)), Array.from(c));
    t.notDeepEqual(Array.from(b), Array.from(c));
  });
}

test('sampler: DDIM ends at the (guided, clipped) x0 estimate', async (t) => {
  const schedule = new Schedule();
  // constant predictions: cond 0.3, uncond −0.1 → guided −0.1 + 2·0.4 = 0.7 at the last step (t·x term is 0 at t… small)
  const predict: PredictX0 = async (x, tt, rows, cond) => new Float32Array(x.length).map((_, i) => (cond[Math.floor(i / (x.length / tt.length))] ? 0.3 : -0.1));
  const out = await sample({ size: 5, seeds: [1], settings: { name: 'ddim', steps: 4, guidance: 2 }, schedule, predict });
  for (const v of out) t.true(Math.abs(v - 0.7) < 1e-6);
  const clipped = await sample({ size: 5, seeds: [1], settings: { name: 'ddim', steps: 4, guidance: 5 }, schedule, predict });
  for (const v of clipped) t.is(v, 1);
});

test('patchify and unpatchify are inverse and order tokens time-major, row, column', async (t) => {
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', [1, 3, 4, 4, 4]);
  const tok = patchify(g, x, [2, 2, 2]);
  g.output(tok, 'tok');
  g.output(unpatchify(g, tok, [2, 2, 2], [3, 4, 4, 4]), 'back');
  const s = await Session.create(g.graph);
  const data = Float32Array.from({ length: 192 }, (_, i) => i);
  const r = await s.run({ x: tensor('float32', [1, 3, 4, 4, 4], data) });
  t.deepEqual(r.tok.shape, [1, 8, 24]);
  t.deepEqual(Array.from(r.back.data as Float32Array), Array.from(data));
  // token 1 = (it 0, iy 0, ix 1): channel 0, frame 0, row 0, columns 2..3
  t.deepEqual(Array.from((r.tok.data as Float32Array).subarray(24, 26)), [2, 3]);
  await s.release();
});

test("text encoder pooling 'mean': the mean of the non-padding positions' outputs, every word counts", async (t) => {
  const L = 6, D = 8;
  const g = new GraphBuilder();
  const ids = g.input('ids', 'int64', [2, L]);
  g.output(buildTextEncoder(g, 'text.', ids, { vocab: 10, length: L, width: D, heads: 2, layers: 0, pooling: 'mean' }), 'text');
  const w = initParams(g.graph.params.values(), 3);
  // a non-trivial final LayerNorm
  w['text.ln.weight'] = tensor('float32', [D], Float32Array.from({ length: D }, (_, i) => 0.5 + i / D));
  w['text.ln.bias'] = tensor('float32', [D], Float32Array.from({ length: D }, (_, i) => i / 10 - 0.3));
  const s = await Session.create(bakeParams(g.graph, w));
  const rows = [[2, 5, 7, 0, 0, 0], [2, 5, 8, 3, 0, 0]];
  const out = (await s.run({ ids: tensor('int64', [2, L], BigInt64Array.from(rows.flat().map(BigInt))) })).text.data as Float32Array;
  await s.release();
  // reference: with no layers, each position's output is LayerNorm(tok + pos); the vector is their mean over non-pad ids
  const [tok, pos, lw, lb] = ['text.tok.weight', 'text.pos', 'text.ln.weight', 'text.ln.bias'].map((k) => w[k]!.data as Float32Array);
  rows.forEach((r, b) => {
    const acc = new Float64Array(D);
    const kept = r.map((id, j) => [id, j]).filter(([id]) => id !== 0);
    for (const [id, j] of kept) {
      const h = Array.from({ length: D }, (_, d) => tok[id! * D + d]! + pos[j! * D + d]!);
      const mu = h.reduce((a, v) => a + v, 0) / D;
      const sd = Math.sqrt(h.reduce((a, v) => a + (v - mu) ** 2, 0) / D + 1e-5);
      h.forEach((v, d) => (acc[d] += ((v - mu) / sd) * lw[d]! + lb[d]!));
    }
    for (let d = 0; d < D; d++) t.true(Math.abs(out[b * D + d]! - acc[d]! / kept.length) < 1e-4, `row ${b} dim ${d}: ${out[b * D + d]} vs ${acc[d]! / kept.length}`);
  });
});

test("text encoder with words: the pooled vector, then each position's output, zero at padding", async (t) => {
  const L = 6, D = 8;
  const cfg = { vocab: 10, length: L, width: D, heads: 2, layers: 1, pooling: 'mean' as const };
  const build = (words: boolean) => {
    const g = new GraphBuilder();
    const ids = g.input('ids', 'int64', [2, L]);
    g.output(buildTextEncoder(g, 'text.', ids, { ...cfg, words }), 'text');
    return g;
  };
  t.is(textFeatureSize({ ...cfg, words: true }), D * (1 + L));
  t.is(textFeatureSize(cfg), D);
  const w = initParams(build(true).graph.params.values(), 4);
  const ids = tensor('int64', [2, L], BigInt64Array.from([2, 5, 7, 0, 0, 0, 2, 5, 8, 3, 0, 0].map(BigInt)));
  const run = async (words: boolean) => {
    const s = await Session.create(bakeParams(build(words).graph, w));
    const out = (await s.run({ ids })).text;
    await s.release();
    return out;
  };
  const [pooled, full] = [await run(false), await run(true)];
  t.deepEqual(full.shape, [2, D * (1 + L)]);
  const a = pooled.data as Float32Array, b = full.data as Float32Array;
  const n = D * (1 + L);
  for (let r = 0; r < 2; r++) {
    for (let d = 0; d < D; d++) t.true(Math.abs(b[r * n + d]! - a[r * D + d]!) < 1e-6);
    const kept = r === 0 ? 3 : 4;
    for (let j = 0; j < L; j++) {
      const word = b.subarray(r * n + D * (1 + j), r * n + D * (2 + j));
      const norm = Math.hypot(...word);
      if (j < kept) t.true(norm > 0.5, `row ${r} position ${j} is a word: |v| = ${norm}`);
      else t.is(norm, 0, `row ${r} position ${j} is padding`);
    }
  }
});

test('manifest: one schema for generators and reward models; unknown kinds are refused', (t) => {
  const base = { format: 'halo-model@1', name: 'm', video: { frames: 2, height: 4, width: 4, fps: 8 }, tokenizer: tok.spec };
  const rm = Manifest.safeParse({ ...base, kind: 'reward', reward: {} });
  t.false(rm.success);
  t.is(rm.error!.issues[0].path[0], 'reward'); // routed to the reward schema by `kind`
  const t2v = { ...base, kind: 't2v', schedule: DEFAULT_SCHEDULE, prediction: 'x0', weights: 'w.safetensors', text_encoder: { architecture: 'text-transformer', config: {} }, denoiser: { architecture: 'dit', config: {} } };
  t.true(Manifest.safeParse(t2v).success);
  t.false(Manifest.safeParse({ ...t2v, kind: 'vae' }).success);
  t.false(Manifest.safeParse({ ...t2v, prediction: 'score' }).success);
});

test('the shipped model rebuilds as two prefixed copies in one graph (policy + reference) that match halo-sample', async (t) => {
  const { fileURLToPath } = await import('node:url');
  const { loadBuiltinT2V, buildT2V, withPrefix } = await import('./t2v.js');
  const { Generator } = await import('./generator.js');
  const { bakeParams } = await import('../graph/bake.js');
  const dir = fileURLToPath(new URL('../../../fixtures/models/halo-tiny-t2v', import.meta.url));
  const m = await loadBuiltinT2V(dir);
  const g = new GraphBuilder();
  const v = m.config.video;
  const x = g.input('x', 'float32', [1, 3, v.frames, v.height, v.width]);
  const tt = g.input('t', 'float32', [1]);
  const ids = g.input('ids', 'int64', [1, m.tokenizer.maxLength]);
  g.output(buildT2V(g, 'policy.', { x, t: tt, ids }, m.config), 'policy');
  g.output(buildT2V(g, 'ref.', { x, t: tt, ids }, m.config), 'ref');
  t.is(g.graph.params.size, 2 * Object.keys(m.params).length);
  const s = await Session.create(bakeParams(g.graph, { ...withPrefix(m.params, 'policy.'), ...withPrefix(m.params, 'ref.') }));
  const n = 3 * v.frames * v.height * v.width;
  const xs = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
  const prompt = 'a green triangle moves down on a black background';
  const r = await s.run({ x: tensor('float32', [1, 3, v.frames, v.height, v.width], xs), t: tensor('float32', [1], [0.7]), ids: tensor('int64', [1, m.tokenizer.maxLength], m.tokenizer.batch([prompt])) });
  t.deepEqual(r.policy.data, r.ref.data);
  const gen = await Generator.load(dir, { batch: 1 });
  const want = await gen.predictX0(xs, Float32Array.of(0.7), await gen.encode([prompt]));
  let d = 0;
  for (let i = 0; i < n; i++) d = Math.max(d, Math.abs(want[i] - (r.policy.data as Float32Array)[i]));
  t.true(d < 1e-4, `max |Δ| ${d}`);
  await gen.close();
  await s.release();
});
