// Tests of the shapes world: grammar, split, prompt generation, renderer, and the halo-world
// command end to end (real binary, real ffmpeg).
import test from 'ava';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readVideo } from '../media/video.js';
import { SampleRecord } from '../records/schemas.js';
import { jsonl, runCli, tempDir } from '../testing/cli.js';
import { BACKGROUNDS, COLOURS, formatScene, MOTIONS, parsePrompt, PromptError, SHAPES, WORDS, type Scene } from './grammar.js';
import { CORRUPTIONS, corrupt } from './corrupt.js';
import { planScene } from './motion.js';
import { renderScene } from './render.js';
import { extentOf } from './shapes.js';
import { allScenes, countScenes, generateScenes, objectCombos, splitOf } from './split.js';

const dims = { frames: 16, height: 32, width: 32 };

test('the grammar has the documented size and split', (t) => {
  t.is(objectCombos().length, SHAPES.length * COLOURS.length * MOTIONS.length);
  t.is(objectCombos().length, 440);
  t.is(objectCombos('train').length, 388);
  t.is(objectCombos('eval').length, 52);
  t.is(countScenes('train', 1), 1164);
  t.is(countScenes('eval', 1), 156);
  t.is([...allScenes('eval', 1)].length, 156);
  t.is(countScenes('train', 2) + countScenes('eval', 2), 440 * (440 - 55) * BACKGROUNDS.length);
});

test('every word of every prompt is in the word list, and every listed word is used', (t) => {
  const used = new Set<string>();
  for (const split of ['train', 'eval'] as const) for (const s of allScenes(split, 1)) formatScene(s).split(' ').forEach((w) => used.add(w));
  for (const s of generateScenes({ n: 200, seed: 3, split: 'train', objects: 2 })) formatScene(s).split(' ').forEach((w) => used.add(w));
  t.deepEqual([...used].sort(), [...WORDS].sort());
});

test('every one-object prompt of both splits parses back to its scene', (t) => {
  let n = 0;
  for (const split of ['train', 'eval'] as const) {
    for (const scene of allScenes(split, 1)) {
      t.deepEqual(parsePrompt(formatScene(scene)), scene);
      n++;
    }
  }
  t.is(n, 1320);
});

test('generated two-object prompts parse back and stay in their split', (t) => {
  for (const split of ['train', 'eval'] as const) {
    for (const scene of generateScenes({ n: 300, seed: 7, split, objects: 2 })) {
      t.deepEqual(parsePrompt(formatScene(scene)), scene);
      t.is(splitOf(scene), split);
      t.not(scene.objects[0]!.colour, scene.objects[1]!.colour);
    }
  }
});

test('train and eval prompts are disjoint, and every pair of words of an eval prompt is seen in training', (t) => {
  const train = new Set([...allScenes('train', 1)].map(formatScene));
  const evalScenes = [...allScenes('eval', 1)];
  t.true(evalScenes.every((s) => !train.has(formatScene(s))));
  const trainObjects = objectCombos('train');
  for (const e of objectCombos('eval')) {
    t.true(trainObjects.some((o) => o.shape === e.shape && o.colour === e.colour), `${e.shape} ${e.colour}`);
    t.true(trainObjects.some((o) => o.colour === e.colour && o.motion === e.motion), `${e.colour} ${e.motion}`);
    t.true(trainObjects.some((o) => o.shape === e.shape && o.motion === e.motion), `${e.shape} ${e.motion}`);
  }
  const pairsTrain = new Set(generateScenes({ n: 500, seed: 1, split: 'train', objects: 2 }).map(formatScene));
  t.true(generateScenes({ n: 500, seed: 1, split: 'eval', objects: 2 }).every((s) => !pairsTrain.has(formatScene(s))));
});

test('generation is deterministic for a seed, and one-object draws do not repeat until the split runs out', (t) => {
  const a = generateScenes({ n: 50, seed: 5, split: 'train', objects: 'mixed' }).map(formatScene);
  t.deepEqual(generateScenes({ n: 50, seed: 5, split: 'train', objects: 'mixed' }).map(formatScene), a);
  t.notDeepEqual(generateScenes({ n: 50, seed: 6, split: 'train', objects: 'mixed' }).map(formatScene), a);
  t.true(a.some((p) => p.includes(' and ')) && a.some((p) => !p.includes(' and ')));
  const evalAll = generateScenes({ n: 156, seed: 2, split: 'eval', objects: 1 }).map(formatScene);
  t.is(new Set(evalAll).size, 156);
});

test('bad input: text outside the grammar is a PromptError naming the word and what was expected', (t) => {
  const cases: [string, RegExp][] = [
    ['a crimson circle moves right on a gray background', /word 2 \('crimson'\): expected a colour \(red, orange/],
    ['a red blob moves right on a gray background', /word 3 \('blob'\): expected a shape/],
    ['a red circle dances on a gray background', /word 4 \('dances'\): expected a motion/],
    ['a red circle moves right on a red background', /'red' is an object colour, never a background/],
    ['a red circle moves right and a red square moves up on a gray background', /both red; objects in one prompt must have different colours/],
    ['a red circle moves right on a gray background please', /word 10 \('please'\): expected nothing after "background"/],
    ['a red circle moves right', /the end of the prompt: expected 'and' or 'on'/],
    ['', /empty/],
    ['a red circle moves right and a blue square moves up and a green cross grows on a gray background', /at most 2 objects/],
  ];
  for (const [text, re] of cases) {
    const e = t.throws(() => parsePrompt(text), { instanceOf: PromptError });
    t.regex(e!.message, re, text);
  }
});

test('prompts are read case-insensitively, with "an" or "a", and a final full stop', (t) => {
  const s = parsePrompt('  An Orange Square moves up and to the left on a WHITE background. ');
  t.deepEqual(s, { objects: [{ shape: 'square', colour: 'orange', motion: 'up-left' }], background: 'white' });
  t.is(formatScene(s), 'an orange square moves up and to the left on a white background');
});

test('the renderer is deterministic for a seed and differs between seeds', (t) => {
  const scene = parsePrompt('a red circle moves right and a blue square bounces on a gray background');
  const a = renderScene(scene, dims, 3);
  t.is(a.length, 16 * 32 * 32 * 3);
  t.deepEqual(renderScene(scene, dims, 3), a);
  t.notDeepEqual(renderScene(scene, dims, 4), a);
});

test('rendered objects stay in frame, have the prompt colour, and move as told', (t) => {
  const scenes: Scene[] = [...allScenes('train', 1)].filter((_, i) => i % 7 === 0);
  for (const [i, scene] of scenes.entries()) {
    const plan = planScene(scene, dims, i);
    const o = plan.objects[0]!;
    for (let f = 0; f < dims.frames; f++) {
      const e = extentOf(o.shape, o.s[f]!);
      t.true(o.x[f]! - e.left >= 0 && o.x[f]! + e.right <= 32 && o.y[f]! - e.up >= 0 && o.y[f]! + e.down <= 32, formatScene(scene));
    }
    const dx = o.x[15]! - o.x[0]!;
    const dy = o.y[15]! - o.y[0]!;
    const m = scene.objects[0]!.motion;
    if (m.includes('right')) t.true(dx >= 7);
    if (m.includes('left')) t.true(dx <= -7);
    if (m === 'up' || m.startsWith('up-')) t.true(dy <= -7);
    if (m === 'down' || m.startsWith('down-')) t.true(dy >= 7);
    if (m === 'still' || m === 'grow') t.true(dx === 0 && dy === 0);
    if (m === 'grow') t.true(o.s[15]! >= 1.5 * o.s[0]!);
  }
});

test('two objects are drawn apart in most clips', (t) => {
  const scenes = generateScenes({ n: 200, seed: 9, split: 'train', objects: 2 });
  let apart = 0;
  for (const [i, scene] of scenes.entries()) {
    const [a, b] = planScene(scene, dims, i).objects as [ReturnType<typeof planScene>['objects'][number], ReturnType<typeof planScene>['objects'][number]];
    let ok = true;
    for (let f = 0; f < 16; f++) {
      const d = Math.hypot(a.x[f]! - b.x[f]!, a.y[f]! - b.y[f]!);
      if (d < a.s[f]! + b.s[f]!) ok = false;
    }
    if (ok) apart++;
  }
  t.true(apart >= 180, `${apart}/200 apart`);
});

test('corruptions change only their region, are deterministic, and do nothing at strength 0', (t) => {
  const scene = parsePrompt('a red circle moves right and a blue square moves down on a white background');
  const clip = { ...dims, data: renderScene(scene, dims, 1) };
  const region = [4, 8, 8, 24, 8, 24] as const;
  const inside = (f: number, y: number, x: number) => f >= 4 && f < 8 && y >= 8 && y < 24 && x >= 8 && x < 24;
  for (const kind of CORRUPTIONS) {
    const out = corrupt(clip, kind, { strength: kind === 'freeze' ? 3 : kind === 'teleport' ? 4 : 10, region, seed: 2, direction: [1, 0] });
    t.deepEqual(corrupt(clip, kind, { strength: kind === 'freeze' ? 3 : kind === 'teleport' ? 4 : 10, region, seed: 2, direction: [1, 0] }), out, kind);
    t.deepEqual(corrupt(clip, kind, { strength: 0, region }), clip.data, kind);
    let changedInside = 0;
    for (let f = 0; f < 16; f++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) for (let c = 0; c < 3; c++) {
      const i = ((f * 32 + y) * 32 + x) * 3 + c;
      if (out[i] === clip.data[i]) continue;
      t.true(inside(f, y, x), `${kind} changed a pixel outside its region (${f}, ${y}, ${x})`);
      changedInside++;
    }
    t.true(changedInside > 0, `${kind} changed nothing`);
  }
  t.deepEqual(clip.data, renderScene(scene, dims, 1));
});

test('e2e: halo-world prompts is deterministic, splits are disjoint, --all lists a split', async (t) => {
  const a = await runCli('world', ['prompts', '-n', '20', '--seed', '4', '--objects', 'mixed']);
  t.is(a.exitCode, 0, a.stderr);
  t.is(a.records.length, 20);
  const b = await runCli('world', ['prompts', '-n', '20', '--seed', '4', '--objects', 'mixed']);
  t.is(b.stdout, a.stdout);
  t.deepEqual(a.records[0]!.id, 'p0000');
  for (const r of a.records) {
    t.is(r.split, 'train');
    t.deepEqual(parsePrompt(r.prompt), r.scene);
  }
  const all = await runCli('world', ['prompts', '--all', '--split', 'eval']);
  t.is(all.exitCode, 0, all.stderr);
  t.is(all.records.length, 156);
  t.is(all.records[0]!.id, 'e0000');
  const train = new Set((await runCli('world', ['prompts', '--all'])).records.map((r) => r.prompt));
  t.is(train.size, 1164);
  t.true(all.records.every((r) => !train.has(r.prompt)));
});

test('e2e: --id-prefix gives ids that do not collide when two draws are combined', async (t) => {
  const a = await runCli('world', ['prompts', '-n', '3', '--seed', '11']);
  const b = await runCli('world', ['prompts', '-n', '3', '--seed', '12', '--id-prefix', 'q12-']);
  t.is(b.exitCode, 0, b.stderr);
  t.deepEqual(b.records.map((r) => r.id), ['q12-0000', 'q12-0001', 'q12-0002']);
  t.is(new Set([...a.records, ...b.records].map((r) => r.id)).size, 6);
  const bad = await runCli('world', ['prompts', '-n', '2', '--id-prefix', '../x']);
  t.is(bad.exitCode, 2);
  t.regex(bad.stderr, /--id-prefix: use letters, digits/);
  t.is(bad.stdout, '');
});

test('bad input: -n and --all together, or neither, are usage errors', async (t) => {
  const both = await runCli('world', ['prompts', '-n', '3', '--all']);
  t.is(both.exitCode, 2);
  t.regex(both.stderr, /-n and --all exclude each other/);
  const none = await runCli('world', ['prompts']);
  t.is(none.exitCode, 2);
  t.regex(none.stderr, /give -n N/);
  const objects = await runCli('world', ['prompts', '-n', '2', '--objects', '3']);
  t.is(objects.exitCode, 2);
  t.regex(objects.stderr, /--objects: expected 1, 2 or mixed, got '3'/);
});

test('e2e: halo-world render writes lossless videos and valid sample records, deterministic, and resumes', async (t) => {
  const dir = await tempDir();
  const prompts = (await runCli('world', ['prompts', '-n', '2', '--seed', '1', '--objects', 'mixed'])).records;
  const input = path.join(dir, 'prompts.jsonl');
  await writeFile(input, jsonl(prompts));
  const r = await runCli('world', ['render', input, '--out', 'out', '--samples-per-prompt', '2', '--seed', '5'], { cwd: dir });
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.records.length, 4);
  t.deepEqual(r.records.map((x) => x.sample_id), [`${prompts[0]!.id}-s05`, `${prompts[0]!.id}-s06`, `${prompts[1]!.id}-s05`, `${prompts[1]!.id}-s06`]);
  for (const rec of r.records) {
    const parsed = SampleRecord.safeParse(rec);
    t.true(parsed.success, JSON.stringify(rec));
    t.is(rec.model.name, 'halo-world-render@1');
    t.true(rec.video.startsWith('out/videos/'));
    const file = path.join(dir, rec.video);
    t.true(existsSync(file));
    const v = await readVideo(file);
    t.is(v.frames, 16);
    t.deepEqual(v.data, renderScene(parsePrompt(rec.prompt), dims, rec.seed));
  }
  // a second run skips, --force redoes, and both give the same records
  const again = await runCli('world', ['render', input, '--out', 'out', '--samples-per-prompt', '2', '--seed', '5', '--verbose'], { cwd: dir });
  t.is(again.exitCode, 0);
  t.is(again.stdout, r.stdout);
  t.regex(again.stderr, /rendered 0 clips, skipped 4/);
  const forced = await runCli('world', ['render', input, '--out', 'out', '--samples-per-prompt', '2', '--seed', '5', '--verbose', '--force'], { cwd: dir });
  t.regex(forced.stderr, /rendered 4 clips, skipped 0/);
});

test('e2e: render sizes and frame counts follow the flags', async (t) => {
  const dir = await tempDir();
  const r = await runCli('world', ['render', '--out', dir, '--frames', '8', '--height', '48', '--width', '64', '--fps', '4'], {
    input: jsonl([{ id: 'x', prompt: 'a green cross grows on a black background' }]),
  });
  t.is(r.exitCode, 0, r.stderr);
  const rec = r.records[0]!;
  t.true(path.isAbsolute(rec.video));
  const v = await readVideo(rec.video);
  t.deepEqual([v.frames, v.height, v.width, rec.fps], [8, 48, 64, 4]);
  t.deepEqual(v.data, renderScene(parsePrompt(rec.prompt), { frames: 8, height: 48, width: 64 }, 0));
});

test('bad input: render names the line and the prompt field of a prompt outside the grammar', async (t) => {
  const dir = await tempDir();
  const input = jsonl([
    { id: 'a', prompt: 'a red circle moves right on a gray background' },
    { id: 'b', prompt: 'a crimson circle moves right on a gray background' },
  ]);
  const r = await runCli('world', ['render', '--out', dir], { input });
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /halo-world: <stdin>:2: prompt: not a prompt of the shapes world: word 2 \('crimson'\): expected a colour/);
  const skip = await runCli('world', ['render', '--out', dir, '--skip-invalid'], { input });
  t.is(skip.exitCode, 0, skip.stderr);
  t.is(skip.records.length, 1);
  t.regex(skip.stderr, /<stdin>:2: prompt: .*\(skipped\)/);
  const noPrompt = await runCli('world', ['render', '--out', dir], { input: jsonl([{ id: 'c' }]) });
  t.is(noPrompt.exitCode, 1);
  t.regex(noPrompt.stderr, /<stdin>:1: prompt: /);
});
