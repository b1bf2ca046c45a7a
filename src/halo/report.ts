// halo-report's work: eval.json (and the files it names) in; a static HTML page out, with the eval
// table, training curves of the models that came from halo-dpo, and side-by-side videos of the first
// model (base) and another (default: the last, HALO) for the same prompts and seeds, the patches the
// oracle judges defective boxed in red. The pairs shown are those where the two differ most in
// defective patches (largest reduction first). Videos are browser-playable H.264 next to the page.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { HaloError, UsageError } from '../cli/errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { validate } from '../io/jsonl.js';
import { readVideo } from '../media/video.js';
import { writeOverlay } from '../models/reward-overlay.js';
import { ASPECTS } from '../records/aspects.js';
import { EvalResult } from '../records/eval.js';
import { DEFECT_THRESHOLD } from '../teachers/oracle-judge.js';
import type { Triple } from './patches.js';
import { lineChart, smooth, type Series } from './plots.js';
import { reportHtml, type GalleryItem } from './report-html.js';

export interface ReportOptions {
  evalFile: string;
  out: string;
  /** Model shown against the first one (default: the last). */
  compare?: string;
  /** How many (prompt, seed) pairs to show. */
  videos: number;
}

interface JudgedSample {
  id: string;
  prompt: string;
  seed: number;
  video: string;
  grid: Triple;
  minPatch: number[];
  overall: number | null;
}

async function readJudged(file: string): Promise<Map<string, JudgedSample>> {
  const out = new Map<string, JudgedSample>();
  const text = await readFile(file, 'utf8').catch(() => {
    throw new HaloError(`${file}: cannot read the samples that eval.json names`);
  });
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const r = JSON.parse(line);
    const patch = r.labels?.patch as Record<string, number[]> | undefined;
    if (!patch || !r.labels.grid) throw new HaloError(`${file}:${i + 1}: labels.patch: missing (not a halo-eval samples file)`);
    const n = patch[ASPECTS[0]]!.length;
    const minPatch = Array.from({ length: n }, (_, p) => Math.min(...ASPECTS.map((a) => patch[a]?.[p] ?? 4)));
    out.set(`${r.id}/${r.seed}`, { id: r.id, prompt: r.prompt, seed: r.seed, video: path.resolve(path.dirname(file), r.video), grid: r.labels.grid, minPatch, overall: r.labels.video?.overall ?? null });
  });
  return out;
}

async function readLog(file: string): Promise<Record<string, number>[]> {
  if (!existsSync(file)) return [];
  return (await readFile(file, 'utf8')).split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

const CURVES: [string, string][] = [
  ['loss', 'loss'],
  ['loss_video', 'L_video'],
  ['loss_patch', 'L_patch'],
  ['acc_video', 'implicit accuracy (video)'],
  ['acc_patch', 'implicit accuracy (patch)'],
  ['margin_video', 'reward margin (video)'],
];

export async function writeReport(o: ReportOptions): Promise<{ html: string; videos: number }> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(o.evalFile, 'utf8'));
  } catch (e) {
    throw new HaloError(`${o.evalFile}: cannot read eval.json (${(e as Error).message})`);
  }
  const r = validate(EvalResult, raw, { source: o.evalFile });
  const evalDir = path.dirname(path.resolve(o.evalFile));
  const base = r.models[0]!;
  const other = o.compare ? r.models.find((m) => m.name === o.compare) : r.models[r.models.length - 1];
  if (!other) throw new UsageError(`--compare: no model '${o.compare}' in ${o.evalFile} (models: ${r.models.map((m) => m.name).join(', ')})`);

  // training curves
  const logs = await Promise.all(r.models.map(async (m) => ({ name: m.name, rows: m.training_log ? await readLog(path.resolve(evalDir, m.training_log)) : [] })));
  const withLogs = logs.filter((l) => l.rows.length > 0);
  const charts = withLogs.length
    ? CURVES.map(([key, title]) => {
        const series: Series[] = withLogs.map((l) => ({ name: l.name, points: smooth(l.rows.map((row) => [row.step!, row[key]!] as [number, number]), Math.max(1, Math.round(l.rows.length / 40))) }));
        return lineChart(series, { title, xLabel: 'step', yLabel: key });
      })
    : [];

  // side by side
  const gallery: GalleryItem[] = [];
  if (other !== base && o.videos > 0) {
    const a = await readJudged(path.resolve(evalDir, base.samples));
    const b = await readJudged(path.resolve(evalDir, other.samples));
    const defects = (s: JudgedSample) => s.minPatch.filter((v) => v < DEFECT_THRESHOLD).length;
    const keys = [...a.keys()].filter((k) => b.has(k));
    keys.sort((x, y) => defects(b.get(x)!) - defects(a.get(x)!) - (defects(b.get(y)!) - defects(a.get(y)!)) || x.localeCompare(y));
    const media = path.join(o.out, 'media');
    for (const key of keys.slice(0, o.videos)) {
      const item: GalleryItem = { prompt: a.get(key)!.prompt, seed: a.get(key)!.seed, videos: [] };
      for (const [m, s] of [[base.name, a.get(key)!], [other.name, b.get(key)!]] as const) {
        const video = await readVideo(s.video);
        const name = `${m}-${s.id}-s${s.seed}`.replace(/[^A-Za-z0-9._-]/g, '_');
        const files = await writeOverlay(media, name, video, s.grid, s.minPatch, DEFECT_THRESHOLD);
        item.videos.push({ model: m, src: path.relative(o.out, files.overlay), defective: files.boxed.length, patches: s.minPatch.length, overall: s.overall });
      }
      gallery.push(item);
    }
  }
  const html = path.join(o.out, 'index.html');
  await writeFileAtomic(html, reportHtml(r, charts, gallery));
  return { html, videos: gallery.length * 2 };
}
