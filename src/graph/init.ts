// Initial parameter values from each parameter's Init rule. Each parameter draws from its own stream
// seeded by (seed, name), so values do not depend on the order parameters were declared.
// In: ParamInfo records and a seed. Out: Tensors by parameter name.

import { ParamInfo } from './ir.js';
import { Rng } from './rng.js';
import { Tensor, numel, tensor } from './tensor.js';

function fans(shape: number[]): { fanIn: number; fanOut: number } {
  if (shape.length === 0) return { fanIn: 1, fanOut: 1 };
  if (shape.length === 1) return { fanIn: shape[0], fanOut: shape[0] };
  if (shape.length === 2) return { fanIn: shape[0], fanOut: shape[1] }; // (in, out) as used by linear()
  const rf = numel(shape.slice(2)); // conv weights (out, in, k…)
  return { fanIn: shape[1] * rf, fanOut: shape[0] * rf };
}

export function initParam(p: ParamInfo, seed: number | string): Tensor {
  const n = numel(p.shape);
  const rng = new Rng(`${seed}/${p.name}`);
  const init = p.init;
  let values: number[];
  if (init === 'zeros') values = Array(n).fill(0);
  else if (init === 'ones') values = Array(n).fill(1);
  else if ('constant' in init) values = Array(n).fill(init.constant);
  else if ('normal' in init) values = rng.fill(n, (r) => (init.mean ?? 0) + init.normal * r.normal());
  else if ('uniform' in init) values = rng.fill(n, (r) => init.uniform[0] + (init.uniform[1] - init.uniform[0]) * r.uniform());
  else if ('xavier' in init) {
    const { fanIn, fanOut } = fans(p.shape);
    const gain = init.gain ?? 1;
    if (init.xavier === 'uniform') {
      const a = gain * Math.sqrt(6 / (fanIn + fanOut));
      values = rng.fill(n, (r) => (2 * r.uniform() - 1) * a);
    } else values = rng.fill(n, (r) => r.normal() * gain * Math.sqrt(2 / (fanIn + fanOut)));
  } else if ('kaiming' in init) {
    const fanIn = init.fanIn ?? fans(p.shape).fanIn;
    if (init.kaiming === 'uniform') {
      const a = 1 / Math.sqrt(fanIn); // PyTorch's default for Linear/Conv weights and biases
      values = rng.fill(n, (r) => (2 * r.uniform() - 1) * a);
    } else values = rng.fill(n, (r) => r.normal() * Math.sqrt(2 / fanIn));
  } else throw new Error(`param ${p.name}: unknown init ${JSON.stringify(init)}`);
  return tensor(p.dtype, p.shape, values);
}

export function initParams(params: Iterable<ParamInfo>, seed: number | string = 0): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const p of params) out[p.name] = initParam(p, seed);
  return out;
}
