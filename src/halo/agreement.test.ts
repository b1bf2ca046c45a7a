import test from 'ava';
import { agreement, averageRanks, kendallTauB, meanAbsDiff, pearson, spearman, withinStats } from './agreement.js';

/** Kendall's τ-b by its definition, over all pairs (O(n²)). */
function tauBruteForce(x: number[], y: number[]): number | null {
  let c = 0;
  let d = 0;
  let tx = 0;
  let ty = 0;
  for (let i = 0; i < x.length; i++) {
    for (let j = i + 1; j < x.length; j++) {
      const sx = Math.sign(x[i]! - x[j]!);
      const sy = Math.sign(y[i]! - y[j]!);
      if (sx === 0 && sy === 0) continue;
      if (sx === 0) tx++;
      else if (sy === 0) ty++;
      else if (sx === sy) c++;
      else d++;
    }
  }
  const denom = Math.sqrt((c + d + tx) * (c + d + ty));
  return denom === 0 ? null : (c - d) / denom;
}

/** A seeded generator of small integer scores (many ties). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test('average ranks share ties', (t) => {
  t.deepEqual(averageRanks([10, 20, 20, 5, 20]), [2, 4, 4, 1, 4]);
  t.deepEqual(averageRanks([]), []);
});

test('spearman with ties uses average ranks (hand-computed)', (t) => {
  // ranks x = [1, 2.5, 2.5, 4], y = [1, 3, 2, 4] -> 4.5 / sqrt(4.5 * 5)
  t.is(spearman([1, 2, 2, 3], [1, 3, 2, 4])!.toFixed(6), (4.5 / Math.sqrt(22.5)).toFixed(6));
  t.is(spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1);
  t.is(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1);
  t.is(spearman([1, 2, 3], [2, 2, 2]), null, 'a constant side has no correlation');
  t.is(spearman([1], [1]), null);
});

test('kendall tau-b matches the definition on tied data (hand-computed and brute force)', (t) => {
  t.is(kendallTauB([1, 2, 2, 3], [1, 3, 2, 4])!.toFixed(7), (5 / Math.sqrt(30)).toFixed(7)); // scipy: 0.9128709
  t.is(kendallTauB([1, 2, 3], [3, 2, 1]), -1);
  t.is(kendallTauB([1, 1, 1], [1, 2, 3]), null);
  const rnd = lcg(7);
  for (let trial = 0; trial < 50; trial++) {
    const n = 2 + Math.floor(rnd() * 60);
    const x = Array.from({ length: n }, () => 1 + Math.floor(rnd() * 4));
    const y = x.map((v) => (rnd() < 0.6 ? v : 1 + Math.floor(rnd() * 4)));
    const fast = kendallTauB(x, y);
    const slow = tauBruteForce(x, y);
    if (slow === null) t.is(fast, null);
    else t.true(Math.abs(fast! - slow) < 1e-12, `n=${n}: ${fast} vs ${slow}`);
  }
});

test('kendall tau-b is fast on pooled patch data', (t) => {
  const rnd = lcg(3);
  const n = 100_000;
  const x = Array.from({ length: n }, () => 1 + rnd() * 3);
  const y = x.map((v) => v + rnd());
  const t0 = Date.now();
  const tau = kendallTauB(x, y)!;
  t.true(Date.now() - t0 < 3000);
  t.true(tau > 0.5 && tau < 1);
});

test('within groups: mean Spearman over groups and the share of strictly ordered pairs ordered alike (hand-computed)', (t) => {
  // g1 reversed (ρ −1, 0 of 3 pairs); g2 x [1,1,2] vs y [5,6,6]: ρ 0.5, pairs (0,2) alike and
  // (1,2) tied in y (one half), (0,1) tied in x (not counted); g3 has one member (left out).
  const x = [1, 2, 3, 1, 1, 2, 7];
  const y = [3, 2, 1, 5, 6, 6, 1];
  const g = ['g1', 'g1', 'g1', 'g2', 'g2', 'g2', 'g3'];
  const w = withinStats(x, y, g);
  t.is(w.groups, 2);
  t.true(Math.abs(w.spearman! - -0.25) < 1e-12);
  t.is(w.pairs, 5);
  t.true(Math.abs(w.pairAccuracy! - 0.3) < 1e-12);
  t.deepEqual(withinStats([1, 2], [1, 2], ['a', 'b']), { groups: 0, spearman: null, pairs: 0, pairAccuracy: null });
});

test('mean absolute difference and pearson', (t) => {
  t.is(meanAbsDiff([1, 2, 4], [2, 2, 1]), 4 / 3);
  t.is(meanAbsDiff([], []), null);
  t.is(pearson([1, 2, 3], [2, 4, 6]), 1);
  t.throws(() => spearman([1, 2], [1]));
});

test('agreement pairs videos by id, skips nulls, pools patches and notes grid mismatches', (t) => {
  const a = [
    { id: 'v1', video: { visual_quality: 1, overall: 2 }, patch: { visual_quality: [1, 2, 3, 4] } },
    { id: 'v2', video: { visual_quality: 2, overall: null }, patch: { visual_quality: [4, 3, null, 1] } },
    { id: 'v3', video: { visual_quality: 3, overall: 3 }, patch: { visual_quality: [1, 1] } },
    { id: 'onlyA', video: { visual_quality: 4 } },
  ];
  const b = [
    { id: 'v3', video: { visual_quality: 3.5, overall: 1 }, patch: { visual_quality: [1, 1, 1] } },
    { id: 'v1', video: { visual_quality: 1.5, overall: 2 }, patch: { visual_quality: [1, 2, 3, 4] } },
    { id: 'v2', video: { visual_quality: 2.5, overall: 4 }, patch: { visual_quality: [4, 3, 2, 1] } },
    { id: 'onlyB1', video: {} },
    { id: 'onlyB2', video: {} },
  ];
  const r = agreement(a, b);
  t.deepEqual(r.videos, { shared: 3, onlyA: 1, onlyB: 2 });
  t.deepEqual(Object.keys(r.video), ['visual_quality', 'overall']);
  t.is(r.video.visual_quality!.n, 3);
  t.is(r.video.visual_quality!.spearman, 1);
  t.is(r.video.visual_quality!.kendall, 1);
  t.is(r.video.visual_quality!.mad, 0.5);
  t.is(r.video.overall!.n, 2, 'the null overall of v2 is left out');
  t.is(r.patch.visual_quality!.n, 7, 'v1: 4 patches, v2: 3 (one null), v3: grid mismatch');
  t.is(r.patch.visual_quality!.spearman, 1);
  t.is(r.patch.visual_quality!.mad, 0);
  t.is(r.notes.length, 1);
  t.regex(r.notes[0]!, /^v3: patch\.visual_quality: 2 patches on one side, 3 on the other/);
});
