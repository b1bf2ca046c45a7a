// The prompt grammar of the shapes world: its vocabulary (shapes, colours with their RGB values,
// motions, backgrounds), the parser from prompt text to a structured scene, and the canonical
// text of a scene. In: prompt text; out: a Scene, or a PromptError saying which word broke the
// grammar and what was expected there (the oracle rejects such prompts rather than guess).
//
//   prompt  := object ( "and" object )? "on" article BACKGROUND "background"
//   object  := article COLOUR SHAPE MOTION
//   article := "a" | "an"            (the generator writes "an" before a vowel: "an orange circle")
//   MOTION  := "moves left" | "moves right" | "moves up" | "moves down"
//            | "moves up and to the left" | "moves up and to the right"
//            | "moves down and to the left" | "moves down and to the right"
//            | "bounces" | "grows" | "stays still"
// Two objects must have different colours; background colours are never object colours.
// See docs/world.md for the counts of combinations and the train/eval split.
import { HaloError } from '../cli/errors.js';

export const SHAPES = ['circle', 'square', 'triangle', 'diamond', 'cross'] as const;
export type Shape = (typeof SHAPES)[number];

export const COLOURS = ['red', 'orange', 'yellow', 'green', 'cyan', 'blue', 'purple', 'pink'] as const;
export type Colour = (typeof COLOURS)[number];

export const BACKGROUNDS = ['white', 'gray', 'black'] as const;
export type Background = (typeof BACKGROUNDS)[number];

export const MOTIONS = [
  'left', 'right', 'up', 'down', 'up-left', 'up-right', 'down-left', 'down-right', 'bounce', 'grow', 'still',
] as const;
export type Motion = (typeof MOTIONS)[number];

export type RGB = readonly [number, number, number];

/** The palette: saturated object colours far apart in RGB and hue, and grey-level backgrounds. */
export const RGB_OF: Readonly<Record<Colour | Background, RGB>> = {
  red: [220, 40, 40],
  orange: [245, 140, 20],
  yellow: [235, 215, 30],
  green: [40, 170, 70],
  cyan: [30, 190, 210],
  blue: [40, 80, 220],
  purple: [140, 60, 200],
  pink: [240, 110, 190],
  white: [235, 235, 235],
  gray: [128, 128, 128],
  black: [20, 20, 20],
};

/** The words of each motion, as they appear in prompts. */
export const MOTION_PHRASES: Readonly<Record<Motion, string>> = {
  left: 'moves left',
  right: 'moves right',
  up: 'moves up',
  down: 'moves down',
  'up-left': 'moves up and to the left',
  'up-right': 'moves up and to the right',
  'down-left': 'moves down and to the left',
  'down-right': 'moves down and to the right',
  bounce: 'bounces',
  grow: 'grows',
  still: 'stays still',
};

/** Unit direction of a straight motion in image coordinates (x right, y down); null otherwise. */
export function directionOf(motion: Motion): readonly [number, number] | null {
  const d = Math.SQRT1_2;
  switch (motion) {
    case 'left': return [-1, 0];
    case 'right': return [1, 0];
    case 'up': return [0, -1];
    case 'down': return [0, 1];
    case 'up-left': return [-d, -d];
    case 'up-right': return [d, -d];
    case 'down-left': return [-d, d];
    case 'down-right': return [d, d];
    default: return null;
  }
}

export interface SceneObject {
  shape: Shape;
  colour: Colour;
  motion: Motion;
}

export interface Scene {
  objects: SceneObject[];
  background: Background;
}

export const MAX_OBJECTS = 2;

/**
 * Every word the grammar uses, in a fixed order (the generator's word-level tokenizer builds
 * its vocabulary from this list; append only, never reorder).
 */
export const WORDS: readonly string[] = [
  'a', 'an', 'and', 'on', 'background',
  ...COLOURS,
  ...SHAPES,
  ...BACKGROUNDS,
  'moves', 'left', 'right', 'up', 'down', 'to', 'the', 'bounces', 'grows', 'stays', 'still',
];

/** Text outside the grammar; `detail` says which word and what was expected. */
export class PromptError extends HaloError {
  constructor(readonly detail: string) {
    super(detail);
    this.name = 'PromptError';
  }
}

const articleFor = (word: string): string => (/^[aeiou]/.test(word) ? 'an' : 'a');

function describeObject(o: SceneObject): string {
  return `${articleFor(o.colour)} ${o.colour} ${o.shape} ${MOTION_PHRASES[o.motion]}`;
}

/** The canonical prompt text of a scene. */
export function formatScene(scene: Scene): string {
  return `${scene.objects.map(describeObject).join(' and ')} on ${articleFor(scene.background)} ${scene.background} background`;
}

const list = (xs: readonly string[]): string => xs.join(', ');
const MOTION_TOKENS = MOTIONS.map((m) => [m, MOTION_PHRASES[m].split(' ')] as const)
  // longest phrase first, so "moves up and to the left" wins over "moves up"
  .sort((a, b) => b[1].length - a[1].length);

/** Parse prompt text (case and surrounding spaces ignored, one final '.' allowed) into a Scene. */
export function parsePrompt(text: string): Scene {
  if (typeof text !== 'string' || text.trim() === '') throw new PromptError('expected a prompt of the shapes world, got an empty text');
  const words = text.trim().toLowerCase().replace(/\.$/, '').split(/\s+/);
  let i = 0;
  const at = (): string => (i < words.length ? `word ${i + 1} ('${words[i]}')` : 'the end of the prompt');
  const fail = (expected: string): never => {
    throw new PromptError(`${at()}: expected ${expected}; the shapes world reads "a COLOUR SHAPE MOTION [and a COLOUR SHAPE MOTION] on a BACKGROUND background"`);
  };
  const article = (): void => {
    if (words[i] === 'a' || words[i] === 'an') i++;
    else fail("'a' or 'an'");
  };
  const oneOf = <T extends string>(options: readonly T[], what: string): T => {
    const w = words[i];
    if (w !== undefined && (options as readonly string[]).includes(w)) {
      i++;
      return w as T;
    }
    if (what === 'a colour' && w !== undefined && (BACKGROUNDS as readonly string[]).includes(w)) {
      fail(`${what} (${list(options)}); '${w}' is a background colour`);
    }
    if (what === 'a background colour' && w !== undefined && (COLOURS as readonly string[]).includes(w)) {
      fail(`${what} (${list(options)}); '${w}' is an object colour, never a background`);
    }
    return fail(`${what} (${list(options)})`);
  };
  const motion = (): Motion => {
    for (const [m, toks] of MOTION_TOKENS) {
      if (toks.every((t, k) => words[i + k] === t)) {
        i += toks.length;
        return m;
      }
    }
    return fail(`a motion (${MOTIONS.map((m) => `'${MOTION_PHRASES[m]}'`).join(', ')})`);
  };
  const objects: SceneObject[] = [];
  for (;;) {
    article();
    const colour = oneOf(COLOURS, 'a colour');
    const shape = oneOf(SHAPES, 'a shape');
    objects.push({ shape, colour, motion: motion() });
    if (words[i] === 'and') {
      if (objects.length >= MAX_OBJECTS) fail(`'on' (at most ${MAX_OBJECTS} objects)`);
      i++;
      continue;
    }
    if (words[i] === 'on') {
      i++;
      break;
    }
    fail(objects.length < MAX_OBJECTS ? "'and' or 'on'" : "'on'");
  }
  article();
  const background = oneOf(BACKGROUNDS, 'a background colour');
  if (words[i] !== 'background') fail("'background'");
  i++;
  if (i < words.length) fail('nothing after "background"');
  if (objects.length === 2 && objects[0]!.colour === objects[1]!.colour) {
    throw new PromptError(`the two objects are both ${objects[0]!.colour}; objects in one prompt must have different colours`);
  }
  return { objects, background };
}

/** Check a scene's values against the vocabulary (for scenes built in code). */
export function isScene(value: unknown): value is Scene {
  const s = value as Scene;
  if (!s || typeof s !== 'object' || !Array.isArray(s.objects)) return false;
  if (!(BACKGROUNDS as readonly string[]).includes(s.background)) return false;
  if (s.objects.length < 1 || s.objects.length > MAX_OBJECTS) return false;
  if (s.objects.length === 2 && s.objects[0]!.colour === s.objects[1]!.colour) return false;
  return s.objects.every(
    (o) => (SHAPES as readonly string[]).includes(o.shape) && (COLOURS as readonly string[]).includes(o.colour) && (MOTIONS as readonly string[]).includes(o.motion),
  );
}
