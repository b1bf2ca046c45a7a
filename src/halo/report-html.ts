// The HTML of the evaluation report: the eval table, training-curve charts (inline SVG) and
// side-by-side videos of the first model (base) and another (HALO) for the same prompt and seed,
// low-scoring patches boxed in red. In: an EvalResult and prepared charts and gallery items.
// Out: one self-contained HTML string (videos are files next to it).
import type { EvalResult } from '../records/eval.js';
import { escapeHtml } from './plots.js';

export interface GalleryItem {
  prompt: string;
  seed: number;
  /** One video per model shown, left to right. */
  videos: { model: string; src: string; defective: number; patches: number; overall: number | null }[];
}

const pct = (x: number | null | undefined) => (x === null || x === undefined ? '–' : `${(100 * x).toFixed(1)}%`);
const num = (x: number | null | undefined, d = 3) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));

/** The evaluation table (also used for the README and the terminal, via evalTableText). */
export function evalTableHtml(r: EvalResult): string {
  const aspects = Object.keys(r.models[0]!.video_scores);
  const head = ['model', 'videos', 'patch defect rate', 'defects removed', 'win rate vs ' + r.models[0]!.name, ...aspects, 'RM ρ video', 'RM ρ patch'];
  const rows = r.models.map((m) => [
    m.name,
    String(m.videos),
    pct(m.patch_defect_rate),
    pct(m.defects_removed),
    pct(m.win_rate),
    ...aspects.map((a) => num(m.video_scores[a], 3)),
    num(m.rm_agreement?.video.spearman),
    num(m.rm_agreement?.patch.spearman),
  ]);
  return [
    '<table id="eval-table">',
    `<thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead>`,
    '<tbody>',
    ...rows.map((row) => `<tr>${row.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`),
    '</tbody></table>',
  ].join('\n');
}

/** The same table as aligned text, for stderr and the README. */
export function evalTableText(r: EvalResult): string {
  const aspects = Object.keys(r.models[0]!.video_scores);
  const head = ['model', 'videos', 'defect rate', 'removed', `win vs ${r.models[0]!.name}`, ...aspects.map((a) => a.replace(/_/g, ' ')), 'RM ρ video', 'RM ρ patch'];
  const rows = r.models.map((m) => [
    m.name, String(m.videos), pct(m.patch_defect_rate), pct(m.defects_removed), pct(m.win_rate),
    ...aspects.map((a) => num(m.video_scores[a], 2)), num(m.rm_agreement?.video.spearman), num(m.rm_agreement?.patch.spearman),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export function reportHtml(r: EvalResult, charts: string[], gallery: GalleryItem[]): string {
  const css = `body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:12px 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right;font-size:13px}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.charts{display:flex;flex-wrap:wrap;gap:12px}
.pair{display:flex;gap:16px;align-items:flex-start;margin:12px 0;padding:8px;border:1px solid #eee}
.pair figure{margin:0}.pair video{image-rendering:pixelated;width:256px;height:256px;background:#000}
figcaption{font-size:12px;color:#555;max-width:256px}.meta{font-size:13px;color:#555}`;
  const gal = gallery.map(
    (item) => `<div class="pair"><div class="meta" style="width:200px"><b>${escapeHtml(item.prompt)}</b><br>seed ${item.seed}</div>${item.videos
      .map(
        (v) =>
          `<figure><video src="${escapeHtml(v.src)}" autoplay loop muted playsinline></video><figcaption>${escapeHtml(v.model)}: ${v.defective} of ${v.patches} patches defective (boxed); overall ${num(v.overall, 2)}</figcaption></figure>`,
      )
      .join('')}</div>`,
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>halo evaluation</title><style>${css}</style></head>
<body>
<h1>halo evaluation</h1>
<p class="meta">${r.n_prompts} held-out prompts × seeds [${r.seeds.join(', ')}] from ${escapeHtml(r.prompts)}; sampler ${escapeHtml(JSON.stringify(r.sampler))};
judge ${escapeHtml(r.judge.teacher)} (defective patch: ${escapeHtml(r.judge.defect_rule)}); reward model ${escapeHtml(r.reward_model ?? 'none')}; made ${escapeHtml(r.created)}.</p>
<h2>Results</h2>
${evalTableHtml(r)}
<p class="meta">Defects removed = 1 − defect rate / ${escapeHtml(r.models[0]!.name)}'s defect rate. Win rate: share of (prompt, seed) where the oracle's overall video score beats ${escapeHtml(r.models[0]!.name)}'s (ties count half). RM ρ: Spearman between the reward model's and the oracle's scores on that model's videos.</p>
<h2>Training curves</h2>
<div class="charts" id="charts">${charts.join('\n') || '<p>No training logs.</p>'}</div>
<h2>Side by side</h2>
<div id="gallery">${gal.join('\n') || '<p>No videos.</p>'}</div>
</body></html>
`;
}
