// The train/eval split of the shapes world and prompt generation. In: a split, a number of
// objects and a seed; out: scenes (and prompt records). A (shape, colour, motion) combination is
// eval-only when a salted FNV-1a hash of it is 0 mod 8: a fixed, documented subset, so eval
// prompts never appear in training. A scene is eval when any of its objects is eval-only.
import { UsageError } from '../cli/errors.js';
import { BACKGROUNDS, COLOURS, MOTIONS, SHAPES, formatScene, type Scene, type SceneObject } from './grammar.js';
import { hashString, makeRng, shuffle, type Rng } from './random.js';

export type Split = 'train' | 'eval';
export type ObjectCount = 1 | 2 | 'mixed';

export const SPLIT_SALT = 'halo-world/split/v1';
export const EVAL_MODULUS = 8;

const key = (o: SceneObject): string => `${o.shape} ${o.colour} ${o.motion}`;

/** Whether a (shape, colour, motion) combination is held out for evaluation. */
export function isEvalObject(o: SceneObject): boolean {
  return hashString(`${SPLIT_SALT}:${key(o)}`) % EVAL_MODULUS === 0;
}

/** The split a scene belongs to: eval when any object is an eval-only combination. */
export function splitOf(scene: Scene): Split {
  return scene.objects.some(isEvalObject) ? 'eval' : 'train';
}

/** All (shape, colour, motion) combinations, in vocabulary order; only one split's when given. */
export function objectCombos(split?: Split): SceneObject[] {
  const out: SceneObject[] = [];
  for (const shape of SHAPES) {
    for (const colour of COLOURS) {
      for (const motion of MOTIONS) {
        const o = { shape, colour, motion };
        if (split === undefined || (split === 'eval') === isEvalObject(o)) out.push(o);
      }
    }
  }
  return out;
}

/** Every scene of a split with `objects` objects, in a fixed order (background, then objects). */
export function* allScenes(split: Split, objects: 1 | 2): Generator<Scene> {
  const all = objectCombos();
  for (const background of BACKGROUNDS) {
    if (objects === 1) {
      for (const o of all) if (isEvalObject(o) === (split === 'eval')) yield { objects: [o], background };
      continue;
    }
    for (const a of all) {
      for (const b of all) {
        if (a.colour === b.colour) continue;
        const scene = { objects: [a, b], background };
        if (splitOf(scene) === split) yield scene;
      }
    }
  }
}

/** How many distinct scenes a split holds (computed, not stored). */
export function countScenes(split: Split, objects: 1 | 2): number {
  if (objects === 1) return objectCombos(split).length * BACKGROUNDS.length;
  const all = objectCombos();
  const trainOnly = objectCombos('train');
  const pairs = (xs: SceneObject[]): number => {
    let n = 0;
    for (const a of xs) for (const b of xs) if (a.colour !== b.colour) n++;
    return n;
  };
  const train = pairs(trainOnly);
  return (split === 'train' ? train : pairs(all) - train) * BACKGROUNDS.length;
}

function pick<T>(xs: readonly T[], rng: Rng): T {
  return xs[rng.int(xs.length)]!;
}

export interface GenerateOptions {
  n: number;
  seed: number;
  split: Split;
  objects: ObjectCount;
}

/**
 * `n` scenes of a split, deterministic for a seed. One-object scenes are drawn without repeats
 * (a shuffled pass over the split) and a new shuffled pass starts when the split runs out;
 * two-object scenes are drawn at random without repeats.
 */
export function generateScenes(options: GenerateOptions): Scene[] {
  const { n, seed, split, objects } = options;
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`-n: expected a non-negative integer, got ${n}`);
  const rng = makeRng(seed);
  const singles = [...allScenes(split, 1)];
  let pass: Scene[] = [];
  const single = (): Scene => {
    if (pass.length === 0) pass = shuffle([...singles], rng);
    return pass.pop()!;
  };
  const train = objectCombos('train');
  const evalOnly = objectCombos('eval');
  const all = objectCombos();
  const seen = new Set<string>();
  const pair = (): Scene => {
    for (let attempt = 0; ; attempt++) {
      const background = pick(BACKGROUNDS, rng);
      const a = pick(split === 'train' ? train : evalOnly, rng);
      const pool = (split === 'train' ? train : all).filter((o) => o.colour !== a.colour);
      const b = pick(pool, rng);
      const objs = split === 'eval' && rng.next() < 0.5 ? [b, a] : [a, b];
      const scene = { objects: objs, background };
      const text = formatScene(scene);
      if (!seen.has(text) || attempt > 1000) {
        seen.add(text);
        return scene;
      }
    }
  };
  const out: Scene[] = [];
  for (let i = 0; i < n; i++) {
    const two = objects === 2 || (objects === 'mixed' && rng.next() < 0.5);
    out.push(two ? pair() : single());
  }
  return out;
}

export interface WorldPromptRecord {
  id: string;
  prompt: string;
  split: Split;
  scene: Scene;
}

/** Prompt records for scenes: ids p0000… (train) or e0000… (eval), or `<idPrefix>0000…`, in order. */
export function promptRecords(scenes: Iterable<Scene>, split: Split, total?: number, idPrefix?: string): Generator<WorldPromptRecord> {
  const width = Math.max(4, String(Math.max(0, (total ?? 0) - 1)).length);
  const prefix = idPrefix ?? (split === 'eval' ? 'e' : 'p');
  return (function* () {
    let i = 0;
    for (const scene of scenes) {
      yield { id: `${prefix}${String(i++).padStart(width, '0')}`, prompt: formatScene(scene), split, scene };
    }
  })();
}
