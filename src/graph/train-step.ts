// Assembles one training-step graph: forward (from a user build function), backward (autodiff over the
// trainable parameters), gradient accumulation, global-norm clipping and the optimizer update.
// In: batch input specs, a build function, the trainable selection and optimizer settings.
// Out: a Graph with inputs (batch, params, state, step, lr[, apply]) and outputs (loss, metrics,
// grad_norm, new params, new state), plus a JSON-able IO description for the runtime Trainer.

import { gradients } from './autodiff.js';
import { GraphBuilder } from './builder.js';
import { DType } from './dtype.js';
import { Graph, Init, Value } from './ir.js';
import { OptimizerConfig, clipScale, createOptimizer } from './optim.js';

export interface TensorSpec {
  dtype: DType;
  shape: number[];
}

export interface BuildResult {
  loss: Value;
  metrics?: Record<string, Value>;
}

export type BuildFn = (g: GraphBuilder, batch: Record<string, Value>) => BuildResult;

export type Selector = string[] | RegExp | ((name: string) => boolean);

export interface TrainStepOptions {
  batch: Record<string, TensorSpec>;
  build: BuildFn;
  /** Parameters to train (default: all); the rest are frozen inputs (e.g. a reference model `ref.*`). */
  trainable?: Selector;
  optimizer: OptimizerConfig;
  /** Parameters that get no weight decay (e.g. /\.bias$|\.ln/). */
  noDecay?: Selector;
  clipNorm?: number;
  /** Micro-batches per optimizer update (≥ 1). */
  accum?: number;
  dtype?: DType;
  name?: string;
}

export interface ParamIO {
  name: string;
  dtype: DType;
  shape: number[];
  init: Init;
  trainable: boolean;
  /** Output carrying the updated value (trainable params only). */
  output?: string;
}

export interface StateIO {
  input: string;
  output: string;
  param: string;
  slot: string;
  dtype: DType;
  shape: number[];
}

export interface TrainStepIO {
  batch: ({ name: string } & TensorSpec)[];
  params: ParamIO[];
  state: StateIO[];
  step: string;
  lr: string;
  /** With accum > 1: bool input, true on the micro-batch that applies the update. */
  apply?: string;
  loss: string;
  gradNorm: string;
  metrics: Record<string, string>;
  optimizer: OptimizerConfig;
  clipNorm?: number;
  accum: number;
}

export interface TrainStep {
  graph: Graph;
  io: TrainStepIO;
}

export function selects(sel: Selector | undefined, name: string, dflt: boolean): boolean {
  if (sel === undefined) return dflt;
  if (Array.isArray(sel)) return sel.includes(name);
  if (sel instanceof RegExp) return sel.test(name);
  return sel(name);
}

export function buildTrainStep(o: TrainStepOptions): TrainStep {
  const accum = o.accum ?? 1;
  if (!Number.isInteger(accum) || accum < 1) throw new Error(`accum must be a positive integer, got ${accum}`);
  const g = new GraphBuilder({ dtype: o.dtype ?? 'float32', name: o.name ?? 'train_step' });
  const batch: Record<string, Value> = {};
  for (const k of Object.keys(o.batch)) batch[k] = g.input(k, o.batch[k].dtype, o.batch[k].shape);
  const lr = g.input('lr', 'float64', []);
  const step = g.input('step', 'float64', []);
  const apply = accum > 1 ? g.input('apply', 'bool', []) : undefined;

  const { loss, metrics = {} } = g.scope('fwd', () => o.build(g, batch));
  if (loss.shape.length !== 0) throw new Error(`buildTrainStep: loss must be a scalar, got shape [${loss.shape}]`);
  const params = [...g.graph.params.values()];
  if (Array.isArray(o.trainable)) for (const n of o.trainable) if (!g.graph.params.has(n)) throw new Error(`trainable parameter '${n}' is not declared by the model`);
  const trainable = params.filter((p) => selects(o.trainable, p.name, true));
  if (!trainable.length) throw new Error('buildTrainStep: no trainable parameters selected');
  const pv = trainable.map((p) => g.graph.value(p.name));

  const grads = gradients(g, loss, pv);
  const io: TrainStepIO = {
    batch: Object.keys(o.batch).map((name) => ({ name, ...o.batch[name] })),
    params: params.map((p) => ({ name: p.name, dtype: p.dtype, shape: p.shape, init: p.init, trainable: trainable.includes(p) })),
    state: [],
    step: 'step',
    lr: 'lr',
    apply: apply?.name,
    loss: 'loss',
    gradNorm: 'grad_norm',
    metrics: {},
    optimizer: o.optimizer,
    clipNorm: o.clipNorm,
    accum,
  };

  g.scope('opt', () => {
    let used = grads;
    const accIn: Value[] = [];
    const accSum: Value[] = [];
    if (accum > 1) {
      trainable.forEach((p, i) => {
        const a = g.input(`state/grad_accum/${p.name}`, p.dtype, p.shape);
        accIn.push(a);
        accSum.push(g.add(a, grads[i]));
      });
      used = accSum.map((s) => g.mul(s, 1 / accum));
    }
    // the clipping coefficient goes to the optimizer, which folds it into its scalars
    const clip = clipScale(g, used, o.clipNorm);
    g.output(clip.norm, io.gradNorm);
    const opt = createOptimizer(g, o.optimizer, lr, step);
    const slots = opt.slots;
    trainable.forEach((p, i) => {
      const state = slots.map((s) => g.input(`state/${s}/${p.name}`, p.dtype, p.shape));
      const wd = selects(o.noDecay, p.name, false) ? 0 : undefined;
      const pout = `new/${p.name}`;
      // without accumulation the update's last nodes write the graph outputs directly
      const names = apply ? undefined : { param: pout, state: slots.map((s) => `new/state/${s}/${p.name}`) };
      const up = opt.update({ param: pv[i], grad: used[i], gradScale: clip.scale?.(p.dtype), state, weightDecay: wd, names });
      const keep = (next: Value, old: Value) => (apply ? g.where(apply, next, old) : next);
      g.output(keep(up.param, pv[i]), pout);
      io.params.find((x) => x.name === p.name)!.output = pout;
      slots.forEach((s, k) => {
        const out = `new/state/${s}/${p.name}`;
        g.output(keep(up.state[k], state[k]), out);
        io.state.push({ input: state[k].name, output: out, param: p.name, slot: s, dtype: p.dtype, shape: p.shape });
      });
      if (apply) {
        const out = `new/state/grad_accum/${p.name}`;
        g.output(g.where(apply, g.fill(p.shape, 0, p.dtype), accSum[i]), out);
        io.state.push({ input: accIn[i].name, output: out, param: p.name, slot: 'grad_accum', dtype: p.dtype, shape: p.shape });
      }
    });
  });
  g.output(loss, io.loss);
  for (const k of Object.keys(metrics).sort()) {
    const name = `metric/${k}`;
    g.output(metrics[k], name);
    io.metrics[k] = name;
  }
  return { graph: g.graph, io };
}

export interface InferenceOptions {
  inputs: Record<string, TensorSpec>;
  build: (g: GraphBuilder, inputs: Record<string, Value>) => Record<string, Value>;
  dtype?: DType;
  name?: string;
}

/** The same model as an inference graph: inputs, parameters as inputs, named outputs. */
export function buildInference(o: InferenceOptions): Graph {
  const g = new GraphBuilder({ dtype: o.dtype ?? 'float32', name: o.name ?? 'inference' });
  const ins: Record<string, Value> = {};
  for (const k of Object.keys(o.inputs)) ins[k] = g.input(k, o.inputs[k].dtype, o.inputs[k].shape);
  const outs = g.scope('fwd', () => o.build(g, ins));
  for (const k of Object.keys(outs)) g.output(outs[k], k);
  return g.graph;
}
