// The noise schedule of the built-in generator (docs/generator.md): a cosine schedule shifted towards
// high noise, logSNR(t) = −2·ln tan(πt/2) − 2·ln(shift), t ∈ [0, 1] (0 clean, 1 noise), clipped to
// [logsnr_min, logsnr_max]; x_t = α_t·x0 + σ_t·ε with α² = sigmoid(logSNR), σ² = sigmoid(−logSNR)
// (variance preserving). In: t or the schedule spec. Out: logSNR, α, σ, loss weights, sampling grids.

export interface ScheduleSpec {
  type: 'cosine';
  /** logSNR is lowered by 2·ln(shift): shift 4 spends more of t on high noise (big tokens need it). */
  shift: number;
  logsnr_min: number;
  logsnr_max: number;
}

export const DEFAULT_SCHEDULE: ScheduleSpec = { type: 'cosine', shift: 4, logsnr_min: -15, logsnr_max: 15 };

export class Schedule {
  constructor(readonly spec: ScheduleSpec = DEFAULT_SCHEDULE) {
    if (spec.type !== 'cosine') throw new Error(`schedule: unknown type '${spec.type as string}'`);
    if (!(spec.shift > 0)) throw new Error(`schedule: shift must be > 0, got ${spec.shift}`);
    if (!(spec.logsnr_min < spec.logsnr_max)) throw new Error('schedule: logsnr_min must be below logsnr_max');
  }

  logSnr(t: number): number {
    const tc = Math.min(Math.max(t, 0), 1);
    const raw = -2 * Math.log(Math.tan((Math.PI * tc) / 2)) - 2 * Math.log(this.spec.shift);
    if (!Number.isFinite(raw)) return raw > 0 || tc === 0 ? this.spec.logsnr_max : this.spec.logsnr_min;
    return Math.min(Math.max(raw, this.spec.logsnr_min), this.spec.logsnr_max);
  }

  alphaSigma(t: number): { alpha: number; sigma: number } {
    const l = this.logSnr(t);
    return { alpha: Math.sqrt(sigmoid(l)), sigma: Math.sqrt(sigmoid(-l)) };
  }

  snr(t: number): number {
    return Math.exp(this.logSnr(t));
  }

  /**
   * Weight of the x0-prediction loss at t: min(SNR + 1, cap). SNR + 1 makes it the v-prediction loss;
   * the cap keeps low-noise steps from dominating (ENVIRONMENT.md).
   */
  x0LossWeight(t: number, cap = 5): number {
    return Math.min(this.snr(t) + 1, cap);
  }

  /** Decreasing times 1 = t_0 > t_1 > … > t_steps = 0 for a sampler with `steps` steps. */
  grid(steps: number): number[] {
    if (!Number.isInteger(steps) || steps < 1) throw new Error(`steps must be a positive integer, got ${steps}`);
    return Array.from({ length: steps + 1 }, (_, i) => 1 - i / steps);
  }
}

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** x_t = α·x0 + σ·ε into `out` (all of one length). */
export function addNoise(x0: Float32Array, eps: Float32Array, alpha: number, sigma: number, out = new Float32Array(x0.length)): Float32Array {
  for (let i = 0; i < x0.length; i++) out[i] = alpha * x0[i] + sigma * eps[i];
  return out;
}
