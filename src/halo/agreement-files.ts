// `halo-label agree A B`: reads two files of label records (`labels`) or score records
// (`scores`, from the reward model), in any combination, matches videos by sample_id and
// computes their agreement (agreement.ts). Out: an AgreementReport (for --json) and a table.
import { z } from 'zod';
import { DataError, UsageError } from '../cli/errors.js';
import { readRecords, type ReadOptions } from '../io/jsonl.js';
import { Labels, Scores } from '../records/schemas.js';
import { agreement, type Agreement, type PairStats, type ScoreSide } from './agreement.js';

export const SCORE_FIELDS = ['auto', 'labels', 'scores'] as const;
export type ScoreField = (typeof SCORE_FIELDS)[number];

const AgreeInput = z.looseObject({
  sample_id: z.string().min(1),
  prompt: z.string().optional(),
  labels: Labels.optional(),
  scores: Scores.optional(),
});

export interface SideInfo {
  file: string;
  /** The field read: labels or scores. */
  field: 'labels' | 'scores';
  /** Who made the scores, from the first record (teacher@version model, or the reward model). */
  source: string;
  videos: number;
}

export interface AgreementReport extends Agreement {
  a: SideInfo;
  b: SideInfo;
}

function describeSource(field: 'labels' | 'scores', value: Record<string, unknown>): string {
  if (field === 'scores') return String(value.model);
  const s = (value.source ?? {}) as Record<string, unknown>;
  return [`${s.teacher}@${s.version}`, s.model, s.template, s.mode].filter(Boolean).join(' ');
}

/** Read one side: every record's scores, keyed by sample_id (which must be unique). */
export async function readSide(file: string, field: ScoreField, read: ReadOptions = {}): Promise<{ sides: ScoreSide[]; info: SideInfo }> {
  const sides: ScoreSide[] = [];
  const lines = new Map<string, number | undefined>();
  let used: 'labels' | 'scores' | undefined;
  let source = '';
  for await (const { record, place } of readRecords([file], AgreeInput, read)) {
    const pick: 'labels' | 'scores' | undefined = field === 'auto' ? (record.scores ? 'scores' : record.labels ? 'labels' : undefined) : field;
    const value = pick ? record[pick] : undefined;
    if (!pick || !value) {
      const want = field === 'auto' ? 'a labels or scores field' : `a ${field} field`;
      const e = new DataError(place, field === 'auto' ? undefined : field, `expected ${want} (a halo-label or halo-score output record)`);
      if (read.skipInvalid) {
        (read.warn ?? ((m) => process.stderr.write(`warning: ${m}\n`)))(`${e.message} (skipped)`);
        continue;
      }
      throw e;
    }
    if (lines.has(record.sample_id)) {
      throw new DataError(place, 'sample_id', `'${record.sample_id}' appears twice in the file (first at line ${lines.get(record.sample_id)})`);
    }
    lines.set(record.sample_id, place.line);
    used ??= pick;
    if (!source) source = describeSource(pick, value as Record<string, unknown>);
    sides.push({ id: record.sample_id, prompt: record.prompt, video: value.video as ScoreSide['video'], patch: value.patch as ScoreSide['patch'] });
  }
  return { sides, info: { file, field: used ?? (field === 'scores' ? 'scores' : 'labels'), source, videos: sides.length } };
}

/** Agreement between two files (see the header). */
export async function compareFiles(fileA: string, fileB: string, options: { fieldA?: ScoreField; fieldB?: ScoreField; read?: ReadOptions } = {}): Promise<AgreementReport> {
  if (fileA === '-' && fileB === '-') throw new UsageError('agree: A and B cannot both be stdin');
  const a = await readSide(fileA, options.fieldA ?? 'auto', options.read);
  const b = await readSide(fileB, options.fieldB ?? 'auto', options.read);
  return { a: a.info, b: b.info, ...agreement(a.sides, b.sides) };
}

const fmt = (v: number | null, digits = 3) => (v === null ? '—' : v.toFixed(digits));

/** The report as a text table (one row per level and score key). */
export function formatReport(report: AgreementReport, levels: readonly ('video' | 'patch')[] = ['video', 'patch']): string {
  const out: string[] = [];
  out.push(`A: ${report.a.file} (${report.a.field}: ${report.a.source || '?'}, ${report.a.videos} videos)`);
  out.push(`B: ${report.b.file} (${report.b.field}: ${report.b.source || '?'}, ${report.b.videos} videos)`);
  out.push(`videos: ${report.videos.shared} shared, ${report.videos.onlyA} only in A, ${report.videos.onlyB} only in B`);
  const rows: string[][] = [['level', 'score', 'n', 'spearman', 'kendall_b', 'mean_abs_diff', 'within_spearman', 'within_pairs']];
  for (const level of levels) {
    for (const [key, s] of Object.entries(report[level]) as [string, PairStats][]) {
      rows.push([level, key, String(s.n), fmt(s.spearman), fmt(s.kendall), fmt(s.mad), fmt(s.within?.spearman ?? null), fmt(s.within?.pairAccuracy ?? null)]);
    }
  }
  if (rows.length === 1) out.push('no scores in common');
  else {
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
    out.push('');
    for (const r of rows) out.push(r.map((v, c) => (c < 2 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join('  '));
  }
  const w = report.video[Object.keys(report.video)[0] ?? '']?.within;
  const pw = report.patch[Object.keys(report.patch)[0] ?? '']?.within;
  if (w || pw) {
    out.push('');
    out.push(
      `within_*: the ranking inside groups (${w ? `video level: the ${w.groups} prompts with two or more videos` : 'video level: no prompts in the records'}${pw ? `; patch level: the patches of each of ${pw.groups} videos` : ''}) — mean Spearman over groups, and the share of pairs A orders strictly that B orders the same way (ties half)`,
    );
  }
  for (const note of report.notes.slice(0, 10)) out.push(`note: ${note}`);
  if (report.notes.length > 10) out.push(`note: ... and ${report.notes.length - 10} more`);
  return `${out.join('\n')}\n`;
}
