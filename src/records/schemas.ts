// The JSONL record types, each declared once: a zod schema that validates at read time and
// gives the TypeScript type. Records are "loose": a stage keeps every field it was given and
// adds its own, so any stage can read a later stage's output (docs/records.md).
import { z } from 'zod';
import { ASPECTS, SCORE_KEYS } from './aspects.js';

const int = z.int();
const posInt = z.int().positive();
const triple = z.tuple([posInt, posInt, posInt], { error: 'expected 3 integers' });

/** A text prompt. */
export const PromptRecord = z.looseObject({
  id: z.string().min(1),
  prompt: z.string().min(1, { error: 'expected a non-empty prompt' }),
});
export type PromptRecord = z.infer<typeof PromptRecord>;

/** The model (or renderer) that made a video, with the content hash of its weights. */
export const ModelRef = z.looseObject({
  name: z.string().min(1),
  sha256: z.string().optional(),
});

/** One video for a prompt: a generated sample or a rendered ground truth. */
export const SampleRecord = PromptRecord.extend({
  sample_id: z.string().min(1),
  seed: int,
  video: z.string().min(1),
  frames: posInt,
  height: posInt,
  width: posInt,
  fps: z.number().positive(),
  model: ModelRef.optional(),
});
export type SampleRecord = z.infer<typeof SampleRecord>;

/**
 * Patch geometry of a video. `grid` = [gt, gh, gw] patches along time, height, width;
 * `video` = [T, H, W] of the tensor that was cut; `boxes[i]` = [t0, t1, y0, y1, x0, x1]
 * (end-exclusive) for patch i, ordered time-major then row then column:
 * i = (it * gh + iy) * gw + ix. `size` is the nominal patch size (the largest box).
 * `dir` holds the artifacts; `storyboards[i]` is patch i's PNG (relative to the record's folder).
 */
export const PatchGeometry = z.looseObject({
  grid: triple,
  size: triple,
  video: triple,
  boxes: z.array(z.tuple([int, int, int, int, int, int])),
  dir: z.string().min(1),
  storyboards: z.array(z.string()).optional(),
  clips: z.array(z.string()).optional(),
});
export type PatchGeometry = z.infer<typeof PatchGeometry>;

export const PatchesRecord = SampleRecord.extend({ patches: PatchGeometry });
export type PatchesRecord = z.infer<typeof PatchesRecord>;

const score = z.number().min(1).max(4).nullable();
const videoScores = z.looseObject(
  Object.fromEntries(SCORE_KEYS.map((k) => [k, score.optional()])) as Record<(typeof SCORE_KEYS)[number], z.ZodOptional<typeof score>>,
);
const patchScores = z.looseObject(
  Object.fromEntries(SCORE_KEYS.map((k) => [k, z.array(score).optional()])) as Record<
    (typeof SCORE_KEYS)[number],
    z.ZodOptional<z.ZodArray<typeof score>>
  >,
);

/** Who gave a label: teacher name and version, the model behind it, the prompt template. */
export const LabelSource = z.looseObject({
  teacher: z.string().min(1),
  version: z.string().min(1),
  model: z.string().optional(),
  template: z.string().optional(),
});

/**
 * Teacher labels. A score a teacher could not give is null, and `missing` says why, keyed
 * by `video.<aspect>` or `patch.<aspect>[<i>]` (or `patch.<aspect>` for a whole aspect).
 */
export const Labels = z.looseObject({
  source: LabelSource,
  video: videoScores,
  patch: patchScores.optional(),
  missing: z.record(z.string(), z.string()).optional(),
  annotators: z.int().nonnegative().optional(),
});
export type Labels = z.infer<typeof Labels>;

export const LabelsRecord = SampleRecord.extend({ labels: Labels });
export type LabelsRecord = z.infer<typeof LabelsRecord>;

/** Reward-model scores at both scales (numbers, on the teacher's 1–4 scale). */
export const Scores = z.looseObject({
  model: z.string().min(1),
  video: z.record(z.string(), z.number()),
  patch: z.record(z.string(), z.array(z.number())).optional(),
  resampled: z.string().optional(),
});
export type Scores = z.infer<typeof Scores>;

export const ScoresRecord = SampleRecord.extend({ scores: Scores });
export type ScoresRecord = z.infer<typeof ScoresRecord>;

/** A preference pair for (Gran-)DPO. */
export const PairRecord = z.looseObject({
  prompt_id: z.string().min(1),
  prompt: z.string().min(1),
  win: SampleRecord,
  lose: SampleRecord,
  video_margin: z.number(),
  patch_pref: z.array(z.union([z.literal(1), z.literal(-1), z.literal(0)])),
  patch_weight: z.array(z.number().nonnegative()),
});
export type PairRecord = z.infer<typeof PairRecord>;

export { ASPECTS, SCORE_KEYS };

/** What halo-pairs reads: a sample with reward-model scores or teacher labels (or both). */
export const RewardedRecord = SampleRecord.extend({
  scores: Scores.optional(),
  labels: Labels.optional(),
  patches: PatchGeometry.optional(),
});
export type RewardedRecord = z.infer<typeof RewardedRecord>;
