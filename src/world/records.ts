// The record side of halo-world. `worldPrompts` writes prompt records ({id, prompt, split,
// scene}); `renderRecords` reads prompt records, renders each prompt's ground-truth clips with
// the seeds seed, seed+1, …, writes them as lossless videos under OUT/videos/ (atomically,
// skipping clips already rendered with the same settings) and writes sample records.
import path from 'node:path';
import { DataError, UsageError } from '../cli/errors.js';
import { isDone, markDone, produceAtomic, sha256 } from '../io/atomic.js';
import { readRecords, RecordWriter, recordPath, type ReadOptions } from '../io/jsonl.js';
import { writeVideo } from '../media/video.js';
import { PromptRecord } from '../records/schemas.js';
import { formatScene, parsePrompt, PromptError, type Scene } from './grammar.js';
import { RENDERER_NAME, renderScene } from './render.js';
import { allScenes, countScenes, generateScenes, promptRecords, type ObjectCount, type Split } from './split.js';

export interface PromptsOptions {
  /** How many prompts (exclusive with `all`). */
  n?: number;
  /** Every combination of the split. */
  all?: boolean;
  seed: number;
  split: Split;
  objects: ObjectCount;
  /** Ids `<idPrefix>0000…` instead of p…/e…, so that several draws can be combined. */
  idPrefix?: string;
}

/** Write prompt records to `writer`; returns how many. */
export async function worldPrompts(options: PromptsOptions, writer = new RecordWriter()): Promise<number> {
  const { split, objects } = options;
  let scenes: Iterable<Scene>;
  let total: number;
  if (options.all) {
    const counts = objects === 'mixed' ? ([1, 2] as const) : ([objects] as const);
    total = counts.reduce((s, k) => s + countScenes(split, k), 0);
    scenes = (function* () {
      for (const k of counts) yield* allScenes(split, k);
    })();
  } else {
    if (options.n === undefined) throw new UsageError('give -n N (how many prompts) or --all');
    total = options.n;
    scenes = generateScenes({ n: options.n, seed: options.seed, split, objects });
  }
  let count = 0;
  for (const r of promptRecords(scenes, split, total, options.idPrefix)) {
    await writer.write(r);
    count++;
  }
  return count;
}

export interface RenderOptions {
  out: string;
  frames: number;
  height: number;
  width: number;
  fps: number;
  seed: number;
  samplesPerPrompt: number;
  force: boolean;
  read: ReadOptions;
  log?: (message: string) => void;
  /** Clips encoded at once (default 2). */
  concurrency?: number;
}

/** The prompt of a record as a scene, or a DataError naming the record's line and `prompt`. */
export function sceneOfRecord(prompt: string, place: { source: string; line?: number }): Scene {
  try {
    return parsePrompt(prompt);
  } catch (e) {
    if (e instanceof PromptError) throw new DataError(place, 'prompt', `not a prompt of the shapes world: ${e.detail}`);
    throw e;
  }
}

export interface RenderSummary {
  rendered: number;
  skipped: number;
}

/** Render the clips of every prompt record in `inputs` (none or '-' = stdin). */
export async function renderRecords(inputs: string[], options: RenderOptions, writer = new RecordWriter()): Promise<RenderSummary> {
  const { frames, height, width, fps, out } = options;
  const log = options.log ?? (() => {});
  const warn = options.read.warn ?? ((m: string) => process.stderr.write(`warning: ${m}\n`));
  const summary: RenderSummary = { rendered: 0, skipped: 0 };
  const outDir = path.resolve(out);
  // Encoding spawns ffmpeg per clip: keep a few clips in flight, write records in input order.
  const inflight: Promise<Record<string, unknown>>[] = [];
  const concurrency = Math.max(1, options.concurrency ?? 2);
  for await (const { record, place } of readRecords(inputs, PromptRecord, options.read)) {
    let scene: Scene;
    try {
      scene = sceneOfRecord(record.prompt, place);
    } catch (e) {
      if (options.read.skipInvalid && e instanceof DataError) {
        warn(`${e.message} (skipped)`);
        continue;
      }
      throw e;
    }
    for (let k = 0; k < options.samplesPerPrompt; k++) {
      const seed = options.seed + k;
      const sampleId = `${record.id}-s${String(seed).padStart(2, '0')}`;
      const file = path.join(outDir, 'videos', `${sampleId}.mp4`);
      const key = sha256(JSON.stringify({ renderer: RENDERER_NAME, prompt: formatScene(scene), seed, frames, height, width, fps }));
      const job = async (): Promise<Record<string, unknown>> => {
        if (!options.force && (await isDone(file, key))) {
          summary.skipped++;
          log(`${file}: already rendered, skipped`);
        } else {
          const data = renderScene(scene, { frames, height, width }, seed);
          await produceAtomic(file, (tmp) => writeVideo(tmp, { frames, height, width, fps, data }));
          await markDone(file, key);
          summary.rendered++;
        }
        return {
          ...record,
          scene: (record as { scene?: unknown }).scene ?? scene,
          sample_id: sampleId,
          seed,
          video: recordPath(file, out),
          frames,
          height,
          width,
          fps,
          model: { name: RENDERER_NAME },
        };
      };
      const p = job();
      p.catch(() => {}); // awaited below, in order
      inflight.push(p);
      if (inflight.length >= concurrency) await writer.write(await inflight.shift()!);
    }
  }
  while (inflight.length) await writer.write(await inflight.shift()!);
  return summary;
}
