// Agreement between two sets of scores (teacher labels, human labels, reward-model scores) on
// the videos and patches they share: Spearman's ρ (on average ranks, so ties are handled),
// Kendall's τ-b (Knight's O(n log n) algorithm, tie-corrected) and the mean absolute
// difference, per score key, at video level and at patch level (all patches of the shared
// videos pooled); and the same ranking measured inside groups — videos of one prompt, patches of
// one video — which is what choosing pairs among a prompt's samples relies on: the mean
// Spearman over groups and the share of a group's strictly ordered pairs that the other side
// orders the same way. In: two lists of ScoreSide; out: an Agreement (plain JSON).
import { SCORE_KEYS } from '../records/aspects.js';

/** Ranks 1..n of `xs`, tied values sharing the mean of their ranks. */
export function averageRanks(xs: readonly number[]): number[] {
  const order = xs.map((_, i) => i).sort((a, b) => xs[a]! - xs[b]!);
  const ranks = new Array<number>(xs.length);
  let i = 0;
  while (i < order.length) {
    let j = i;
    while (j + 1 < order.length && xs[order[j + 1]!] === xs[order[i]!]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k]!] = rank;
    i = j + 1;
  }
  return ranks;
}

/** Pearson's correlation; null when n < 2 or a side is constant (undefined correlation). */
export function pearson(x: readonly number[], y: readonly number[]): number | null {
  const n = x.length;
  if (n !== y.length) throw new Error(`pearson: lengths differ (${n} vs ${y.length})`);
  if (n < 2) return null;
  const mx = x.reduce((s, v) => s + v, 0) / n;
  const my = y.reduce((s, v) => s + v, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return null;
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}

/** Spearman's ρ: Pearson's correlation of average ranks. */
export function spearman(x: readonly number[], y: readonly number[]): number | null {
  if (x.length !== y.length) throw new Error(`spearman: lengths differ (${x.length} vs ${y.length})`);
  return pearson(averageRanks(x), averageRanks(y));
}

/** Number of pairs within groups of equal consecutive values: Σ t(t−1)/2. */
function tiedPairs<T>(sorted: readonly T[], same: (a: T, b: T) => boolean): number {
  let total = 0;
  let run = 1;
  for (let i = 1; i <= sorted.length; i++) {
    if (i < sorted.length && same(sorted[i - 1]!, sorted[i]!)) run++;
    else {
      total += (run * (run - 1)) / 2;
      run = 1;
    }
  }
  return total;
}

/** Sorts `a` in place (merge sort) and returns the number of strict inversions. */
function countInversions(a: number[]): number {
  const buf = new Array<number>(a.length);
  let swaps = 0;
  for (let width = 1; width < a.length; width *= 2) {
    for (let lo = 0; lo < a.length - width; lo += 2 * width) {
      const mid = lo + width;
      const hi = Math.min(lo + 2 * width, a.length);
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) {
        if (a[j]! < a[i]!) {
          swaps += mid - i;
          buf[k++] = a[j++]!;
        } else buf[k++] = a[i++]!;
      }
      while (i < mid) buf[k++] = a[i++]!;
      while (j < hi) buf[k++] = a[j++]!;
      for (let m = lo; m < hi; m++) a[m] = buf[m]!;
    }
  }
  return swaps;
}

/**
 * Kendall's τ-b = (concordant − discordant) / sqrt((n0 − n1)(n0 − n2)), n0 = n(n−1)/2,
 * n1/n2 = pairs tied in x/y. Null when n < 2 or a side is constant.
 */
export function kendallTauB(x: readonly number[], y: readonly number[]): number | null {
  const n = x.length;
  if (n !== y.length) throw new Error(`kendallTauB: lengths differ (${n} vs ${y.length})`);
  if (n < 2) return null;
  const idx = x.map((_, i) => i).sort((a, b) => x[a]! - x[b]! || y[a]! - y[b]!);
  const xTies = tiedPairs(idx, (a, b) => x[a] === x[b]);
  const jointTies = tiedPairs(idx, (a, b) => x[a] === x[b] && y[a] === y[b]);
  const ys = idx.map((i) => y[i]!);
  const discordant = countInversions(ys); // ys is now sorted
  const yTies = tiedPairs(ys, (a, b) => a === b);
  const n0 = (n * (n - 1)) / 2;
  const denom = Math.sqrt((n0 - xTies) * (n0 - yTies));
  if (denom === 0) return null;
  const concMinusDisc = n0 - xTies - yTies + jointTies - 2 * discordant;
  return Math.max(-1, Math.min(1, concMinusDisc / denom));
}

/** Mean of |x − y|; null when empty. */
export function meanAbsDiff(x: readonly number[], y: readonly number[]): number | null {
  if (x.length !== y.length) throw new Error(`meanAbsDiff: lengths differ (${x.length} vs ${y.length})`);
  if (x.length === 0) return null;
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.abs(x[i]! - y[i]!);
  return s / x.length;
}

export interface WithinStats {
  /** Groups (prompts at video level, videos at patch level) with at least two scored members. */
  groups: number;
  /** Mean over groups of Spearman's ρ (groups where a side is constant are left out). */
  spearman: number | null;
  /** Pairs in a group that A orders strictly. */
  pairs: number;
  /** Share of those that B orders the same way (B's ties count one half). */
  pairAccuracy: number | null;
}

export interface PairStats {
  /** Pairs where both sides have a number. */
  n: number;
  spearman: number | null;
  kendall: number | null;
  /** Mean absolute difference (on the 1–4 scale). */
  mad: number | null;
  /** The ranking inside groups (when groups are known). */
  within?: WithinStats;
}

export function pairStats(x: readonly number[], y: readonly number[], groups?: readonly string[]): PairStats {
  const stats: PairStats = { n: x.length, spearman: spearman(x, y), kendall: kendallTauB(x, y), mad: meanAbsDiff(x, y) };
  if (groups) stats.within = withinStats(x, y, groups);
  return stats;
}

/** Ranking agreement inside groups: `groups[i]` names the group of pair i. */
export function withinStats(x: readonly number[], y: readonly number[], groups: readonly string[]): WithinStats {
  const members = new Map<string, number[]>();
  groups.forEach((g, i) => {
    const m = members.get(g);
    if (m) m.push(i);
    else members.set(g, [i]);
  });
  let n = 0;
  let rhoSum = 0;
  let rhoN = 0;
  let pairs = 0;
  let same = 0;
  for (const idx of members.values()) {
    if (idx.length < 2) continue;
    n++;
    const r = spearman(
      idx.map((i) => x[i]!),
      idx.map((i) => y[i]!),
    );
    if (r !== null) {
      rhoSum += r;
      rhoN++;
    }
    for (let a = 0; a < idx.length; a++) {
      for (let b = a + 1; b < idx.length; b++) {
        const dx = x[idx[a]!]! - x[idx[b]!]!;
        if (dx === 0) continue;
        const dy = y[idx[a]!]! - y[idx[b]!]!;
        pairs++;
        same += dy === 0 ? 0.5 : Math.sign(dx) === Math.sign(dy) ? 1 : 0;
      }
    }
  }
  return { groups: n, spearman: rhoN ? rhoSum / rhoN : null, pairs, pairAccuracy: pairs ? same / pairs : null };
}

type Score = number | null | undefined;

/** One video's scores from one side: labels (`labels.video/patch`) or reward scores (`scores.*`). */
export interface ScoreSide {
  id: string;
  /** The video's prompt (groups videos for the within-prompt figures; A's is used). */
  prompt?: string;
  video: Record<string, Score>;
  patch?: Record<string, readonly Score[]>;
}

export interface Agreement {
  videos: { shared: number; onlyA: number; onlyB: number };
  /** Per score key, video level. */
  video: Record<string, PairStats>;
  /** Per score key, all patches of the shared videos pooled. */
  patch: Record<string, PairStats>;
  /** Why some shared videos' patches were left out (e.g. grids of different sizes). */
  notes: string[];
}

/** Keys in both sides, the toolkit's score keys first, then others alphabetically. */
function sharedKeys(a: Iterable<string>, b: Iterable<string>): string[] {
  const setB = new Set(b);
  const both = [...new Set(a)].filter((k) => setB.has(k));
  const known = SCORE_KEYS.filter((k) => both.includes(k)) as string[];
  return [...known, ...both.filter((k) => !known.includes(k)).sort()];
}

const isNum = (v: Score): v is number => typeof v === 'number' && Number.isFinite(v);

/** Agreement of `a` and `b` on the videos (matched by id) and patches they share. */
export function agreement(a: readonly ScoreSide[], b: readonly ScoreSide[]): Agreement {
  const byId = new Map(b.map((s) => [s.id, s]));
  const idsA = new Set(a.map((s) => s.id));
  const pairs = a.filter((s) => byId.has(s.id)).map((s) => [s, byId.get(s.id)!] as const);
  const notes: string[] = [];

  const videoKeys = sharedKeys(pairs.flatMap(([x]) => Object.keys(x.video)), pairs.flatMap(([, y]) => Object.keys(y.video)));
  const video: Record<string, PairStats> = {};
  for (const key of videoKeys) {
    const xs: number[] = [];
    const ys: number[] = [];
    const gs: string[] = [];
    for (const [x, y] of pairs) {
      const u = x.video[key];
      const v = y.video[key];
      if (isNum(u) && isNum(v)) {
        xs.push(u);
        ys.push(v);
        gs.push(x.prompt ?? y.prompt ?? '');
      }
    }
    const grouped = pairs.every(([x, y]) => x.prompt !== undefined || y.prompt !== undefined);
    video[key] = pairStats(xs, ys, grouped ? gs : undefined);
  }

  const patchKeys = sharedKeys(pairs.flatMap(([x]) => Object.keys(x.patch ?? {})), pairs.flatMap(([, y]) => Object.keys(y.patch ?? {})));
  const patch: Record<string, PairStats> = {};
  for (const key of patchKeys) {
    const xs: number[] = [];
    const ys: number[] = [];
    const gs: string[] = [];
    for (const [x, y] of pairs) {
      const u = x.patch?.[key];
      const v = y.patch?.[key];
      if (!u || !v) continue;
      if (u.length !== v.length) {
        notes.push(`${x.id}: patch.${key}: ${u.length} patches on one side, ${v.length} on the other (left out)`);
        continue;
      }
      for (let i = 0; i < u.length; i++) {
        if (isNum(u[i]) && isNum(v[i])) {
          xs.push(u[i] as number);
          ys.push(v[i] as number);
          gs.push(x.id);
        }
      }
    }
    patch[key] = pairStats(xs, ys, gs);
  }

  return {
    videos: { shared: pairs.length, onlyA: idsA.size - pairs.length, onlyB: b.filter((s) => !idsA.has(s.id)).length },
    video,
    patch,
    notes,
  };
}
