// The reward model in-process: patch tokens in patch order, score range, the two fitting stages
// (loss falls; stage 2 starts from stage 1 with the patch head copied from the video head), exact
// resume of an interrupted fit, the prompt split, and resampling of videos of other sizes.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { GraphBuilder } from '../graph/builder.js';
import { tensor } from '../graph/tensor.js';
import { cutPatch, patchLayout } from '../halo/patches.js';
import { writeVideo } from '../media/video.js';
import { readSafetensors } from '../runtime/safetensors.js';
import { Session } from '../runtime/session.js';
import { tempDir } from '../testing/cli.js';
import { WORDS } from '../world/grammar.js';
import { SCORE_KEYS } from '../records/aspects.js';
import { loadLabelled, splitByPrompt } from './reward-data.js';
import { makeRewardFixture } from './reward-fixtures.js';
import { patchTokens, rewardForward, withinPromptLoss, type RewardArch } from './reward-graph.js';
import { frameIndices, loadModelVideo } from './reward-input.js';
import { loadRewardModel, scoreVideos } from './reward-model.js';
import { DEFAULT_SETTINGS, fitReward, groupedBatchIndices, patchStageInit, selectionValue, type TrainSettings } from './reward-train.js';
import { Tokenizer } from './tokenizer.js';

const tokenizer = Tokenizer.fromWords(WORDS, 24);
const arch: RewardArch = {
  frames: 16,
  height: 32,
  width: 32,
  grid: [4, 4, 4],
  dim: 16,
  depth: 1,
  heads: 2,
  mlp: 32,
  vocab: tokenizer.vocabSize,
  maxWords: 24,
  keys: [...SCORE_KEYS],
};
const settings: TrainSettings = { ...DEFAULT_SETTINGS, steps: 24, batch: 8, warmup: 4, evalEvery: 8, patience: 10, lr: 3e-3 };

let dir: string;
test.before(async () => {
  dir = await tempDir('halo-rm-unit-');
  await makeRewardFixture(dir, 16);
});

const load = () => loadLabelled([path.join(dir, 'labels.jsonl')], { shape: arch, grid: arch.grid, keys: arch.keys, tokenizer });

test('patch tokens follow the patch order of halo-patchify (time, row, column)', async (t) => {
  const [T, H, W] = [4, 4, 6];
  const a = { ...arch, frames: T, height: H, width: W, grid: [2, 2, 3] as [number, number, number] };
  const data = new Float32Array(T * H * W * 3).map((_, i) => i);
  const g = new GraphBuilder();
  const v = g.input('v', 'float32', [1, T, H, W, 3]);
  g.output(patchTokens(g, v, a, 1), 'tokens');
  const s = await Session.create(g.graph);
  const out = (await s.run({ v: tensor('float32', [1, T, H, W, 3], data) })).tokens!;
  await s.release();
  const layout = patchLayout([T, H, W], { grid: a.grid });
  const bytes = Uint8Array.from(data, (x) => x % 256);
  t.deepEqual(out.shape, [1, 12, 2 * 2 * 2 * 3]);
  layout.boxes.forEach((box, q) => {
    const want = Array.from(cutPatch({ frames: T, height: H, width: W, data: bytes }, box).data);
    const got = Array.from((out.data as Float32Array).subarray(q * 24, (q + 1) * 24), (x) => x % 256);
    t.deepEqual(got, want, `patch ${q}`);
  });
});

test('scores lie in 1–4, one per key for the video and for each patch', async (t) => {
  const g = new GraphBuilder();
  const v = g.input('video', 'float32', [2, 16, 32, 32, 3]);
  const w = g.input('ids', 'int64', [2, 24]);
  const out = rewardForward(g, v, w, arch, 2);
  g.output(out.video, 'v');
  g.output(out.patch, 'p');
  t.deepEqual(out.video.shape, [2, 6]);
  t.deepEqual(out.patch.shape, [2, 64, 6]);
  const { initParams } = await import('../graph/init.js');
  const s = await Session.create(g.graph);
  const ids = tokenizer.batch(['a red circle moves left on a gray background', null]);
  const r = await s.run({ ...initParams(g.graph.params.values(), 3), video: tensor('float32', [2, 16, 32, 32, 3], new Float32Array(2 * 16 * 32 * 32 * 3).fill(0.5)), ids: tensor('int64', [2, 24], ids) });
  await s.release();
  for (const x of [...(r.v!.data as Float32Array), ...(r.p!.data as Float32Array)]) t.true(x >= 1 && x <= 4);
});

test('the split by prompt keeps every video of a prompt on one side', async (t) => {
  const ex = ['a', 'a', 'b', 'c', 'c', 'd', 'e', 'f'].map((prompt) => ({ prompt }));
  const s = splitByPrompt(ex, 0.25, 1);
  t.is(s.valPrompts.length, 2);
  t.is(s.train.length + s.val.length, ex.length);
  for (const i of s.val) t.true(s.valPrompts.includes(ex[i]!.prompt));
  for (const i of s.train) t.false(s.valPrompts.includes(ex[i]!.prompt));
  t.deepEqual(splitByPrompt(ex, 0.25, 1), s, 'deterministic');
});

test.serial('fit: stage video lowers the loss; an interrupted fit resumes to the same weights', async (t) => {
  const data = await load();
  const base = { stage: 'video' as const, data, arch, tokenizer: tokenizer.spec, name: 'rm-test', fps: 8, settings, inProcess: true };
  const full = path.join(dir, 'full');
  const r = await fitReward({ ...base, out: full });
  t.is(r.status, 'fitted');
  const log = (await readFile(path.join(full, 'train.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  t.is(log.length, 24);
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  t.true(mean(log.slice(-6).map((l) => l.loss)) < mean(log.slice(0, 6).map((l) => l.loss)), 'training loss falls');
  t.true(log.filter((l) => 'val_loss' in l).length === 3, 'validates every 8 steps');

  const cut = path.join(dir, 'cut');
  await t.throwsAsync(
    () =>
      fitReward({
        ...base,
        out: cut,
        progress: (p) => {
          if (p.step === 13) throw new Error('interrupted');
        },
      }),
    { message: 'interrupted' },
  );
  const resumed = await fitReward({ ...base, out: cut, log: () => {} });
  t.is(resumed.status, 'resumed');
  const a = readSafetensors(path.join(full, 'weights.safetensors')).tensors;
  const b = readSafetensors(path.join(cut, 'weights.safetensors')).tensors;
  let maxDiff = 0;
  for (const k of Object.keys(a)) (a[k]!.data as Float32Array).forEach((x, i) => (maxDiff = Math.max(maxDiff, Math.abs(x - (b[k]!.data as Float32Array)[i]!))));
  t.true(maxDiff < 1e-5, `resumed weights differ by ${maxDiff}`);
  const again = await fitReward({ ...base, out: full });
  t.is(again.status, 'skipped', 'a finished fit is not redone');

  // Stage patch from stage video.
  const m1 = await loadRewardModel(full);
  const init = patchStageInit(m1.params!);
  t.deepEqual([...(init['patch_head.weight']!.data as Float32Array)], [...(m1.params!['video_head.weight']!.data as Float32Array)]);
  const r2 = await fitReward({ ...base, stage: 'patch', out: path.join(dir, 'stage2'), init: m1 });
  await m1.release();
  t.is(r2.status, 'fitted');
  const log2 = (await readFile(path.join(dir, 'stage2', 'train.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  t.true(mean(log2.slice(-6).map((l) => l.loss_patch)) < mean(log2.slice(0, 6).map((l) => l.loss_patch)), 'patch loss falls');
  const manifest = JSON.parse(await readFile(path.join(dir, 'stage2', 'manifest.json'), 'utf8'));
  t.is(manifest.kind, 'reward');
  t.is(manifest.reward.stage, 'patch');
  t.deepEqual(manifest.reward.grid, [4, 4, 4]);
});

test('the within-prompt term: ½ of the squared difference of errors, over same-prompt pairs and labelled keys', async (t) => {
  const g = new GraphBuilder();
  const [B, K] = [3, 2];
  const p = g.input('p', 'float32', [B, K]);
  const y = g.input('y', 'float32', [B, K]);
  const m = g.input('m', 'float32', [B, K]);
  const same = g.input('same', 'float32', [B, B]);
  g.output(withinPromptLoss(g, p, y, m, same), 'l');
  const s = await Session.create(g.graph);
  // videos 0 and 1 share a prompt, 2 is alone; key 1 of video 1 unlabelled
  const pred = [2, 3, 2.5, 1, 4, 4];
  const lab = [1, 3, 3.5, 0, 1, 1];
  const mask = [1, 1, 1, 0, 1, 1];
  const sm = [0, 1, 0, 1, 0, 0, 0, 0, 0];
  const run = async (pr: number[]) =>
    (
      await s.run({
        p: tensor('float32', [B, K], Float32Array.from(pr)),
        y: tensor('float32', [B, K], Float32Array.from(lab)),
        m: tensor('float32', [B, K], Float32Array.from(mask)),
        same: tensor('float32', [B, B], Float32Array.from(sm)),
      })
    ).l!.data[0] as number;
  // errors: video 0 (1, 0), video 1 (−1, masked): pairs (0,1) and (1,0) on key 0: ½·(1 − (−1))² = 2 each
  t.true(Math.abs((await run(pred)) - 2) < 1e-6);
  // the same error on both videos of the prompt (any size): zero
  t.true(Math.abs(await run([2, 3, 4.5, 1, 4, 4])) < 1e-6);
  await s.release();
});

test('grouped batches: runs of one prompt (at most 4 of its videos), every video of a small prompt once per epoch', (t) => {
  const groups = [[0, 1, 2, 3, 4, 5], [6, 7], [8, 9, 10, 11], [12]];
  const perEpoch = 4 + 2 + 4 + 1;
  const seen = [1, 2, 3].flatMap((step) => groupedBatchIndices(step, 11, groups, 5)).slice(0, perEpoch);
  t.deepEqual([...seen].filter((i) => i >= 6).sort((a, b) => a - b), [6, 7, 8, 9, 10, 11, 12]);
  t.is(seen.filter((i) => i < 6).length, 4);
  const groupOf = (i: number) => groups.findIndex((g) => g.includes(i));
  let runs = 1;
  for (let i = 1; i < seen.length; i++) if (groupOf(seen[i]!) !== groupOf(seen[i - 1]!)) runs++;
  t.is(runs, 4, 'each prompt appears as one run');
  t.deepEqual(groupedBatchIndices(2, 11, groups, 5), groupedBatchIndices(2, 11, groups, 5), 'deterministic');
  // later epochs draw other videos of the big prompt
  const big = new Set([0, 1, 2, 3, 4, 5, 6, 7, 8].flatMap((st) => groupedBatchIndices(st, 11, groups, 5)).filter((i) => i < 6));
  t.true(big.size > 4);
});

test('selection: the validation loss, or a Spearman (negated: lower is better)', (t) => {
  const m = { loss: 0.3, parts: {}, videoSpearman: 0.5, patchSpearman: 0.7 };
  t.is(selectionValue(undefined, m), 0.3);
  t.is(selectionValue('loss', m), 0.3);
  t.is(selectionValue('video', m), -0.5);
  t.is(selectionValue('patch', m), -0.7);
  t.is(selectionValue('patch', { ...m, patchSpearman: null }), null);
});

test.serial('fit --select video keeps the step of the best validation Spearman', async (t) => {
  const data = await load();
  const out = path.join(dir, 'select-video');
  const s = { ...settings, select: 'video' as const };
  await fitReward({ stage: 'video', data, arch, tokenizer: tokenizer.spec, name: 'rm-test', fps: 8, settings: s, inProcess: true, out });
  const log = (await readFile(path.join(out, 'train.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  const vals = log.filter((l) => 'val_video_spearman' in l);
  const best = vals.reduce((b, l) => (l.val_video_spearman > b.val_video_spearman ? l : b));
  const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8'));
  t.is(manifest.provenance.training.best_step, best.step);
  t.true(Math.abs(manifest.provenance.training.validation.videoSpearman - best.val_video_spearman) < 1e-4);
  // the within-prompt term: it is logged, and validated
  const ranked = path.join(dir, 'rank');
  await fitReward({ stage: 'video', data, arch, tokenizer: tokenizer.spec, name: 'rm-test', fps: 8, settings: { ...settings, loss: { ...settings.loss, rank: 1 } }, inProcess: true, out: ranked });
  const rlog = (await readFile(path.join(ranked, 'train.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  t.true(rlog.every((l) => typeof l.loss_rank === 'number' && l.loss_rank >= 0));
  t.true(rlog.some((l) => l.loss_rank > 0), 'batches hold videos of the same prompt');
  t.true(rlog.filter((l) => 'val_rank' in l).length === 3);
  await t.throwsAsync(() => fitReward({ stage: 'video', data, arch, tokenizer: tokenizer.spec, name: 'rm-test', fps: 8, settings: { ...settings, select: 'patch' }, inProcess: true, out: path.join(dir, 'select-patch') }), {
    message: /--select patch needs --stage patch/,
  });
});

test('videos of another size or length are resampled to the model, and the scores say so', async (t) => {
  t.deepEqual(frameIndices(4, 8), [1, 3, 5, 7]);
  t.deepEqual(frameIndices(4, 2), [0, 0, 1, 1]);
  const file = path.join(dir, 'odd.mp4');
  const [T, H, W] = [20, 48, 40];
  const data = new Uint8Array(T * H * W * 3).map((_, i) => (i * 7) % 256);
  await writeVideo(file, { frames: T, height: H, width: W, fps: 24, data });
  const mv = await loadModelVideo(file, { frames: 16, height: 32, width: 32 });
  t.is(mv.data.length, 16 * 32 * 32 * 3);
  t.deepEqual(mv.source, { frames: T, height: H, width: W, fps: 24 });
  t.regex(mv.resampled ?? '', /40×48 to 32×32.*aspect ratio not kept.*20 frames sampled evenly down to 16/);
});

test.serial('scoreVideos scores files and bytes alike', async (t) => {
  const m = await loadRewardModel(path.join(dir, 'full'), { batch: 4 });
  const labels = (await readFile(path.join(dir, 'labels.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  const file = path.join(dir, labels[0].video);
  const mv = await loadModelVideo(file, m.shape);
  const [a, b] = await scoreVideos(m, [
    { video: file, prompt: labels[0].prompt },
    { video: mv, prompt: labels[0].prompt },
  ]);
  await m.release();
  t.deepEqual(a, b);
  t.deepEqual(Object.keys(a!.video), [...SCORE_KEYS]);
  t.is(a!.patch.overall!.length, 64);
  t.is(a!.resampled, undefined);
});
