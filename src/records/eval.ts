// eval.json, written by halo-eval and read by halo-report: declared once (zod), like the records.
import { z } from 'zod';

const agreementPair = z.object({ spearman: z.number().nullable(), kendall: z.number().nullable(), n: z.int() });

export const ModelEval = z.object({
  /** Short name used in tables (base, dpo-video, halo, ...). */
  name: z.string().min(1),
  dir: z.string(),
  sha256: z.string().optional(),
  /** The samples of this model with oracle labels (and reward-model scores), JSONL. */
  samples: z.string(),
  videos: z.int().nonnegative(),
  /** Share of patches the oracle judges defective (its documented threshold). */
  patch_defect_rate: z.number(),
  /** 1 − defect rate / the first model's defect rate (null for the first model). */
  defects_removed: z.number().nullable(),
  /** Mean oracle video score per aspect and overall. */
  video_scores: z.record(z.string(), z.number()),
  /** Share of (prompt, seed) where this model's oracle overall beats the first model's (ties count half). */
  win_rate: z.number().nullable(),
  /** Agreement of the reward model's scores with the oracle on this model's videos. */
  rm_agreement: z.object({ video: agreementPair, patch: agreementPair }).nullable(),
  /** halo-dpo's JSONL training log, when the model came from halo-dpo. */
  training_log: z.string().nullable().optional(),
  /** Settings that produced the model (from its manifest), for the report. */
  settings: z.record(z.string(), z.unknown()).optional(),
});
export type ModelEval = z.infer<typeof ModelEval>;

export const EvalResult = z.object({
  version: z.literal(1),
  created: z.string(),
  prompts: z.string(),
  n_prompts: z.int(),
  seeds: z.array(z.int()),
  sampler: z.record(z.string(), z.unknown()),
  judge: z.object({ teacher: z.string(), defect_rule: z.string() }),
  reward_model: z.string().nullable(),
  models: z.array(ModelEval).min(1),
  /** Seconds the evaluation took. */
  seconds: z.number().optional(),
});
export type EvalResult = z.infer<typeof EvalResult>;
