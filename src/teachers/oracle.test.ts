// Tests of the oracle: ground truth scores near the top at video and patch level; controlled
// corruptions (src/world/corrupt.ts) lower the right aspects of the right patches, leave far
// patches alone, and stronger corruptions score lower; facts and errors; halo-label end to end.
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DataError } from '../cli/errors.js';
import { patchLayout, type Box } from '../halo/patches.js';
import { writeVideo } from '../media/video.js';
import { ASPECTS, type Aspect } from '../records/aspects.js';
import { jsonl, runCli, tempDir } from '../testing/cli.js';
import { corrupt, type CorruptionKind } from '../world/corrupt.js';
import { parsePrompt, type Scene } from '../world/grammar.js';
import { planScene } from '../world/motion.js';
import { renderScene } from '../world/render.js';
import { allScenes, generateScenes } from '../world/split.js';
import { createOracleTeacher, DEFECT_THRESHOLD, isDefective, judgeVideo, ORACLE_VERSION, OracleTeacher, type Judgement } from './oracle.js';

const dims = { frames: 16, height: 32, width: 32 };
const clipOf = (scene: Scene, seed: number, data = renderScene(scene, dims, seed)) => ({ ...dims, data });
const minOf = (xs: number[]): number => Math.min(...xs);

function patchAspects(j: Judgement, i: number): Record<Aspect, number> {
  return Object.fromEntries(ASPECTS.map((a) => [a, j.patch[a][i]!])) as Record<Aspect, number>;
}

test('ground truth scores near the top, at video and patch level, with all facts true', (t) => {
  const one = [...allScenes('train', 1)].filter((_, i) => i % 29 === 0);
  const two = generateScenes({ n: 25, seed: 11, split: 'eval', objects: 2 });
  let patches = 0;
  let high = 0;
  for (const [i, scene] of [...one, ...two].entries()) {
    const j = judgeVideo(scene, clipOf(scene, i));
    for (const a of ASPECTS) t.true(j.video[a] >= 3.7, `${a} ${j.video[a]}: ${JSON.stringify(scene)}`);
    t.true(j.video.overall >= 3.85);
    t.is(j.patch.overall.length, 64);
    for (let p = 0; p < 64; p++) {
      const s = patchAspects(j, p);
      t.false(isDefective(s), `patch ${p} ${JSON.stringify(s)}`);
      patches++;
      if (minOf(Object.values(s)) >= 3.5) high++;
    }
    const f = j.facts;
    t.true(f.colourMatch && f.shapeMatch && f.directionMatch && f.backgroundMatch, JSON.stringify(f));
    t.is(f.objectCount, scene.objects.length);
  }
  t.true(high / patches >= 0.97, `${high}/${patches} patches with every aspect ≥ 3.5`);
});

test('the judgement is deterministic and follows the given boxes', (t) => {
  const scene = parsePrompt('a cyan triangle bounces and an orange cross moves left on a black background');
  const clip = clipOf(scene, 4);
  t.deepEqual(judgeVideo(scene, clip), judgeVideo(scene, clip));
  const layout = patchLayout([16, 32, 32], { grid: [3, 5, 2] });
  const j = judgeVideo(scene, clip, layout.boxes);
  t.is(j.patch.visual_quality.length, 30);
  t.deepEqual(j.boxes, layout.boxes);
  for (const a of ASPECTS) t.true(j.video[a] >= 3.7);
});

// ---- controlled corruptions ---------------------------------------------------------------

const SCENES = [
  'a red circle moves right on a gray background',
  'a blue square moves down and to the left on a white background',
  'a yellow triangle moves up on a black background',
  'a green diamond moves left on a white background',
  'a purple cross moves down and to the right on a gray background',
];

interface Setup {
  scene: Scene;
  clip: ReturnType<typeof clipOf>;
  base: Judgement;
  /** The patch of frames 4–7 holding the object's centre at frame 5. */
  target: number;
  /** A region around the object over frames 4–7 (for freeze and teleport). */
  around: Box;
  /** Unit direction across the object's motion. */
  across: [number, number];
}

function setup(prompt: string): Setup {
  const scene = parsePrompt(prompt);
  const clip = clipOf(scene, 1);
  const base = judgeVideo(scene, clip);
  const o = planScene(scene, dims, 1).objects[0]!;
  const [cx, cy] = [o.x[5]!, o.y[5]!];
  const target = base.boxes.findIndex((b) => b[0] === 4 && cy >= b[2] && cy < b[3] && cx >= b[4] && cx < b[5]);
  const around: Box = [4, 8, Math.max(0, Math.floor(cy - 8)), Math.min(32, Math.ceil(cy + 8)), Math.max(0, Math.floor(cx - 8)), Math.min(32, Math.ceil(cx + 8))];
  const [mx, my] = [o.x[15]! - o.x[0]!, o.y[15]! - o.y[0]!];
  const n = Math.hypot(mx, my);
  return { scene, clip, base, target, around, across: [-my / n, mx / n] };
}

const SETUPS = SCENES.map(setup);

/** Grid distance of patch i from patch j in time and in space (patches are 4×4×4 here). */
function distance(i: number, j: number): { time: number; space: number } {
  const pos = (k: number) => [Math.floor(k / 16), Math.floor(k / 4) % 4, k % 4] as const;
  const [a, b] = [pos(i), pos(j)];
  return { time: Math.abs(a[0] - b[0]), space: Math.max(Math.abs(a[1] - b[1]), Math.abs(a[2] - b[2])) };
}

interface Case {
  kind: CorruptionKind;
  /** The aspect the corruption must lower most in the target patch. */
  aspect: Aspect;
  /** Three strengths, weakest first. */
  strengths: [number, number, number];
  /** The least drop of that aspect at the middle strength. */
  drop: number;
  region: 'patch' | 'around';
}

const CASES: Case[] = [
  { kind: 'blur', aspect: 'visual_quality', strengths: [0.9, 1.2, 2], drop: 1, region: 'patch' },
  { kind: 'noise', aspect: 'visual_quality', strengths: [6, 12, 24], drop: 1, region: 'patch' },
  { kind: 'colour_shift', aspect: 'visual_quality', strengths: [5, 10, 20], drop: 0.4, region: 'patch' },
  { kind: 'flicker', aspect: 'temporal_consistency', strengths: [3, 6, 12], drop: 1, region: 'patch' },
  { kind: 'freeze', aspect: 'dynamic_degree', strengths: [1, 2, 3], drop: 1, region: 'around' },
  { kind: 'teleport', aspect: 'factual_consistency', strengths: [2, 3, 5], drop: 1.5, region: 'around' },
];

for (const c of CASES) {
  test(`${c.kind} lowers ${c.aspect} of the patch it hits, leaves far patches alone, and stronger is lower`, (t) => {
    for (const s of SETUPS) {
      const region = c.region === 'patch' ? s.base.boxes[s.target]! : s.around;
      const runs = c.strengths.map((strength) =>
        judgeVideo(s.scene, { ...dims, data: corrupt(s.clip, c.kind, { strength, region, seed: 5, direction: s.across }) }),
      );
      const label = `${c.kind} on "${formatShort(s.scene)}"`;
      const before = patchAspects(s.base, s.target);
      const after = runs.map((r) => patchAspects(r, s.target));
      // the right aspect, clearly
      t.true(before[c.aspect] - after[1]![c.aspect] >= c.drop, `${label}: ${c.aspect} ${before[c.aspect]} → ${after[1]![c.aspect]}`);
      // ... and more than any other aspect at the strongest setting
      const drops = ASPECTS.map((a) => before[a] - after[2]![a]);
      t.is(ASPECTS[drops.indexOf(Math.max(...drops))], c.aspect, `${label}: drops ${drops.map((d) => d.toFixed(2)).join(' ')}`);
      // stronger corruption, lower score (patch and video)
      t.true(after[0]![c.aspect] > after[1]![c.aspect] + 0.05 && after[1]![c.aspect] > after[2]![c.aspect] + 0.05, `${label}: ${after.map((x) => x[c.aspect]).join(' > ')}`);
      t.true(s.base.video[c.aspect] > runs[0]!.video[c.aspect] && runs[0]!.video[c.aspect] > runs[1]!.video[c.aspect] && runs[1]!.video[c.aspect] > runs[2]!.video[c.aspect], `${label}: video ${[s.base, ...runs].map((r) => r.video[c.aspect]).join(' > ')}`);
      // the target becomes defective at the strongest setting
      t.true(isDefective(after[2]!), `${label}: ${JSON.stringify(after[2])}`);
      // far patches (two or more patches away in time or space) do not change at all
      for (const r of runs) {
        for (let i = 0; i < 64; i++) {
          const d = distance(i, s.target);
          if (d.time < 2 && d.space < 2) continue;
          for (const a of ASPECTS) t.is(r.patch[a][i], s.base.patch[a][i], `${label}: patch ${i} ${a}`);
        }
      }
    }
  });
}

function formatShort(scene: Scene): string {
  const o = scene.objects[0]!;
  return `${o.colour} ${o.shape} ${o.motion} on ${scene.background}`;
}

test('a large colour shift is a text-alignment defect: the object shows another named colour', (t) => {
  for (const s of SETUPS) {
    const region = s.base.boxes[s.target]!;
    const hit = judgeVideo(s.scene, { ...dims, data: corrupt(s.clip, 'colour_shift', { strength: 120, region }) });
    t.true(hit.patch.text_alignment[s.target]! <= 1.5, `${formatShort(s.scene)}: ${hit.patch.text_alignment[s.target]}`);
    t.is(s.base.patch.text_alignment[s.target], 4);
    t.true(hit.video.text_alignment < s.base.video.text_alignment - 0.3);
  }
});

test('wrong colour, shape, direction and missing objects show in the facts and the video scores', (t) => {
  const judge = (rendered: string, asked: string) => judgeVideo(parsePrompt(asked), clipOf(parsePrompt(rendered), 2));
  const right = judge('a red circle moves right on a gray background', 'a red circle moves right on a gray background');
  const colour = judge('an orange circle moves right on a gray background', 'a red circle moves right on a gray background');
  t.true(colour.video.text_alignment <= 1.5 && right.video.text_alignment === 4);
  t.true(colour.video.visual_quality < 3);
  const absent = judge('a blue circle moves right on a gray background', 'a red circle moves right on a gray background');
  t.false(absent.facts.colourMatch);
  t.is(absent.facts.objects[0]!.observedMotion, 'absent');
  const left = judge('a red circle moves left on a gray background', 'a red circle moves right on a gray background');
  t.false(left.facts.directionMatch);
  t.is(left.facts.objects[0]!.observedMotion, 'left');
  t.true(left.video.dynamic_degree <= 1.5);
  const still = judge('a red circle stays still on a gray background', 'a red circle moves right on a gray background');
  t.is(still.facts.objects[0]!.observedMotion, 'still');
  t.true(still.video.dynamic_degree <= 2);
  const square = judge('a red square moves right on a gray background', 'a red circle moves right on a gray background');
  t.false(square.facts.shapeMatch);
  t.is(square.facts.objects[0]!.observedShape, 'square');
  t.true(square.video.text_alignment <= 1.5);
  const grows = judge('a red triangle grows on a gray background', 'a red triangle bounces on a gray background');
  t.is(grows.facts.objects[0]!.observedMotion, 'grow');
  t.true(grows.video.dynamic_degree <= 2.5);
  const missing = judge('a red circle moves right on a gray background', 'a red circle moves right and a blue square moves up on a gray background');
  t.is(missing.facts.objectCount, 1);
  t.false(missing.facts.colourMatch);
  t.true(missing.video.text_alignment <= 1.5);
  const extra = judge('a red circle moves right and a blue square moves up on a gray background', 'a red circle moves right on a gray background');
  t.is(extra.facts.objectCount, 2);
  t.true(extra.video.text_alignment <= 1.5);
  const background = judge('a red circle moves right on a white background', 'a red circle moves right on a gray background');
  t.false(background.facts.backgroundMatch);
  t.true(background.video.text_alignment <= 1.5);
});

test('the defect threshold: a patch is defective when any aspect is below 2.5', (t) => {
  t.is(DEFECT_THRESHOLD, 2.5);
  const ok = { visual_quality: 4, temporal_consistency: 3, dynamic_degree: 2.5, text_alignment: 4, factual_consistency: 4 };
  t.false(isDefective(ok));
  t.true(isDefective({ ...ok, factual_consistency: 2.49 }));
});

// ---- the Teacher -----------------------------------------------------------------------------

async function renderedRecord(dir: string, prompt: string) {
  const scene = parsePrompt(prompt);
  const file = path.join(dir, 'v.mp4');
  await writeVideo(file, { ...dims, fps: 8, data: renderScene(scene, dims, 3) });
  const layout = patchLayout([16, 32, 32], { grid: [4, 4, 4] });
  const record = { id: 'p', prompt, sample_id: 'p-s03', seed: 3, video: 'v.mp4', frames: 16, height: 32, width: 32, fps: 8, patches: { ...layout, dir: 'patches' } };
  return { record, file };
}

test('the teacher labels a decoded video exactly as the in-process judge does', async (t) => {
  const dir = await tempDir();
  const prompt = 'a pink diamond moves down on a black background';
  const { record, file } = await renderedRecord(dir, prompt);
  const teacher = createOracleTeacher() as OracleTeacher;
  const labels = await teacher.label({ record, place: { source: 'x.jsonl', line: 1 }, videoPath: file, wantPatches: true });
  const j = judgeVideo(parsePrompt(prompt), clipOf(parsePrompt(prompt), 3), record.patches.boxes as Box[]);
  t.deepEqual(labels.source, { teacher: 'oracle', version: ORACLE_VERSION });
  t.deepEqual(labels.video, j.video);
  t.deepEqual(labels.patch, j.patch);
  t.deepEqual((labels as { facts?: unknown }).facts, j.facts);
  const videoOnly = await teacher.label({ record, place: { source: 'x.jsonl', line: 1 }, videoPath: file, wantPatches: false });
  t.is(videoOnly.patch, undefined);
  t.regex(teacher.summary().join('\n'), /oracle: 2 videos, 64 patches judged/);
});

test('bad input: a prompt outside the grammar is a DataError naming the line and prompt', async (t) => {
  const dir = await tempDir();
  const { record, file } = await renderedRecord(dir, 'a red circle moves right on a gray background');
  const teacher = new OracleTeacher();
  const e = await t.throwsAsync(
    teacher.label({ record: { ...record, prompt: 'a red car drives right on a gray road' }, place: { source: 'in.jsonl', line: 7 }, videoPath: file, wantPatches: true }),
    { instanceOf: DataError },
  );
  t.regex(e!.message, /^in\.jsonl:7: prompt: not a prompt of the shapes world, so the oracle cannot judge it: word 3 \('car'\): expected a shape/);
});

test('bad input: boxes outside the video or a frame count that differs are named', async (t) => {
  const dir = await tempDir();
  const { record, file } = await renderedRecord(dir, 'a red circle moves right on a gray background');
  const teacher = new OracleTeacher();
  const place = { source: 'in.jsonl', line: 2 };
  const boxes = record.patches.boxes.map((b, i): Box => (i === 5 ? [0, 4, 0, 8, 28, 36] : (b as Box)));
  const e1 = await t.throwsAsync(teacher.label({ record: { ...record, patches: { ...record.patches, boxes } }, place, videoPath: file, wantPatches: true }));
  t.regex(e1!.message, /^in\.jsonl:2: patches\.boxes\[5\]: expected a box inside the 16×32×32 video, got \[0, 4, 0, 8, 28, 36\]/);
  const e2 = await t.throwsAsync(
    teacher.label({ record: { ...record, patches: { ...record.patches, video: [12, 32, 32] } }, place, videoPath: file, wantPatches: true }),
  );
  t.regex(e2!.message, /^in\.jsonl:2: patches\.video: .*decodes to 16×32×32, but its patches were cut from 12×32×32/);
  const e3 = await t.throwsAsync(teacher.label({ record, place, videoPath: path.join(dir, 'missing.mp4'), wantPatches: true }));
  t.regex(e3!.message, /^in\.jsonl:2: video: /);
});

test('e2e: halo-world render | halo-patchify | halo-label --teacher oracle', async (t) => {
  const dir = await tempDir();
  const prompts = jsonl([
    { id: 'a', prompt: 'a red circle moves right on a gray background' },
    { id: 'b', prompt: 'a green cross grows and a blue triangle moves up on a white background' },
  ]);
  const rendered = await runCli('world', ['render', '--out', 'w'], { input: prompts, cwd: dir });
  t.is(rendered.exitCode, 0, rendered.stderr);
  const patched = await runCli('patchify', ['--out', 'w'], { input: rendered.stdout, cwd: dir });
  t.is(patched.exitCode, 0, patched.stderr);
  await writeFile(path.join(dir, 'patches.jsonl'), patched.stdout);
  const labeled = await runCli('label', ['patches.jsonl', '--teacher', 'oracle'], { cwd: dir });
  t.is(labeled.exitCode, 0, labeled.stderr);
  t.is(labeled.records.length, 2);
  for (const r of labeled.records) {
    t.deepEqual(r.labels.source, { teacher: 'oracle', version: 'oracle@1' });
    t.is(r.labels.patch.overall.length, 64);
    for (const a of ASPECTS) t.true(r.labels.video[a] >= 3.7);
    t.true(r.labels.facts.directionMatch);
  }
  const bad = jsonl([JSON.parse(patched.stdout.split('\n')[0]!), { ...JSON.parse(patched.stdout.split('\n')[0]!), prompt: 'a red circle moves sideways on a gray background' }]);
  const failed = await runCli('label', ['--teacher', 'oracle'], { input: bad, cwd: dir });
  t.is(failed.exitCode, 1);
  t.regex(failed.stderr, /<stdin>:2: prompt: not a prompt of the shapes world, so the oracle cannot judge it: word 4 \('moves'\): expected a motion/);
});
