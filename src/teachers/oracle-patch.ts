// The oracle's scores of one patch (docs/oracle.md §2): from the pixels inside the box and the
// motion of each object across it, five aspects on 1–4, each 1 + 3·q with q a product of
// penalties. In: the judging context of a clip (pixel maps, tracks, what the prompt asks) and a
// box [t0, t1, y0, y1, x0, x1]; out: the five scores and the patch's motion evidence.
import type { Box } from '../halo/patches.js';
import type { Aspect } from '../records/aspects.js';
import type { Scene } from '../world/grammar.js';
import { WORLD_LIMITS } from '../world/motion.js';
import type { MotionModel } from './oracle-expect.js';
import type { Frames, PixelMaps } from './oracle-maps.js';
import { matchPair, observable, project, type PairMotion } from './oracle-motion.js';
import { ORACLE_CONSTANTS as C, reach, score, soft } from './oracle-scale.js';
import type { Track } from './oracle-tracks.js';

/** Everything about a clip that patch scores read. */
export interface JudgeContext {
  scene: Scene;
  clip: Frames;
  maps: PixelMaps;
  tracks: Track[];
  models: MotionModel[];
  /** Smoothed, noise-clipped coverage per object, for matching frame to frame. */
  beta: Float32Array[];
  /** Matching: search radius around the track's motion, least region mass. */
  search: number;
  minMass: number;
  /** Length scale: min(H, W)/32. */
  sc: number;
  /** Where two objects touch in frame t (or null): occlusion is not held against the clip. */
  contact: ([number, number, number, number] | null)[];
  /** Background-to-object colour lines [ux, uy, uz, 1/|u|²]. */
  lineOf: (readonly [number, number, number, number])[];
  /** Per object and frame: shape score 0–1 (NaN when touching the other object). */
  shapeQ: number[][];
}

export interface PatchEvidence {
  /** Dynamic-degree q when the patch shows motion evidence, else null. */
  dd: number | null;
  scores: Record<Aspect, number>;
}

/** Score one patch. */
export function scorePatch(ctx: JudgeContext, box: Box): PatchEvidence {
  const { scene, maps: m, tracks, models, beta, search, minMass, sc, contact, lineOf, shapeQ } = ctx;
  const { frames: T, height: H, width: W, data } = ctx.clip;
  const HW = H * W;
  const nObj = scene.objects.length;
  const { alpha, owner, residual, wrong, fragment } = m;
  const anyContact = contact.some((c) => c !== null);
  const touching = (t: number): boolean => contact[t] !== null;
  const inContact = (t: number, y: number, x: number): boolean => {
    const c = contact[t];
    return c !== null && y >= c[0] && y < c[1] && x >= c[2] && x < c[3];
  };
  // the object's own motion from frame t to t+1 (the track's centre), where matching starts
  const guessOf = (k: number, t: number): [number, number] => {
    const tr = tracks[k]!;
    return tr.present[t] && tr.present[t + 1] ? [tr.cx[t + 1]! - tr.cx[t]!, tr.cy[t + 1]! - tr.cy[t]!] : [0, 0];
  };
  const [t0, t1, y0, y1, x0, x1] = box;
  // ---- pixel sums over the patch
  let resid = 0, count = 0, wrongN = 0, fg = 0, frag = 0;
  const massIn: number[][] = Array.from({ length: nObj }, () => new Array<number>(t1 - t0).fill(0));
  for (let t = t0; t < t1; t++) {
    const base = t * HW;
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const i = base + y * W + x;
        const a = alpha[i]!;
        const k = owner[i]!;
        if (k >= 0) massIn[k]![t - t0]! += a;
        if (anyContact && inContact(t, y, x)) continue;
        resid += residual[i]!;
        count++;
        if (wrong[i]) {
          wrongN++;
          fg++;
        } else if (a >= 0.5) fg++;
        if (fragment[i] && !touching(t)) frag++;
      }
    }
  }
  // sharpness: at every partial pixel (0.2 < α < 0.8) the steepest step of α to a 4-neighbour;
  // a one-pixel anti-aliased edge steps by ≥ 0.5, a blurred edge by much less
  let partial = 0, steep = 0;
  for (let t = t0; t < t1; t++) {
    const base = t * HW;
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const a = alpha[base + y * W + x]!;
        if (!(a > 0.2 && a < 0.8)) continue;
        partial++;
        let g = 0;
        if (x > 0) g = Math.max(g, Math.abs(alpha[base + y * W + x - 1]! - a));
        if (x < W - 1) g = Math.max(g, Math.abs(alpha[base + y * W + x + 1]! - a));
        if (y > 0) g = Math.max(g, Math.abs(alpha[base + (y - 1) * W + x]! - a));
        if (y < H - 1) g = Math.max(g, Math.abs(alpha[base + (y + 1) * W + x]! - a));
        steep += g;
      }
    }
  }
  // ---- visual quality: palette fidelity and sharpness
  const qResidual = count > 0 ? soft(resid / count, C.residual[0], C.residual[1]) : 1;
  // judged with full confidence from minEdge partial pixels per frame (a corner alone says little)
  const sure = Math.min(1, partial / (C.minEdge * (t1 - t0)));
  const qSharp = partial > 0 ? 1 - sure * (1 - soft(C.sharpness[0] - steep / partial, 0, C.sharpness[1])) : 1;
  const vq = score(qResidual * qSharp);

  // ---- frame pairs of this patch: (t, t+1) with t+1 in [t0, t1), the first one entering the patch
  const pairs: number[] = [];
  for (let t = Math.max(0, t0 - 1); t + 1 < t1; t++) if (t + 1 >= t0) pairs.push(t);

  // ---- temporal consistency: flicker = the mean colour change between frames that moving or
  // resizing objects cannot explain. A change of coverage moves a pixel along the line from the
  // background to its object's colour, so that component is removed and the rest is averaged.
  let flickerSum = 0;
  for (const t of pairs) {
    const a = t * HW;
    const b = (t + 1) * HW;
    let n = 0, s0 = 0, s1 = 0, s2 = 0;
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        if (anyContact && (inContact(t, y, x) || inContact(t + 1, y, x))) continue;
        const i = y * W + x;
        const ia = a + i;
        const ib = b + i;
        let d0 = data[ib * 3]! - data[ia * 3]!;
        let d1 = data[ib * 3 + 1]! - data[ia * 3 + 1]!;
        let d2 = data[ib * 3 + 2]! - data[ia * 3 + 2]!;
        const k = owner[ib]! >= 0 ? owner[ib]! : owner[ia]!;
        if (k >= 0) {
          const u = lineOf[k]!;
          const along = (d0 * u[0] + d1 * u[1] + d2 * u[2]) * u[3];
          d0 -= along * u[0];
          d1 -= along * u[1];
          d2 -= along * u[2];
        }
        s0 += d0;
        s1 += d1;
        s2 += d2;
        n++;
      }
    }
    if (n > 0) flickerSum += Math.hypot(s0, s1, s2) / n;
  }
  const qFlicker = pairs.length ? soft(flickerSum / pairs.length, C.flicker[0], C.flicker[1]) : 1;
  let qMass = 1;
  for (let k = 0; k < nObj; k++) {
    const tr = tracks[k]!;
    const growTol = scene.objects[k]!.motion === 'grow' ? 2 * Math.log(1 + (WORLD_LIMITS.growFactor[1] - 1) / Math.max(1, T - 1)) : 0;
    for (const t of pairs) {
      const inA = t >= t0 ? massIn[k]![t - t0]! : 0;
      const inB = massIn[k]![t + 1 - t0]!;
      if ((inA < 1 && inB < 1) || touching(t) || touching(t + 1)) continue;
      const jump = Math.abs(Math.log((tr.mass[t + 1]! + 1) / (tr.mass[t]! + 1))) - growTol;
      qMass = Math.min(qMass, soft(jump, C.massJump[0], C.massJump[1]));
    }
  }
  const tc = score(qFlicker * qMass);

  const coverIn = (k: number, t: number): number => {
    if (t >= t0) return massIn[k]![t - t0]!;
    let c = 0;
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (owner[t * HW + y * W + x] === k) c += alpha[t * HW + y * W + x]!;
    return c;
  };
  // ---- motion: match each object's coverage frame to frame inside the patch
  let qChange = 1;
  let ddNum = 0;
  let ddDen = 0;
  for (let k = 0; k < nObj; k++) {
    const model = models[k]!;
    let w = 0, along = 0, cross = 0, speed = 0, nSpeed = 0;
    for (const t of pairs) {
      if (touching(t) || touching(t + 1)) continue;
      // only where the object itself is in the patch (not just near it) in one of the frames
      if (coverIn(k, t) < 0.5 && coverIn(k, t + 1) < 0.5) continue;
      const pm: PairMotion | null = matchPair(beta[k]!, { H, W }, t, [y0, y1, x0, x1], guessOf(k, t), search, minMass);
      if (!pm) continue;
      let q = soft(pm.unexplained, C.unexplained[0], C.unexplained[1]);
      const P = observable(pm.J);
      if (P && pm.unexplained < 0.5) {
        const [px, py] = project(P, pm.dx, pm.dy);
        let dev: number;
        if (model.motion === 'still' || model.motion === 'grow') {
          const v = Math.hypot(px, py);
          dev = v - (model.motion === 'grow' ? 0.9 * sc : 0.75 * sc);
          if (model.motion === 'still') {
            speed += v;
            nSpeed++;
          }
        } else {
          // the prompt allows motion s·d with s in [lo, hi]; the deviation is the distance of the
          // observed (projected) motion from that segment
          const d = model.motion === 'bounce' ? ([0, 1] as const) : model.dir!;
          const [ax, ay] = project(P, d[0], d[1]);
          const wd = ax * d[0] + ay * d[1];
          const fast = (model.motion === 'bounce' ? 1.3 * model.bouncePeak : 1.3 * model.vmax) + 0.5 * sc;
          const lo = model.motion === 'bounce' ? -fast : -0.5 * sc;
          const sRaw = wd > 1e-9 ? (pm.dx * ax + pm.dy * ay) / wd : 0;
          const sFit = Math.max(lo, Math.min(fast, sRaw));
          dev = Math.hypot(px - sFit * ax, py - sFit * ay);
          if (wd >= 0.25) {
            // the prompt's motion is observable here: evidence for dynamic_degree
            const c = Math.hypot(px - sRaw * ax, py - sRaw * ay);
            w += wd;
            // bounces: mean vertical speed (slow near the top is fine); straight motions: every
            // pair must keep up (a stall is not made good by catching up later)
            along += wd * (model.motion === 'bounce' ? Math.abs(sRaw) : reach(sRaw / model.vmin, 0.8, 0.35));
            cross += wd * c;
          }
        }
        q *= soft(Math.max(0, dev), C.jump[0], C.jump[1] * sc);
      }
      qChange = Math.min(qChange, q);
    }
    // dynamic degree of object k in this patch
    let qd: number | null = null;
    let weight = 0;
    if (model.motion === 'still') {
      if (nSpeed > 0) {
        qd = 1 - Math.min(1, nSpeed / 2) * (1 - soft(speed / nSpeed, 0.15 * sc, 0.3 * sc));
        weight = nSpeed;
      }
    } else if (model.motion === 'grow') {
      const tr = tracks[k]!;
      const tA = Math.max(0, t0 - 1);
      const tB = t1 - 1;
      const inPatch = massIn[k]!.some((v) => v >= 1);
      if (inPatch && tB > tA && tr.present[tA] && tr.present[tB]) {
        const rate = (0.5 * Math.log(tr.mass[tB]! / tr.mass[tA]!)) / (tB - tA);
        const drift = Math.hypot(tr.cx[tB]! - tr.cx[tA]!, tr.cy[tB]! - tr.cy[tA]!) / (tB - tA);
        qd = reach(rate / model.growRate, 0.7, 0.35) * soft(drift / sc, 0.15, 0.3);
        weight = 1;
      }
    } else if (w >= 0.5) {
      const ref = model.motion === 'bounce' ? model.bounceMean : model.vmin;
      const full = model.motion === 'bounce' ? 0.25 : 0.8;
      const qAmount = model.motion === 'bounce' ? reach(along / w / ref, full, 0.2) : along / w;
      qd = qAmount * soft(cross / w / ref, 0.35, 0.5);
      // little evidence (an edge seen in one pair) counts less: full weight from two pairs' worth
      qd = 1 - Math.min(1, w / 2) * (1 - qd);
      weight = w;
    }
    if (qd !== null) {
      ddNum += weight * qd;
      ddDen += weight;
    }
  }
  const ddQ = ddDen > 0 ? ddNum / ddDen : null;
  const dd = ddQ === null ? 4 : score(ddQ);

  // ---- factual consistency: fragments, jumps and unexplained changes
  const fc = score(soft(frag / (sc * sc), C.fragments[0], C.fragments[1]) * qChange);

  // ---- text alignment: colours the prompt does not name, shape of the objects seen here
  const qColour = soft(wrongN / Math.max(fg, 4), C.wrongColour[0], C.wrongColour[1]);
  let sNum = 0, sDen = 0;
  for (let k = 0; k < nObj; k++) {
    for (let t = t0; t < t1; t++) {
      const w = massIn[k]![t - t0]!;
      if (w < 0.5 || !tracks[k]!.present[t] || touching(t)) continue;
      sNum += w * shapeQ[k]![t]!;
      sDen += w;
    }
  }
  const qShape = sDen > 0 ? sNum / sDen : 1;
  const ta = score(qColour * qShape);
  return { dd: ddQ, scores: { visual_quality: vq, temporal_consistency: tc, dynamic_degree: dd, text_alignment: ta, factual_consistency: fc } };
}
