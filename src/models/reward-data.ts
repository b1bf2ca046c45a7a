// Training data of the reward model: labelled videos, checked against the model and split by prompt.
// In: label records (halo-label's output: samples with `labels`, usually patchified), or bare label
// records joined by sample_id to sample records (--videos); the model's shape, grid, keys, tokenizer.
// Out: a RewardDataset: per video its RGB bytes at the model's shape, prompt ids, video targets and
// (when labelled) patch targets per key, null where the teacher gave no score; and a train/validation
// split by prompt (every video of a prompt on the same side).
import { z } from 'zod';
import { DataError, HaloError, type Place } from '../cli/errors.js';
import { fnv1a } from '../io/shard.js';
import { readRecords, resolveMedia, type ReadOptions } from '../io/jsonl.js';
import { overallOf, type Aspect } from '../records/aspects.js';
import { Labels, LabelsRecord, PatchGeometry, SampleRecord } from '../records/schemas.js';
import { sha256 } from '../io/atomic.js';
import { loadModelVideos, promptIds, type ModelShape } from './reward-input.js';
import type { Tokenizer } from './tokenizer.js';

/** Fewest labelled videos `fit` accepts, and fewest distinct prompts (one is held out for validation). */
export const MIN_VIDEOS = 16;
export const MIN_PROMPTS = 2;

export interface RewardExample {
  sampleId: string;
  prompt: string;
  place: Place;
  /** frames × height × width × 3 bytes at the model's shape. */
  video: Uint8Array;
  ids: number[];
  /** Per key (model order); null where unlabelled. */
  videoTarget: (number | null)[];
  /** Per patch, per key; absent when the record has no patch labels. */
  patchTarget?: (number | null)[][];
  resampled?: string;
}

export interface RewardDataset {
  examples: RewardExample[];
  keys: string[];
  grid: [number, number, number];
  /** Videos with patch labels. */
  withPatches: number;
  /** A content hash of the data (ids, prompts, labels, pixels): part of a run's identity. */
  hash: string;
}

export interface LoadDataOptions {
  shape: ModelShape;
  grid: [number, number, number];
  keys: string[];
  tokenizer: Tokenizer;
  /** Sample records to take the videos from (labels are matched to them by sample_id). */
  videos?: string;
  read?: ReadOptions;
  /** Progress: called after each video is read. */
  onVideo?: (done: number) => void;
  /** Videos decoded at once (ffmpeg processes). */
  concurrency?: number;
}

/** Label records matched to --videos need only an id and labels (with optional patch geometry). */
const BareLabels = z.looseObject({
  sample_id: z.string().min(1),
  labels: Labels,
  patches: PatchGeometry.optional(),
});

const LabelledRecord = LabelsRecord.extend({ patches: PatchGeometry.optional() });

type Labelled = { sample_id: string; labels: Labels; patches?: PatchGeometry; prompt?: string; video?: string };

function sameGrid(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Targets for one record, checked against the model's keys and grid. */
function targetsOf(rec: Labelled, place: Place, o: LoadDataOptions): { video: (number | null)[]; patch?: (number | null)[][] } {
  const n = o.grid[0] * o.grid[1] * o.grid[2];
  if (rec.patches && !sameGrid(rec.patches.grid, o.grid)) {
    throw new DataError(place, 'patches.grid', `the model scores a ${o.grid.join('×')} patch grid, this record was cut into ${rec.patches.grid.join('×')} (re-run halo-patchify --grid ${o.grid.join(',')} and label again)`);
  }
  const lv = rec.labels.video as Record<string, number | null | undefined>;
  const video = o.keys.map((k) => {
    const v = lv[k];
    if (typeof v === 'number') return v;
    if (k === 'overall' && v === undefined) return overallOf(lv as Partial<Record<Aspect, number | null>>);
    return null;
  });
  if (video.every((v) => v === null)) throw new DataError(place, 'labels.video', `no video score for any of ${o.keys.join(', ')}`);
  const lp = rec.labels.patch as Record<string, (number | null)[] | undefined> | undefined;
  if (!lp || Object.keys(lp).length === 0) return { video };
  for (const [k, arr] of Object.entries(lp)) {
    if (Array.isArray(arr) && arr.length !== n) {
      throw new DataError(place, `labels.patch.${k}`, `expected ${n} patch scores (the model's ${o.grid.join('×')} grid), got ${arr.length}`);
    }
  }
  const patch: (number | null)[][] = [];
  for (let i = 0; i < n; i++) {
    patch.push(
      o.keys.map((k) => {
        const arr = lp[k];
        if (arr) return typeof arr[i] === 'number' ? arr[i]! : null;
        if (k !== 'overall') return null;
        const parts: Partial<Record<Aspect, number | null>> = {};
        for (const [a, xs] of Object.entries(lp)) if (xs) parts[a as Aspect] = xs[i] ?? null;
        return overallOf(parts);
      }),
    );
  }
  return { video, patch };
}

async function mapLimit<T, R>(items: readonly T[], limit: number, f: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Read labelled videos for fitting (see the header). Throws DataError naming the record on a mismatch. */
export async function loadLabelled(sources: readonly string[], o: LoadDataOptions): Promise<RewardDataset> {
  const samples = new Map<string, { record: SampleRecord; dir: string; place: Place }>();
  if (o.videos) {
    for await (const { record, dir, place } of readRecords([o.videos], SampleRecord, o.read)) {
      if (samples.has(record.sample_id)) throw new DataError(place, 'sample_id', `'${record.sample_id}' appears twice in ${o.videos}`);
      samples.set(record.sample_id, { record, dir, place });
    }
  }
  type Pending = { rec: Labelled; place: Place; file: string; prompt: string; targets: ReturnType<typeof targetsOf> };
  const pending: Pending[] = [];
  const seen = new Map<string, Place>();
  const schema = o.videos ? BareLabels : LabelledRecord;
  for await (const { record, dir, place } of readRecords(sources, schema, o.read)) {
    const rec = record as Labelled;
    const first = seen.get(rec.sample_id);
    if (first) throw new DataError(place, 'sample_id', `'${rec.sample_id}' is labelled twice (first at ${first.source}:${first.line})`);
    seen.set(rec.sample_id, place);
    let file: string;
    let prompt: string;
    if (o.videos) {
      const s = samples.get(rec.sample_id);
      if (!s) throw new DataError(place, 'sample_id', `'${rec.sample_id}' is not among the videos of ${o.videos} (${samples.size} sample records)`);
      file = resolveMedia(s.record.video, s.dir);
      prompt = s.record.prompt;
    } else {
      file = resolveMedia(rec.video!, dir);
      prompt = rec.prompt!;
    }
    pending.push({ rec, place, file, prompt, targets: targetsOf(rec, place, o) });
  }
  const prompts = new Set(pending.map((p) => p.prompt));
  if (pending.length < MIN_VIDEOS || prompts.size < MIN_PROMPTS) {
    throw new HaloError(
      `too few labels to fit: ${pending.length} labelled video${pending.length === 1 ? '' : 's'} of ${prompts.size} prompt${prompts.size === 1 ? '' : 's'}; fitting needs at least ${MIN_VIDEOS} videos from at least ${MIN_PROMPTS} prompts (some prompts are held out for validation)`,
    );
  }
  let done = 0;
  // Groups of 8 files per ffmpeg process, `concurrency` groups at once.
  const groups: Pending[][] = [];
  for (let i = 0; i < pending.length; i += 8) groups.push(pending.slice(i, i + 8));
  const loaded = await mapLimit(groups, o.concurrency ?? 2, async (g) => {
    const r = await loadModelVideos(g.map((p) => p.file), o.shape);
    done += g.length;
    o.onVideo?.(done);
    return r;
  });
  const examples = loaded.flat().map((r, i) => {
    const p = pending[i]!;
    if (r.status === 'rejected') throw new DataError(p.place, 'video', (r.reason as Error).message);
    const mv = r.value;
    const ex: RewardExample = {
      sampleId: p.rec.sample_id,
      prompt: p.prompt,
      place: p.place,
      video: mv.data,
      ids: promptIds(o.tokenizer, p.prompt).ids,
      videoTarget: p.targets.video,
      patchTarget: p.targets.patch,
      resampled: mv.resampled,
    };
    return ex;
  });
  const h = (s: string) => sha256(s);
  const hash = h(examples.map((e) => `${e.sampleId}\n${e.prompt}\n${JSON.stringify(e.videoTarget)}\n${JSON.stringify(e.patchTarget ?? null)}\n${sha256(e.video)}`).join('\n'));
  return { examples, keys: o.keys, grid: o.grid, withPatches: examples.filter((e) => e.patchTarget).length, hash };
}

/**
 * Split by prompt: a prompt goes to validation when it is among the ⌈fraction·P⌉ (at least one,
 * at most P − 1) prompts with the smallest FNV-1a hash of `seed:prompt`. Returns example indices.
 */
export function splitByPrompt(examples: readonly { prompt: string }[], fraction: number, seed: number): { train: number[]; val: number[]; valPrompts: string[] } {
  const prompts = [...new Set(examples.map((e) => e.prompt))];
  const ranked = prompts.map((p) => [fnv1a(`${seed}:${p}`), p] as const).sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1));
  const k = Math.min(prompts.length - 1, Math.max(1, Math.ceil(fraction * prompts.length)));
  const valPrompts = new Set(ranked.slice(0, k).map(([, p]) => p));
  const train: number[] = [];
  const val: number[] = [];
  examples.forEach((e, i) => (valPrompts.has(e.prompt) ? val : train).push(i));
  return { train, val, valPrompts: [...valPrompts].sort() };
}
