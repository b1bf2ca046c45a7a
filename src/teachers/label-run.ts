// The labeling loop of halo-label: reads (patched) sample records, asks a Teacher for each with
// up to `jobs` records in flight, checks what the teacher returned, and writes each record with
// its `labels` added, in input order. Bad records (no patches when patch labels are asked,
// missing storyboards, ...) stop the run, or with --skip-invalid are skipped with a warning.
import type { Writable } from 'node:stream';
import { z } from 'zod';
import { DataError, HaloError, formatPlace } from '../cli/errors.js';
import { RecordWriter, describeIssue, readRecords, resolveMedia, type Located, type ReadOptions } from '../io/jsonl.js';
import { SCORE_KEYS } from '../records/aspects.js';
import { Labels, PatchGeometry, SampleRecord } from '../records/schemas.js';
import type { LabelRequest, Teacher } from './teacher.js';

/** What halo-label reads: a sample record, with patch geometry when it was patchified. */
export const LabelInput = SampleRecord.extend({ patches: PatchGeometry.optional() });
export type LabelInput = z.infer<typeof LabelInput>;

export const LEVELS = ['video', 'patch', 'both'] as const;
export type Level = (typeof LEVELS)[number];

export interface LabelRunOptions {
  inputs: string[];
  read: ReadOptions;
  teacher: Teacher;
  /** undefined = both for records with patches, video for the others. */
  level?: Level;
  /** Records labeled at once. */
  jobs: number;
  warn: (message: string) => void;
  out?: Writable;
}

export interface LabelRunResult {
  labeled: number;
  skipped: number;
  /** Scores the teacher could not give (entries of labels.missing). */
  missing: number;
  seconds: number;
}

type Outcome = { record: Record<string, unknown>; missing: number } | { skip: string } | { error: unknown };

/** Build the teacher's request for one record (the level decides video and patch labels). */
export function requestFor(located: Located<LabelInput>, level: Level | undefined): LabelRequest & { wantVideo: boolean } {
  const { record, place, dir } = located;
  const effective: Level = level ?? (record.patches ? 'both' : 'video');
  const wantPatches = effective !== 'video';
  if (wantPatches && !record.patches) {
    throw new DataError(place, 'patches', `patch labels were asked (--level ${effective}) but the record has no patches; run halo-patchify first, or use --level video`);
  }
  const boards = wantPatches ? record.patches?.storyboards : undefined;
  return {
    record,
    place,
    videoPath: resolveMedia(record.video, dir),
    storyboards: boards?.map((s) => resolveMedia(s, dir)),
    wantPatches,
    wantVideo: effective !== 'patch',
  };
}

/** Check a teacher's labels (schema, one score per patch); a failure is the teacher's bug. */
function checkLabels(teacher: Teacher, labels: Labels, request: LabelRequest): Labels {
  const r = Labels.safeParse(labels);
  if (!r.success) {
    const { field, detail } = describeIssue(r.error);
    throw new HaloError(`${formatPlace(request.place)}: teacher ${teacher.name} returned invalid labels: labels.${field ?? ''}: ${detail}`);
  }
  const n = request.record.patches?.boxes.length ?? 0;
  if (request.wantPatches) {
    for (const k of SCORE_KEYS) {
      const v = r.data.patch?.[k];
      if (v && v.length !== n) {
        throw new HaloError(`${formatPlace(request.place)}: teacher ${teacher.name} returned ${v.length} patch scores for ${k}, expected ${n}`);
      }
    }
  }
  return r.data;
}

/** Label every record; returns counts for the summary. */
export async function labelRecords(options: LabelRunOptions): Promise<LabelRunResult> {
  const started = Date.now();
  const { teacher, read } = options;
  const writer = new RecordWriter(options.out);
  const result: LabelRunResult = { labeled: 0, skipped: 0, missing: 0, seconds: 0 };

  const labelOne = async (located: Located<LabelInput>): Promise<Outcome> => {
    try {
      const request = requestFor(located, options.level);
      let labels = checkLabels(teacher, await teacher.label(request), request);
      if (!request.wantVideo) {
        // A teacher may give video scores anyway; --level patch keeps only the patch level.
        const missing = Object.fromEntries(Object.entries(labels.missing ?? {}).filter(([k]) => !k.startsWith('video.')));
        labels = { ...labels, video: {}, missing };
        if (Object.keys(missing).length === 0) delete labels.missing;
      }
      return { record: { ...located.record, labels }, missing: Object.keys(labels.missing ?? {}).length };
    } catch (e) {
      if (read.skipInvalid && e instanceof DataError) return { skip: e.message };
      return { error: e };
    }
  };

  const flush = async (outcome: Outcome) => {
    if ('error' in outcome) throw outcome.error;
    if ('skip' in outcome) {
      options.warn(`${outcome.skip} (skipped)`);
      result.skipped++;
      return;
    }
    await writer.write(outcome.record);
    result.labeled++;
    result.missing += outcome.missing;
  };

  const inFlight: Promise<Outcome>[] = [];
  const jobs = Math.max(1, options.jobs);
  for await (const located of readRecords(options.inputs, LabelInput, { ...read, warn: (m) => { result.skipped++; options.warn(m); } })) {
    inFlight.push(labelOne(located));
    if (inFlight.length >= jobs) await flush(await inFlight.shift()!);
  }
  while (inFlight.length) await flush(await inFlight.shift()!);
  result.seconds = (Date.now() - started) / 1000;
  return result;
}
