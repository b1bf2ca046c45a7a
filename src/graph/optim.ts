// Optimizers as graph ops. In: the float64 scalars lr and step (1 for the first update), then per
// parameter its gradient and state slots. Out: the updated parameter and state, following PyTorch 1.13's
// AdamW and SGD (step-dependent scalars computed in float64 as PyTorch does in Python; AdamW's bias
// correction and a clipping coefficient are folded into scalars, which saves elementwise passes over
// every parameter and changes results only in the last bits).

import { GraphBuilder } from './builder.js';
import { Value } from './ir.js';

export interface AdamWConfig {
  type: 'adamw';
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

export interface SGDConfig {
  type: 'sgd';
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

export type OptimizerConfig = AdamWConfig | SGDConfig;

/** Names of the per-parameter state slots of an optimizer. */
export function stateSlots(c: OptimizerConfig): string[] {
  if (c.type === 'adamw') return ['exp_avg', 'exp_avg_sq'];
  return (c.momentum ?? 0) !== 0 ? ['momentum_buffer'] : [];
}

export interface UpdateArgs {
  param: Value;
  grad: Value;
  state: Value[];
  /** Weight decay for this parameter (overrides the config's; 0 to exempt biases and norms). */
  weightDecay?: number;
  /**
   * A scalar (of the parameter's dtype) the gradient is multiplied by first, e.g. the clipping
   * coefficient of clipScale: AdamW folds it into its scalars instead of scaling every gradient.
   */
  gradScale?: Value;
  /** Names for the new parameter and state values (graph outputs named so need no Identity copy). */
  names?: { param: string; state: string[] };
}

export interface Optimizer {
  config: OptimizerConfig;
  slots: string[];
  update(a: UpdateArgs): { param: Value; state: Value[] };
}

/**
 * An optimizer bound to the graph's float64 scalars lr and step (1 for the first update). Scalars that
 * depend only on lr, step and the weight decay are computed once per dtype and shared by all parameters.
 */
export function createOptimizer(g: GraphBuilder, c: OptimizerConfig, lr: Value, step: Value): Optimizer {
  const memo = new Map<string, Value>();
  const once = (key: string, f: () => Value) => {
    let v = memo.get(key);
    if (!v) memo.set(key, (v = f()));
    return v;
  };
  if (c.type === 'adamw') {
    const b1 = c.beta1 ?? 0.9;
    const b2 = c.beta2 ?? 0.999;
    const eps = c.eps ?? 1e-8;
    return {
      config: c,
      slots: stateSlots(c),
      update(a) {
        const wd = a.weightDecay ?? c.weightDecay ?? 1e-2;
        const dt = a.param.dtype;
        const [m, v] = a.state;
        const s = a.gradScale;
        // scalars in float64 as PyTorch computes them in Python: 1 − lr·wd, lr / (1 − β1^t), √(1 − β2^t)
        let p = a.param;
        if (wd !== 0) p = g.mul(p, once(`decay|${dt}|${wd}`, () => g.cast(g.sub(1, g.mul(lr, wd)), dt)));
        const bc2Sqrt = once('bc2', () => g.sqrt(g.sub(1, g.pow(g.scalar(b2, 'float64'), step))));
        // PyTorch: p − lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + eps); the same as
        // p − (lr/(1 − β1^t) · √(1 − β2^t)) · m / (√v + eps·√(1 − β2^t)), one elementwise pass less
        const stepSize = once(`ss|${dt}`, () => g.cast(g.mul(g.div(lr, g.sub(1, g.pow(g.scalar(b1, 'float64'), step))), bc2Sqrt), dt));
        const epsScaled = once(`eps|${dt}`, () => g.cast(g.mul(bc2Sqrt, eps), dt));
        // a gradient scale s enters the moments' scalars: m·β1 + g·(s(1 − β1)), v·β2 + g²·(s²(1 − β2))
        const c1 = s ? once(`c1|${s.name}`, () => g.mul(s, 1 - b1)) : 1 - b1;
        const c2 = s ? once(`c2|${s.name}`, () => g.mul(g.mul(s, s), 1 - b2)) : 1 - b2;
        const named = (op: string, x: Value, y: Value, name: string | undefined) => (name ? g.emit(op, [x, y], {}, 1, { outputs: [name] })[0]! : g.op(op, [x, y]));
        const m2 = named('Add', g.mul(m, b1), g.mul(a.grad, c1), a.names?.state[0]);
        const v2 = named('Add', g.mul(v, b2), g.mul(g.mul(a.grad, a.grad), c2), a.names?.state[1]);
        const denom = g.add(g.sqrt(v2), epsScaled);
        const p2 = named('Sub', p, g.mul(g.div(m2, denom), stepSize), a.names?.param);
        return { param: p2, state: [m2, v2] };
      },
    };
  }
  const mom = c.momentum ?? 0;
  const damp = c.dampening ?? 0;
  return {
    config: c,
    slots: stateSlots(c),
    update(a) {
      const wd = a.weightDecay ?? c.weightDecay ?? 0;
      const dt = a.param.dtype;
      let d = a.gradScale ? g.mul(a.grad, a.gradScale) : a.grad;
      if (wd !== 0) d = g.add(d, g.mul(a.param, wd));
      const state: Value[] = [];
      if (mom !== 0) {
        const first = once('first', () => g.equal(step, g.scalar(1, 'float64')));
        const next = g.add(g.mul(a.state[0], mom), damp === 0 ? d : g.mul(d, 1 - damp));
        const b = g.where(first, d, next);
        state.push(b);
        d = c.nesterov ? g.add(d, g.mul(b, mom)) : b;
      }
      const p = g.sub(a.param, g.mul(d, once(`lr|${dt}`, () => g.cast(lr, dt))));
      return { param: p, state };
    },
  };
}

/**
 * Global-norm clipping as torch.nn.utils.clip_grad_norm_: total = ‖(‖g_i‖)‖₂,
 * g_i · min(max / (total + 1e-6), 1). Returns the clipped gradients and the total norm (before clipping).
 */
export function clipByGlobalNorm(g: GraphBuilder, grads: Value[], maxNorm: number | undefined): { grads: Value[]; norm: Value } {
  const { norm, scale } = clipScale(g, grads, maxNorm);
  if (!scale) return { grads, norm };
  return { grads: grads.map((x) => g.mul(x, scale(x.dtype))), norm };
}

/**
 * The global norm of `grads` and, with a maximum, the clipping coefficient min(max / (total + 1e-6), 1)
 * as a scalar of a given dtype, for an optimizer to apply (UpdateArgs.gradScale).
 */
export function clipScale(g: GraphBuilder, grads: Value[], maxNorm: number | undefined): { norm: Value; scale?: (dt: Value['dtype']) => Value } {
  const sq = grads.map((x) => g.reduceSumSquare(x, undefined, false));
  const norm = g.sqrt(g.sum(sq));
  if (maxNorm === undefined) return { norm };
  const coef = g.min(g.div(maxNorm, g.add(norm, 1e-6)), 1);
  const casts = new Map<string, Value>();
  return { norm, scale: (dt) => casts.get(dt) ?? casts.set(dt, coef.dtype === dt ? coef : g.cast(coef, dt)).get(dt)! };
}
