// Learning-rate schedules as plain functions of the 0-based step; the LR is a graph input, so changing
// schedule never rebuilds the graph. In: schedule settings. Out: step → learning rate.

export type Schedule = (step: number) => number;

export function constant(lr: number): Schedule {
  return () => lr;
}

/** Linear warm-up from 0 to `lr` over `warmup` steps (step 0 gets lr/warmup). */
export function warmup(lr: number, steps: number): Schedule {
  return (s) => (steps > 0 && s < steps ? (lr * (s + 1)) / steps : lr);
}

/** Warm-up, then cosine decay from `lr` to `lr·finalRatio` at step `total`. */
export function warmupCosine(o: { lr: number; warmup: number; total: number; finalRatio?: number }): Schedule {
  const fin = o.lr * (o.finalRatio ?? 0);
  return (s) => {
    if (s < o.warmup) return (o.lr * (s + 1)) / o.warmup;
    const span = Math.max(1, o.total - o.warmup);
    const t = Math.min(1, (s - o.warmup) / span);
    return fin + 0.5 * (o.lr - fin) * (1 + Math.cos(Math.PI * t));
  };
}

export function parseSchedule(spec: string, lr: number, total: number): Schedule {
  // "constant", "warmup:N", "cosine:N[:final]"
  const [kind, a, b] = spec.split(':');
  if (kind === 'constant') return constant(lr);
  if (kind === 'warmup') return warmup(lr, Number(a ?? 0));
  if (kind === 'cosine') return warmupCosine({ lr, warmup: Number(a ?? 0), total, finalRatio: Number(b ?? 0) });
  throw new Error(`unknown schedule '${spec}' (expected constant | warmup:N | cosine:N[:final])`);
}
