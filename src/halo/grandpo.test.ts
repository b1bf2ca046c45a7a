import test from 'ava';
import { GraphBuilder } from '../graph/builder.js';
import { tensor } from '../graph/tensor.js';
import { Session } from '../runtime/session.js';
import { gradCheck } from '../runtime/gradcheck.js';
import { DPO_METRICS, granDpoLoss, granDpoLossJs, type GranDpoConfig } from './grandpo.js';

const P = 3;
const n = 5;
const KEYS = ['policyWin', 'refWin', 'policyLose', 'refLose'] as const;

function data(seed: number) {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const mat = (f: () => number) => Array.from({ length: P }, () => Array.from({ length: n }, f));
  const e = Object.fromEntries(KEYS.map((k) => [k, mat(() => 0.01 + 0.002 * rnd())])) as Record<(typeof KEYS)[number], number[][]>;
  const pref = mat(() => [1, -1, 0][Math.floor(rnd() * 3)]!);
  pref[2] = pref[2]!.map(() => 0); // one pair with ties only
  const weight = mat(() => rnd());
  return { ...e, pref, weight };
}

async function runGraph(d: ReturnType<typeof data>, config: GranDpoConfig) {
  const g = new GraphBuilder({ dtype: 'float64' });
  const v = Object.fromEntries([...KEYS, 'pref', 'weight'].map((k) => [k, g.input(k, 'float64', [P, n])]));
  const { loss, metrics } = granDpoLoss(g, v as never, config);
  g.output(loss, 'loss');
  for (const m of DPO_METRICS) g.output(metrics[m]!, m);
  const s = await Session.create(g.graph);
  const feeds = Object.fromEntries(Object.entries(d).map(([k, m]) => [k, tensor('float64', [P, n], m.flat())]));
  const out = await s.run(feeds);
  await s.release();
  return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, Number(t.data[0])]));
}

for (const config of [
  { beta: 5000, lambda: 0.5, mode: 'gran' },
  { beta: 5000, lambda: 0, mode: 'video' },
  { beta: 2000, betaPatch: 8000, lambda: 1, mode: 'patch' },
] as GranDpoConfig[]) {
  test(`Gran-DPO graph matches the float64 JS reference (${config.mode})`, async (t) => {
    const d = data(7);
    const got = await runGraph(d, config);
    const want = granDpoLossJs(d, config);
    for (const k of ['loss', ...DPO_METRICS] as const) t.true(Math.abs(got[k]! - want[k]) < 1e-9 * Math.max(1, Math.abs(want[k])), `${k}: ${got[k]} vs ${want[k]}`);
    t.is(want.patch_pairs, 2);
  });
}

test('video mode ignores patch preferences; gran mode uses them', (t) => {
  const d = data(3);
  const flipped = { ...d, pref: d.pref.map((r) => r.map((s) => -s)) };
  const video = { beta: 5000, lambda: 0, mode: 'video' } as const;
  const gran = { beta: 5000, lambda: 1, mode: 'gran' } as const;
  t.is(granDpoLossJs(d, video).loss, granDpoLossJs(flipped, video).loss);
  t.not(granDpoLossJs(d, gran).loss, granDpoLossJs(flipped, gran).loss);
});

test('the loss falls when the policy lowers its error on preferred patches', (t) => {
  const d = data(11);
  const config = { beta: 5000, lambda: 1, mode: 'gran' } as const;
  const better = { ...d, policyWin: d.policyWin.map((r, i) => r.map((v, p) => (d.pref[i]![p] === 1 ? v - 1e-4 : v))) };
  t.true(granDpoLossJs(better, config).loss < granDpoLossJs(d, config).loss);
});

test('Gran-DPO gradients match finite differences', async (t) => {
  const d = data(5);
  const r = await gradCheck({
    inputs: { policyWin: [P, n], policyLose: [P, n] },
    values: { policyWin: d.policyWin.flat(), policyLose: d.policyLose.flat() },
    fixed: Object.fromEntries((['refWin', 'refLose', 'pref', 'weight'] as const).map((k) => [k, tensor('float64', [P, n], d[k].flat())])),
    build: (g, x) => granDpoLoss(g, x as never, { beta: 50, lambda: 0.7, mode: 'gran' }).loss,
    atol: 1e-6,
    rtol: 1e-5,
  });
  t.true(r.ok, r.worst);
});

test('the loss has a gradient where policy and reference agree exactly (the start of training)', async (t) => {
  const d = data(9);
  const r = await gradCheck({
    inputs: { policyWin: [P, n], policyLose: [P, n] },
    values: { policyWin: d.refWin.flat(), policyLose: d.refLose.flat() },
    fixed: Object.fromEntries((['refWin', 'refLose', 'pref', 'weight'] as const).map((k) => [k, tensor('float64', [P, n], d[k].flat())])),
    build: (g, x) => granDpoLoss(g, x as never, { beta: 5000, lambda: 1, mode: 'gran' }).loss,
    atol: 1e-6,
    rtol: 1e-5,
  });
  t.true(r.ok, r.worst);
  t.true(r.maxAbsErr < 1e-6);
});
