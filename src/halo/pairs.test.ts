import test from 'ava';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { choosePairs, parseBy, patchPreferences, scoreSample } from './pairs.js';
import { jsonl, runCli, tempDir } from '../testing/cli.js';

const place = { source: 't', line: 1 };

function sample(id: string, seed: number, video: number, patch: number[] | null, extra: Record<string, unknown> = {}) {
  return {
    id, prompt: `prompt ${id}`, sample_id: `${id}-s${seed}`, seed, video: `v/${id}-${seed}.mp4`,
    frames: 16, height: 32, width: 32, fps: 8,
    scores: { model: 'rm', video: { overall: video, visual_quality: 4 - video }, ...(patch ? { patch: { overall: patch, visual_quality: patch.map((p) => 4 - p) } } : {}) },
    ...extra,
  };
}

test('choosePairs: best-worst, all with a margin, top-k by largest margin', (t) => {
  const v = [2.0, 3.5, 1.0, 3.4];
  t.deepEqual(choosePairs(v, { strategy: 'best-worst', minMargin: 0, k: 1 }), [[1, 2]]);
  t.deepEqual(choosePairs(v, { strategy: 'all', minMargin: 1.2, k: 1 }), [[1, 2], [3, 2], [1, 0], [3, 0]].slice(0, 4).filter(([w, l]) => v[w]! - v[l]! > 1.2));
  t.deepEqual(choosePairs(v, { strategy: 'top-k', minMargin: 0, k: 2 }), [[1, 2], [3, 2]]);
  t.deepEqual(choosePairs([2.0], { strategy: 'best-worst', minMargin: 0, k: 1 }), []);
  t.deepEqual(choosePairs([2.0, 2.0], { strategy: 'best-worst', minMargin: 0, k: 1 }), []);
});

test('patchPreferences: ties under tau, signs, and the three weightings', (t) => {
  const w = [3, 2, 3, 1, 2.5];
  const l = [2, 3, 3.05, 3, Number.NaN];
  const none = patchPreferences(w, l, { tau: 0.1, weights: 'none', temp: 0.25 }, place);
  t.deepEqual(none.pref, [1, -1, 0, -1, 0]);
  t.deepEqual(none.weight, [1, 1, 0, 1, 0]);
  t.deepEqual(patchPreferences(w, l, { tau: 0.1, weights: 'gap', temp: 0.25 }, place).weight, [1, 1, 0, 2, 0]);
  const sig = patchPreferences(w, l, { tau: 0.1, weights: 'sigmoid', temp: 0.25 }, place).weight;
  t.true(sig[3]! > sig[0]! && sig[0]! > 0.5 && sig[2] === 0);
  const e = t.throws(() => patchPreferences([1, 2], [1, 2, 3], { tau: 0, weights: 'none', temp: 1 }, place));
  t.regex(e!.message, /different grids/);
});

test('parseBy and weighted video scores', (t) => {
  t.deepEqual(parseBy('visual_quality=0.5,overall'), { visual_quality: 0.5, overall: 1 });
  t.throws(() => parseBy('beauty'), { message: /unknown score 'beauty'/ });
  const s = scoreSample(sample('a', 0, 3, [1, 2]) as never, place, { by: { overall: 1, visual_quality: 0.5 }, from: 'auto' });
  t.is(s.video, 3 + 0.5 * 1);
  t.deepEqual(s.patch, [1 + 0.5 * 3, 2 + 0.5 * 2]);
});

test('halo-pairs: groups by prompt, writes pairs and a summary', async (t) => {
  const input = jsonl([
    sample('p1', 0, 2.0, [3, 2, 3, 1]),
    sample('p2', 0, 3.0, [3, 3, 3, 3]),
    sample('p1', 1, 3.0, [2, 3, 3, 3]),
    sample('p2', 1, 3.0, [3, 3, 3, 3]),
    sample('p1', 2, 1.0, [1, 1, 1, 1]),
  ]);
  const r = await runCli('pairs', ['--tau', '0.1', '--weights', 'none'], { input });
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.records.length, 1);
  const p = r.records[0]!;
  t.is(p.prompt_id, 'p1');
  t.is(p.win.sample_id, 'p1-s1');
  t.is(p.lose.sample_id, 'p1-s2');
  t.is(p.video_margin, 2);
  t.deepEqual(p.patch_pref, [1, 1, 1, 1]);
  t.regex(r.stderr, /pairs: 1 from 2 prompts \(1 prompts gave none\)/);
  const all = await runCli('pairs', ['--strategy', 'all'], { input });
  t.is(all.records.length, 3);
  t.regex(all.stderr, /prefer the video loser's patch/);
});

test('halo-pairs --export writes the PyTorch layout with paths relative to the export folder', async (t) => {
  const dir = await tempDir();
  const input = jsonl([sample('p1', 0, 2.0, [3, 2]), sample('p1', 1, 3.0, [2, 3])]);
  const r = await runCli('pairs', ['--export', path.join(dir, 'torch')], { input, cwd: dir });
  t.is(r.exitCode, 0, r.stderr);
  const rows = (await readFile(path.join(dir, 'torch', 'metadata.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  t.is(rows.length, 1);
  t.is(rows[0].video_0, '../v/p1-1.mp4');
  t.is(rows[0].label_0, 1);
  t.deepEqual(rows[0].patch_pref, [-1, 1]);
  const csv = await readFile(path.join(dir, 'torch', 'pairs.csv'), 'utf8');
  t.true(csv.startsWith('caption,prompt_id,video_0,video_1,label_0,video_margin\n'));
});

test('bad input: a record without scores or labels names the line and field', async (t) => {
  const rec = sample('p1', 0, 2, null) as Record<string, unknown>;
  delete rec.scores;
  const r = await runCli('pairs', [], { input: jsonl([sample('p1', 1, 2, null), rec]) });
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /<stdin>:2: labels: missing/);
});

test('bad input: patch scores of different lengths within a prompt', async (t) => {
  const r = await runCli('pairs', [], { input: jsonl([sample('p1', 0, 3, [1, 2, 3]), sample('p1', 1, 2, [1, 2])]) });
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /<stdin>:2: patch: winner has 3 patches, loser 2/);
});

test('bad input: one prompt id with two prompt texts', async (t) => {
  const b = sample('p1', 1, 2, null);
  b.prompt = 'something else';
  const r = await runCli('pairs', [], { input: jsonl([sample('p1', 0, 3, null), b]) });
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /<stdin>:2: prompt: prompt id 'p1' was first seen/);
});

test('bad input: an unknown --by score is a usage error', async (t) => {
  const r = await runCli('pairs', ['--by', 'beauty'], { input: '' });
  t.is(r.exitCode, 2);
  t.regex(r.stderr, /--by: unknown score 'beauty'/);
});
