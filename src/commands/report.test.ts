// halo-report on a small synthetic evaluation (real videos, real files), opened in headless
// Chromium: the table, the training-curve plots and the side-by-side videos must render.
import test from 'ava';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { writeVideo } from '../media/video.js';
import { ASPECTS, SCORE_KEYS } from '../records/aspects.js';
import { runCli, tempDir } from '../testing/cli.js';

const CHROMIUM = process.env.HALO_CHROMIUM ?? '/usr/bin/chromium';

function clip(seed: number) {
  const T = 16, H = 32, W = 32;
  const data = new Uint8Array(T * H * W * 3);
  for (let t = 0; t < T; t++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const i = ((t * H + y) * W + x) * 3;
    const inside = Math.abs(x - 8 - t - seed) < 4 && Math.abs(y - 16) < 4;
    data.set(inside ? [220, 30, 30] : [128, 128, 128], i);
  }
  return { frames: T, height: H, width: W, fps: 8, data };
}

async function modelRun(dir: string, name: string, defectsPer: number, log: boolean) {
  await mkdir(path.join(dir, name, 'videos'), { recursive: true });
  const lines: string[] = [];
  for (const [id, seed] of [['e0', 1000], ['e1', 1000]] as const) {
    const video = `videos/${id}-s${seed}.mp4`;
    await writeVideo(path.join(dir, name, video), clip(id === 'e0' ? 0 : 3));
    const patch = Object.fromEntries(SCORE_KEYS.map((k) => [k, Array.from({ length: 64 }, (_, p) => (p < defectsPer && (k === 'visual_quality' || k === 'overall') ? 1.5 : 3.8))]));
    const v = Object.fromEntries(SCORE_KEYS.map((k) => [k, 3]));
    lines.push(JSON.stringify({ id, prompt: `prompt ${id}`, sample_id: `${id}-s${seed}`, seed, video, frames: 16, height: 32, width: 32, fps: 8, labels: { source: { teacher: 'oracle', version: 'oracle@1' }, video: v, patch, grid: [4, 4, 4] } }));
  }
  await writeFile(path.join(dir, name, 'samples.jsonl'), lines.join('\n') + '\n');
  if (log) {
    const rows = Array.from({ length: 30 }, (_, s) => JSON.stringify({ step: s + 1, loss: 1.4 - s * 0.01, loss_video: 0.7 - s * 0.005, loss_patch: 0.7 - s * 0.006, acc_video: 0.5 + s / 100, acc_patch: 0.5 + s / 90, margin_video: s / 50 }));
    await writeFile(path.join(dir, name, 'train-log.jsonl'), rows.join('\n') + '\n');
  }
  return {
    name, dir: name, samples: `${name}/samples.jsonl`, videos: 2, patch_defect_rate: defectsPer / 64, defects_removed: null,
    video_scores: Object.fromEntries(SCORE_KEYS.map((k) => [k, 3])), win_rate: null,
    rm_agreement: { video: { spearman: 0.9, kendall: 0.8, n: 2 }, patch: { spearman: 0.85, kendall: 0.7, n: 128 } },
    training_log: log ? path.join(dir, name, 'train-log.jsonl') : null,
  };
}

test('halo-report writes a page whose table, plots and videos render in headless Chromium', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.fail(`Chromium not found at ${CHROMIUM} (make setup installs Debian's chromium; or set HALO_CHROMIUM)`);
    return;
  }
  const dir = await tempDir('halo-report-');
  const models = [await modelRun(dir, 'base', 10, false), await modelRun(dir, 'dpo', 6, true), await modelRun(dir, 'halo', 2, true)];
  models[1]!.defects_removed = 0.4 as never;
  models[2]!.defects_removed = 0.8 as never;
  const evalJson = { version: 1, created: new Date().toISOString(), prompts: 'eval.jsonl', n_prompts: 2, seeds: [1000], sampler: { name: 'ddim', steps: 25, guidance: 2 }, judge: { teacher: 'oracle@1', defect_rule: 'any aspect < 2.5' }, reward_model: 'halo-tiny-rm@x', models };
  await writeFile(path.join(dir, 'eval.json'), JSON.stringify(evalJson));
  const r = await runCli('report', ['eval.json', '--videos', '2'], { cwd: dir });
  t.is(r.exitCode, 0, r.stderr);
  const html = path.join(dir, 'report', 'index.html');
  t.true(existsSync(html));

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`file://${html}`);
    const rows = await page.$$eval('#eval-table tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    t.is(rows.length, 3);
    t.deepEqual(rows.map((row) => row[0]), ['base', 'dpo', 'halo']);
    t.is(rows[2]![3], '80.0%');
    const charts = await page.$$eval('#charts svg', (svgs) => svgs.map((s) => ({ paths: s.querySelectorAll('path.series').length, w: s.getBoundingClientRect().width })));
    t.true(charts.length >= 5);
    for (const c of charts) {
      t.is(c.paths, 2, 'one curve per trained model');
      t.true(c.w > 100);
    }
    await page.waitForFunction("[...document.querySelectorAll('video')].every((v) => v.readyState >= 2)", undefined, { timeout: 20_000 });
    const videos = await page.$$eval('video', (vs) => vs.map((v) => ({ w: v.videoWidth, h: v.videoHeight, err: v.error?.code ?? null })));
    t.is(videos.length, 4);
    for (const v of videos) {
      t.is(v.err, null);
      t.true(v.w >= 256 && v.h >= 256, `video ${v.w}×${v.h}`);
    }
    const captions = await page.$$eval('figcaption', (fs) => fs.map((f) => f.textContent ?? ''));
    t.regex(captions[0]!, /base: 10 of 64 patches defective/);
    t.regex(captions[1]!, /halo: 2 of 64 patches defective/);
  } finally {
    await browser.close();
  }
});

test('bad input: halo-report on a file that is not eval.json', async (t) => {
  const dir = await tempDir('halo-report-');
  await writeFile(path.join(dir, 'eval.json'), JSON.stringify({ version: 1, models: [] }));
  const r = await runCli('report', ['eval.json'], { cwd: dir });
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /eval\.json: created: /);
  const missing = await runCli('report', ['nope.json'], { cwd: dir });
  t.is(missing.exitCode, 1);
  t.regex(missing.stderr, /nope\.json: cannot read eval\.json/);
});
