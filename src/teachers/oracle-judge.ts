// The oracle's judgement (docs/oracle.md): a pure function from a parsed prompt, a clip's RGB
// frames and patch boxes to scores 1–4 on the five aspects (plus overall) for the video and for
// every patch, and per-video facts (objects seen, colour, shape and motion matches). Builds the
// clip's maps and tracks, scores each patch (oracle-patch.ts), then the video from the patches
// and the whole tracks.
import { patchLayout, type Box } from '../halo/patches.js';
import { ASPECTS, overallOf, SCORE_KEYS, type Aspect, type ScoreKey } from '../records/aspects.js';
import { RGB_OF, type Motion, type Scene, type Shape } from '../world/grammar.js';
import { scaleOf } from '../world/motion.js';
import { globalMotion, motionModel } from './oracle-expect.js';
import { countBlobs, pixelMaps, type Frames, type PixelMaps } from './oracle-maps.js';
import { MIN_REGION_MASS, smoothFrames } from './oracle-motion.js';
import { scorePatch, type JudgeContext } from './oracle-patch.js';
import { ORACLE_CONSTANTS as C, round3, score, soft } from './oracle-scale.js';
import { bestShape, minSolid, shapeScore, trackObjects } from './oracle-tracks.js';

export { DEFECT_THRESHOLD, isDefective, ORACLE_CONSTANTS } from './oracle-scale.js';

export const ORACLE_NAME = 'oracle';
export const ORACLE_VERSION = 'oracle@1';

export interface ObjectFacts {
  colour: string;
  shape: Shape;
  motion: Motion;
  /** Share of frames in which the object (its colour's main body) is seen. */
  presence: number;
  /** The shape that fits best in most frames (null when never seen). */
  observedShape: Shape | null;
  /** The motion the track shows, in the grammar's terms ('absent' when seen in < 2 frames). */
  observedMotion: Motion | 'absent';
  /** Net displacement over the clip (pixels, least-squares fit of the centre). */
  displacement: [number, number];
  /** Size at the end over size at the start. */
  growth: number;
}

export interface VideoFacts {
  /** Median over frames of the number of separate non-background blobs. */
  objectCount: number;
  /** Every prompt object is seen in its colour in ≥ 75% of the frames. */
  colourMatch: boolean;
  /** Every prompt object's best-fitting shape (most frames) is the prompt's shape. */
  shapeMatch: boolean;
  /** Every prompt object moves as the prompt says (direction, bounce, growth or stillness). */
  directionMatch: boolean;
  /** The frame borders show the prompt's background colour. */
  backgroundMatch: boolean;
  objects: ObjectFacts[];
}

export type VideoScores = Record<ScoreKey, number>;
export type PatchScores = Record<ScoreKey, number[]>;

export interface Judgement {
  video: VideoScores;
  patch: PatchScores;
  /** The patch boxes scored (the ones given, or the default 4×4×4 grid). */
  boxes: Box[];
  facts: VideoFacts;
}

/** The default boxes when a record has none: a 4×4×4 grid (fewer parts on tiny clips). */
export function defaultBoxes(clip: Frames): Box[] {
  const grid: [number, number, number] = [Math.min(4, clip.frames), Math.min(4, clip.height), Math.min(4, clip.width)];
  return patchLayout([clip.frames, clip.height, clip.width], { grid }).boxes;
}

/** Coverage maps remapped for matching: α below 0.15 (noise) is zero, 0.85 and above is one. */
function matchMaps(m: PixelMaps): Float32Array[] {
  const maps: Float32Array[] = [];
  for (let k = 0; k < m.objects; k++) {
    const b = new Float32Array(m.alpha.length);
    for (let i = 0; i < b.length; i++) {
      if (m.owner[i] !== k) continue;
      const v = (m.alpha[i]! - 0.15) / 0.7;
      b[i] = v <= 0 ? 0 : v >= 1 ? 1 : v;
    }
    maps.push(b);
  }
  return maps;
}

/** Judge a clip against a scene: scores for the video and each patch, and video facts. */
export function judgeVideo(scene: Scene, clip: Frames, boxes?: readonly Box[]): Judgement {
  const { frames: T, height: H, width: W } = clip;
  if (clip.data.length !== T * H * W * 3) throw new RangeError(`judgeVideo: ${clip.data.length} bytes for a ${T}×${H}×${W} clip`);
  const patchBoxes = boxes ? boxes.map((b) => [...b] as Box) : defaultBoxes(clip);
  const sc = scaleOf({ height: H, width: W });
  const HW = H * W;
  const m = pixelMaps(scene, clip);
  const tracks = trackObjects(scene, m);
  const models = scene.objects.map((o) => motionModel(o.motion, T, sc));
  const beta = matchMaps(m).map((b) => smoothFrames(b, T, H, W));
  const search = Math.max(2, Math.ceil(2 * sc));
  const minMass = MIN_REGION_MASS * sc * sc;
  const nObj = scene.objects.length;
  const { alpha, wrong } = m;

  // Frames where two objects touch or overlap (their main bodies' boxes, grown by 1 pixel,
  // meet): occlusion is allowed, so the pixels where they meet and the changes it causes
  // (hidden parts, pieces, mixed colours) are not held against the clip.
  const contact: ([number, number, number, number] | null)[] = [];
  for (let t = 0; t < T; t++) {
    const [a, b] = [m.mainBox[t]![0], m.mainBox[t]![1]];
    if (nObj < 2 || !a || !b) {
      contact.push(null);
      continue;
    }
    const box: [number, number, number, number] = [Math.max(a[0], b[0]) - 1, Math.min(a[1], b[1]) + 1, Math.max(a[2], b[2]) - 1, Math.min(a[3], b[3]) + 1];
    contact.push(box[0] < box[1] && box[2] < box[3] ? box : null);
  }
  const touching = (t: number): boolean => contact[t] !== null;

  // per frame and object: shape score (0 when absent, NaN when touching the other object)
  const shapeQ = tracks.map((tr, k) => tr.iou.map((iou, t) => (touching(t) ? NaN : tr.present[t] ? shapeScore(iou, scene.objects[k]!.shape) : 0)));

  // background-to-object colour lines [ux, uy, uz, 1/|u|²]
  const bgColour = RGB_OF[scene.background];
  const lineOf = scene.objects.map((o) => {
    const c = RGB_OF[o.colour];
    const u = [c[0] - bgColour[0], c[1] - bgColour[1], c[2] - bgColour[2]];
    return [u[0]!, u[1]!, u[2]!, 1 / (u[0]! ** 2 + u[1]! ** 2 + u[2]! ** 2)] as const;
  });
  const ctx: JudgeContext = { scene, clip, maps: m, tracks, models, beta, search, minMass, sc, contact, lineOf, shapeQ };
  const evidence = patchBoxes.map((box) => scorePatch(ctx, box));

  // ---- video level
  const agg = (xs: number[]): number => {
    if (xs.length === 0) return 4;
    const sorted = [...xs].sort((a, b) => a - b);
    const k = Math.max(1, Math.ceil(sorted.length / 10));
    const worst = sorted.slice(0, k).reduce((s, v) => s + v, 0) / k;
    return 0.5 * (xs.reduce((s, v) => s + v, 0) / xs.length) + 0.5 * worst;
  };
  const col = (a: Aspect): number[] => evidence.map((e) => e.scores[a]);
  const presence = tracks.map((tr) => tr.present.filter((p, t) => p || touching(t)).length / T);
  const gm = tracks.map((tr, k) => globalMotion(tr, models[k]!, T, sc));

  // objects seen, wrong colours, background
  const contrast = Math.min(...lineOf.map((u) => Math.hypot(u[0], u[1], u[2])));
  const counts: number[] = [];
  for (let t = 0; t < T; t++) if (!touching(t)) counts.push(countBlobs(m, t, 0.4 * contrast, minSolid({ height: H, width: W })));
  if (counts.length === 0) for (let t = 0; t < T; t++) counts.push(countBlobs(m, t, 0.4 * contrast, minSolid({ height: H, width: W })));
  counts.sort((a, b) => a - b);
  const objectCount = counts[Math.floor(counts.length / 2)]!;
  let wrongAll = 0, fgAll = 0;
  for (let i = 0; i < alpha.length; i++) {
    if (wrong[i]) {
      wrongAll++;
      fgAll++;
    } else if (alpha[i]! >= 0.5) fgAll++;
  }
  const border = new Float32Array(T * (2 * W + 2 * (H - 2)));
  let nb = 0;
  for (let t = 0; t < T; t++) {
    for (let x = 0; x < W; x++) {
      border[nb++] = m.fromBackground[t * HW + x]!;
      border[nb++] = m.fromBackground[t * HW + (H - 1) * W + x]!;
    }
    for (let y = 1; y < H - 1; y++) {
      border[nb++] = m.fromBackground[t * HW + y * W]!;
      border[nb++] = m.fromBackground[t * HW + y * W + W - 1]!;
    }
  }
  border.sort();
  const bgDistance = border[Math.floor(nb / 2)]!;

  const meanOf = (xs: number[]): number => (xs.length ? xs.reduce((s, v) => s + v, 0) / xs.length : 0);
  const qShapeVideo = meanOf(
    shapeQ.map((qs) => {
      const seen = qs.filter((q) => !Number.isNaN(q));
      return seen.length ? meanOf(seen) : 1; // always touching the other object: nothing to judge
    }),
  );
  const qColourVideo = meanOf(presence) * soft(wrongAll / Math.max(fgAll, 4), C.wrongColour[0], C.wrongColour[1]);
  const qCount = soft(Math.abs(objectCount - nObj), 0, 0.7);
  const qBackground = soft(bgDistance, 10, 20);
  const ddPatches = evidence.filter((e) => e.dd !== null).map((e) => e.scores.dynamic_degree);
  const qMotion = meanOf(gm.map((g) => g.q));
  const fragFrames = meanOf(scene.objects.map((_, k) => m.fragmentSize.filter((f, t) => f[k]! > 0 && !touching(t)).length / T));
  const video: Record<Aspect, number> = {
    visual_quality: agg(col('visual_quality')),
    temporal_consistency: 1 + (agg(col('temporal_consistency')) - 1) * Math.min(...presence.map((p) => Math.min(1, p / 0.9))),
    dynamic_degree: ddPatches.length ? 1 + 3 * (0.5 * qMotion + 0.5 * ((agg(ddPatches) - 1) / 3)) : score(qMotion),
    text_alignment: score(qCount * qColourVideo * qShapeVideo * qBackground),
    factual_consistency: 1 + (agg(col('factual_consistency')) - 1) * (1 - 0.5 * fragFrames),
  };

  const videoScores = {} as VideoScores;
  for (const a of ASPECTS) videoScores[a] = round3(video[a]);
  videoScores.overall = round3(overallOf(video)!);
  const patch = {} as PatchScores;
  for (const key of SCORE_KEYS) patch[key] = [];
  for (const e of evidence) {
    for (const a of ASPECTS) patch[a].push(round3(e.scores[a]));
    patch.overall.push(round3(overallOf(e.scores)!));
  }

  const objects: ObjectFacts[] = scene.objects.map((o, k) => {
    const shapes = tracks[k]!.iou.map((iou, t) => (tracks[k]!.present[t] ? bestShape(iou) : null)).filter((s): s is Shape => s !== null);
    const tally = new Map<Shape, number>();
    for (const s of shapes) tally.set(s, (tally.get(s) ?? 0) + 1);
    let observedShape: Shape | null = null;
    for (const [s, n] of tally) if (observedShape === null || n > tally.get(observedShape)!) observedShape = s;
    return { colour: o.colour, shape: o.shape, motion: o.motion, presence: round3(presence[k]!), observedShape, ...gm[k]!.facts };
  });
  const facts: VideoFacts = {
    objectCount,
    colourMatch: presence.every((p) => p >= 0.75),
    shapeMatch: objects.every((o) => o.observedShape === o.shape),
    directionMatch: objects.every((o) => o.observedMotion === o.motion),
    backgroundMatch: bgDistance < 20,
    objects,
  };
  return { video: videoScores, patch, boxes: patchBoxes, facts };
}
