// The table of reverse-mode gradient rules, one per ONNX op. In: the forward node, its input and output
// values, and the gradients of its outputs. Out: gradients of the inputs that need one, built from
// ordinary ONNX ops with the same builder (so float32 and float64 graphs both work).

import { GraphBuilder } from './builder.js';
import { Node, Value } from './ir.js';
import { convGeometry, getFloat, getInt, getInts, getString, normAxis, reduceAxes, sliceBounds } from './infer.js';
import { Tensor, numel, toNumbers } from './tensor.js';

export interface GradContext {
  g: GraphBuilder;
  node: Node;
  inputs: (Value | undefined)[];
  outputs: Value[];
  /** Gradient of each output (undefined: zero). */
  grads: (Value | undefined)[];
  /** Which inputs need a gradient. */
  needs: boolean[];
  constant(i: number): Tensor | undefined;
}

export type GradRule = (c: GradContext) => (Value | undefined)[];

/** Ops whose outputs carry no gradient (piecewise constant, or integer/bool results). */
export const NON_DIFFERENTIABLE = new Set([
  'Shape', 'Size', 'ConstantOfShape', 'Constant', 'Floor', 'Ceil', 'Round', 'Sign', 'ArgMax', 'ArgMin',
  'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'Equal', 'And', 'Or', 'Xor', 'Not', 'IsNaN', 'IsInf',
  'Range', 'OneHot', 'RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike',
]);

/** Sum a gradient over the axes that broadcasting added or stretched, back to `shape`. */
export function unbroadcast(g: GraphBuilder, grad: Value, shape: readonly number[]): Value {
  if (grad.shape.join() === shape.join()) return grad;
  const r = grad.shape.length;
  const off = r - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < r; i++) {
    if (i < off) axes.push(i);
    else if (shape[i - off] === 1 && grad.shape[i] !== 1) axes.push(i);
  }
  if (!axes.length) return g.reshape(grad, [...shape]);
  // A contiguous block of axes before the last one (bias gradients, values broadcast over tokens) is
  // summed as a product with a row of ones: ORT's CPU ReduceSum over leading axes is slow (0.4 ms for
  // [8, 64, 512] → [512] against 0.03 ms for the MatMul, measured for scripts/bench-dpo.ts).
  const contiguous = axes.every((a, i) => i === 0 || a === axes[i - 1]! + 1);
  if (contiguous && axes[axes.length - 1]! < r - 1 && (grad.dtype === 'float32' || grad.dtype === 'float64')) {
    const size = (from: number, to: number) => grad.shape.slice(from, to).reduce((a, b) => a * b, 1);
    const [L, M, R] = [size(0, axes[0]!), size(axes[0]!, axes[axes.length - 1]! + 1), size(axes[axes.length - 1]! + 1, r)];
    const ones = g.const({ dtype: grad.dtype, shape: [1, M], data: new (grad.dtype === 'float64' ? Float64Array : Float32Array)(M).fill(1) });
    const x = L === 1 ? g.reshape(grad, [M, R]) : g.reshape(grad, [L, M, R]);
    return g.reshape(g.matmul(ones, x), [...shape]);
  }
  return g.reshape(g.reduceSum(grad, axes, true), [...shape]);
}

function first(c: GradContext): Value {
  const d = c.grads[0];
  if (!d) throw new Error('no output gradient');
  return d;
}
function inp(c: GradContext, i: number): Value {
  const v = c.inputs[i];
  if (!v) throw new Error(`missing input ${i}`);
  return v;
}
const only0 = (v: Value | undefined) => [v];

const swapLast = (r: number) => [...Array.from({ length: r - 2 }, (_, i) => i), r - 1, r - 2];

function matmulGrad(c: GradContext): (Value | undefined)[] {
  const { g } = c;
  const a = inp(c, 0);
  const b = inp(c, 1);
  const dy = first(c);
  if (a.shape.length < 2 || b.shape.length < 2) throw new Error(`MatMul gradient needs rank ≥ 2 inputs, got [${a.shape}] and [${b.shape}]`);
  let da: Value | undefined;
  let db: Value | undefined;
  const K = a.shape[a.shape.length - 1];
  const N = b.shape[b.shape.length - 1];
  if (c.needs[0]) {
    if (b.shape.length === 2) {
      // (…, M, N) @ (K, N)^T as one Gemm over the flattened rows
      const d2 = g.reshape(dy, [-1, N]);
      da = g.reshape(g.gemm(d2, b, null, { transB: true }), [...dy.shape.slice(0, -1), K]);
      da = unbroadcast(g, da, a.shape);
    } else da = unbroadcast(g, g.matmul(dy, g.transpose(b, swapLast(b.shape.length))), a.shape);
  }
  if (c.needs[1]) {
    if (b.shape.length === 2) {
      // Σ over all leading axes of Aᵀ dY, as one Gemm with transA
      db = g.gemm(g.reshape(a, [-1, K]), g.reshape(dy, [-1, N]), null, { transA: true });
    } else db = unbroadcast(g, g.matmul(g.transpose(a, swapLast(a.shape.length)), dy), b.shape);
  }
  return [da, db];
}

function gemmGrad(c: GradContext): (Value | undefined)[] {
  const { g, node } = c;
  const a = inp(c, 0);
  const b = inp(c, 1);
  const dy = first(c);
  const alpha = getFloat(node, 'alpha', 1);
  const beta = getFloat(node, 'beta', 1);
  const tA = getInt(node, 'transA', 0) === 1;
  const tB = getInt(node, 'transB', 0) === 1;
  const mm = (x: Value, y: Value, transA: boolean, transB: boolean) => g.gemm(x, y, null, { alpha, transA, transB });
  let da: Value | undefined;
  let db: Value | undefined;
  if (c.needs[0]) da = !tA ? (!tB ? mm(dy, b, false, true) : mm(dy, b, false, false)) : !tB ? mm(b, dy, false, true) : mm(b, dy, true, true);
  if (c.needs[1]) db = !tB ? (!tA ? mm(a, dy, true, false) : mm(a, dy, false, false)) : !tA ? mm(dy, a, true, false) : mm(dy, a, true, true);
  let dc: Value | undefined;
  if (c.inputs[2] && c.needs[2]) {
    dc = unbroadcast(g, dy, inp(c, 2).shape);
    if (beta !== 1) dc = g.mul(dc, beta);
  }
  return [da, db, dc];
}

function layerNormGrad(c: GradContext): (Value | undefined)[] {
  const { g, node } = c;
  const x = inp(c, 0);
  const scale = inp(c, 1);
  const dy = c.grads[0];
  if (c.grads[1] || c.grads[2]) throw new Error('gradients through LayerNormalization Mean/InvStdDev outputs are not supported');
  if (!dy) return [];
  const r = x.shape.length;
  const axis = normAxis(node, getInt(node, 'axis', -1), r);
  const eps = getFloat(node, 'epsilon', 1e-5);
  const norm = Array.from({ length: r - axis }, (_, i) => axis + i);
  // recompute the statistics from primitives (ORT's Mean/InvStdDev outputs are float32 only)
  const mean = g.reduceMean(x, norm, true);
  const xc = g.sub(x, mean);
  const variance = g.reduceMean(g.mul(xc, xc), norm, true);
  const rstd = g.reciprocal(g.sqrt(g.add(variance, eps)));
  const xhat = g.mul(xc, rstd);
  let dx: Value | undefined;
  if (c.needs[0]) {
    const dxhat = g.mul(dy, scale);
    const m1 = g.reduceMean(dxhat, norm, true);
    const m2 = g.reduceMean(g.mul(dxhat, xhat), norm, true);
    dx = g.mul(rstd, g.sub(g.sub(dxhat, m1), g.mul(xhat, m2)));
  }
  const dscale = c.needs[1] ? unbroadcast(g, g.mul(dy, xhat), scale.shape) : undefined;
  const db = c.inputs[2] && c.needs[2] ? unbroadcast(g, dy, inp(c, 2).shape) : undefined;
  return [dx, dscale, db];
}

function reduceGrad(mean: boolean, square: boolean): GradRule {
  return (c) => {
    const { g, node } = c;
    const x = inp(c, 0);
    const dy = first(c);
    const axes = reduceAxes({ node, inputs: c.inputs, constant: c.constant, opset: g.opset }, x.shape.length);
    const keepShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    let dx = g.expand(g.reshape(dy, keepShape), [...x.shape]);
    if (mean) dx = g.mul(dx, 1 / numel(axes.map((a) => x.shape[a])));
    if (square) dx = g.mul(dx, g.mul(x, 2));
    return [dx];
  };
}

/** What Conv and ConvTranspose rules share: operands, spatial rank, kernel, group, bias gradient. */
function convOperands(c: GradContext) {
  const w = inp(c, 1);
  const nsp = w.shape.length - 2;
  const dy = first(c);
  const biasGrad = () => (c.inputs[2] && c.needs[2] ? c.g.reduceSum(dy, [0, ...Array.from({ length: nsp }, (_, i) => 2 + i)], false) : undefined);
  return { g: c.g, node: c.node, x: inp(c, 0), w, dy, nsp, kernel: w.shape.slice(2), group: getInt(c.node, 'group', 1), biasGrad };
}

function convGrad(c: GradContext): (Value | undefined)[] {
  const { g, node, x, w, dy, nsp, kernel, group, biasGrad } = convOperands(c);
  const geo = convGeometry(node, x.shape, kernel);
  let dx: Value | undefined;
  if (c.needs[0]) {
    // the transposed convolution maps dY back onto X's grid; output_padding restores dropped rows
    const outPad = kernel.map((k, i) => x.shape[2 + i] - (geo.strides[i] * (dy.shape[2 + i] - 1) + (k - 1) * geo.dil[i] + 1 - geo.pads[i] - geo.pads[i + nsp]));
    dx = g.convTranspose(dy, w, null, { strides: geo.strides, pads: geo.pads, dilations: geo.dil, group, outputPadding: outPad });
  }
  const dw = c.needs[1] ? convWeightGrad(g, x, dy, kernel, geo.strides, geo.pads, geo.dil, group) : undefined;
  return [dx, dw, biasGrad()];
}

/**
 * dW[o,i,k] = Σ_n,p X[n,i,p·s+k−pad] dY[n,o,p] for a convolution of X with W [o, i, k…] giving dY's
 * grid: a convolution of Xᵀ (channels as batch) with dYᵀ, dilated by the forward stride, cropped to
 * the kernel size.
 */
function convWeightGrad(g: GraphBuilder, x: Value, dy: Value, kernel: number[], strides: number[], pads: number[], dil: number[], group: number): Value {
  if (group !== 1) throw new Error(`weight gradient for group=${group} is not supported`);
  if (dil.some((d) => d !== 1)) throw new Error(`weight gradient for dilations [${dil}] is not supported`);
  const nsp = kernel.length;
  const perm = [1, 0, ...Array.from({ length: nsp }, (_, i) => 2 + i)];
  let r = g.conv(g.transpose(x, perm), g.transpose(dy, perm), null, { strides: Array(nsp).fill(1), pads, dilations: strides });
  if (r.shape.slice(2).some((d, i) => d !== kernel[i])) r = g.slice(r, Array(nsp).fill(0), kernel, Array.from({ length: nsp }, (_, i) => 2 + i));
  return g.transpose(r, perm);
}

/**
 * ConvTranspose(X, W) is the adjoint of Conv(·, W) with the same geometry (W [Cin, Cout, k…] read as
 * a Conv weight [out = Cin, in = Cout, k…]): dX = Conv(dY, W); dW is Conv's weight gradient with the
 * roles of input and output swapped (dY is the input grid, X the output grid).
 */
function convTransposeGrad(c: GradContext): (Value | undefined)[] {
  const { g, node, x, w, dy, nsp, kernel, group, biasGrad } = convOperands(c);
  if (getInts(node, 'output_shape')) throw new Error('ConvTranspose gradient: output_shape is not supported; give explicit pads');
  const autoPad = getString(node, 'auto_pad', 'NOTSET');
  if (autoPad !== 'NOTSET') throw new Error(`ConvTranspose gradient: auto_pad ${autoPad} is not supported; give explicit pads`);
  const strides = getInts(node, 'strides') ?? Array(nsp).fill(1);
  const dil = getInts(node, 'dilations') ?? Array(nsp).fill(1);
  const pads = getInts(node, 'pads') ?? Array(2 * nsp).fill(0);
  const dx = c.needs[0] ? g.conv(dy, w, null, { strides, pads, dilations: dil, group }) : undefined;
  const dw = c.needs[1] ? convWeightGrad(g, dy, x, kernel, strides, pads, dil, group) : undefined;
  return [dx, dw, biasGrad()];
}

function sliceGrad(c: GradContext): (Value | undefined)[] {
  const { g } = c;
  const x = inp(c, 0);
  const dy = first(c);
  const r = x.shape.length;
  const num = (i: number) => toNumbers(c.constant(i)!);
  const starts = num(1);
  const ends = num(2);
  const axes = c.inputs[3] ? num(3).map((a) => (a < 0 ? a + r : a)) : starts.map((_, i) => i);
  const steps = c.inputs[4] ? num(4) : starts.map(() => 1);
  const pads = Array(2 * r).fill(0);
  axes.forEach((a, i) => {
    if (steps[i] !== 1) throw new Error(`Slice gradient supports step 1 only, got ${steps[i]} on axis ${a}`);
    const b = sliceBounds(x.shape[a], starts[i], ends[i], steps[i]);
    pads[a] = b.start;
    pads[a + r] = x.shape[a] - b.start - b.count;
  });
  return [g.pad(dy, pads)];
}

function padGrad(c: GradContext): (Value | undefined)[] {
  const { g, node } = c;
  const x = inp(c, 0);
  if (getString(node, 'mode', 'constant') !== 'constant') throw new Error('Pad gradient supports mode constant only');
  const r = x.shape.length;
  const pads = toNumbers(c.constant(1)!);
  const axes = c.inputs[3] ? toNumbers(c.constant(3)!).map((a) => (a < 0 ? a + r : a)) : x.shape.map((_, i) => i);
  const starts = axes.map((_, i) => pads[i]);
  const ends = axes.map((a, i) => pads[i] + x.shape[a]);
  return [g.slice(first(c), starts, ends, axes)];
}

function gatherGrad(c: GradContext): (Value | undefined)[] {
  const { g, node } = c;
  const x = inp(c, 0);
  const ind = inp(c, 1);
  const dy = first(c);
  const axis = normAxis(node, getInt(node, 'axis', 0), x.shape.length);
  const ik = ind.shape.length;
  // move the gathered axis (in x) and the index axes (in dY) to the front, scatter-add, move back
  const xr = x.shape.length;
  const dyPerm = [...Array.from({ length: ik }, (_, i) => axis + i), ...Array.from({ length: axis }, (_, i) => i), ...Array.from({ length: xr - axis - 1 }, (_, i) => axis + ik + i)];
  const dyt = g.transpose(dy, dyPerm);
  const front = [x.shape[axis], ...x.shape.slice(0, axis), ...x.shape.slice(axis + 1)];
  const idx = g.unsqueeze(ind.dtype === 'int64' ? ind : g.cast(ind, 'int64'), [-1]);
  const zeros = g.fill(front, 0, x.dtype);
  const scattered = g.op('ScatterND', [zeros, idx, dyt], { reduction: { type: 'string', value: 'add' } });
  const back = [...Array.from({ length: axis }, (_, i) => i + 1), 0, ...Array.from({ length: xr - axis - 1 }, (_, i) => axis + 1 + i)];
  return [g.transpose(scattered, back), undefined];
}

export const GRAD_RULES: Record<string, GradRule> = {
  Identity: (c) => [first(c)],
  Add: (c) => [c.needs[0] ? unbroadcast(c.g, first(c), inp(c, 0).shape) : undefined, c.needs[1] ? unbroadcast(c.g, first(c), inp(c, 1).shape) : undefined],
  Sub: (c) => [c.needs[0] ? unbroadcast(c.g, first(c), inp(c, 0).shape) : undefined, c.needs[1] ? unbroadcast(c.g, c.g.neg(first(c)), inp(c, 1).shape) : undefined],
  Sum: (c) => c.inputs.map((v, i) => (c.needs[i] ? unbroadcast(c.g, first(c), v!.shape) : undefined)),
  Mul: (c) => {
    const [a, b] = [inp(c, 0), inp(c, 1)];
    if (a === b && c.needs[0]) return [c.g.mul(c.g.mul(first(c), a), 2), undefined]; // x·x
    return [c.needs[0] ? unbroadcast(c.g, c.g.mul(first(c), b), a.shape) : undefined, c.needs[1] ? unbroadcast(c.g, c.g.mul(first(c), a), b.shape) : undefined];
  },
  Div: (c) => {
    const [a, b] = [inp(c, 0), inp(c, 1)];
    const dy = first(c);
    return [
      c.needs[0] ? unbroadcast(c.g, c.g.div(dy, b), a.shape) : undefined,
      c.needs[1] ? unbroadcast(c.g, c.g.neg(c.g.div(c.g.mul(dy, c.outputs[0]), b)), b.shape) : undefined,
    ];
  },
  Neg: (c) => [c.g.neg(first(c))],
  Pow: (c) => {
    const { g } = c;
    const [a, b] = [inp(c, 0), inp(c, 1)];
    const dy = first(c);
    let da: Value | undefined;
    if (c.needs[0]) {
      const bc = c.constant(1);
      let local: Value;
      if (bc && numel(bc.shape) === 1) {
        const e = toNumbers(bc)[0];
        local = e === 2 ? g.mul(a, 2) : e === 1 ? g.fill(a.shape, 1, a.dtype) : g.mul(g.pow(a, g.scalar(e - 1, b.dtype)), e);
      } else local = g.mul(g.pow(a, g.sub(b, g.lift(1, b))), g.cast(b, a.dtype));
      da = unbroadcast(g, g.mul(dy, local), a.shape);
    }
    const db = c.needs[1] ? unbroadcast(g, g.mul(dy, g.mul(c.outputs[0], g.log(a))), b.shape) : undefined;
    return [da, db];
  },
  Sqrt: (c) => [c.g.div(c.g.mul(first(c), 0.5), c.outputs[0])],
  Exp: (c) => [c.g.mul(first(c), c.outputs[0])],
  Log: (c) => [c.g.div(first(c), inp(c, 0))],
  Reciprocal: (c) => [c.g.neg(c.g.mul(first(c), c.g.mul(c.outputs[0], c.outputs[0])))],
  Abs: (c) => [c.g.mul(first(c), c.g.op('Sign', [inp(c, 0)]))],
  Tanh: (c) => {
    const y = c.outputs[0];
    return [c.g.mul(first(c), c.g.sub(1, c.g.mul(y, y)))];
  },
  Sigmoid: (c) => {
    const y = c.outputs[0];
    return [c.g.mul(first(c), c.g.mul(y, c.g.sub(1, y)))];
  },
  Relu: (c) => [c.g.where(c.g.greater(inp(c, 0), 0), first(c), 0)],
  Erf: (c) => {
    const x = inp(c, 0);
    return [c.g.mul(first(c), c.g.mul(c.g.exp(c.g.neg(c.g.mul(x, x))), 2 / Math.sqrt(Math.PI)))];
  },
  Swish: (c) => {
    // y = x·σ(αx); dy/dx = σ(αx)·(1 + αx·(1 − σ(αx)))
    const { g } = c;
    const x = inp(c, 0);
    const alpha = getFloat(c.node, 'alpha', 1);
    const ax = alpha === 1 ? x : g.mul(x, alpha);
    const s = g.sigmoid(ax);
    return [g.mul(first(c), g.mul(s, g.add(g.mul(ax, g.sub(1, s)), 1)))];
  },
  Gelu: (c) => {
    const { g } = c;
    const x = inp(c, 0);
    if (getString(c.node, 'approximate', 'none') === 'tanh') {
      // y = x·σ(w) with w = 2k(x + c·x³): y' = s·(1 + x·w'·(1 − s)), s = σ(w), w' = 2k(1 + 3c·x²)
      // (13 elementwise nodes; the tanh form took 18)
      const k2 = 2 * Math.sqrt(2 / Math.PI);
      const cc = 0.044715;
      const x2 = g.mul(x, x);
      const s = g.sigmoid(g.mul(x, g.add(g.mul(x2, k2 * cc), k2)));
      const q = g.mul(x, g.add(g.mul(x2, 3 * k2 * cc), k2));
      return [g.mul(g.mul(first(c), s), g.add(g.mul(q, g.sub(1, s)), 1))];
    }
    const cdf = g.mul(g.add(g.erf(g.mul(x, Math.SQRT1_2)), 1), 0.5);
    const pdf = g.mul(g.exp(g.mul(g.mul(x, x), -0.5)), 1 / Math.sqrt(2 * Math.PI));
    return [g.mul(first(c), g.add(cdf, g.mul(x, pdf)))];
  },
  Softmax: (c) => {
    const { g } = c;
    const y = c.outputs[0];
    const axis = normAxis(c.node, getInt(c.node, 'axis', -1), y.shape.length);
    const dyy = g.mul(first(c), y);
    return [g.sub(dyy, g.mul(y, g.reduceSum(dyy, [axis], true)))];
  },
  LogSoftmax: (c) => {
    const { g } = c;
    const y = c.outputs[0];
    const axis = normAxis(c.node, getInt(c.node, 'axis', -1), y.shape.length);
    const dy = first(c);
    return [g.sub(dy, g.mul(g.exp(y), g.reduceSum(dy, [axis], true)))];
  },
  MatMul: matmulGrad,
  Gemm: gemmGrad,
  LayerNormalization: layerNormGrad,
  ReduceSum: reduceGrad(false, false),
  ReduceMean: reduceGrad(true, false),
  ReduceSumSquare: reduceGrad(false, true),
  Reshape: (c) => [c.g.reshape(first(c), [...inp(c, 0).shape])],
  Flatten: (c) => [c.g.reshape(first(c), [...inp(c, 0).shape])],
  Squeeze: (c) => [c.g.reshape(first(c), [...inp(c, 0).shape])],
  Unsqueeze: (c) => [c.g.reshape(first(c), [...inp(c, 0).shape])],
  Transpose: (c) => {
    const r = inp(c, 0).shape.length;
    const perm = getInts(c.node, 'perm') ?? Array.from({ length: r }, (_, i) => r - 1 - i);
    const inv = Array(r);
    perm.forEach((p, i) => (inv[p] = i));
    return [c.g.transpose(first(c), inv)];
  },
  Concat: (c) => {
    const axis = normAxis(c.node, getInt(c.node, 'axis'), inp(c, 0).shape.length);
    const parts = c.g.split(first(c), c.inputs.map((v) => v!.shape[axis]), axis);
    return parts.map((p, i) => (c.needs[i] ? p : undefined));
  },
  Split: (c) => {
    const x = inp(c, 0);
    const axis = normAxis(c.node, getInt(c.node, 'axis', 0), x.shape.length);
    const parts = c.outputs.map((o, i) => c.grads[i] ?? c.g.fill(o.shape, 0, o.dtype));
    return [c.g.concat(parts, axis)];
  },
  Slice: sliceGrad,
  Pad: padGrad,
  Gather: gatherGrad,
  Expand: (c) => [unbroadcast(c.g, first(c), inp(c, 0).shape)],
  Where: (c) => {
    const { g } = c;
    const cond = inp(c, 0);
    const dy = first(c);
    return [
      undefined,
      c.needs[1] ? unbroadcast(g, g.where(cond, dy, 0), inp(c, 1).shape) : undefined,
      c.needs[2] ? unbroadcast(g, g.where(cond, 0, dy), inp(c, 2).shape) : undefined,
    ];
  },
  Cast: (c) => only0(c.g.cast(first(c), inp(c, 0).dtype)),
  Conv: convGrad,
  ConvTranspose: convTransposeGrad,
};
