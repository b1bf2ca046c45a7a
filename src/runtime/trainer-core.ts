// The state machine of training on one thread: holds the session, parameters, optimizer state and
// step count; runs one optimizer step over one or more micro-batches; refuses to commit a step whose
// loss, metrics or gradient norm are not finite. In: model bytes + TrainStepIO, batches, lr.
// Out: loss and metrics per step; checkpoints.

import { initParams } from '../graph/init.js';
import { Tensor, cloneTensor, tensor } from '../graph/tensor.js';
import { TrainStepIO } from '../graph/train-step.js';
import { Checkpoint, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { OrtSession, SessionOptions, createOrtSession, runOrt } from './ort.js';

export interface StepResult {
  step: number;
  loss: number;
  gradNorm: number;
  metrics: Record<string, number>;
  seconds: number;
}

export class NonFiniteError extends Error {
  constructor(
    message: string,
    readonly step: number,
  ) {
    super(message);
  }
}

export interface CoreInit {
  model: Uint8Array;
  io: TrainStepIO;
  /** Initial parameter values (missing ones are drawn from their Init rule with `seed`). */
  params?: Record<string, Tensor>;
  seed?: number | string;
  session?: SessionOptions;
}

const scalar = (v: number) => tensor('float64', [], [v]);
const first = (t: Tensor) => Number(t.data[0]);

export class TrainerCore {
  params: Record<string, Tensor> = {};
  state: Record<string, Tensor> = {};
  step = 0;

  private constructor(
    private readonly ort: OrtSession,
    readonly io: TrainStepIO,
  ) {}

  static async create(o: CoreInit): Promise<TrainerCore> {
    const core = new TrainerCore(await createOrtSession(o.model, o.session), o.io);
    const drawn = initParams(o.io.params.filter((p) => !o.params?.[p.name]), o.seed ?? 0);
    core.setParams({ ...drawn, ...(o.params ?? {}) });
    core.resetState();
    return core;
  }

  get provider() {
    return this.ort.provider;
  }

  resetState() {
    this.state = {};
    for (const s of this.io.state) this.state[`${s.slot}/${s.param}`] = tensor(s.dtype, s.shape);
    this.step = 0;
  }

  setParams(values: Record<string, Tensor>) {
    for (const [name, t] of Object.entries(values)) {
      const p = this.io.params.find((x) => x.name === name);
      if (!p) throw new Error(`unknown parameter '${name}'`);
      if (t.dtype !== p.dtype || t.shape.join() !== p.shape.join()) throw new Error(`parameter '${name}' is ${p.dtype}[${p.shape}], value is ${t.dtype}[${t.shape}]`);
      this.params[name] = cloneTensor(t);
    }
  }

  async run(batches: Record<string, Tensor>[], lr: number): Promise<StepResult> {
    const t0 = performance.now();
    const io = this.io;
    if (batches.length !== io.accum) throw new Error(`step needs ${io.accum} micro-batch(es), got ${batches.length}`);
    if (!Number.isFinite(lr)) throw new Error(`learning rate ${lr} is not finite`);
    let params = this.params;
    let state = this.state;
    let lossSum = 0;
    let last: Record<string, Tensor> = {};
    const stepNo = this.step + 1;
    for (let i = 0; i < batches.length; i++) {
      const feeds: Record<string, Tensor> = {};
      for (const b of io.batch) {
        const t = batches[i][b.name];
        if (!t) throw new Error(`batch is missing input '${b.name}' (${b.dtype}[${b.shape}])`);
        if (t.dtype !== b.dtype || t.shape.join() !== b.shape.join()) throw new Error(`batch input '${b.name}' expects ${b.dtype}[${b.shape}], got ${t.dtype}[${t.shape}]`);
        feeds[b.name] = t;
      }
      for (const p of io.params) feeds[p.name] = params[p.name];
      for (const s of io.state) feeds[s.input] = state[`${s.slot}/${s.param}`];
      feeds[io.lr] = scalar(lr);
      feeds[io.step] = scalar(stepNo);
      if (io.apply) feeds[io.apply] = tensor('bool', [], [i === batches.length - 1 ? 1 : 0]);
      last = await runOrt(this.ort, feeds);
      const loss = first(last[io.loss]);
      if (!Number.isFinite(loss)) throw new NonFiniteError(`step ${stepNo}${io.accum > 1 ? ` micro-batch ${i + 1}` : ''}: loss is ${loss}; parameters were not updated`, stepNo);
      lossSum += loss;
      const nextParams = { ...params };
      for (const p of io.params) if (p.output) nextParams[p.name] = last[p.output];
      const nextState: Record<string, Tensor> = {};
      for (const s of io.state) nextState[`${s.slot}/${s.param}`] = last[s.output];
      params = nextParams;
      state = nextState;
    }
    const gradNorm = first(last[io.gradNorm]);
    if (!Number.isFinite(gradNorm)) throw new NonFiniteError(`step ${stepNo}: gradient norm is ${gradNorm}; parameters were not updated`, stepNo);
    const metrics: Record<string, number> = {};
    for (const [k, out] of Object.entries(io.metrics)) {
      const t = last[out];
      metrics[k] = t.data.length === 1 ? first(t) : NaN;
      if (t.data.length === 1 && !Number.isFinite(metrics[k])) throw new NonFiniteError(`step ${stepNo}: metric ${k} is ${metrics[k]}; parameters were not updated`, stepNo);
    }
    this.params = params;
    this.state = state;
    this.step = stepNo;
    return { step: stepNo, loss: lossSum / batches.length, gradNorm, metrics, seconds: (performance.now() - t0) / 1000 };
  }

  checkpoint(extra: { rng?: string; config?: unknown } = {}): Checkpoint {
    return { params: this.params, state: this.state, step: this.step, rng: extra.rng, config: extra.config };
  }

  save(file: string, extra: { rng?: string; config?: unknown } = {}): string {
    return saveCheckpoint(file, this.checkpoint(extra));
  }

  /** Restore parameters, optimizer state and step; returns the RNG state and config stored with them. */
  load(file: string): { rng?: string; config?: unknown; step: number; hash: string } {
    const c = loadCheckpoint(file);
    for (const p of this.io.params) if (!c.params[p.name]) throw new Error(`${file}: no value for parameter '${p.name}'`);
    const state: Record<string, Tensor> = {};
    for (const s of this.io.state) {
      const t = c.state[`${s.slot}/${s.param}`];
      if (!t) throw new Error(`${file}: no optimizer state '${s.slot}' for parameter '${s.param}' (was it saved with another optimizer?)`);
      state[`${s.slot}/${s.param}`] = t;
    }
    this.setParams(Object.fromEntries(this.io.params.map((p) => [p.name, c.params[p.name]])));
    this.state = state;
    this.step = c.step;
    return { rng: c.rng, config: c.config, step: c.step, hash: c.hash };
  }
}
