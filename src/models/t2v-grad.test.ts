// The generator's whole training loss, differentiated by the graph library, against central finite
// differences: a small DiT (2×4×4 tokens, two blocks, adaLN-zero) with its text encoder, random
// non-zero weights (so the zero-initialised gates and output layer pass gradient), one directional
// derivative per parameter tensor. The per-op rules have their own checks (src/graph/rules.test.ts);
// this one checks their composition in the real network: patchify, attention over tokens, modulation.
// Also: the cross-attention to the words (`textWords`), and the fixed sin/cos token positions of
// `positions: 'sincos'`.
import test from 'ava';
import { gradients } from '../graph/autodiff.js';
import { GraphBuilder } from '../graph/builder.js';
import { Rng } from '../graph/rng.js';
import { Tensor, numel, tensor } from '../graph/tensor.js';
import { Session } from '../runtime/session.js';
import { WORDS } from '../world/grammar.js';
import { sincosPositions } from './networks.js';
import { DEFAULT_SCHEDULE } from './schedule.js';
import { T2VConfig, pretrainBatchSpec, pretrainLoss } from './t2v.js';
import { Tokenizer } from './tokenizer.js';

const tok = Tokenizer.fromWords(WORDS, 12);

const designs = [
  [[2, 4, 4], 'learned', false],
  [[4, 4, 4], 'learned', false],
  [[2, 4, 4], 'sincos', false],
  [[2, 4, 4], 'sincos', true],
] as const;
for (const [patch, positions, words] of designs) {
  test.serial(`pretraining loss of a DiT on ${patch.join('×')} tokens, ${positions} positions${words ? ', cross-attention to the words' : ''}: autodiff gradients of every parameter match finite differences`, async (t) => {
    const c: T2VConfig = {
      video: { frames: 4, height: 8, width: 8, fps: 8 },
      text: { vocab: tok.vocabSize, length: tok.maxLength, width: 16, heads: 2, layers: 1, pooling: 'mean', words },
      denoiser: { architecture: 'dit', patch: [...patch], width: 16, depth: 2, heads: 2, mlp: 32, positions, ...(words ? { textWords: tok.maxLength } : {}) },
      schedule: DEFAULT_SCHEDULE,
    };
    const B = 2;
    const g = new GraphBuilder();
    const spec = pretrainBatchSpec(c, B);
    const b = Object.fromEntries(Object.entries(spec).map(([k, s]) => [k, g.input(k, s.dtype, s.shape)]));
    const { loss } = pretrainLoss(g, b, c);
    g.output(loss, 'loss');
    const names = [...g.graph.params.keys()];
    const grads = gradients(g, loss, names.map((n) => g.graph.value(n)));
    grads.forEach((v, i) => g.output(v, `grad:${names[i]}`));
    const session = await Session.create(g.graph);

    const rng = new Rng('t2v-grad');
    const normals = (n: number, s: number) => Float32Array.from({ length: n }, () => s * rng.normal());
    const feeds: Record<string, Tensor> = {};
    for (const [k, s] of Object.entries(spec))
      if (k !== 'ids') feeds[k] = tensor('float32', s.shape, k === 't' ? [0.3, 0.8] : k === 'w' ? [1.5, 1] : normals(numel(s.shape), 0.7));
    feeds.ids = tensor('int64', [B, tok.maxLength], tok.batch(['a red circle moves left on a white background', 'a blue square bounces']));
    for (const n of names) {
      const p = g.graph.params.get(n)!;
      feeds[n] = tensor('float32', p.shape, normals(numel(p.shape), 0.3));
    }
    const at = await session.run(feeds);
    const lossAt = async (n: string, v: Float32Array, h: number) => {
      const base = feeds[n].data as Float32Array;
      const moved = tensor('float32', feeds[n].shape, base.map((x, i) => x + h * v[i]));
      return (await session.run({ ...feeds, [n]: moved }, ['loss'])).loss.data[0] as number;
    };
    const bad: string[] = [];
    const h = 1e-2;
    for (const n of names) {
      const size = numel(feeds[n].shape);
      const v = normals(size, 1 / Math.sqrt(size)); // a random direction of length ≈ 1
      const grad = at[`grad:${n}`].data as Float32Array;
      let analytic = 0;
      for (let i = 0; i < size; i++) analytic += grad[i] * v[i];
      const numeric = ((await lossAt(n, v, h)) - (await lossAt(n, v, -h))) / (2 * h);
      if (Math.abs(analytic - numeric) > 2e-4 + 0.01 * Math.max(Math.abs(analytic), Math.abs(numeric))) bad.push(`${n}: autodiff ${analytic.toExponential(3)}, finite differences ${numeric.toExponential(3)}`);
    }
    await session.release();
    t.true(names.length > 30, `${names.length} parameters`);
    t.deepEqual(bad, []);
  });
}

test("sincos positions: a token's row holds sin/cos of its own time, row and column index, nothing else", (t) => {
  const grid = [4, 4, 4] as const;
  const W = 128; // time 32, row 48, column 48
  const pos = sincosPositions([...grid], W);
  t.is(pos.length, 64 * W);
  const row = (ti: number, y: number, x: number) => pos.subarray(((ti * 4 + y) * 4 + x) * W, ((ti * 4 + y) * 4 + x + 1) * W);
  const r = row(2, 1, 3);
  t.true(Math.abs(r[0] - Math.sin(2)) < 1e-6 && Math.abs(r[16] - Math.cos(2)) < 1e-6); // time, lowest frequency 1
  t.true(Math.abs(r[32] - Math.sin(1)) < 1e-6 && Math.abs(r[32 + 24] - Math.cos(1)) < 1e-6); // row
  t.true(Math.abs(r[80] - Math.sin(3)) < 1e-6 && Math.abs(r[80 + 24] - Math.cos(3)) < 1e-6); // column
  t.true(Math.abs(r[1] - Math.sin(2 * Math.pow(10000, -1 / 16))) < 1e-6);
  // same place, other time: only the time part differs
  const s = row(0, 1, 3);
  t.deepEqual(Array.from(s.subarray(32)), Array.from(r.subarray(32)));
  t.notDeepEqual(Array.from(s.subarray(0, 32)), Array.from(r.subarray(0, 32)));
  t.throws(() => sincosPositions([...grid], 6), { message: /does not split/ });
});
