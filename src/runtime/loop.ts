// The training loop helper: steps a Trainer to a target step count with a batch function and an LR
// schedule, reports progress, checkpoints periodically, and stops on a non-finite loss with a clear
// error after saving the last good state. In: a Trainer and loop settings. Out: the step results.

import * as fs from 'node:fs';
import { Rng } from '../graph/rng.js';
import { writeFileAtomic } from '../io/atomic.js';
import { Tensor } from '../graph/tensor.js';
import { Schedule } from './schedule.js';
import { NonFiniteError, StepResult, Trainer } from './trainer.js';

export interface LoopOptions {
  trainer: Trainer;
  /** Stop when the trainer has taken this many optimizer steps (a resumed run continues to it). */
  steps: number;
  /** The batch (or accum micro-batches) for a 0-based step, drawn from the trainer's RNG. */
  batch: (step: number, rng: Rng) => Record<string, Tensor> | Record<string, Tensor>[];
  lr: Schedule;
  checkpoint?: { path: string; every: number };
  onStep?: (r: StepResult & { lr: number; total: number }) => void;
  /** Print a progress line every n steps to this function (e.g. to stderr). */
  log?: { every: number; write: (line: string) => void };
}

export class TrainingStopped extends Error {
  constructor(
    message: string,
    readonly step: number,
    readonly checkpoint: string | undefined,
  ) {
    super(message);
  }
}

export async function trainLoop(o: LoopOptions): Promise<StepResult[]> {
  const t = o.trainer;
  const results: StepResult[] = [];
  const t0 = performance.now();
  const start = t.steps;
  while (t.steps < o.steps) {
    const s = t.steps;
    const lr = o.lr(s);
    let r: StepResult;
    try {
      r = await t.step(o.batch(s, t.rng), lr);
    } catch (e) {
      if (!(e instanceof NonFiniteError)) throw e;
      let where: string | undefined;
      if (o.checkpoint) {
        // the trainer still holds the state from before the bad step: keep it as the last good checkpoint
        await t.save(o.checkpoint.path);
        where = o.checkpoint.path;
      }
      throw new TrainingStopped(`training stopped: ${e.message} (lr ${lr})` + (where ? `; last good state (step ${s}) saved to ${where}` : ''), e.step, where);
    }
    results.push(r);
    o.onStep?.({ ...r, lr, total: o.steps });
    if (o.log && (r.step % o.log.every === 0 || r.step === o.steps)) {
      const el = (performance.now() - t0) / 1000;
      const rate = (r.step - start) / el;
      const eta = (o.steps - r.step) / rate;
      const m = Object.entries(r.metrics).map(([k, v]) => ` ${k} ${v.toPrecision(4)}`).join('');
      o.log.write(`step ${r.step}/${o.steps} loss ${r.loss.toPrecision(5)} |g| ${r.gradNorm.toPrecision(3)}${m} lr ${lr.toExponential(2)} ${rate.toFixed(1)} it/s eta ${eta.toFixed(0)}s`);
    }
    if (o.checkpoint && (r.step % o.checkpoint.every === 0 || r.step === o.steps)) await t.save(o.checkpoint.path);
  }
  return results;
}

export function checkpointExists(path: string): boolean {
  return fs.existsSync(path);
}

/**
 * Cut a JSONL training log (one `{"step", …}` line per step) back to the steps ≤ `step`, after resuming
 * from a checkpoint taken there; rewritten atomically. Returns the records kept (none for a missing log).
 */
export async function truncateStepLog(file: string, step: number): Promise<Array<{ step: number } & Record<string, unknown>>> {
  if (!fs.existsSync(file)) return [];
  const lines = (await fs.promises.readFile(file, 'utf8')).split('\n').filter((l) => l.trim());
  const keep = lines.map((l) => ({ line: l, rec: JSON.parse(l) })).filter((x) => x.rec.step <= step);
  await writeFileAtomic(file, keep.map((x) => `${x.line}\n`).join(''));
  return keep.map((x) => x.rec);
}
