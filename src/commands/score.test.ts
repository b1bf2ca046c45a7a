// halo-score end to end: fit both stages from labelled world videos with a tiny model, score records
// and ad-hoc video files (--table), write overlays, resume with --output, and refuse bad input with
// a clear message and nothing partial written.
import test from 'ava';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeVideo } from '../media/video.js';
import { makeRewardFixture } from '../models/reward-fixtures.js';
import { jsonl, runCli, tempDir } from '../testing/cli.js';

const TINY = ['--dim', '16', '--depth', '1', '--heads', '2', '--mlp', '32', '--embed-hidden', '16', '--max-words', '24', '--batch', '8', '--warmup', '4', '--eval-every', '8', '--patience', '10', '--lr', '0.003'];

let dir: string;
let stage1: string;
let stage2: string;
let labels: Record<string, any>[];

test.before(async () => {
  dir = await tempDir('halo-score-');
  ({ labels } = await makeRewardFixture(dir, 16));
  stage1 = path.join(dir, 'rm1');
  stage2 = path.join(dir, 'rm2');
});

test.serial('fit --stage video, then --stage patch, from labelled world videos', async (t) => {
  const r1 = await runCli('score', ['fit', '--stage', 'video', 'labels.jsonl', '--out', 'rm1', '--steps', '16', ...TINY], { cwd: dir });
  t.is(r1.exitCode, 0, r1.stderr);
  t.is(r1.records[0]!.stage, 'video');
  t.is(r1.records[0]!.steps, 16);
  t.regex(r1.stderr, /16 labelled videos \(16 with patch labels\)/);
  t.true(existsSync(path.join(stage1, 'manifest.json')));
  t.false(existsSync(path.join(stage1, 'checkpoint.safetensors')), 'checkpoints are cleared once the model is written');
  const log = (await readFile(path.join(stage1, 'train.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  t.is(log.length, 16);
  t.true(log.every((l) => typeof l.loss === 'number' && typeof l.lr === 'number'));

  const again = await runCli('score', ['fit', '--stage', 'video', 'labels.jsonl', '--out', 'rm1', '--steps', '16', ...TINY], { cwd: dir });
  t.is(again.exitCode, 0, again.stderr);
  t.is(again.records[0]!.status, 'skipped');

  const r2 = await runCli('score', ['fit', '--stage', 'patch', 'labels.jsonl', '--init', 'rm1', '--out', 'rm2', '--steps', '16', ...TINY.slice(10)], { cwd: dir });
  t.is(r2.exitCode, 0, r2.stderr);
  t.is(r2.records[0]!.stage, 'patch');
  const m = JSON.parse(await readFile(path.join(stage2, 'manifest.json'), 'utf8'));
  t.is(m.reward.stage, 'patch');
  t.regex(m.provenance.command, /^halo-score fit --stage patch labels\.jsonl --init rm1/);
});

test.serial('scores records: video and patch scores per aspect, in input order', async (t) => {
  const r = await runCli('score', ['--model', 'rm2', 'samples.jsonl'], { cwd: dir });
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.records.length, labels.length);
  r.records.forEach((rec, i) => {
    t.is(rec.sample_id, labels[i]!.sample_id);
    t.regex(rec.scores.model, /^halo-tiny-rm@[0-9a-f]{12}$/);
    t.deepEqual(Object.keys(rec.scores.video), ['visual_quality', 'temporal_consistency', 'dynamic_degree', 'text_alignment', 'factual_consistency', 'overall']);
    t.is(rec.scores.patch.overall.length, 64);
    t.true(rec.scores.patch.overall.every((s: number) => s >= 1 && s <= 4));
    t.truthy(rec.patches, 'keeps the fields it came with');
  });
  const agree = await runCli('label', ['agree', 'labels.jsonl', '-'], { cwd: dir, input: r.stdout });
  t.is(agree.exitCode, 0, agree.stderr);
  t.regex(agree.stdout, /overall/);
});

test.serial('scores video files named on the command line (--table), and writes overlays', async (t) => {
  const files = labels.slice(0, 2).map((l) => l.video);
  const table = await runCli('score', ['--model', 'rm2', ...files, '--prompt', labels[0]!.prompt, '--table'], { cwd: dir });
  t.is(table.exitCode, 0, table.stderr);
  const lines = table.stdout.trim().split('\n');
  t.regex(lines[0]!, /^video\s+overall\s+visual\s+temporal\s+dynamic\s+text\s+factual\s+overall<2\.5\s+worst patch/);
  t.true(lines[1]!.startsWith(path.basename(files[0]!, '.mp4')));
  t.regex(lines[2]!, /\d+\/64\s+#\d+ \(\d,\d,\d\) \d\.\d\d$/);

  const r = await runCli('score', ['--model', 'rm2', ...files, '--prompt', labels[0]!.prompt, '--overlay', 'overlays', '--threshold', '4'], { cwd: dir });
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.records.length, 2);
  for (const rec of r.records) {
    t.is(rec.prompt, labels[0]!.prompt);
    t.is(rec.frames, 16);
    t.true(existsSync(path.join(dir, rec.overlay)), rec.overlay);
    t.true(existsSync(path.join(dir, rec.heatmap)), rec.heatmap);
    t.regex(rec.overlay, /^overlays\/.*\.mp4$/);
  }
  // The boxed copy is upscaled and differs from the video where the boxes are drawn.
  const { readVideo } = await import('../media/video.js');
  const v = await readVideo(path.join(dir, r.records[0]!.overlay));
  t.is(v.width, 256);
  t.is(v.frames, 16);
  const red = Array.from({ length: v.data.length / 3 }, (_, i) => i).filter((i) => v.data[3 * i]! > 200 && v.data[3 * i + 1]! < 60 && v.data[3 * i + 2]! < 60).length;
  t.true(red > 1000, `red box pixels: ${red}`);
});

test.serial('--output resumes: videos already scored by the same model are skipped', async (t) => {
  const out = path.join(dir, 'scores.jsonl');
  const first = await runCli('score', ['--model', 'rm2', 'samples.jsonl', '--output', out], { cwd: dir });
  t.is(first.exitCode, 0, first.stderr);
  t.is(first.stdout, '');
  const text = await readFile(out, 'utf8');
  const lines = text.trim().split('\n');
  t.is(lines.length, labels.length);
  // Simulate an interruption: keep 10 records and half of the 11th.
  await writeFile(out, `${lines.slice(0, 10).join('\n')}\n${lines[10]!.slice(0, 40)}`);
  const second = await runCli('score', ['--model', 'rm2', 'samples.jsonl', '--output', out], { cwd: dir });
  t.is(second.exitCode, 0, second.stderr);
  t.regex(second.stderr, /6 videos scored .*10 already scored \(skipped\)/);
  const after = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  t.deepEqual(after.map((r) => r.sample_id).sort(), labels.map((l) => l.sample_id).sort());
});

test.serial('bad input: labels with an unknown sample_id (--videos)', async (t) => {
  const bare = labels.map((l) => ({ sample_id: l.sample_id, labels: l.labels }));
  bare[3] = { ...bare[3]!, sample_id: 'nope-v9' };
  await writeFile(path.join(dir, 'bare.jsonl'), jsonl(bare));
  const r = await runCli('score', ['fit', '--stage', 'video', 'bare.jsonl', '--videos', 'samples.jsonl', '--out', 'bad1', ...TINY], { cwd: dir });
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /bare\.jsonl:4: sample_id: 'nope-v9' is not among the videos of samples\.jsonl/);
  t.false(existsSync(path.join(dir, 'bad1')), 'nothing written');
});

test.serial('bad input: labels cut into another patch grid', async (t) => {
  const other = labels.map((l, i) => (i === 5 ? { ...l, patches: { ...l.patches, grid: [2, 2, 2] } } : l));
  await writeFile(path.join(dir, 'grid.jsonl'), jsonl(other));
  const r = await runCli('score', ['fit', '--stage', 'video', 'grid.jsonl', '--out', 'bad2', ...TINY], { cwd: dir });
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /grid\.jsonl:6: patches\.grid: the model scores a 4×4×4 patch grid, this record was cut into 2×2×2/);
  const short = labels.map((l, i) => (i === 2 ? { ...l, labels: { ...l.labels, patch: { ...l.labels.patch, overall: l.labels.patch.overall.slice(0, 8) } } } : l));
  await writeFile(path.join(dir, 'short.jsonl'), jsonl(short));
  const r2 = await runCli('score', ['fit', '--stage', 'video', 'short.jsonl', '--out', 'bad2', ...TINY], { cwd: dir });
  t.is(r2.exitCode, 1);
  t.regex(r2.stderr, /short\.jsonl:3: labels\.patch\.overall: expected 64 patch scores \(the model's 4×4×4 grid\), got 8/);
  t.false(existsSync(path.join(dir, 'bad2')));
});

test.serial('bad input: too few labels to fit', async (t) => {
  await writeFile(path.join(dir, 'few.jsonl'), jsonl(labels.slice(0, 5)));
  const r = await runCli('score', ['fit', '--stage', 'video', 'few.jsonl', '--out', 'bad3', ...TINY], { cwd: dir });
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /too few labels to fit: 5 labelled videos of 3 prompts; fitting needs at least 16 videos from at least 2 prompts/);
  t.false(existsSync(path.join(dir, 'bad3')));
});

test.serial('bad input: stage patch without a stage-1 model, or from labels without patch scores', async (t) => {
  const r = await runCli('score', ['fit', '--stage', 'patch', 'labels.jsonl', '--out', 'bad4'], { cwd: dir });
  t.is(r.exitCode, 2);
  t.regex(r.stderr, /--stage patch continues from the stage-1 model: give --init DIR/);
  const videoOnly = labels.map((l) => ({ ...l, labels: { source: l.labels.source, video: l.labels.video } }));
  await writeFile(path.join(dir, 'video-only.jsonl'), jsonl(videoOnly));
  const r2 = await runCli('score', ['fit', '--stage', 'patch', 'video-only.jsonl', '--init', 'rm1', '--out', 'bad4', '--steps', '8'], { cwd: dir });
  t.is(r2.exitCode, 1);
  t.regex(r2.stderr, /stage patch needs patch labels/);
  t.false(existsSync(path.join(dir, 'bad4', 'manifest.json')));
});

test.serial('bad input: a video of another size is resampled, and the record says so', async (t) => {
  const [T, H, W] = [24, 40, 56];
  const data = new Uint8Array(T * H * W * 3).map((_, i) => (i * 13) % 256);
  await writeVideo(path.join(dir, 'big.mp4'), { frames: T, height: H, width: W, fps: 12, data });
  const r = await runCli('score', ['--model', 'rm2', 'big.mp4', '--prompt', 'a red circle moves left on a gray background'], { cwd: dir });
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.records[0]!.scores.resampled, /frames scaled from 56×40 to 32×32 \(area filter, aspect ratio not kept\); 24 frames sampled evenly down to 16/);
  t.deepEqual([r.records[0]!.frames, r.records[0]!.height, r.records[0]!.width], [T, H, W]);
});

test.serial('bad input: a model folder of the wrong kind, or no model folder', async (t) => {
  const t2v = path.join(dir, 't2v');
  await mkdir(t2v, { recursive: true });
  const m = JSON.parse(await readFile(path.join(stage2, 'manifest.json'), 'utf8'));
  await writeFile(path.join(t2v, 'manifest.json'), JSON.stringify({ ...m, kind: 't2v', schedule: { type: 'cosine', shift: 1, logsnr_min: -10, logsnr_max: 10 }, prediction: 'x0', text_encoder: { architecture: 'x', config: {} }, denoiser: { architecture: 'x', config: {} } }));
  await writeFile(path.join(t2v, m.weights), '');
  const r = await runCli('score', ['--model', 't2v', 'samples.jsonl'], { cwd: dir });
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /t2v\/manifest\.json: kind: expected "reward" \(a reward model folder\), got "t2v"/);
  t.is(r.stdout, '');
  const r2 = await runCli('score', ['--model', 'videos', 'samples.jsonl'], { cwd: dir });
  t.is(r2.exitCode, 1);
  t.regex(r2.stderr, /videos\/manifest\.json: missing; a model folder needs a manifest\.json/);
});

test.serial('bad input: a record whose video is missing names the record', async (t) => {
  const recs = labels.slice(0, 3).map((l, i) => (i === 1 ? { ...l, video: 'videos/missing.mp4' } : l));
  await writeFile(path.join(dir, 'missing.jsonl'), jsonl(recs));
  const r = await runCli('score', ['--model', 'rm2', 'missing.jsonl', '--batch', '1'], { cwd: dir });
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /missing\.jsonl:2: video: video file not found/);
  const r2 = await runCli('score', ['--model', 'rm2', 'missing.jsonl'], { cwd: dir });
  t.is(r2.stdout, '', 'nothing partial: the failing batch writes no records');
});

test.serial('the shipped model (the default) boxes patches the oracle also marks defective', async (t) => {
  // 32 held-out videos (eval split, seed 2: 8 prompts × 4 videos, clean, mismatched or corrupted); video 3
  // has a colour shift and flicker in its lower right corner (the picture of docs/reward-model.md).
  const sub = path.join(dir, 'shipped');
  const { labels: held } = await makeRewardFixture(sub, 32, { split: 'eval', seed: 2, perPrompt: 4 });
  const r = await runCli('score', ['--overlay', 'ov', '-'], { cwd: sub, input: jsonl(held) });
  t.is(r.exitCode, 0, r.stderr);
  const oracleBad = (rec: any, i: number) => ['visual_quality', 'temporal_consistency', 'dynamic_degree', 'text_alignment', 'factual_consistency'].some((a) => rec.labels.patch[a][i] < 2.5);
  // Boxes carry the oracle's verdict: a boxed patch is at least twice as likely to be defective as an
  // unboxed one, and at least half the boxes are. (Precision over a few dozen videos swings widely from
  // one draw to the next — 0.58 to 1.0 over ten draws of 32 held-out corpus videos — so a high bar here
  // would test the draw; over 320 held-out corpus videos it is 0.82, over 320 generator samples 1.0:
  // docs/reward-model.md.)
  let boxed = 0;
  let right = 0;
  let unboxed = 0;
  let missed = 0;
  r.records.forEach((out: any, k: number) => {
    t.regex(out.scores.model, /^halo-tiny-rm@/);
    (out.scores.patch.overall as number[]).forEach((x, i) => {
      const bad = oracleBad(held[k], i);
      if (x < 2.5) {
        boxed++;
        if (bad) right++;
      } else {
        unboxed++;
        if (bad) missed++;
      }
    });
  });
  t.true(boxed > 0, 'some patches are boxed');
  const precision = right / boxed;
  const elsewhere = missed / unboxed;
  const summary = `${right} of ${boxed} boxed patches are defective for the oracle, ${missed} of ${unboxed} unboxed ones`;
  t.log(summary);
  t.true(precision >= 0.5 && precision >= 2 * elsewhere, summary);
  // the corrupted corner of video 3: its worst patch is one the oracle marks
  const worst = (r.records[3]!.scores.patch.overall as number[]).reduce((m, x, i, a) => (x < a[m]! ? i : m), 0);
  t.true(oracleBad(held[3], worst), `worst patch ${worst}`);
  t.true(existsSync(path.join(sub, r.records[3]!.overlay)));
});
