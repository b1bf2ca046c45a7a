// Numerical gradient check of a graph-building function. In: input shapes, a build function
// (g, inputs) → output, and tolerances. Out: the largest error between the autodiff gradient of
// Σ r·y (r fixed random weights) and central finite differences computed with ONNX Runtime.

import { gradients } from '../graph/autodiff.js';
import { GraphBuilder } from '../graph/builder.js';
import { Graph, Value } from '../graph/ir.js';
import { Rng } from '../graph/rng.js';
import { Tensor, numel, tensor } from '../graph/tensor.js';
import { Session } from './session.js';

export interface GradCheckSpec {
  /** Inputs to differentiate (float64, filled with normals unless `values` gives them). */
  inputs: Record<string, number[]>;
  values?: Record<string, number[]>;
  /** Fixed inputs (indices, conditions), not differentiated. */
  fixed?: Record<string, Tensor>;
  build: (g: GraphBuilder, x: Record<string, Value>) => Value;
  /** Finite-difference step (default 1e-6 for float64 graphs). */
  h?: number;
  atol?: number;
  rtol?: number;
  /** Check at most this many elements per input (chosen at random); default all. */
  maxElements?: number;
  seed?: number;
}

export interface GradCheckResult {
  maxAbsErr: number;
  maxRelErr: number;
  checked: number;
  ok: boolean;
  worst: string;
  /** Op types in the forward graph, so a test can assert that the rule under test was exercised. */
  ops: string[];
}

function buildGraph(spec: GradCheckSpec, r: Tensor | undefined, withGrad: boolean): { graph: Graph; out: Value } {
  const g = new GraphBuilder({ dtype: 'float64' });
  const xs: Record<string, Value> = {};
  for (const [k, shape] of Object.entries(spec.inputs)) xs[k] = g.input(k, 'float64', shape);
  for (const [k, t] of Object.entries(spec.fixed ?? {})) xs[k] = g.input(k, t.dtype, t.shape);
  const forwardNodes = () => g.graph.nodes.length;
  const y = spec.build(g, xs);
  const n = forwardNodes();
  const y64 = g.cast(y, 'float64');
  if (!r) return { graph: g.graph, out: y64 };
  const loss = g.reduceSum(g.mul(y64, g.const(r)), undefined, false);
  g.output(loss, 'loss');
  if (withGrad) {
    const grads = gradients(g, loss, Object.keys(spec.inputs).map((k) => xs[k]));
    Object.keys(spec.inputs).forEach((k, i) => g.output(grads[i], `grad_${k}`));
  }
  g.graph.metadata['forward_nodes'] = String(n);
  return { graph: g.graph, out: y64 };
}

export async function gradCheck(spec: GradCheckSpec): Promise<GradCheckResult> {
  const rng = new Rng(spec.seed ?? 1);
  const probe = buildGraph(spec, undefined, false);
  const yShape = [...probe.out.shape];
  const r = tensor('float64', yShape, rng.fill(numel(yShape), (q) => q.normal()));
  const full = buildGraph(spec, r, true).graph;
  const fwd = buildGraph(spec, r, false).graph;
  const ops = [...new Set(fwd.nodes.slice(0, Number(fwd.metadata['forward_nodes'])).map((n) => n.op))];
  const feeds: Record<string, Tensor> = { ...(spec.fixed ?? {}) };
  for (const [k, shape] of Object.entries(spec.inputs))
    feeds[k] = tensor('float64', shape, spec.values?.[k] ?? rng.fill(numel(shape), (q) => q.normal()));
  const sFull = await Session.create(full);
  const sFwd = await Session.create(fwd);
  const analytic = await sFull.run(feeds);
  const h = spec.h ?? 1e-6;
  const atol = spec.atol ?? 1e-6;
  const rtol = spec.rtol ?? 1e-5;
  let maxAbs = 0;
  let maxRel = 0;
  let checked = 0;
  let ok = true;
  let worst = '';
  for (const k of Object.keys(spec.inputs)) {
    const x = feeds[k].data as Float64Array;
    const ga = analytic[`grad_${k}`].data as Float64Array;
    let idx = Array.from({ length: x.length }, (_, i) => i);
    if (spec.maxElements && idx.length > spec.maxElements) {
      for (let i = idx.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [idx[i], idx[j]] = [idx[j], idx[i]];
      }
      idx = idx.slice(0, spec.maxElements);
    }
    for (const i of idx) {
      const keep = x[i];
      x[i] = keep + h;
      const lp = (await sFwd.run(feeds)).loss.data[0] as number;
      x[i] = keep - h;
      const lm = (await sFwd.run(feeds)).loss.data[0] as number;
      x[i] = keep;
      const num = (lp - lm) / (2 * h);
      const err = Math.abs(num - ga[i]);
      const rel = err / Math.max(Math.abs(num), 1e-12);
      checked++;
      if (err > maxAbs) {
        maxAbs = err;
        worst = `${k}[${i}]: autodiff ${ga[i]} vs numeric ${num}`;
      }
      maxRel = Math.max(maxRel, Math.min(rel, err));
      if (err > atol + rtol * Math.abs(num)) {
        if (ok) worst = `${k}[${i}]: autodiff ${ga[i]} vs numeric ${num}`;
        ok = false;
      }
    }
  }
  await sFull.release();
  await sFwd.release();
  return { maxAbsErr: maxAbs, maxRelErr: maxRel, checked, ok, worst, ops };
}
