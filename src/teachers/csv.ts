// The CSV (human) teacher (`--teacher csv --csv FILE`): imports annotations from a CSV file with
// a header row and the columns video (a sample_id, or a video path relative to the CSV's folder),
// patch (a patch index) or box (t0 t1 y0 y1 x0 x1: the patches at least half inside it), aspect,
// score (1–4) and annotator (docs/teachers.md). Scores of several annotators are averaged and
// their count kept (`labels.counts`, `labels.annotators`); what nobody annotated is null with a
// reason in `labels.missing`. Bad rows (out-of-range scores, unknown aspects, duplicates) are
// errors naming the CSV line; rows whose video matches no input record are listed at the end.
import { parse } from 'csv-parse/sync';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DataError, HaloError, UsageError, formatPlace } from '../cli/errors.js';
import { sha256 } from '../io/atomic.js';
import { ASPECTS, SCORE_KEYS, SCORE_MAX, SCORE_MIN, overallOf, type Aspect, type ScoreKey } from '../records/aspects.js';
import type { Labels } from '../records/schemas.js';
import type { TeacherContext } from './registry.js';
import type { LabelRequest, Teacher } from './teacher.js';

export const CSV_TEACHER_VERSION = '1';

type Box6 = [number, number, number, number, number, number];

export interface AnnotationRow {
  /** 1-based line of the CSV where the row ends. */
  line: number;
  video: string;
  patch?: number;
  box?: Box6;
  aspect: ScoreKey;
  score: number;
  annotator: string;
}

export interface Annotations {
  /** The path as given (for messages) and its content hash. */
  file: string;
  sha256: string;
  rows: AnnotationRow[];
}

const VIDEO_COLUMNS = ['video', 'video_id', 'sample_id', 'id'];

/** Parse and check an annotation file; bad rows throw (or, with skipInvalid, warn and are left out). */
export async function loadAnnotations(file: string, options: { skipInvalid?: boolean; warn?: (m: string) => void } = {}): Promise<Annotations> {
  const warn = options.warn ?? ((m: string) => process.stderr.write(`warning: ${m}\n`));
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new HaloError(`${file}: cannot read the annotation file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let parsed: { record: Record<string, string>; info: { lines: number } }[];
  try {
    parsed = parse(text, {
      columns: (header: string[]) => header.map((h) => h.trim().toLowerCase()),
      info: true,
      skip_empty_lines: true,
      trim: true,
      bom: true,
      comment: '#',
      comment_no_infix: true,
    }) as typeof parsed;
  } catch (e) {
    const err = e as Error & { lines?: number };
    throw new DataError({ source: file, line: err.lines }, undefined, `not a readable CSV file (${err.message})`);
  }
  const header = text.replace(/^\uFEFF/, '').split(/\r?\n/).find((l) => l.trim() !== '' && !l.trim().startsWith('#')) ?? '';
  const columns = header.split(',').map((h) => h.trim().replace(/^"|"$/g, '').toLowerCase());
  const videoColumn = VIDEO_COLUMNS.find((c) => columns.includes(c));
  const layout = `expected a header row with the columns video, patch or box (optional), aspect, score, annotator (optional); got '${header.trim()}'`;
  if (!videoColumn) throw new DataError({ source: file, line: 1 }, 'video', `no video column (video, video_id or sample_id): ${layout}`);
  for (const c of ['aspect', 'score']) if (!columns.includes(c)) throw new DataError({ source: file, line: 1 }, c, `missing column: ${layout}`);

  const rows: AnnotationRow[] = [];
  const seen = new Map<string, number>();
  for (const { record, info } of parsed) {
    const line = info.lines;
    try {
      const row = checkRow(record, videoColumn, { source: file, line });
      const target = row.patch !== undefined ? `patch ${row.patch}` : row.box ? `box ${row.box.join(' ')}` : 'video';
      const key = JSON.stringify([row.video, target, row.aspect, row.annotator]);
      const first = seen.get(key);
      if (first !== undefined) {
        throw new DataError({ source: file, line }, undefined, `duplicate of line ${first} (same video, ${row.patch !== undefined ? 'patch' : row.box ? 'box' : 'video-level target'}, aspect and annotator)`);
      }
      seen.set(key, line);
      rows.push(row);
    } catch (e) {
      if (options.skipInvalid && e instanceof DataError) {
        warn(`${e.message} (row skipped)`);
        continue;
      }
      throw e;
    }
  }
  return { file, sha256: sha256(text), rows };
}

function checkRow(record: Record<string, string>, videoColumn: string, place: { source: string; line: number }): AnnotationRow {
  const video = (record[videoColumn] ?? '').trim();
  if (!video) throw new DataError(place, videoColumn, 'expected a video id or path, got an empty field');
  const aspect = (record.aspect ?? '').trim();
  if (!(SCORE_KEYS as readonly string[]).includes(aspect)) {
    throw new DataError(place, 'aspect', `expected one of ${SCORE_KEYS.join(', ')}, got '${aspect}'`);
  }
  const scoreText = (record.score ?? '').trim();
  const score = Number(scoreText);
  if (scoreText === '' || !Number.isFinite(score) || score < SCORE_MIN || score > SCORE_MAX) {
    throw new DataError(place, 'score', `expected a number from ${SCORE_MIN} to ${SCORE_MAX}, got '${scoreText}'`);
  }
  const patchText = (record.patch ?? '').trim();
  const boxText = (record.box ?? '').trim();
  if (patchText && boxText) throw new DataError(place, 'patch', 'give a patch index or a box, not both');
  let patch: number | undefined;
  if (patchText) {
    patch = Number(patchText);
    if (!Number.isInteger(patch) || patch < 0) throw new DataError(place, 'patch', `expected a patch index (an integer ≥ 0), got '${patchText}'`);
  }
  let box: Box6 | undefined;
  if (boxText) {
    const nums = boxText.replace(/^\[|\]$/g, '').split(/[\s,;]+/).filter(Boolean).map(Number);
    if (nums.length !== 6 || nums.some((v) => !Number.isInteger(v) || v < 0) || nums[0]! >= nums[1]! || nums[2]! >= nums[3]! || nums[4]! >= nums[5]!) {
      throw new DataError(place, 'box', `expected 6 integers t0 t1 y0 y1 x0 x1 (end-exclusive, t0 < t1, y0 < y1, x0 < x1), got '${boxText}'`);
    }
    box = nums as Box6;
  }
  return { line: place.line, video, patch, box, aspect: aspect as ScoreKey, score, annotator: (record.annotator ?? '').trim() };
}

/** Patches at least half inside `box` (by volume). */
export function patchesInBox(boxes: readonly (readonly number[])[], box: Box6): number[] {
  const out: number[] = [];
  boxes.forEach((b, i) => {
    let inside = 1;
    let volume = 1;
    for (let a = 0; a < 3; a++) {
      const lo = Math.max(b[2 * a]!, box[2 * a]!);
      const hi = Math.min(b[2 * a + 1]!, box[2 * a + 1]!);
      inside *= Math.max(0, hi - lo);
      volume *= b[2 * a + 1]! - b[2 * a]!;
    }
    if (inside * 2 >= volume && inside > 0) out.push(i);
  });
  return out;
}

interface Tally {
  sum: number;
  n: number;
}

export class CsvTeacher implements Teacher {
  readonly name = 'csv';
  private readonly byId = new Map<string, AnnotationRow[]>();
  private readonly byPath = new Map<string, AnnotationRow[]>();
  private readonly used = new Set<AnnotationRow>();
  private videos = 0;
  private unannotated = 0;

  constructor(
    private readonly annotations: Annotations,
    private readonly options: { skipInvalid: boolean; warn: (m: string) => void },
  ) {
    const dir = path.dirname(path.resolve(annotations.file));
    for (const row of annotations.rows) {
      const id = this.byId.get(row.video) ?? [];
      id.push(row);
      this.byId.set(row.video, id);
      const abs = path.resolve(dir, row.video);
      const p = this.byPath.get(abs) ?? [];
      p.push(row);
      this.byPath.set(abs, p);
    }
  }

  private place(row: AnnotationRow) {
    return { source: this.annotations.file, line: row.line };
  }

  async label(request: LabelRequest): Promise<Labels> {
    const { record } = request;
    const rows = [...new Set([...(this.byId.get(record.sample_id) ?? []), ...(this.byPath.get(path.resolve(request.videoPath)) ?? [])])];
    const where = `in ${this.annotations.file}`;
    const wantVideo = request.wantVideo !== false;
    const geometry = request.wantPatches ? record.patches : undefined;
    if (request.wantPatches && !geometry) {
      throw new DataError(request.place, 'patches', 'patch labels were asked but the record has no patches (run halo-patchify first)');
    }
    const n = geometry?.boxes.length ?? 0;
    const video = new Map<ScoreKey, Tally>();
    const patch = new Map<ScoreKey, Tally[]>();
    const annotators = new Set<string>();
    for (const row of rows) {
      this.used.add(row);
      const isPatch = row.patch !== undefined || row.box !== undefined;
      if (!isPatch) {
        if (!wantVideo) continue;
        const t = video.get(row.aspect) ?? { sum: 0, n: 0 };
        t.sum += row.score;
        t.n++;
        video.set(row.aspect, t);
        annotators.add(row.annotator);
        continue;
      }
      if (!geometry) continue;
      let targets: number[];
      try {
        if (row.patch !== undefined) {
          if (row.patch >= n) throw new DataError(this.place(row), 'patch', `index ${row.patch} is out of range for ${record.sample_id}, which has ${n} patches`);
          targets = [row.patch];
        } else {
          targets = patchesInBox(geometry.boxes, row.box!);
          if (targets.length === 0) throw new DataError(this.place(row), 'box', `covers no patch of ${record.sample_id} (grid ${geometry.grid.join('×')} over ${geometry.video.join('×')}): no patch is at least half inside it`);
        }
      } catch (e) {
        if (this.options.skipInvalid && e instanceof DataError) {
          this.options.warn(`${e.message} (row skipped)`);
          continue;
        }
        throw e;
      }
      const tallies = patch.get(row.aspect) ?? Array.from({ length: n }, () => ({ sum: 0, n: 0 }));
      for (const i of targets) {
        tallies[i]!.sum += row.score;
        tallies[i]!.n++;
      }
      patch.set(row.aspect, tallies);
      annotators.add(row.annotator);
    }

    const labels: Labels = {
      source: { teacher: 'csv', version: CSV_TEACHER_VERSION, file: this.annotations.file, sha256: this.annotations.sha256 },
      video: {},
      missing: {},
      annotators: annotators.size,
    };
    const counts: { video: Record<string, number>; patch?: Record<string, number[]> } = { video: {} };
    if (wantVideo) {
      for (const a of ASPECTS) {
        const t = video.get(a);
        labels.video[a] = t ? t.sum / t.n : null;
        counts.video[a] = t?.n ?? 0;
        if (!t) labels.missing![`video.${a}`] = `not annotated ${where}`;
      }
      const o = video.get('overall');
      labels.video.overall = o ? o.sum / o.n : overallOf(labels.video as Partial<Record<Aspect, number | null>>);
      counts.video.overall = o?.n ?? 0;
    }
    if (geometry) {
      labels.patch = {};
      counts.patch = {};
      for (const a of ASPECTS) {
        const tallies = patch.get(a);
        labels.patch[a] = Array.from({ length: n }, (_, i) => (tallies && tallies[i]!.n > 0 ? tallies[i]!.sum / tallies[i]!.n : null));
        counts.patch[a] = Array.from({ length: n }, (_, i) => tallies?.[i]!.n ?? 0);
        if (!tallies) labels.missing![`patch.${a}`] = `no patch annotated ${where}`;
        else labels.patch[a]!.forEach((v, i) => v === null && (labels.missing![`patch.${a}[${i}]`] = `not annotated ${where}`));
      }
      const o = patch.get('overall');
      labels.patch.overall = Array.from({ length: n }, (_, i) =>
        o && o[i]!.n > 0 ? o[i]!.sum / o[i]!.n : overallOf(Object.fromEntries(ASPECTS.map((a) => [a, labels.patch![a]![i]]))),
      );
      counts.patch.overall = Array.from({ length: n }, (_, i) => o?.[i]!.n ?? 0);
    }
    labels.counts = counts;
    if (Object.keys(labels.missing!).length === 0) delete labels.missing;
    if (rows.length === 0) this.unannotated++;
    this.videos++;
    return labels;
  }

  /** Rows whose video matched none of the records labeled, as `file:line: video: ...` lines. */
  unknownRows(): string[] {
    return this.annotations.rows
      .filter((r) => !this.used.has(r))
      .map((r) => `${formatPlace(this.place(r))}: ${VIDEO_COLUMNS[0]}: '${r.video}' matches no input record (by sample_id or video path)`);
  }

  summary(): string[] {
    const a = this.annotations;
    const annotators = new Set(a.rows.map((r) => r.annotator)).size;
    const unknown = this.unknownRows();
    return [
      `csv: ${a.file}: ${a.rows.length} rows from ${annotators} annotator${annotators === 1 ? '' : 's'}; ${this.videos} videos labeled, ${this.unannotated} of them with no annotation (all null)`,
      ...(unknown.length ? [`csv: ${unknown.length} rows matched no input record:`, ...unknown.slice(0, 10).map((l) => `  ${l}`), ...(unknown.length > 10 ? [`  ... and ${unknown.length - 10} more`] : [])] : []),
    ];
  }
}

export async function createCsvTeacher(context: TeacherContext): Promise<CsvTeacher> {
  const file = context.args.csv;
  if (typeof file !== 'string' || file === '') throw new UsageError('--teacher csv needs --csv FILE (the annotation file; layout in docs/teachers.md)');
  const skipInvalid = Boolean(context.args['skip-invalid']);
  const annotations = await loadAnnotations(file, { skipInvalid, warn: context.warn });
  context.log(`csv: ${file}: ${annotations.rows.length} rows`);
  return new CsvTeacher(annotations, { skipInvalid, warn: context.warn });
}
