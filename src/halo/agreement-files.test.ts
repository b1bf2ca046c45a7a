// halo-label agree A B: label and score files, in any combination, table and --json.
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { jsonl, runCli, tempDir } from '../testing/cli.js';

const sample = (i: number) => ({ id: `p${i}`, prompt: 'a red circle', sample_id: `p${i}-s0`, seed: 0, video: `v${i}.mp4`, frames: 16, height: 32, width: 32, fps: 8 });

// Teacher labels: video visual_quality 1..4 with a tie; patch scores over 4 patches.
const teacher = [1, 2, 2, 4].map((v, i) => ({
  ...sample(i),
  labels: {
    source: { teacher: 'openai', version: '1', model: 'gpt-4o', template: 'halo-vlm-1' },
    video: { visual_quality: v, overall: v },
    patch: { visual_quality: [v, 1, 2, 3], overall: [v, 1, 2, null] },
  },
}));
// Reward-model scores on the same videos (and one more), slightly off; the input labels are kept.
const rewards = [1.5, 2.1, 1.9, 3.6, 2].map((v, i) => ({
  ...sample(i),
  labels: teacher[i]?.labels,
  scores: { model: 'halo-tiny-rm@abc', video: { visual_quality: v, overall: v }, patch: { visual_quality: [v, 1.2, 2.2, 3.3], overall: [v, 1, 2, 3] } },
}));

let dir = '';
test.before(async () => {
  dir = await tempDir('halo-agree-');
  await writeFile(path.join(dir, 'labels.jsonl'), jsonl(teacher));
  await writeFile(path.join(dir, 'scores.jsonl'), jsonl(rewards));
});

test('labels vs scores: a table per level and aspect', async (t) => {
  const r = await runCli('label', ['agree', 'labels.jsonl', 'scores.jsonl'], { cwd: dir });
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stdout, /^A: labels\.jsonl \(labels: openai@1 gpt-4o halo-vlm-1, 4 videos\)$/m);
  t.regex(r.stdout, /^B: scores\.jsonl \(scores: halo-tiny-rm@abc, 5 videos\)$/m);
  t.regex(r.stdout, /^videos: 4 shared, 0 only in A, 1 only in B$/m);
  t.regex(r.stdout, /^level +score +n +spearman +kendall_b +mean_abs_diff +within_spearman +within_pairs$/m);
  // one prompt: within it the same ρ; the 5 pairs the labels order strictly are all ordered alike
  t.regex(r.stdout, /^video +visual_quality +4 +0\.949 +0\.913 +0\.275 +0\.949 +1\.000$/m);
  t.regex(r.stdout, /^patch +visual_quality +16 +/m);
  t.regex(r.stdout, /^patch +overall +12 +/m, 'the null patch is left out');
});

test('--json gives the numbers; --field-a labels reads the labels kept in a score file', async (t) => {
  const r = await runCli('label', ['agree', 'labels.jsonl', 'scores.jsonl', '--json', '--level', 'video'], { cwd: dir });
  t.is(r.exitCode, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  t.is(j.a.field, 'labels');
  t.is(j.b.field, 'scores');
  t.deepEqual(j.videos, { shared: 4, onlyA: 0, onlyB: 1 });
  t.is(j.video.visual_quality.n, 4);
  t.is(Number(j.video.visual_quality.spearman.toFixed(4)), Number((4.5 / Math.sqrt(22.5)).toFixed(4)));
  t.is(Number(j.video.visual_quality.kendall.toFixed(6)), Number((5 / Math.sqrt(30)).toFixed(6)));
  t.is(j.patch, undefined);
  const self = await runCli('label', ['agree', 'labels.jsonl', 'scores.jsonl', '--field-b', 'labels', '--json', '--skip-invalid'], { cwd: dir });
  t.is(self.exitCode, 0, self.stderr);
  t.regex(self.stderr, /warning: scores\.jsonl:5: labels: expected a labels field .*\(skipped\)/);
  const s = JSON.parse(self.stdout);
  t.is(s.b.field, 'labels');
  t.is(s.video.visual_quality.spearman, 1);
  t.is(s.video.visual_quality.mad, 0);
});

test('stdin works as one side', async (t) => {
  const r = await runCli('label', ['agree', '-', 'scores.jsonl', '--json'], { cwd: dir, input: jsonl(teacher.slice(0, 2)) });
  t.is(r.exitCode, 0, r.stderr);
  t.is(JSON.parse(r.stdout).videos.shared, 2);
});

test('bad input: a record with neither labels nor scores; a repeated sample_id', async (t) => {
  await writeFile(path.join(dir, 'plain.jsonl'), jsonl([sample(0)]));
  const r = await runCli('label', ['agree', 'plain.jsonl', 'scores.jsonl'], { cwd: dir });
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /plain\.jsonl:1: expected a labels or scores field \(a halo-label or halo-score output record\)/);
  await writeFile(path.join(dir, 'twice.jsonl'), jsonl([teacher[0], teacher[1], teacher[0]]));
  const d = await runCli('label', ['agree', 'labels.jsonl', 'twice.jsonl'], { cwd: dir });
  t.is(d.exitCode, 1);
  t.regex(d.stderr, /twice\.jsonl:3: sample_id: 'p0-s0' appears twice in the file \(first at line 1\)/);
  const missing = await runCli('label', ['agree', 'labels.jsonl'], { cwd: dir });
  t.is(missing.exitCode, 2);
  const gone = await runCli('label', ['agree', 'labels.jsonl', 'nope.jsonl'], { cwd: dir });
  t.is(gone.exitCode, 1);
  t.regex(gone.stderr, /nope\.jsonl: cannot read the file/);
});
