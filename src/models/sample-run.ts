// The work of halo-sample: prompt records in, one video per (prompt, seed) under an output folder and a
// sample record for each. All prompts are read and checked before anything is written; videos are
// written atomically and a video that exists with a matching `.done` key is reused (resume). In:
// located prompt records, a Generator, sampler settings, seeds. Out: sample records, in input order.

import path from 'node:path';
import { DataError, HaloError, type Place } from '../cli/errors.js';
import { isDone, markDone, produceAtomic, sha256 } from '../io/atomic.js';
import { recordPath } from '../io/jsonl.js';
import { writeVideo } from '../media/video.js';
import { PromptRecord, SampleRecord } from '../records/schemas.js';
import { cthwToThwc } from './data.js';
import { Generator } from './generator.js';
import { SamplerSettings, sample } from './sampler.js';
import { TokenizerError } from './tokenizer.js';

export interface SampleJob {
  record: PromptRecord;
  place: Place;
  seed: number;
  sampleId: string;
  file: string;
}

export interface SampleRunOptions {
  out: string;
  /** The --out flag as given (record paths are relative to cwd unless it is absolute). */
  outFlag: string;
  seed: number;
  perPrompt: number;
  settings: SamplerSettings;
  batch: number;
  force: boolean;
  onProgress?: (done: number, total: number) => void;
  warn?: (message: string) => void;
}

/** Check the prompts against the tokenizer and list the jobs (nothing is written). */
export function planJobs(prompts: { record: PromptRecord; place: Place }[], gen: Generator, o: SampleRunOptions): SampleJob[] {
  const jobs: SampleJob[] = [];
  const unknown = new Set<string>();
  const ids = new Set<string>();
  for (const { record, place } of prompts) {
    const words: string[] = [];
    try {
      gen.tokenizer.encode(record.prompt, words);
    } catch (e) {
      if (e instanceof TokenizerError) throw new DataError(place, 'prompt', e.message);
      throw e;
    }
    words.forEach((w) => unknown.add(w));
    if (!/^[A-Za-z0-9._-]+$/.test(record.id)) throw new DataError(place, 'id', `expected letters, digits, '.', '_' or '-' (it names the video file), got ${JSON.stringify(record.id)}`);
    for (let k = 0; k < o.perPrompt; k++) {
      const seed = o.seed + k;
      const sampleId = `${record.id}-s${seed}`;
      if (ids.has(sampleId)) throw new DataError(place, 'id', `prompt id '${record.id}' appears twice; sample ids would collide`);
      ids.add(sampleId);
      jobs.push({ record, place, seed, sampleId, file: path.join(o.out, 'videos', `${sampleId}.mp4`) });
    }
  }
  if (unknown.size) o.warn?.(`words outside the tokenizer's vocabulary were read as <unk>: ${[...unknown].sort().join(', ')}`);
  return jobs;
}

function doneKey(job: SampleJob, gen: Generator, s: SamplerSettings): string {
  return sha256(JSON.stringify({ model: gen.sha256, prompt: job.record.prompt, seed: job.seed, sampler: s }));
}

/** Sample every job (batched), yielding the sample records in job order. */
export async function* runJobs(jobs: SampleJob[], gen: Generator, o: SampleRunOptions): AsyncGenerator<SampleRecord> {
  const v = gen.video;
  const s = o.settings;
  const todo: SampleJob[] = [];
  const skip = new Set<SampleJob>();
  for (const j of jobs) {
    if (!o.force && (await isDone(j.file, doneKey(j, gen, s)))) skip.add(j);
    else todo.push(j);
  }
  const total = jobs.length;
  let done = skip.size;
  o.onProgress?.(done, total);
  const finished = new Set<SampleJob>(skip);
  let next = 0;
  const record = (j: SampleJob): SampleRecord => ({
    ...j.record,
    sample_id: j.sampleId,
    seed: j.seed,
    video: recordPath(j.file, o.outFlag),
    frames: v.frames,
    height: v.height,
    width: v.width,
    fps: v.fps,
    model: { name: gen.name, sha256: gen.sha256 },
    sampler: { name: s.name, steps: s.steps, guidance: s.guidance },
  });
  const flush = function* () {
    while (next < jobs.length && finished.has(jobs[next])) yield record(jobs[next++]);
  };
  yield* flush();
  for (let i = 0; i < todo.length; i += o.batch) {
    const batch = todo.slice(i, i + o.batch);
    const text = await gen.encode(batch.map((j) => j.record.prompt));
    const nullText = await gen.encode([null]);
    const size = gen.size;
    const D = gen.textDim;
    const videos = await sample({
      size,
      seeds: batch.map((j) => j.seed),
      settings: s,
      schedule: gen.schedule,
      predict: (x, t, rows, cond) => {
        const feats = new Float32Array(rows.length * D);
        rows.forEach((r, k) => feats.set(cond[k] ? text.subarray(r * D, (r + 1) * D) : nullText, k * D));
        return gen.predictX0(x, t, feats);
      },
      onStep: (k, n) => o.onProgress?.(done + (batch.length * k) / n, total),
    });
    for (let b = 0; b < batch.length; b++) {
      const j = batch[b];
      const data = cthwToThwc(videos, v.frames, v.height, v.width, b * size);
      try {
        await produceAtomic(j.file, (tmp) => writeVideo(tmp, { frames: v.frames, height: v.height, width: v.width, fps: v.fps, data }));
      } catch (e) {
        throw e instanceof HaloError ? e : new HaloError(`${j.file}: cannot write the video (${(e as Error).message})`);
      }
      await markDone(j.file, doneKey(j, gen, s));
      finished.add(j);
      done++;
    }
    o.onProgress?.(done, total);
    yield* flush();
  }
}
