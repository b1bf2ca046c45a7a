// Preference pairs for (Gran-)DPO. In: scored or labelled samples; out: pair records with a
// video-level winner and loser and, per patch, a preference s_p in {+1,-1,0} and a weight a_p.
//   video score  v(x)   = the chosen key (`overall`, an aspect, or a weighted sum of keys)
//   patch gap    g_p    = v_p(win) - v_p(lose)           (same key, patch level)
//   s_p                 = +1 if g_p > tau, -1 if g_p < -tau, else 0 (tie)
//   a_p (none)          = 1 where s_p != 0
//   a_p (gap)           = |g_p| where s_p != 0
//   a_p (sigmoid)       = sigmoid((|g_p| - tau) / temp) where s_p != 0
// Strategies per prompt: best-worst (one pair), all (every pair with margin > min-margin),
// top-k (the k pairs of largest margin). See docs/pairs.md.
import { DataError, UsageError, type Place } from '../cli/errors.js';
import { SCORE_KEYS, overallOf } from '../records/aspects.js';
import type { PairRecord, RewardedRecord } from '../records/schemas.js';

export type Strategy = 'best-worst' | 'all' | 'top-k';
export type WeightMode = 'none' | 'gap' | 'sigmoid';

export interface PairOptions {
  strategy: Strategy;
  /** Only pairs whose video margin exceeds this. */
  minMargin: number;
  /** With top-k: pairs per prompt. */
  k: number;
  /** Patch tie threshold tau. */
  tau: number;
  weights: WeightMode;
  /** Temperature of the sigmoid weights. */
  temp: number;
  /** Which score drives preferences: key -> weight (e.g. {overall: 1}). */
  by: Record<string, number>;
  /** 'scores' (reward model), 'labels' (teacher), or 'auto' (scores when present). */
  from: 'scores' | 'labels' | 'auto';
}

/** Parse `--by`: `overall`, `visual_quality`, or `visual_quality=0.7,temporal_consistency=0.3`. */
export function parseBy(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [key, w] = part.split('=');
    if (!(SCORE_KEYS as readonly string[]).includes(key!)) {
      throw new UsageError(`--by: unknown score '${key}' (expected one of ${SCORE_KEYS.join(', ')})`);
    }
    const weight = w === undefined ? 1 : Number(w);
    if (!Number.isFinite(weight)) throw new UsageError(`--by: weight of '${key}' is not a number`);
    out[key!] = weight;
  }
  if (Object.keys(out).length === 0) throw new UsageError('--by: expected at least one score name');
  return out;
}

export interface ScoredSample {
  record: RewardedRecord;
  place: Place;
  video: number;
  patch: number[] | undefined;
}

function pickScores(record: RewardedRecord, place: Place, from: PairOptions['from']) {
  if (from === 'scores' || (from === 'auto' && record.scores)) {
    if (!record.scores) throw new DataError(place, 'scores', 'missing (the record has no reward-model scores; use --from labels?)');
    return { field: 'scores', video: record.scores.video, patch: record.scores.patch };
  }
  if (!record.labels) throw new DataError(place, 'labels', 'missing (expected a record with `scores` or `labels`)');
  return { field: 'labels', video: record.labels.video, patch: record.labels.patch };
}

function valueOf(set: Record<string, unknown>, key: string): number | null {
  const v = set[key];
  if (typeof v === 'number') return v;
  if (key === 'overall') return overallOf(set as Record<string, number | null>);
  return null;
}

/** The weighted video score and per-patch scores of one record. */
export function scoreSample(record: RewardedRecord, place: Place, options: Pick<PairOptions, 'by' | 'from'>): ScoredSample {
  const s = pickScores(record, place, options.from);
  let video = 0;
  for (const [key, w] of Object.entries(options.by)) {
    const v = valueOf(s.video as Record<string, unknown>, key);
    if (v === null) throw new DataError(place, `${s.field}.video.${key}`, 'missing or null (cannot rank this video)');
    video += w * v;
  }
  let patch: number[] | undefined;
  if (s.patch) {
    const lists = Object.entries(options.by).map(([key, w]) => {
      const list = (s.patch as Record<string, unknown>)[key];
      if (!Array.isArray(list)) {
        if (key === 'overall') return { w, list: overallPatch(s.patch as Record<string, (number | null)[]>) };
        throw new DataError(place, `${s.field}.patch.${key}`, 'missing (needed for patch preferences)');
      }
      return { w, list: list as (number | null)[] };
    });
    const n = lists[0]!.list.length;
    patch = new Array<number>(n).fill(0);
    for (const { w, list } of lists) {
      if (list.length !== n) throw new DataError(place, `${s.field}.patch`, 'aspects have different patch counts');
      // A patch score a teacher could not give (null) counts as a tie: NaN is turned into s_p = 0.
      list.forEach((v, i) => (patch![i] += typeof v === 'number' ? w * v : Number.NaN));
    }
  }
  return { record, place, video, patch };
}

function overallPatch(patch: Record<string, (number | null)[] | undefined>): (number | null)[] {
  const lists = Object.values(patch).filter((l): l is (number | null)[] => Array.isArray(l));
  const n = lists[0]?.length ?? 0;
  return Array.from({ length: n }, (_, i) => overallOf(Object.fromEntries(Object.entries(patch).map(([k, l]) => [k, l?.[i] ?? null]))));
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Per-patch preference and weight for a (win, lose) pair. */
export function patchPreferences(
  win: number[] | undefined,
  lose: number[] | undefined,
  options: Pick<PairOptions, 'tau' | 'weights' | 'temp'>,
  place: Place,
): { pref: (1 | -1 | 0)[]; weight: number[] } {
  if (!win || !lose) return { pref: [], weight: [] };
  if (win.length !== lose.length) {
    throw new DataError(place, 'patch', `winner has ${win.length} patches, loser ${lose.length}: the two videos were cut on different grids`);
  }
  const pref: (1 | -1 | 0)[] = [];
  const weight: number[] = [];
  for (let i = 0; i < win.length; i++) {
    const g = win[i]! - lose[i]!;
    const s: 1 | -1 | 0 = Number.isNaN(g) || Math.abs(g) <= options.tau ? 0 : g > 0 ? 1 : -1;
    pref.push(s);
    if (s === 0) weight.push(0);
    else if (options.weights === 'none') weight.push(1);
    else if (options.weights === 'gap') weight.push(Math.abs(g));
    else weight.push(sigmoid((Math.abs(g) - options.tau) / options.temp));
  }
  return { pref, weight };
}

/** Candidate (win, lose) index pairs of one prompt's samples, by strategy. */
export function choosePairs(videoScores: number[], options: Pick<PairOptions, 'strategy' | 'minMargin' | 'k'>): [number, number][] {
  const n = videoScores.length;
  if (n < 2) return [];
  const all: [number, number, number][] = [];
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const m = videoScores[i]! - videoScores[j]!;
      if (Math.abs(m) <= options.minMargin) continue;
      all.push(m > 0 ? [i, j, m] : [j, i, -m]);
    }
  }
  // Largest margin first; ties broken by index so the output is deterministic.
  all.sort((a, b) => b[2] - a[2] || a[0] - b[0] || a[1] - b[1]);
  if (options.strategy === 'best-worst') return all.slice(0, 1).map(([w, l]) => [w, l]);
  if (options.strategy === 'top-k') return all.slice(0, options.k).map(([w, l]) => [w, l]);
  return all.map(([w, l]) => [w, l]);
}

/** Running statistics of the pairs written, for the summary on stderr. */
export class PairStats {
  prompts = 0;
  promptsWithoutPair = 0;
  pairs = 0;
  private margin = 0;
  private gap = 0;
  private patches = 0;
  private nonTie = 0;
  private disagree = 0;

  addGroup(pairCount: number): void {
    this.prompts++;
    if (pairCount === 0) this.promptsWithoutPair++;
  }

  addPair(pair: PairRecord, gaps: number[]): void {
    this.pairs++;
    this.margin += pair.video_margin;
    for (let i = 0; i < pair.patch_pref.length; i++) {
      this.patches++;
      if (Number.isFinite(gaps[i])) this.gap += Math.abs(gaps[i]!);
      if (pair.patch_pref[i] !== 0) this.nonTie++;
      if (pair.patch_pref[i] === -1) this.disagree++;
    }
  }

  lines(): string[] {
    const pct = (x: number, n: number) => (n ? `${((100 * x) / n).toFixed(1)}%` : 'n/a');
    return [
      `pairs: ${this.pairs} from ${this.prompts} prompts (${this.promptsWithoutPair} prompts gave none)`,
      `mean video margin: ${this.pairs ? (this.margin / this.pairs).toFixed(4) : 'n/a'}`,
      `mean |patch gap|: ${this.patches ? (this.gap / this.patches).toFixed(4) : 'n/a (no patch scores)'}`,
      `patches: ${pct(this.patches - this.nonTie, this.patches)} ties; of the rest, ${pct(this.disagree, this.nonTie)} prefer the video loser's patch (only Gran-DPO uses these)`,
    ];
  }
}

/** Build the pairs of one prompt group; `onPair` sees each pair with its raw patch gaps. */
export function pairsForPrompt(samples: ScoredSample[], options: PairOptions, stats?: PairStats): PairRecord[] {
  const chosen = choosePairs(samples.map((s) => s.video), options);
  const out = chosen.map(([wi, li]) => {
    const w = samples[wi]!;
    const l = samples[li]!;
    const { pref, weight } = patchPreferences(w.patch, l.patch, options, l.place);
    const grid = w.record.patches?.grid;
    const pair: PairRecord = {
      prompt_id: w.record.id,
      prompt: w.record.prompt,
      win: w.record,
      lose: l.record,
      video_margin: w.video - l.video,
      patch_pref: pref,
      patch_weight: weight,
      ...(grid ? { grid } : {}),
      preference: { from: options.from, by: options.by, tau: options.tau, weights: options.weights, strategy: options.strategy },
    };
    const gaps = w.patch && l.patch ? w.patch.map((v, i) => v - l.patch![i]!) : [];
    stats?.addPair(pair, gaps);
    return pair;
  });
  stats?.addGroup(out.length);
  return out;
}
