// dpoBatch: the same rows (pairs, timesteps, noise, x_t) whatever the model predicts; the target and
// weight of each row are those of the model's training loss: x0 with min(SNR + 1, 5), ε with 1,
// v = α·ε − σ·x0 with 1. Winner and loser of a pair share t and ε.
import test from 'ava';
import { Rng } from '../graph/rng.js';
import { Schedule } from '../models/schedule.js';
import { dpoBatch, type DpoData, type Prediction } from './dpo-data.js';

const T = 2, H = 4, W = 4;
const n = 3 * T * H * W;
const shape = { video: { frames: T, height: H, width: W }, text: { length: 3 } };
const schedule = new Schedule({ type: 'cosine', shift: 1, logsnr_min: -15, logsnr_max: 15 });

function data(): DpoData {
  const r = new Rng('dpo-data-test');
  const video = () => Float32Array.from({ length: n }, () => 2 * r.uniform() - 1);
  const pairs = [0, 1, 2].map((i) => ({
    place: { source: 'test', line: i + 1 },
    prompt: `p${i}`,
    win: video(),
    lose: video(),
    ids: [1, 2 + i, 0],
    pref: Float32Array.from([1, -1]),
    weight: Float32Array.from([0.5, 0.5]),
  }));
  return { pairs, boxes: [[0, T, 0, H, 0, 2], [0, T, 0, H, 2, W]], grid: null };
}

const P = 2;
const batch = (prediction?: Prediction) => dpoBatch(data(), { ...shape, prediction }, schedule, 7, 3, 0, P);
const f32 = (b: ReturnType<typeof batch>, k: string) => b[k]!.data as Float32Array;

test('dpoBatch fills the target and weight of the model parameterisation; the rows are the same for all three', (t) => {
  const [x0, eps, v, dflt] = [batch('x0'), batch('eps'), batch('v'), batch()];
  t.deepEqual(dflt, x0, 'x0 is the default');
  for (const k of ['xt', 't', 'ids', 'pref', 'weight']) {
    t.deepEqual(eps[k], x0[k], k);
    t.deepEqual(v[k], x0[k], k);
  }
  const ts = f32(x0, 't');
  const xt = f32(x0, 'xt');
  const clean = f32(x0, 'target');
  for (let row = 0; row < 2 * P; row++) {
    const { alpha, sigma } = schedule.alphaSigma(ts[row]!);
    t.is(f32(x0, 'w')[row], Math.fround(schedule.x0LossWeight(ts[row]!)));
    t.is(f32(eps, 'w')[row], 1);
    t.is(f32(v, 'w')[row], 1);
    let worstEps = 0, worstV = 0;
    for (let k = 0; k < n; k++) {
      const i = row * n + k;
      const e = f32(eps, 'target')[i]!;
      worstEps = Math.max(worstEps, Math.abs(alpha * clean[i]! + sigma * e - xt[i]!)); // x_t = α·x0 + σ·ε
      worstV = Math.max(worstV, Math.abs(f32(v, 'target')[i]! - (alpha * e - sigma * clean[i]!)));
    }
    t.true(worstEps < 1e-5, `row ${row}: x_t = α·x0 + σ·ε (${worstEps})`);
    t.true(worstV < 1e-5, `row ${row}: v = α·ε − σ·x0 (${worstV})`);
  }
  // winner i and loser P + i share t and ε
  for (let i = 0; i < P; i++) {
    t.is(ts[i], ts[P + i]);
    t.deepEqual(f32(eps, 'target').subarray(i * n, (i + 1) * n), f32(eps, 'target').subarray((P + i) * n, (P + i + 1) * n));
  }
  t.notDeepEqual(f32(eps, 'target').subarray(0, n), f32(eps, 'target').subarray(n, 2 * n), 'pairs draw their own noise');
});
