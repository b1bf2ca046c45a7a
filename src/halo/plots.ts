// Static SVG line charts for the HTML report (no script, no external assets).
// In: named series of (x, y) points. Out: an <svg> string with axes, ticks, a legend and a title.

export interface Series {
  name: string;
  points: [number, number][];
}

export interface ChartOptions {
  title: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Round tick values: about `count` steps of 1, 2 or 5 × 10^k covering [lo, hi]. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function fmt(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

/** An SVG line chart. Series with no finite points are listed in the legend as "(no data)". */
export function lineChart(series: Series[], o: ChartOptions): string {
  const W = o.width ?? 420;
  const H = o.height ?? 260;
  const m = { l: 56, r: 12, t: 28, b: 40 };
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  let [x0, x1] = [Math.min(...xs, 0), Math.max(...xs, 1)];
  let [y0, y1] = pts.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  if (y1 === y0) [y0, y1] = [y0 - 1, y1 + 1];
  if (x1 === x0) x1 = x0 + 1;
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(o.title)}">`);
  parts.push(`<text x="${W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${escapeHtml(o.title)}</text>`);
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#999"/>`);
  for (const t of ticks(y0, y1)) {
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" stroke="#eee"/>`);
    parts.push(`<text x="${m.l - 4}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end" font-size="10">${fmt(t)}</text>`);
  }
  for (const t of ticks(x0, x1)) {
    parts.push(`<text x="${sx(t).toFixed(1)}" y="${H - m.b + 14}" text-anchor="middle" font-size="10">${fmt(t)}</text>`);
  }
  if (o.xLabel) parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 6}" text-anchor="middle" font-size="11">${escapeHtml(o.xLabel)}</text>`);
  if (o.yLabel) parts.push(`<text x="12" y="${(m.t + H - m.b) / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 12 ${(m.t + H - m.b) / 2})">${escapeHtml(o.yLabel)}</text>`);
  series.forEach((s, i) => {
    const c = COLOURS[i % COLOURS.length];
    const good = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (good.length) {
      const d = good.map(([x, y], j) => `${j ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
      parts.push(`<path class="series" d="${d}" fill="none" stroke="${c}" stroke-width="1.5"/>`);
    }
    parts.push(`<text x="${m.l + 6}" y="${m.t + 14 + 13 * i}" font-size="11" fill="${c}">${escapeHtml(s.name)}${good.length ? '' : ' (no data)'}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

/** A moving average over `window` points (for noisy per-step losses). */
export function smooth(points: [number, number][], window: number): [number, number][] {
  if (window <= 1) return points;
  const out: [number, number][] = [];
  let sum = 0;
  for (let i = 0; i < points.length; i++) {
    sum += points[i]![1];
    if (i >= window) sum -= points[i - window]![1];
    out.push([points[i]![0], sum / Math.min(i + 1, window)]);
  }
  return out;
}
