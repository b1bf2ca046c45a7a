// The versioned prompt template of the OpenAI-compatible VLM teacher, kept in this one file:
// the instructions for the three request kinds (a whole video from sampled frames; one patch
// from its storyboard; one temporal segment with the patch grid drawn and numbered), the
// re-ask message, and the zod schemas that validate the answers. Any change to a text or a
// schema here must bump TEMPLATE_VERSION: the version goes into every label's source and into
// the cache key, so labels from different templates never mix and old answers are not reused.
import { z } from 'zod';
import { ASPECTS, SCORE_MAX, SCORE_MIN, type Aspect } from '../records/aspects.js';

export const TEMPLATE_VERSION = 'halo-vlm-1';

export type RequestKind = 'video' | 'patch' | 'grid';

/** An image for a request, already encoded. */
export interface ImageInput {
  /** data: URL (data:image/png;base64,...). */
  url: string;
  detail: 'low' | 'high' | 'auto';
}

export type ContentPart =
  | { type: 'text'; text: string }
  | { type: 'image_url'; image_url: { url: string; detail?: 'low' | 'high' | 'auto' } };

export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string | ContentPart[] }
  | { role: 'assistant'; content: string };

const ASPECT_TEXT: Record<Aspect, string> = {
  visual_quality: 'clarity, sharpness, colour fidelity; no blur, noise, colour halos, holes or other artifacts',
  temporal_consistency: 'objects and background stay the same from frame to frame; no flicker, no identity or shape changes, no jumps',
  dynamic_degree: 'the amount of motion matches what the prompt asks (motion where the prompt has motion, stillness where it has none)',
  text_alignment: 'the content (objects, colours, shapes, directions) matches the prompt',
  factual_consistency: 'plausible physics and common sense; no splitting, teleporting, melting or impossible deformation',
};

const SCALE = `Score each aspect from ${SCORE_MIN} to ${SCORE_MAX}: 1 = bad, 2 = below average, 3 = good, 4 = perfect. Use integers.`;

const SYSTEM = [
  'You are a careful judge of AI-generated videos. You rate videos and regions of videos on five aspects:',
  ...ASPECTS.map((a) => `- ${a}: ${ASPECT_TEXT[a]}`),
  SCALE,
  'If an aspect cannot be judged from what you are shown, give null for it.',
  'Answer with one JSON object and nothing else.',
].join('\n');

const aspectsExample = `{${ASPECTS.map((a, i) => `"${a}": ${[3, 4, 2, 3, 4][i]}`).join(', ')}}`;

function text(t: string): ContentPart {
  return { type: 'text', text: t };
}

function image(img: ImageInput): ContentPart {
  return { type: 'image_url', image_url: { url: img.url, detail: img.detail } };
}

export interface VideoContext {
  prompt: string;
  frames: number;
  fps: number;
  width: number;
  height: number;
}

/** Whole-video request: the prompt and frames sampled evenly over the video. */
export function videoMessages(ctx: VideoContext, frameIndices: number[], images: ImageInput[]): ChatMessage[] {
  return [
    { role: 'system', content: SYSTEM },
    {
      role: 'user',
      content: [
        text(
          [
            `Prompt of the video: "${ctx.prompt}"`,
            `The video has ${ctx.frames} frames of ${ctx.width}x${ctx.height} pixels at ${ctx.fps} fps (shown enlarged).`,
            `Below are frames ${frameIndices.join(', ')} in order.`,
            'Rate the whole video on the five aspects.',
            `Answer format: ${aspectsExample}`,
          ].join('\n'),
        ),
        ...images.map(image),
      ],
    },
  ];
}

/** Box of a patch: [t0, t1, y0, y1, x0, x1], end-exclusive. */
export type Box = readonly [number, number, number, number, number, number];

/** Per-patch request: the patch's storyboard (its frames side by side). */
export function patchMessages(ctx: VideoContext, index: number, count: number, box: Box, storyboard: ImageInput): ChatMessage[] {
  const [t0, t1, y0, y1, x0, x1] = box;
  return [
    { role: 'system', content: SYSTEM },
    {
      role: 'user',
      content: [
        text(
          [
            `Prompt of the video: "${ctx.prompt}"`,
            `The video (${ctx.frames} frames of ${ctx.width}x${ctx.height} pixels) is cut into ${count} spatiotemporal patches.`,
            `The image shows patch ${index}: frames ${t0}-${t1 - 1}, rows ${y0}-${y1 - 1}, columns ${x0}-${x1 - 1}, its frames in order (a storyboard).`,
            'Rate only this region: judge what is visible in it against what the prompt implies for this part of the picture',
            '(a clean, steady background region where the prompt asks for background deserves high scores).',
            `Answer format: ${aspectsExample}`,
          ].join('\n'),
        ),
        image(storyboard),
      ],
    },
  ];
}

/** Batched request: one temporal segment, its frames with the patch grid drawn and numbered. */
export function gridMessages(
  ctx: VideoContext,
  segment: { index: number; count: number; t0: number; t1: number; frameIndices: number[] },
  cells: readonly number[],
  images: ImageInput[],
): ChatMessage[] {
  const example = `{"cells": [{"cell": ${cells[0]}, ${aspectsExample.slice(1, -1)}}, ...]}`;
  return [
    { role: 'system', content: SYSTEM },
    {
      role: 'user',
      content: [
        text(
          [
            `Prompt of the video: "${ctx.prompt}"`,
            `The video (${ctx.frames} frames of ${ctx.width}x${ctx.height} pixels) is cut into a grid of patches.`,
            `Below are frames ${segment.frameIndices.join(', ')} of temporal segment ${segment.index + 1} of ${segment.count} (frames ${segment.t0}-${segment.t1 - 1}), enlarged, with the patch grid drawn and each cell numbered.`,
            'Rate each cell over these frames: judge only what is visible in the cell against what the prompt implies for that part of the picture',
            '(a clean, steady background cell where the prompt asks for background deserves high scores).',
            `Cells: ${cells.join(', ')}`,
            `Answer with one entry per cell, every cell exactly once. Answer format: ${example}`,
          ].join('\n'),
        ),
        ...images.map(image),
      ],
    },
  ];
}

/** Appended after an invalid answer: the model's answer and what was wrong with it. */
export function reaskMessages(answer: string, problem: string): ChatMessage[] {
  return [
    { role: 'assistant', content: answer.slice(0, 4000) },
    { role: 'user', content: `That answer is not valid: ${problem}. Answer again with only the JSON object in the requested format.` },
  ];
}

const score = z.unknown().refine((v): v is number | null => v === null || (typeof v === 'number' && v >= SCORE_MIN && v <= SCORE_MAX), {
  error: (issue) => `expected a number from ${SCORE_MIN} to ${SCORE_MAX} (or null), got ${issue.input === undefined ? 'nothing' : JSON.stringify(issue.input)}`,
}) as unknown as z.ZodType<number | null>;

/** Scores for the five aspects (extra keys such as a reason are allowed and ignored). */
export const AspectAnswer = z.looseObject(
  Object.fromEntries(ASPECTS.map((a) => [a, score])) as Record<Aspect, typeof score>,
);
export type AspectAnswer = z.infer<typeof AspectAnswer>;

export const GridAnswer = z.looseObject({
  cells: z.array(AspectAnswer.extend({ cell: z.int() })),
});

/** The JSON text of an answer: the content itself, or the inside of a ```json fence. */
function jsonText(content: string): string {
  const fence = /```(?:json)?\s*([\s\S]*?)```/i.exec(content);
  return (fence ? fence[1]! : content).trim();
}

function issueText(error: z.ZodError): string {
  const issue = error.issues[0]!;
  const where = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
  const message = issue.code === 'invalid_type' && !where ? 'expected one JSON object' : issue.message;
  return where ? `${where}: ${message}` : message;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

/** Parse and validate a one-object answer (video or patch request). */
export function parseAspectAnswer(content: string): Parsed<AspectAnswer> {
  let value: unknown;
  try {
    value = JSON.parse(jsonText(content));
  } catch {
    return { ok: false, problem: 'the answer is not valid JSON' };
  }
  const r = AspectAnswer.safeParse(value);
  return r.success ? { ok: true, value: r.data } : { ok: false, problem: issueText(r.error) };
}

/** Parse and validate a grid answer: exactly the asked cells, each once. Scores keyed by cell. */
export function parseGridAnswer(content: string, cells: readonly number[]): Parsed<Map<number, AspectAnswer>> {
  let value: unknown;
  try {
    value = JSON.parse(jsonText(content));
  } catch {
    return { ok: false, problem: 'the answer is not valid JSON' };
  }
  const r = GridAnswer.safeParse(value);
  if (!r.success) return { ok: false, problem: issueText(r.error) };
  const asked = new Set(cells);
  const got = new Map<number, AspectAnswer>();
  for (const entry of r.data.cells) {
    if (!asked.has(entry.cell)) return { ok: false, problem: `cell ${entry.cell} was not asked (cells: ${cells.join(', ')})` };
    if (got.has(entry.cell)) return { ok: false, problem: `cell ${entry.cell} appears twice` };
    got.set(entry.cell, entry);
  }
  const absent = cells.filter((c) => !got.has(c));
  if (absent.length) return { ok: false, problem: `${absent.length === 1 ? 'cell' : 'cells'} ${absent.join(', ')} ${absent.length === 1 ? 'has' : 'have'} no entry` };
  return { ok: true, value: got };
}
