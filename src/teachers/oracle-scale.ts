// The oracle's scale (docs/oracle.md §5): every score is 1 + 3·q with q ∈ [0, 1] a product of
// penalties, each a smooth function of one measured quantity with a documented tolerance and
// scale (ORACLE_CONSTANTS), and the patch defect threshold. In: measured quantities; out: q's.
import { ASPECTS, type Aspect } from '../records/aspects.js';

/**
 * A patch is defective when any of its five aspects scores below this (the patch defect rate
 * of halo-eval counts such patches).
 */
export const DEFECT_THRESHOLD = 2.5;

/** Whether a patch (or video) with these scores is defective: any aspect below DEFECT_THRESHOLD. */
export function isDefective(scores: Partial<Record<Aspect, number | null>>): boolean {
  return ASPECTS.some((a) => typeof scores[a] === 'number' && scores[a]! < DEFECT_THRESHOLD);
}

/** 1 up to x0, then 1/(1 + ((x − x0)/x1)²): a smooth penalty that never flattens out. */
export function soft(x: number, x0: number, x1: number): number {
  if (!(x > x0)) return 1;
  const z = (x - x0) / x1;
  return 1 / (1 + z * z);
}

/** Penalty for falling short of a target ratio: 1 from `full` up, smooth decay below. */
export function reach(ratio: number, full: number, width: number): number {
  return soft(full - ratio, 0, width);
}

export const score = (q: number): number => 1 + 3 * Math.min(1, Math.max(0, q));
export const round3 = (v: number): number => Math.round(v * 1000) / 1000;

/** Thresholds and scales of the penalties, in pixels at 32×32 (scaled) or 0–255 levels. */
export const ORACLE_CONSTANTS = {
  /** visual_quality: mean residual colour distance (levels): tolerated, scale. */
  residual: [2, 12],
  /** visual_quality: mean steepest step of α at partial pixels (0.2 < α < 0.8): full marks, scale. */
  sharpness: [0.46, 0.12],
  /** visual_quality: partial pixels per frame from which sharpness is judged with full weight. */
  minEdge: 3,
  /** temporal_consistency: mean colour change between frames that coverage does not explain (levels). */
  flicker: [1, 8],
  /** temporal_consistency: |ln mass ratio| between frames beyond the tolerance. */
  massJump: [0.1, 0.25],
  /** factual_consistency: fragment pixels (per scale²) in the patch. */
  fragments: [0, 6],
  /** factual_consistency: unexplained change after the best translation (0–1). */
  unexplained: [0.15, 0.3],
  /** factual_consistency: motion a frame pair shows beyond what the prompt allows (pixels). */
  jump: [0, 1],
  /** text_alignment: share of object pixels in a colour the prompt does not name. */
  wrongColour: [0.05, 0.2],
} as const;
