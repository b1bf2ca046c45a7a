// Quality of a generator in the shapes world, judged by the oracle (docs/generator.md): sample held-out
// prompts with fixed seeds and count videos that show one object of the prompt's colour, that move as
// the prompt says, the share of defective patches (oracle DEFECT_THRESHOLD), and the full-match rate.
// In: a Generator, scenes, seeds, sampler settings. Out: the figures and the clips (for contact sheets).

import { MOTIONS, Scene, formatScene } from '../world/grammar.js';
import { judgeVideo, isDefective } from '../teachers/oracle-judge.js';
import { ASPECTS } from '../records/aspects.js';
import { cthwToThwc } from './data.js';
import { Generator } from './generator.js';
import { SamplerSettings, sample } from './sampler.js';

export interface QualityFigures {
  videos: number;
  /** one object seen (median blob count 1) in the prompt's colour */
  colour_one_object: number;
  /** moves as the prompt says */
  direction: number;
  shape: number;
  background: number;
  /** colour, one object, direction, shape and background all right */
  all: number;
  /** share of patches with an aspect below the oracle's defect threshold */
  patch_defect_rate: number;
  /**
   * One-object prompts by their motion: how many, the share that moves as the prompt says, and what the
   * oracle saw instead (observed motion → videos; 'absent' when it found no object), and the mean net
   * displacement [x, y] in pixels (y down) of the videos where it found the object.
   */
  direction_by_motion: Record<string, { videos: number; direction: number; observed: Record<string, number>; mean_displacement: [number, number] }>;
  seconds: number;
}

export interface EvalClip {
  prompt: string;
  seed: number;
  data: Uint8Array;
  frames: number;
  height: number;
  width: number;
}

export async function evaluateGenerator(gen: Generator, scenes: Scene[], seeds: number[], settings: SamplerSettings, batch: number, onDone?: (n: number, total: number) => void) {
  const v = gen.video;
  const jobs = scenes.flatMap((scene) => seeds.map((seed) => ({ scene, seed, prompt: formatScene(scene) })));
  const clips: EvalClip[] = [];
  const count = { colour: 0, dir: 0, shape: 0, bg: 0, all: 0, patches: 0, defective: 0 };
  const byMotion: Record<string, { videos: number; right: number; observed: Record<string, number>; found: number; dx: number; dy: number }> = {};
  const t0 = performance.now();
  const nullText = await gen.encode([null]);
  const D = gen.textDim;
  for (let i = 0; i < jobs.length; i += batch) {
    const b = jobs.slice(i, i + batch);
    const text = await gen.encode(b.map((j) => j.prompt));
    const x = await sample({
      size: gen.size,
      seeds: b.map((j) => j.seed),
      settings,
      schedule: gen.schedule,
      predict: (xx, t, rows, cond) => {
        const f = new Float32Array(rows.length * D);
        rows.forEach((r, k) => f.set(cond[k] ? text.subarray(r * D, (r + 1) * D) : nullText, k * D));
        return gen.predictX0(xx, t, f);
      },
    });
    b.forEach((j, k) => {
      const data = cthwToThwc(x, v.frames, v.height, v.width, k * gen.size);
      const clip = { frames: v.frames, height: v.height, width: v.width, data };
      const judged = judgeVideo(j.scene, clip);
      const f = judged.facts;
      const one = f.colourMatch && f.objectCount === j.scene.objects.length;
      if (one) count.colour++;
      if (f.directionMatch) count.dir++;
      if (j.scene.objects.length === 1) {
        const m = (byMotion[j.scene.objects[0].motion] ??= { videos: 0, right: 0, observed: {}, found: 0, dx: 0, dy: 0 });
        m.videos++;
        if (f.directionMatch) m.right++;
        const o = f.objects[0];
        const seen = o?.observedMotion ?? 'absent';
        m.observed[seen] = (m.observed[seen] ?? 0) + 1;
        if (o && seen !== 'absent') {
          m.found++;
          m.dx += o.displacement[0];
          m.dy += o.displacement[1];
        }
      }
      if (f.shapeMatch) count.shape++;
      if (f.backgroundMatch) count.bg++;
      if (one && f.directionMatch && f.shapeMatch && f.backgroundMatch) count.all++;
      const n = judged.boxes.length;
      for (let p = 0; p < n; p++) {
        count.patches++;
        if (isDefective(Object.fromEntries(ASPECTS.map((a) => [a, judged.patch[a][p]])))) count.defective++;
      }
      clips.push({ prompt: j.prompt, seed: j.seed, ...clip });
    });
    onDone?.(Math.min(i + batch, jobs.length), jobs.length);
  }
  const n = jobs.length;
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  const r1 = (x: number) => Math.round(x * 10) / 10;
  const figures: QualityFigures = {
    videos: n,
    colour_one_object: r3(count.colour / n),
    direction: r3(count.dir / n),
    shape: r3(count.shape / n),
    background: r3(count.bg / n),
    all: r3(count.all / n),
    patch_defect_rate: r3(count.defective / count.patches),
    direction_by_motion: Object.fromEntries(
      MOTIONS.filter((k) => byMotion[k]).map((k) => {
        const m = byMotion[k];
        const mean: [number, number] = m.found ? [r1(m.dx / m.found), r1(m.dy / m.found)] : [0, 0];
        return [k, { videos: m.videos, direction: r3(m.right / m.videos), observed: m.observed, mean_displacement: mean }];
      }),
    ),
    seconds: Math.round((performance.now() - t0) / 100) / 10,
  };
  return { figures, clips };
}
