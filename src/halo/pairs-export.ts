// Pairs in the layout PyTorch diffusion-DPO trainers read (Pick-a-Pic style, as used by the
// Diffusion-DPO reference code): one row per pair with `caption`, `video_0`, `video_1` and
// `label_0` (1.0 when video_0 is preferred), plus HALO's per-patch arrays. Written as
// metadata.jsonl (load with `datasets.load_dataset("json", data_files=...)`) and pairs.csv
// (the scalar columns only). Video paths are relative to the export folder.
import path from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import type { PairRecord } from '../records/schemas.js';

function csvField(v: string | number): string {
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Write metadata.jsonl and pairs.csv under `dir`; returns the files written. */
export async function exportPairsForTorch(pairs: PairRecord[], dir: string): Promise<string[]> {
  const rel = (video: string) => path.relative(dir, path.resolve(video));
  const rows = pairs.map((p) => ({
    caption: p.prompt,
    prompt_id: p.prompt_id,
    video_0: rel(p.win.video),
    video_1: rel(p.lose.video),
    label_0: 1.0,
    video_margin: p.video_margin,
    grid: (p as { grid?: number[] }).grid ?? null,
    patch_pref: p.patch_pref,
    patch_weight: p.patch_weight,
  }));
  const jsonlFile = path.join(dir, 'metadata.jsonl');
  const csvFile = path.join(dir, 'pairs.csv');
  await writeFileAtomic(jsonlFile, rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : ''));
  const header = ['caption', 'prompt_id', 'video_0', 'video_1', 'label_0', 'video_margin'];
  const csv = [header.join(','), ...rows.map((r) => [r.caption, r.prompt_id, r.video_0, r.video_1, r.label_0, r.video_margin].map(csvField).join(','))];
  await writeFileAtomic(csvFile, csv.join('\n') + '\n');
  return [jsonlFile, csvFile];
}
