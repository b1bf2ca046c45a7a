// Trainer: runs training steps of a TrainStep graph in a worker thread (ORT's session.run blocks the
// thread it runs on), keeps parameters and optimizer state there between steps, and saves/loads
// checkpoints (with the main-thread RNG state and run config). In: a TrainStep (graph + io) or model
// bytes + io, batches and learning rates. Out: StepResults, checkpoints, parameter values.

import { Worker } from 'node:worker_threads';
import { Graph } from '../graph/ir.js';
import { encodeModel } from '../graph/onnx.js';
import { Rng } from '../graph/rng.js';
import { Tensor } from '../graph/tensor.js';
import { TrainStepIO } from '../graph/train-step.js';
import { SessionOptions } from './ort.js';
import { NonFiniteError, StepResult, TrainerCore } from './trainer-core.js';

export { NonFiniteError, type StepResult } from './trainer-core.js';

export interface TrainerOptions {
  /** Initial parameter values; missing ones are drawn from their Init rules with `seed`. */
  params?: Record<string, Tensor>;
  seed?: number | string;
  /** Seed of `trainer.rng` (batch sampling, noise); default `seed`. */
  rngSeed?: number | string;
  /** Run config stored in checkpoints. */
  config?: unknown;
  session?: SessionOptions;
  /** Run in this thread instead of a worker (blocks the event loop during steps). */
  inProcess?: boolean;
}

interface Backend {
  call<T>(cmd: string, args?: unknown): Promise<T>;
  close(): Promise<void>;
}

class WorkerBackend implements Backend {
  private next = 1;
  private waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  private dead: Error | undefined;
  constructor(private readonly worker: Worker) {
    worker.on('message', (m: { id: number; result?: unknown; error?: { name: string; message: string; step?: number; nonFinite?: boolean } }) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.error) w.reject(m.error.nonFinite ? new NonFiniteError(m.error.message, m.error.step ?? 0) : new Error(m.error.message));
      else w.resolve(m.result);
    });
    const fail = (e: Error) => {
      this.dead = e;
      for (const w of this.waiting.values()) w.reject(e);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`trainer worker exited (code ${code})`)));
  }
  call<T>(cmd: string, args?: unknown): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, cmd, args });
    });
  }
  async close() {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}

class LocalBackend implements Backend {
  core?: TrainerCore;
  async call<T>(cmd: string, args?: any): Promise<T> {
    if (cmd === 'init') {
      this.core = await TrainerCore.create(args);
      return { provider: this.core.provider, step: 0 } as T;
    }
    const c = this.core!;
    switch (cmd) {
      case 'step': return (await c.run(args.batches, args.lr)) as T;
      case 'save': return c.save(args.file, args.extra) as T;
      case 'load': return c.load(args.file) as T;
      case 'getParams': return c.params as T;
      case 'getState': return { state: c.state, step: c.step } as T;
      case 'setParams': c.setParams(args.values); return null as T;
      case 'resetState': c.resetState(); return null as T;
    }
    throw new Error(`unknown trainer command '${cmd}'`);
  }
  async close() {}
}

/**
 * Tensors whose data is a view into a larger buffer are copied to a buffer of their own, since posting
 * a view to the worker would clone the whole underlying buffer.
 */
function compact(ts: Record<string, Tensor>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(ts)) out[k] = t.data.byteLength === t.data.buffer.byteLength ? t : { ...t, data: t.data.slice() as Tensor['data'] };
  return out;
}

export class Trainer {
  rng: Rng;
  private stepCount = 0;
  private constructor(
    private readonly backend: Backend,
    readonly io: TrainStepIO,
    readonly provider: string,
    rng: Rng,
    private readonly config: unknown,
  ) {
    this.rng = rng;
  }

  static async create(step: { graph: Graph; io: TrainStepIO } | { model: Uint8Array; io: TrainStepIO }, o: TrainerOptions = {}): Promise<Trainer> {
    const model = 'graph' in step ? encodeModel(step.graph) : step.model;
    const backend: Backend = o.inProcess ? new LocalBackend() : new WorkerBackend(new Worker(new URL('./trainer-worker.js', import.meta.url)));
    try {
      const r = await backend.call<{ provider: string }>('init', { model, io: step.io, params: o.params && compact(o.params), seed: o.seed, session: o.session ? { ...o.session, log: undefined } : undefined });
      return new Trainer(backend, step.io, r.provider, new Rng(o.rngSeed ?? o.seed ?? 0), o.config);
    } catch (e) {
      await backend.close();
      throw e;
    }
  }

  /** Optimizer steps taken so far. */
  get steps(): number {
    return this.stepCount;
  }

  /** One optimizer step: one batch, or an array of `accum` micro-batches. */
  async step(batch: Record<string, Tensor> | Record<string, Tensor>[], lr: number): Promise<StepResult> {
    const batches = (Array.isArray(batch) ? batch : [batch]).map(compact);
    const r = await this.backend.call<StepResult>('step', { batches, lr });
    this.stepCount = r.step;
    return r;
  }

  /** Save parameters, optimizer state, step, RNG state and config; returns the content hash. */
  async save(file: string): Promise<string> {
    return this.backend.call<string>('save', { file, extra: { rng: this.rng.state, config: this.config } });
  }

  /** Restore a checkpoint saved by save(); the RNG continues where it was. */
  async load(file: string): Promise<{ step: number; config?: unknown; hash: string }> {
    const r = await this.backend.call<{ rng?: string; config?: unknown; step: number; hash: string }>('load', { file });
    if (r.rng) this.rng = Rng.fromState(r.rng);
    this.stepCount = r.step;
    return { step: r.step, config: r.config, hash: r.hash };
  }

  getParams(): Promise<Record<string, Tensor>> {
    return this.backend.call('getParams');
  }

  getState(): Promise<{ state: Record<string, Tensor>; step: number }> {
    return this.backend.call('getState');
  }

  setParams(values: Record<string, Tensor>): Promise<void> {
    return this.backend.call('setParams', { values: compact(values) });
  }

  async close(): Promise<void> {
    await this.backend.close();
  }
}
