// halo-score's scoring run: sample (or patchified) records, or video files named on the command line,
// in; score records out, in input order, a batch at a time. In: input paths ('-' = stdin), a loaded
// RewardModel, options. Out: records {...record, scores: {model, video, patch, grid, resampled?}} given
// to `emit`; with `overlay`, a boxed copy and a heatmap per video; with `output`, records appended to
// a file, and a re-run skips the videos already scored there by the same model (resume).
import { existsSync } from 'node:fs';
import { adHocRecord } from '../records/ad-hoc.js';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DataError, HaloError, type Place } from '../cli/errors.js';
import { isDone, markDone, sha256 } from '../io/atomic.js';
import { readRecords, recordPath, resolveMedia, type ReadOptions } from '../io/jsonl.js';
import { inShard } from '../io/shard.js';
import { MediaError, looksLikeVideo } from '../media/video.js';
import { PatchGeometry, SampleRecord } from '../records/schemas.js';
import { loadModelVideos, type ModelVideo } from './reward-input.js';
import { scoreVideos, type RewardModel, type VideoScores } from './reward-model.js';
import { writeOverlay } from './reward-overlay.js';

export const ScoreInput = SampleRecord.extend({ patches: PatchGeometry.optional() });
type ScoreInput = SampleRecord & { patches?: PatchGeometry };

export interface ScoreRunOptions {
  model: RewardModel;
  /** Videos per scoring call. */
  batch: number;
  /** Prompt for video files named on the command line. */
  prompt?: string;
  /** Folder for the boxed copies and heatmaps. */
  overlay?: string;
  /** Patches scoring below this (on `overlayKey`) are boxed. */
  threshold: number;
  overlayKey: string;
  /** Append records to this JSONL file (and resume from it) instead of emitting them. */
  output?: string;
  force?: boolean;
  read: ReadOptions;
  /** Videos decoded at once. */
  jobs?: number;
  log?: (m: string) => void;
  warn?: (m: string) => void;
  progress?: (scored: number, skipped: number) => void;
}

interface Item {
  record: ScoreInput;
  place: Place;
  file: string;
  adHoc: boolean;
}

export interface ScoreRunResult {
  scored: number;
  skipped: number;
}


async function* itemsOf(inputs: readonly string[], o: ScoreRunOptions): AsyncGenerator<Item> {
  const list = inputs.length ? inputs : ['-'];
  for (const input of list) {
    if (input !== '-' && looksLikeVideo(input)) {
      const id = path.basename(input).replace(/\.[^.]+$/, '');
      if (o.read.shard && !inShard(o.read.shard, id)) continue;
      const record = adHocRecord(input, o.prompt, { frames: 1, height: 1, width: 1, fps: 1 });
      yield { record, place: { source: input }, file: path.resolve(input), adHoc: true };
      continue;
    }
    for await (const { record, place, dir } of readRecords([input], ScoreInput, o.read)) {
      const r = record as ScoreInput;
      const grid = o.model.grid;
      if (r.patches && r.patches.grid.join() !== grid.join()) {
        throw new DataError(place, 'patches.grid', `the reward model scores a ${grid.join('×')} patch grid, this record was cut into ${r.patches.grid.join('×')} (patchify with --grid ${grid.join(',')}, or leave out the patches field)`);
      }
      yield { record: r, place, file: resolveMedia(r.video, dir), adHoc: false };
    }
  }
}

/** Sample ids already scored by `modelId` in an earlier (maybe interrupted) run's output file. */
async function resumeFrom(file: string, modelId: string): Promise<Set<string>> {
  const done = new Set<string>();
  if (!existsSync(file)) return done;
  const text = await readFile(file, 'utf8');
  const lines = text.split('\n');
  const keep: string[] = [];
  for (const line of lines) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as { sample_id?: string; scores?: { model?: string } };
      if (r.scores?.model === modelId && typeof r.sample_id === 'string') {
        done.add(r.sample_id);
        keep.push(line);
      }
    } catch {
      // an interrupted write leaves a partial last line: dropped, that video is scored again
    }
  }
  await writeFile(file, keep.map((l) => `${l}\n`).join(''));
  return done;
}

async function mapLimit<T, R>(items: readonly T[], limit: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Score every input (see the header); records are emitted (or appended to `output`) in input order. */
export async function scoreRun(inputs: readonly string[], o: ScoreRunOptions, emit: (record: Record<string, unknown>) => Promise<void>): Promise<ScoreRunResult> {
  const model = o.model;
  const done = o.output ? (o.force ? new Set<string>() : await resumeFrom(o.output, model.id)) : new Set<string>();
  if (o.output && o.force) await writeFile(o.output, '');
  const warned = new Set<string>();
  const result: ScoreRunResult = { scored: 0, skipped: 0 };
  const seen = new Set<string>();
  let batch: Item[] = [];

  const flush = async () => {
    if (!batch.length) return;
    const items = batch;
    batch = [];
    // Groups of 8 files per ffmpeg process, `jobs` groups at once.
    const groups: Item[][] = [];
    for (let i = 0; i < items.length; i += 8) groups.push(items.slice(i, i + 8));
    const settled = (await mapLimit(groups, o.jobs ?? 2, (g) => loadModelVideos(g.map((it) => it.file), model.shape, Boolean(o.overlay)))).flat();
    const videos = settled.map((r, i): ModelVideo => {
      if (r.status === 'fulfilled') return r.value;
      const e = r.reason;
      const it = items[i]!;
      if (e instanceof MediaError) throw new DataError(it.place, it.adHoc ? undefined : 'video', it.adHoc ? e.reason : `${e.reason} (${e.file})`);
      throw e;
    });
    const scores: VideoScores[] = await scoreVideos(
      model,
      items.map((it, i) => ({ video: videos[i]!, prompt: it.record.prompt })),
    );
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      const mv = videos[i]!;
      const s = scores[i]!;
      for (const w of s.unknownWords ?? []) {
        if (!warned.has(w)) {
          warned.add(w);
          o.warn?.(`prompt word '${w}' is outside the reward model's vocabulary (scored as unknown)`);
        }
      }
      const record: Record<string, unknown> = it.adHoc ? adHocRecord(it.place.source, o.prompt, mv.source) : { ...it.record };
      const out: Record<string, unknown> = { model: model.id, video: s.video, patch: s.patch, grid: model.grid };
      if (s.resampled) out.resampled = s.resampled;
      record.scores = out;
      if (o.overlay) {
        const key = o.overlayKey;
        const patch = s.patch[key];
        if (!patch) throw new HaloError(`--overlay-key: the model has no score '${key}' (it scores ${model.keys.join(', ')})`);
        const name = String(record.sample_id).replace(/[^\w.-]+/g, '_');
        const dir = path.resolve(o.overlay);
        const stamp = sha256(JSON.stringify([model.id, key, o.threshold, patch, mv.source]));
        const files = { overlay: path.join(dir, `${name}.mp4`), heatmap: path.join(dir, `${name}.png`) };
        if (o.force || !(await isDone(files.overlay, stamp)) || !existsSync(files.heatmap)) {
          // Draw on the video as it came when the grid fits it, else on the model's resampled frames.
          const fits = mv.original && mv.original.frames >= model.grid[0] && mv.original.height >= model.grid[1] && mv.original.width >= model.grid[2];
          const base = fits ? mv.original! : { ...model.shape, data: mv.data };
          await writeOverlay(dir, name, base, model.grid, patch, o.threshold);
          await markDone(files.overlay, stamp);
        } else o.log?.(`${files.overlay}: up to date (skipped)`);
        record.overlay = recordPath(files.overlay, o.overlay);
        record.heatmap = recordPath(files.heatmap, o.overlay);
      }
      if (o.output) await writeFile(o.output, `${JSON.stringify(record)}\n`, { flag: 'a' });
      else await emit(record);
      result.scored++;
    }
    o.progress?.(result.scored, result.skipped);
  };

  for await (const it of itemsOf(inputs, o)) {
    const id = it.record.sample_id;
    if (seen.has(id) && !it.adHoc) o.warn?.(`${it.place.source}:${it.place.line}: sample_id '${id}' was seen before; scored again`);
    seen.add(id);
    if (done.has(id)) {
      result.skipped++;
      continue;
    }
    batch.push(it);
    if (batch.length >= o.batch) await flush();
  }
  await flush();
  return result;
}
