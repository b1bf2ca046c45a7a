// Learning curve of the reward model: agreement with the teacher on held-out prompts against the
// number of labelled training videos. For each size N, the first N labelled videos (whole prompts, in
// file order) are fitted (halo-score fit --stage video, then --stage patch), the held-out videos are
// scored (halo-score) and compared with their labels (halo-label agree --json). In: a training label
// file, a held-out label file, sizes. Out: OUT/curve.json and a Markdown table on stdout
// (docs/reward-model.md). Fits are skipped when their folder is complete (resume).
//   node dist/scripts/reward-curve.js --train runs/rm/train-labels.jsonl --eval runs/rm/eval-labels.jsonl \
//     --sizes 150,300,600,1200 --out runs/rm/curve [-- extra fit flags]
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const own = dash >= 0 ? argv.slice(0, dash) : argv;
const extra = dash >= 0 ? argv.slice(dash + 1) : [];
const opt = (k: string, d?: string) => {
  const i = own.indexOf(`--${k}`);
  return i >= 0 ? own[i + 1]! : d;
};
const TRAIN = opt('train');
const EVAL = opt('eval');
const OUT = opt('out', 'runs/rm/curve')!;
const SIZES = (opt('sizes', '150,300,600,1200') ?? '').split(',').map(Number);
const BIN = fileURLToPath(new URL('../../bin/', import.meta.url));

interface Point {
  videos: number;
  prompts: number;
  stage1: { video: number | null };
  stage2: { video: number | null; patch: number | null; videoByKey: Record<string, number | null>; patchByKey: Record<string, number | null> };
  consistency: number | null;
}

async function run(name: string, args: string[], input?: string): Promise<string> {
  process.stderr.write(`reward-curve: halo-${name} ${args.join(' ')}\n`);
  const r = await execa(process.execPath, [path.join(BIN, `halo-${name}.js`), ...args], { input, stderr: 'inherit' });
  return String(r.stdout);
}

async function agree(labels: string, scores: string) {
  return JSON.parse(await run('label', ['agree', labels, scores, '--json'])) as {
    video: Record<string, { spearman: number | null }>;
    patch: Record<string, { spearman: number | null }>;
  };
}

const byKey = (r: Record<string, { spearman: number | null }>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.spearman]));

async function main() {
  if (!TRAIN || !EVAL) {
    process.stderr.write('usage: node dist/scripts/reward-curve.js --train LABELS --eval LABELS [--sizes 150,300] [--out DIR] [-- fit flags]\n');
    process.exit(2);
  }
  await mkdir(OUT, { recursive: true });
  const lines = (await readFile(TRAIN, 'utf8')).split('\n').filter((l) => l.trim());
  const promptOf = lines.map((l) => (JSON.parse(l) as { prompt: string }).prompt);
  const points: Point[] = [];
  for (const size of SIZES) {
    // Whole prompts, in file order, until `size` videos.
    const keep: string[] = [];
    const prompts = new Set<string>();
    for (let i = 0; i < lines.length && keep.length < size; i++) {
      prompts.add(promptOf[i]!);
      keep.push(lines[i]!);
    }
    const dir = path.join(OUT, `n${size}`);
    await mkdir(dir, { recursive: true });
    const subset = path.join(dir, 'labels.jsonl');
    // The subset lives in another folder: its media paths are made absolute (taken relative to the
    // label file's folder when the video is there, else to the current directory).
    const base = existsSync(path.resolve(path.dirname(TRAIN), (JSON.parse(lines[0]!) as { video: string }).video)) ? path.dirname(TRAIN) : process.cwd();
    const abs = (p: string) => path.resolve(base, p);
    await writeFile(subset, keep.map((l) => {
      const r = JSON.parse(l) as Record<string, any>;
      r.video = abs(r.video);
      if (r.patches?.dir) r.patches.dir = abs(r.patches.dir);
      if (r.patches?.storyboards) r.patches.storyboards = r.patches.storyboards.map(abs);
      return JSON.stringify(r);
    }).join('\n') + '\n');
    if (!existsSync(path.join(dir, 'stage1', 'manifest.json'))) await run('score', ['fit', '--stage', 'video', subset, '--out', path.join(dir, 'stage1'), ...extra]);
    if (!existsSync(path.join(dir, 'stage2', 'manifest.json'))) await run('score', ['fit', '--stage', 'patch', subset, '--init', path.join(dir, 'stage1'), '--out', path.join(dir, 'stage2'), ...extra]);
    const s1 = path.join(dir, 'eval-stage1.jsonl');
    const s2 = path.join(dir, 'eval-stage2.jsonl');
    const evalText = await readFile(EVAL, 'utf8');
    if (!existsSync(s1)) await writeFile(s1, await run('score', ['--model', path.join(dir, 'stage1')], evalText));
    if (!existsSync(s2)) await writeFile(s2, await run('score', ['--model', path.join(dir, 'stage2')], evalText));
    const a1 = await agree(EVAL, s1);
    const a2 = await agree(EVAL, s2);
    // Consistency: mean |stage-2 − stage-1| of the video overall score on the held-out videos.
    const read = async (f: string) => (await readFile(f, 'utf8')).split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { scores: { video: Record<string, number> } }).scores.video.overall!);
    const [v1, v2] = [await read(s1), await read(s2)];
    const consistency = v1.length ? v1.reduce((s, x, i) => s + Math.abs(x - v2[i]!), 0) / v1.length : null;
    points.push({
      videos: keep.length,
      prompts: prompts.size,
      stage1: { video: a1.video.overall?.spearman ?? null },
      stage2: { video: a2.video.overall?.spearman ?? null, patch: a2.patch.overall?.spearman ?? null, videoByKey: byKey(a2.video), patchByKey: byKey(a2.patch) },
      consistency,
    });
    await writeFile(path.join(OUT, 'curve.json'), JSON.stringify(points, null, 2));
  }
  const f = (x: number | null | undefined) => (typeof x === 'number' ? x.toFixed(3) : '—');
  const out = [
    '| labelled videos (prompts) | stage 1 video ρ | stage 2 video ρ | stage 2 patch ρ | mean \\|stage 2 − stage 1\\| (video overall) |',
    '| --- | --- | --- | --- | --- |',
    ...points.map((p) => `| ${p.videos} (${p.prompts}) | ${f(p.stage1.video)} | ${f(p.stage2.video)} | ${f(p.stage2.patch)} | ${f(p.consistency)} |`),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

main().catch((e) => {
  process.stderr.write(`reward-curve: ${(e as Error).message}\n`);
  process.exit(1);
});
