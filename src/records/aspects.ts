// The aspects every teacher and reward model scores (VideoScore's five, 1–4) plus `overall`.
// `overall` is defined by the toolkit as the mean of the five aspects (see docs/records.md).

export const ASPECTS = [
  'visual_quality',
  'temporal_consistency',
  'dynamic_degree',
  'text_alignment',
  'factual_consistency',
] as const;

export type Aspect = (typeof ASPECTS)[number];

/** All scored keys: the five aspects and `overall`. */
export const SCORE_KEYS = [...ASPECTS, 'overall'] as const;
export type ScoreKey = (typeof SCORE_KEYS)[number];

export const SCORE_MIN = 1;
export const SCORE_MAX = 4;

/** `overall` = mean of the aspects that are present; null when none is. */
export function overallOf(scores: Partial<Record<Aspect, number | null>>): number | null {
  const present = ASPECTS.map((a) => scores[a]).filter((v): v is number => typeof v === 'number');
  if (present.length === 0) return null;
  return present.reduce((s, v) => s + v, 0) / present.length;
}
