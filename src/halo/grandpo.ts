// Gran-DPO (DESIGN.md §6): the loss of a batch of P preference pairs from per-patch denoising errors.
// In (graph Values, shape [P, n] for n patches): the policy's and the frozen reference's errors
// e(x, p) on the winner and the loser (same timestep and noise for both), the patch preferences
// s_p in {+1, -1, 0} and weights a_p. Out: the loss and the metrics halo-dpo logs.
//   d(x,p)   = e_theta(x,p) - e_ref(x,p)
//   Δ_video  = mean_p d(w,p) - mean_p d(l,p)            L_video = softplus(β/2 · Δ_video)
//   Δ_p      = s_p (d(w,p) - d(l,p))                     L_patch = Σ a_p|s_p| softplus(β_p/2 · Δ_p) / Σ a_p|s_p|
//   L        = L_video + λ L_patch   (mode 'gran');  L_video (mode 'video', = λ 0);  L_patch (mode 'patch')
// softplus(x) = −log σ(−x), computed as −LogSoftmax([−x, 0])[0]: stable for large |x|, and with
// the right derivative (σ(x), 1/2 at 0) where policy and reference agree exactly, as at the start.
// Losses are means over the pairs of the batch; a pair whose patches are all ties adds 0 to L_patch
// and is left out of its mean. Also exported: the same computation in plain JS (float64), the
// reference the tests hold the graph to.
import type { GraphBuilder } from '../graph/builder.js';
import type { Value } from '../graph/ir.js';

export type DpoMode = 'gran' | 'video' | 'patch';

export interface GranDpoConfig {
  /** β of the video term (Diffusion-DPO uses ~5000 on per-element mean errors). */
  beta: number;
  /** β_p of the patch term (default: β). */
  betaPatch?: number;
  /** λ, the weight of the patch term in mode 'gran'. */
  lambda: number;
  mode: DpoMode;
}

export interface GranDpoErrors {
  policyWin: Value;
  refWin: Value;
  policyLose: Value;
  refLose: Value;
  /** s_p as floats (+1, −1, 0), [P, n]. */
  pref: Value;
  /** a_p, [P, n]. */
  weight: Value;
}

export interface GranDpoTerms {
  loss: Value;
  metrics: Record<string, Value>;
}

function softplus(g: GraphBuilder, x: Value): Value {
  const rank = x.shape.length;
  const pair = g.concat([g.unsqueeze(g.neg(x), [rank]), g.fill([...x.shape, 1], 0, x.dtype)], rank);
  const first = g.slice(g.logSoftmax(pair, rank), [0], [1], [rank]);
  return g.neg(g.squeeze(first, [rank]));
}

/** The metric names the graph outputs, in order (the JSONL log uses them). */
export const DPO_METRICS = [
  'loss_video',
  'loss_patch',
  'acc_video',
  'acc_patch',
  'margin_video',
  'margin_patch',
  'patch_pairs',
] as const;

/** Build the Gran-DPO loss and metrics into the graph. */
export function granDpoLoss(g: GraphBuilder, e: GranDpoErrors, config: GranDpoConfig): GranDpoTerms {
  const beta = config.beta;
  const betaP = config.betaPatch ?? config.beta;
  const dWin = g.sub(e.policyWin, e.refWin); // [P, n]
  const dLose = g.sub(e.policyLose, e.refLose);
  // video term
  const deltaVideo = g.sub(g.reduceMean(dWin, [1]), g.reduceMean(dLose, [1])); // [P]
  const lVideoPer = softplus(g, g.mul(deltaVideo, beta / 2));
  const lossVideo = g.reduceMean(lVideoPer, [0]);
  // patch term
  const deltaPatch = g.mul(e.pref, g.sub(dWin, dLose)); // [P, n]
  const w = g.mul(e.weight, g.abs(e.pref)); // a_p |s_p|
  const lPatchEach = softplus(g, g.mul(deltaPatch, betaP / 2));
  const num = g.reduceSum(g.mul(w, lPatchEach), [1]); // [P]
  const den = g.reduceSum(w, [1]); // [P]
  const has = g.cast(g.greater(den, 0), den.dtype); // pairs with at least one non-tie patch
  const lPatchPer = g.div(num, g.max(den, 1e-12));
  const nPatchPairs = g.reduceSum(has, [0]);
  const lossPatch = g.div(g.reduceSum(g.mul(lPatchPer, has), [0]), g.max(nPatchPairs, 1));
  const loss =
    config.mode === 'video' ? lossVideo : config.mode === 'patch' ? lossPatch : g.add(lossVideo, g.mul(lossPatch, config.lambda));
  // metrics: implicit accuracy (the policy prefers the preferred side more than the reference does)
  const accVideo = g.reduceMean(g.cast(g.less(deltaVideo, 0), deltaVideo.dtype), [0]);
  const patchRight = g.cast(g.less(deltaPatch, 0), deltaPatch.dtype);
  const nonTie = g.abs(e.pref);
  const accPatch = g.div(g.reduceSum(g.mul(patchRight, nonTie)), g.max(g.reduceSum(nonTie), 1));
  // implicit reward margins: −β/2 Δ (positive when the winner gained on the loser)
  const marginVideo = g.reduceMean(g.mul(deltaVideo, -beta / 2), [0]);
  const marginPatch = g.div(g.reduceSum(g.mul(g.mul(deltaPatch, -betaP / 2), nonTie)), g.max(g.reduceSum(nonTie), 1));
  return {
    loss,
    metrics: {
      loss_video: lossVideo,
      loss_patch: lossPatch,
      acc_video: accVideo,
      acc_patch: accPatch,
      margin_video: marginVideo,
      margin_patch: marginPatch,
      patch_pairs: nPatchPairs,
    },
  };
}

const softplusJs = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));

/** The same loss in plain JS (float64): arrays are [P][n]. */
export function granDpoLossJs(
  e: { policyWin: number[][]; refWin: number[][]; policyLose: number[][]; refLose: number[][]; pref: number[][]; weight: number[][] },
  config: GranDpoConfig,
): Record<'loss' | (typeof DPO_METRICS)[number], number> {
  const P = e.policyWin.length;
  const betaP = config.betaPatch ?? config.beta;
  let lv = 0, lp = 0, pairsP = 0, accV = 0, accPn = 0, nonTie = 0, mv = 0, mp = 0;
  for (let i = 0; i < P; i++) {
    const n = e.policyWin[i]!.length;
    const dw = e.policyWin[i]!.map((v, p) => v - e.refWin[i]![p]!);
    const dl = e.policyLose[i]!.map((v, p) => v - e.refLose[i]![p]!);
    const dv = dw.reduce((a, b) => a + b, 0) / n - dl.reduce((a, b) => a + b, 0) / n;
    lv += softplusJs((config.beta / 2) * dv);
    accV += dv < 0 ? 1 : 0;
    mv += (-config.beta / 2) * dv;
    let num = 0, den = 0;
    for (let p = 0; p < n; p++) {
      const s = e.pref[i]![p]!;
      const dp = s * (dw[p]! - dl[p]!);
      const w = e.weight[i]![p]! * Math.abs(s);
      num += w * softplusJs((betaP / 2) * dp);
      den += w;
      if (s !== 0) {
        nonTie++;
        accPn += dp < 0 ? 1 : 0;
        mp += (-betaP / 2) * dp;
      }
    }
    if (den > 0) {
      lp += num / den;
      pairsP++;
    }
  }
  const lossVideo = lv / P;
  const lossPatch = lp / Math.max(pairsP, 1);
  const loss = config.mode === 'video' ? lossVideo : config.mode === 'patch' ? lossPatch : lossVideo + config.lambda * lossPatch;
  return {
    loss,
    loss_video: lossVideo,
    loss_patch: lossPatch,
    acc_video: accV / P,
    acc_patch: accPn / Math.max(nonTie, 1),
    margin_video: mv / P,
    margin_patch: mp / Math.max(nonTie, 1),
    patch_pairs: pairsP,
  };
}
