// Gradient rules against central finite differences: one table entry (or more) per rule in GRAD_RULES,
// float64 graphs where ORT has float64 kernels, float32 "islands" (cast in, cast out) where it does not.
import test from 'ava';
import { GRAD_RULES } from './rules.js';
import { GradCheckSpec, gradCheck } from '../runtime/gradcheck.js';
import { GraphBuilder } from './builder.js';
import { Value } from './ir.js';
import { int64Tensor, tensor } from './tensor.js';

const f32 = (g: GraphBuilder, v: Value) => g.cast(v, 'float32');
const pos = (n: number, lo = 0.5, hi = 2) => Array.from({ length: n }, (_, i) => lo + ((hi - lo) * ((i * 7919) % 97)) / 97);
/** Float32 islands: larger step, looser tolerance (float32 rounding of the outputs dominates). */
const island = { h: 1e-2, atol: 2e-3, rtol: 2e-3 };

export const CHECKS: Record<string, GradCheckSpec[]> = {
  Identity: [{ inputs: { x: [3, 2] }, build: (g, x) => g.identity(x.x) }],
  Add: [{ inputs: { a: [2, 3], b: [3] }, build: (g, x) => g.add(x.a, x.b) }],
  Sub: [{ inputs: { a: [2, 1, 3], b: [4, 3] }, build: (g, x) => g.sub(x.a, x.b) }],
  Sum: [{ inputs: { a: [2, 3], b: [1, 3], c: [2, 1] }, build: (g, x) => g.sum([x.a, x.b, x.c]) }],
  Mul: [
    { inputs: { a: [2, 3], b: [2, 1] }, build: (g, x) => g.mul(x.a, x.b) },
    { inputs: { a: [4] }, build: (g, x) => g.mul(x.a, x.a) },
  ],
  Div: [{ inputs: { a: [2, 3], b: [3] }, values: { b: pos(3) }, build: (g, x) => g.div(x.a, x.b) }],
  Neg: [{ inputs: { x: [5] }, build: (g, x) => g.neg(x.x) }],
  Pow: [
    { inputs: { x: [2, 3] }, build: (g, x) => g.pow(x.x, 3) },
    { inputs: { x: [2, 3], e: [3] }, values: { x: pos(6) }, build: (g, x) => g.pow(x.x, x.e) },
  ],
  Sqrt: [{ inputs: { x: [6] }, values: { x: pos(6) }, build: (g, x) => g.sqrt(x.x) }],
  Exp: [{ inputs: { x: [6] }, build: (g, x) => g.exp(x.x) }],
  Log: [{ inputs: { x: [6] }, values: { x: pos(6) }, build: (g, x) => g.log(x.x) }],
  Reciprocal: [{ inputs: { x: [6] }, values: { x: pos(6) }, build: (g, x) => g.reciprocal(x.x) }],
  Abs: [{ inputs: { x: [6] }, build: (g, x) => g.abs(x.x) }],
  Tanh: [{ inputs: { x: [6] }, build: (g, x) => g.tanh(x.x) }],
  Sigmoid: [{ inputs: { x: [6] }, build: (g, x) => g.sigmoid(x.x) }],
  Relu: [{ inputs: { x: [8] }, build: (g, x) => g.relu(x.x) }],
  Erf: [{ inputs: { x: [6] }, ...island, build: (g, x) => g.erf(f32(g, x.x)) }],
  Swish: [{ inputs: { x: [2, 4] }, build: (g, x) => g.silu(x.x) }],
  Gelu: [
    { inputs: { x: [2, 4] }, build: (g, x) => g.gelu(x.x, 'tanh') },
    { inputs: { x: [2, 4] }, ...island, build: (g, x) => g.gelu(f32(g, x.x), 'none') },
  ],
  Softmax: [{ inputs: { x: [2, 3, 4] }, build: (g, x) => g.softmax(x.x, 1) }],
  LogSoftmax: [{ inputs: { x: [2, 5] }, build: (g, x) => g.logSoftmax(x.x, -1) }],
  MatMul: [
    { inputs: { a: [2, 3, 4], b: [4, 5] }, build: (g, x) => g.matmul(x.a, x.b) },
    { inputs: { a: [2, 3, 4], b: [2, 4, 5] }, build: (g, x) => g.matmul(x.a, x.b) },
    { inputs: { a: [3, 4], b: [2, 4, 2] }, build: (g, x) => g.matmul(x.a, x.b) },
  ],
  Gemm: [
    { inputs: { a: [3, 4], b: [4, 2], c: [2] }, build: (g, x) => g.gemm(x.a, x.b, x.c, { alpha: 0.5, beta: 2 }) },
    { inputs: { a: [4, 3], b: [4, 2] }, build: (g, x) => g.gemm(x.a, x.b, null, { transA: true }) },
    { inputs: { a: [3, 4], b: [2, 4], c: [3, 1] }, build: (g, x) => g.gemm(x.a, x.b, x.c, { transB: true }) },
    { inputs: { a: [4, 3], b: [2, 4] }, build: (g, x) => g.gemm(x.a, x.b, null, { transA: true, transB: true, alpha: 1.5 }) },
  ],
  LayerNormalization: [
    { inputs: { x: [2, 3, 4], s: [4], b: [4] }, build: (g, x) => g.layerNorm(x.x, x.s, x.b, { epsilon: 1e-5 }) },
    { inputs: { x: [2, 3, 4], s: [3, 4] }, build: (g, x) => g.layerNorm(x.x, x.s, null, { axis: 1, epsilon: 1e-3 }) },
    { inputs: { x: [3, 8], s: [8], b: [8] }, ...island, build: (g, x) => g.layerNorm(f32(g, x.x), f32(g, x.s), f32(g, x.b)) },
  ],
  ReduceSum: [{ inputs: { x: [2, 3, 4] }, build: (g, x) => g.reduceSum(x.x, [1], false) }],
  ReduceMean: [{ inputs: { x: [2, 3, 4] }, build: (g, x) => g.reduceMean(x.x, [0, 2], true) }],
  ReduceSumSquare: [{ inputs: { x: [2, 3] }, build: (g, x) => g.reduceSumSquare(x.x, [-1], false) }],
  Reshape: [{ inputs: { x: [2, 3, 4] }, build: (g, x) => g.reshape(x.x, [4, -1]) }],
  Flatten: [{ inputs: { x: [2, 3, 4] }, build: (g, x) => g.op('Flatten', [x.x], { axis: { type: 'int', value: 2 } }) }],
  Transpose: [{ inputs: { x: [2, 3, 4] }, build: (g, x) => g.transpose(x.x, [2, 0, 1]) }],
  Concat: [{ inputs: { a: [2, 3], b: [2, 1], c: [2, 2] }, build: (g, x) => g.concat([x.a, x.b, x.c], 1) }],
  Split: [{ inputs: { x: [5, 2] }, build: (g, x) => { const [p, , r] = g.split(x.x, [2, 1, 2], 0); return g.add(p, g.mul(r, 3)); } }],
  Slice: [{ inputs: { x: [4, 5, 3] }, build: (g, x) => g.slice(x.x, [1, -4], [3, 100], [0, 1]) }],
  Pad: [{ inputs: { x: [2, 3] }, build: (g, x) => g.pad(x.x, [1, 0, 0, 2], 0.5) }],
  Gather: [
    { inputs: { w: [5, 3] }, fixed: { i: int64Tensor([1, 3, 1, 0, 4, 1], [2, 3]) }, build: (g, x) => g.gather(x.w, x.i, 0) },
    { inputs: { w: [2, 4, 3] }, fixed: { i: int64Tensor([3, 3, -1]) }, build: (g, x) => g.gather(x.w, x.i, 1) },
  ],
  Unsqueeze: [{ inputs: { x: [2, 3] }, build: (g, x) => g.unsqueeze(x.x, [0, 3]) }],
  Squeeze: [{ inputs: { x: [2, 1, 3, 1] }, build: (g, x) => g.squeeze(x.x, [1, -1]) }],
  Expand: [{ inputs: { x: [3, 1] }, build: (g, x) => g.expand(x.x, [2, 3, 4]) }],
  Where: [
    {
      inputs: { a: [2, 3], b: [3] },
      fixed: { c: tensor('bool', [2, 3], [1, 0, 1, 0, 0, 1]) },
      build: (g, x) => g.where(x.c, x.a, x.b),
    },
  ],
  Cast: [{ inputs: { x: [5] }, ...island, build: (g, x) => g.mul(g.cast(x.x, 'float32'), 2) }],
  Conv: [
    { inputs: { x: [2, 2, 7], w: [3, 2, 3], b: [3] }, ...island, build: (g, x) => g.conv(f32(g, x.x), f32(g, x.w), f32(g, x.b), { strides: [2], pads: [1, 1] }) },
    { inputs: { x: [1, 2, 5, 5], w: [3, 2, 3, 3], b: [3] }, ...island, build: (g, x) => g.conv(f32(g, x.x), f32(g, x.w), f32(g, x.b), { pads: [1, 1, 1, 1] }) },
    { inputs: { x: [1, 2, 6, 5], w: [2, 2, 3, 2] }, ...island, build: (g, x) => g.conv(f32(g, x.x), f32(g, x.w), null, { strides: [2, 2], pads: [1, 0, 0, 1] }) },
    { inputs: { x: [1, 2, 3, 4, 4], w: [2, 2, 2, 3, 3] }, ...island, maxElements: 40, build: (g, x) => g.conv(f32(g, x.x), f32(g, x.w), null, { strides: [1, 2, 2], pads: [0, 1, 1, 1, 1, 1] }) },
  ],
  ConvTranspose: [
    { inputs: { x: [2, 3, 4], w: [3, 2, 3], b: [2] }, ...island, build: (g, x) => g.convTranspose(f32(g, x.x), f32(g, x.w), f32(g, x.b), { strides: [2], pads: [1, 0], outputPadding: [1] }) },
    { inputs: { x: [1, 2, 3, 3], w: [2, 3, 2, 2] }, ...island, build: (g, x) => g.convTranspose(f32(g, x.x), f32(g, x.w), null, { strides: [2, 2] }) },
    { inputs: { x: [1, 2, 2, 3, 3], w: [2, 2, 2, 3, 3] }, ...island, maxElements: 40, build: (g, x) => g.convTranspose(f32(g, x.x), f32(g, x.w), null, { strides: [2, 2, 2], pads: [0, 1, 1, 0, 1, 1], outputPadding: [0, 1, 1] }) },
  ],
};

test('every gradient rule has a finite-difference check', (t) => {
  const missing = Object.keys(GRAD_RULES).filter((op) => !CHECKS[op]?.length);
  t.deepEqual(missing, [], `rules without a check: ${missing.join(', ')}`);
  const extra = Object.keys(CHECKS).filter((op) => !GRAD_RULES[op]);
  t.deepEqual(extra, [], `checks for ops without a rule: ${extra.join(', ')}`);
});

for (const [op, specs] of Object.entries(CHECKS)) {
  specs.forEach((spec, k) => {
    test.serial(`gradient ${op}#${k} matches finite differences`, async (t) => {
      const r = await gradCheck(spec);
      t.true(r.ops.includes(op), `the check for ${op} does not contain a ${op} node (ops: ${r.ops.join(', ')})`);
      t.true(r.checked > 0);
      t.true(r.ok, `${op}#${k}: max abs err ${r.maxAbsErr} (${r.worst})`);
    });
  });
}
