// halo-score --table: a human-readable summary of score records. In: score records and a threshold.
// Out: text, one row per video: its scores per key, how many patches fall below the threshold, and the
// worst patch (index, grid position t/y/x, score).
import { patchPosition, type Triple } from '../halo/patches.js';

const SHORT: Record<string, string> = {
  overall: 'overall',
  visual_quality: 'visual',
  temporal_consistency: 'temporal',
  dynamic_degree: 'dynamic',
  text_alignment: 'text',
  factual_consistency: 'factual',
};

export interface TableRow {
  name: string;
  video: Record<string, number>;
  patch?: Record<string, number[]>;
  grid: Triple;
  resampled?: string;
}

/** Render rows as an aligned text table (keys: score keys to show, first the one that ranks patches). */
export function scoreTable(rows: readonly TableRow[], keys: readonly string[], key: string, threshold: number): string {
  const order = [key, ...keys.filter((k) => k !== key)];
  const header = ['video', ...order.map((k) => SHORT[k] ?? k), `${SHORT[key] ?? key}<${threshold}`, 'worst patch (t,y,x)'];
  const body = rows.map((r) => {
    const p = r.patch?.[key] ?? [];
    const low = p.filter((s) => s < threshold).length;
    let worst = '';
    if (p.length) {
      let wi = 0;
      p.forEach((s, i) => {
        if (s < p[wi]!) wi = i;
      });
      const [t, y, x] = patchPosition(r.grid, wi);
      worst = `#${wi} (${t},${y},${x}) ${p[wi]!.toFixed(2)}`;
    }
    return [r.name + (r.resampled ? ' *' : ''), ...order.map((k) => (typeof r.video[k] === 'number' ? r.video[k]!.toFixed(2) : '-')), p.length ? `${low}/${p.length}` : '-', worst];
  });
  const all = [header, ...body];
  const widths = header.map((_, c) => Math.max(...all.map((row) => row[c]!.length)));
  const fmt = (row: string[]) => row.map((cell, c) => (c === 0 || c === row.length - 1 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ').trimEnd();
  const lines = [fmt(header), ...body.map(fmt)];
  if (rows.some((r) => r.resampled)) lines.push('', '* resampled to the model\'s frames and size (see scores.resampled in the records)');
  return `${lines.join('\n')}\n`;
}
