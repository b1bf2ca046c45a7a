// evaluateGenerator (the oracle's quality figures of a generator, docs/generator.md): the figures agree
// with the oracle's verdict on each returned clip, and direction_by_motion accounts for every video
// and averages the oracle's displacements.
import test from 'ava';
import { judgeVideo } from '../teachers/oracle-judge.js';
import { generateScenes } from '../world/split.js';
import { formatScene } from '../world/grammar.js';
import { DEFAULT_MODEL } from '../commands/sample.js';
import { evaluateGenerator } from './evaluate.js';
import { Generator } from './generator.js';

test('evaluateGenerator: figures are the oracle verdicts over the clips; observed motions add up per prompt motion', async (t) => {
  const gen = await Generator.load(DEFAULT_MODEL, { batch: 4 });
  const scenes = generateScenes({ n: 6, seed: 0, split: 'eval', objects: 1 });
  const { figures, clips } = await evaluateGenerator(gen, scenes, [0], { name: 'ddim', steps: 4, guidance: 2 }, 4);
  t.is(figures.videos, 6);
  t.is(clips.length, 6);
  let right = 0;
  const seen: Record<string, Record<string, number>> = {};
  const moved: Record<string, number[][]> = {};
  clips.forEach((c, i) => {
    t.is(c.prompt, formatScene(scenes[i]!));
    const f = judgeVideo(scenes[i]!, c).facts;
    if (f.directionMatch) right++;
    const m = scenes[i]!.objects[0]!.motion;
    const o = f.objects[0]?.observedMotion ?? 'absent';
    (seen[m] ??= {})[o] = (seen[m]![o] ?? 0) + 1;
    if (o !== 'absent') (moved[m] ??= []).push(f.objects[0]!.displacement);
  });
  t.is(figures.direction, Math.round((right / 6) * 1000) / 1000);
  for (const [m, v] of Object.entries(figures.direction_by_motion)) {
    t.deepEqual(v.observed, seen[m]);
    t.is(Object.values(v.observed).reduce((a, b) => a + b, 0), v.videos);
    t.is(v.direction, Math.round(((v.observed[m] ?? 0) / v.videos) * 1000) / 1000);
    const d = moved[m] ?? [];
    const mean = [0, 1].map((k) => (d.length ? Math.round((d.reduce((a, p) => a + p[k]!, 0) / d.length) * 10) / 10 : 0));
    t.deepEqual(v.mean_displacement, mean);
  }
  t.is(Object.values(figures.direction_by_motion).reduce((a, v) => a + v.videos, 0), 6);
});
