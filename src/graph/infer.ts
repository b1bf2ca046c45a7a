// Shape and dtype inference, one rule per supported op. In: a node, its input values and any constant
// inputs (shape tensors, axes). Out: the dtype and static shape of each output, or an error naming the
// node and what was wrong.

import { DType, fromOnnxCode, isFloat } from './dtype.js';
import { Attr, Node, Value } from './ir.js';
import { Tensor, numel, toNumbers } from './tensor.js';

export interface OutType {
  dtype: DType;
  shape: number[];
}

export interface InferCtx {
  node: Node;
  inputs: (Value | undefined)[];
  constant(i: number): Tensor | undefined;
  opset: number;
}

export class ShapeError extends Error {}

export function fail(node: Node, msg: string): never {
  throw new ShapeError(`node ${node.name} (${node.op}): ${msg}`);
}

export function getInt(node: Node, key: string, dflt?: number): number {
  const a = node.attrs[key];
  if (!a) {
    if (dflt === undefined) fail(node, `missing attribute ${key}`);
    return dflt;
  }
  if (a.type !== 'int') fail(node, `attribute ${key} must be an int`);
  return a.value;
}

export function getFloat(node: Node, key: string, dflt: number): number {
  const a = node.attrs[key];
  if (!a) return dflt;
  if (a.type !== 'float') fail(node, `attribute ${key} must be a float`);
  return a.value;
}

export function getInts(node: Node, key: string): number[] | undefined {
  const a: Attr | undefined = node.attrs[key];
  if (!a) return undefined;
  if (a.type !== 'ints') fail(node, `attribute ${key} must be ints`);
  return a.value;
}

export function getString(node: Node, key: string, dflt: string): string {
  const a = node.attrs[key];
  if (!a) return dflt;
  if (a.type !== 'string') fail(node, `attribute ${key} must be a string`);
  return a.value;
}

export function normAxis(node: Node, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) fail(node, `axis ${axis} out of range for rank ${rank}`);
  return a;
}

export function broadcastShapes(node: Node, shapes: (readonly number[])[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const k = s.length - rank + i;
      const e = k < 0 ? 1 : s[k];
      if (e === 1) continue;
      if (d === 1 || d === -1) d = e;
      else if (e !== d && e !== -1) fail(node, `cannot broadcast shapes ${shapes.map((x) => `[${x}]`).join(' and ')}`);
    }
    out.push(d);
  }
  return out;
}

function req(ctx: InferCtx, i: number): Value {
  const v = ctx.inputs[i];
  if (!v) fail(ctx.node, `missing input ${i}`);
  return v;
}

/** Values of a constant int64 input (axes, shape, pads), or an error naming the node. */
export function constInts(ctx: InferCtx, i: number, what: string): number[] {
  const t = ctx.constant(i);
  if (!t) fail(ctx.node, `${what} (input ${i}) must be a constant for static shapes`);
  return toNumbers(t);
}

function sameDtype(ctx: InferCtx, idx: number[]): DType {
  const d = req(ctx, idx[0]).dtype;
  for (const i of idx) if (req(ctx, i).dtype !== d) fail(ctx.node, `input dtypes differ: ${idx.map((j) => req(ctx, j).dtype).join(', ')}`);
  return d;
}

function floatOnly(ctx: InferCtx, d: DType): DType {
  if (!isFloat(d)) fail(ctx.node, `needs a float input, got ${d}`);
  return d;
}

const unary = (float: boolean) => (ctx: InferCtx): OutType[] => {
  const x = req(ctx, 0);
  return [{ dtype: float ? floatOnly(ctx, x.dtype) : x.dtype, shape: [...x.shape] }];
};

const binary = (outBool: boolean) => (ctx: InferCtx): OutType[] => {
  const d = sameDtype(ctx, [0, 1]);
  const shape = broadcastShapes(ctx.node, [req(ctx, 0).shape, req(ctx, 1).shape]);
  return [{ dtype: outBool ? 'bool' : d, shape }];
};

const variadic = (ctx: InferCtx): OutType[] => {
  const idx = ctx.inputs.map((_, i) => i);
  const d = sameDtype(ctx, idx);
  return [{ dtype: d, shape: broadcastShapes(ctx.node, idx.map((i) => req(ctx, i).shape)) }];
};

/** Reduce axes from the attribute (old opsets) or the second input (ReduceSum ≥13, others ≥18). */
export function reduceAxes(ctx: InferCtx, rank: number): number[] {
  const n = ctx.node;
  let axes = getInts(n, 'axes');
  if (axes === undefined && ctx.inputs[1]) axes = constInts(ctx, 1, 'axes');
  if (axes === undefined || axes.length === 0) {
    if (getInt(n, 'noop_with_empty_axes', 0)) return [];
    return Array.from({ length: rank }, (_, i) => i);
  }
  return axes.map((a) => normAxis(n, a, rank));
}

const reduce = (ctx: InferCtx): OutType[] => {
  const x = req(ctx, 0);
  const axes = reduceAxes(ctx, x.shape.length);
  const keep = getInt(ctx.node, 'keepdims', 1);
  const shape: number[] = [];
  x.shape.forEach((d, i) => {
    if (!axes.includes(i)) shape.push(d);
    else if (keep) shape.push(1);
  });
  return [{ dtype: x.dtype, shape }];
};

function matmulShape(node: Node, a: readonly number[], b: readonly number[]): number[] {
  if (a.length === 0 || b.length === 0) fail(node, 'MatMul inputs must have rank ≥ 1');
  const A = a.length === 1 ? [1, a[0]] : [...a];
  const B = b.length === 1 ? [b[0], 1] : [...b];
  const k1 = A[A.length - 1];
  const k2 = B[B.length - 2];
  if (k1 !== k2 && k1 !== -1 && k2 !== -1) fail(node, `inner dimensions differ: [${a}] @ [${b}]`);
  const batch = broadcastShapes(node, [A.slice(0, -2), B.slice(0, -2)]);
  const out = [...batch, A[A.length - 2], B[B.length - 1]];
  if (a.length === 1) out.splice(out.length - 2, 1);
  if (b.length === 1) out.splice(out.length - 1, 1);
  return out;
}

/** Output spatial sizes of Conv (and pooling) from attributes; auto_pad NOTSET only. */
export function convGeometry(node: Node, x: readonly number[], kernel: number[]) {
  const nsp = kernel.length;
  const strides = getInts(node, 'strides') ?? Array(nsp).fill(1);
  const dil = getInts(node, 'dilations') ?? Array(nsp).fill(1);
  const pads = getInts(node, 'pads') ?? Array(2 * nsp).fill(0);
  const autoPad = getString(node, 'auto_pad', 'NOTSET');
  if (autoPad !== 'NOTSET' && autoPad !== 'VALID') fail(node, `auto_pad ${autoPad} is not supported; give explicit pads`);
  const out: number[] = [];
  for (let i = 0; i < nsp; i++) {
    const ek = dil[i] * (kernel[i] - 1) + 1;
    const o = Math.floor((x[2 + i] + pads[i] + pads[i + nsp] - ek) / strides[i]) + 1;
    if (o <= 0) fail(node, `spatial axis ${i}: input ${x[2 + i]} too small for kernel ${kernel[i]}`);
    out.push(o);
  }
  return { strides, dil, pads, out };
}

const RULES: Record<string, (ctx: InferCtx) => OutType[]> = {
  Identity: unary(false),
  Neg: unary(false),
  Abs: unary(false),
  Sign: unary(false),
  Sqrt: unary(true),
  Exp: unary(true),
  Log: unary(true),
  Tanh: unary(true),
  Sigmoid: unary(true),
  Relu: unary(false),
  LeakyRelu: unary(true),
  Erf: unary(true),
  Reciprocal: unary(true),
  Softplus: unary(true),
  Sin: unary(true),
  Cos: unary(true),
  Floor: unary(true),
  Ceil: unary(true),
  Round: unary(true),
  Gelu: unary(true),
  Swish: unary(true),
  HardSigmoid: unary(true),
  Not: (ctx) => [{ dtype: 'bool', shape: [...req(ctx, 0).shape] }],
  IsNaN: (ctx) => [{ dtype: 'bool', shape: [...req(ctx, 0).shape] }],
  IsInf: (ctx) => [{ dtype: 'bool', shape: [...req(ctx, 0).shape] }],
  Softmax: unary(true),
  LogSoftmax: unary(true),
  Add: binary(false),
  Sub: binary(false),
  Mul: binary(false),
  Div: binary(false),
  Mod: binary(false),
  Pow: (ctx) => [{ dtype: req(ctx, 0).dtype, shape: broadcastShapes(ctx.node, [req(ctx, 0).shape, req(ctx, 1).shape]) }],
  Greater: binary(true),
  Less: binary(true),
  GreaterOrEqual: binary(true),
  LessOrEqual: binary(true),
  Equal: binary(true),
  And: binary(true),
  Or: binary(true),
  Xor: binary(true),
  Max: variadic,
  Min: variadic,
  Sum: variadic,
  Mean: variadic,
  Clip: (ctx) => [{ dtype: req(ctx, 0).dtype, shape: [...req(ctx, 0).shape] }],
  Where: (ctx) => {
    if (req(ctx, 0).dtype !== 'bool') fail(ctx.node, `condition must be bool, got ${req(ctx, 0).dtype}`);
    const d = sameDtype(ctx, [1, 2]);
    return [{ dtype: d, shape: broadcastShapes(ctx.node, [0, 1, 2].map((i) => req(ctx, i).shape)) }];
  },
  MatMul: (ctx) => [{ dtype: sameDtype(ctx, [0, 1]), shape: matmulShape(ctx.node, req(ctx, 0).shape, req(ctx, 1).shape) }],
  Gemm: (ctx) => {
    const n = ctx.node;
    const a = req(ctx, 0).shape;
    const b = req(ctx, 1).shape;
    if (a.length !== 2 || b.length !== 2) fail(n, `Gemm needs rank-2 inputs, got [${a}] and [${b}]`);
    const [m, k] = getInt(n, 'transA', 0) ? [a[1], a[0]] : [a[0], a[1]];
    const [k2, nn] = getInt(n, 'transB', 0) ? [b[1], b[0]] : [b[0], b[1]];
    if (k !== k2) fail(n, `inner dimensions differ: ${k} vs ${k2}`);
    if (ctx.inputs[2]) broadcastShapes(n, [[m, nn], req(ctx, 2).shape]);
    return [{ dtype: sameDtype(ctx, [0, 1]), shape: [m, nn] }];
  },
  LayerNormalization: (ctx) => {
    const x = req(ctx, 0);
    const axis = normAxis(ctx.node, getInt(ctx.node, 'axis', -1), x.shape.length);
    const statShape = x.shape.map((d, i) => (i < axis ? d : 1));
    const sd: DType = getInt(ctx.node, 'stash_type', 1) === 1 ? 'float32' : x.dtype;
    return [
      { dtype: floatOnly(ctx, x.dtype), shape: [...x.shape] },
      { dtype: sd, shape: statShape },
      { dtype: sd, shape: statShape },
    ];
  },
  ReduceSum: reduce,
  ReduceMean: reduce,
  ReduceMax: reduce,
  ReduceMin: reduce,
  ReduceProd: reduce,
  ReduceSumSquare: reduce,
  ReduceL2: reduce,
  ReduceLogSumExp: reduce,
  ArgMax: (ctx) => {
    const x = req(ctx, 0);
    const axis = normAxis(ctx.node, getInt(ctx.node, 'axis', 0), x.shape.length);
    const keep = getInt(ctx.node, 'keepdims', 1);
    const shape = x.shape.flatMap((d, i) => (i === axis ? (keep ? [1] : []) : [d]));
    return [{ dtype: 'int64', shape }];
  },
  Reshape: (ctx) => {
    const x = req(ctx, 0);
    const target = constInts(ctx, 1, 'shape');
    const allowzero = getInt(ctx.node, 'allowzero', 0);
    const out = target.map((d, i) => (d === 0 && !allowzero ? x.shape[i] : d));
    const known = out.filter((d) => d !== -1);
    const n = numel(x.shape);
    const rest = numel(known);
    if (out.filter((d) => d === -1).length > 1) fail(ctx.node, `more than one -1 in shape [${target}]`);
    if (out.includes(-1)) {
      if (rest === 0 || n % rest !== 0) fail(ctx.node, `cannot reshape [${x.shape}] to [${target}]`);
      out[out.indexOf(-1)] = n / rest;
    } else if (rest !== n) fail(ctx.node, `cannot reshape [${x.shape}] (${n} elements) to [${target}] (${rest})`);
    return [{ dtype: x.dtype, shape: out }];
  },
  Flatten: (ctx) => {
    const x = req(ctx, 0);
    const r = x.shape.length;
    let axis = getInt(ctx.node, 'axis', 1);
    if (axis < 0) axis += r;
    return [{ dtype: x.dtype, shape: [numel(x.shape.slice(0, axis)), numel(x.shape.slice(axis))] }];
  },
  Transpose: (ctx) => {
    const x = req(ctx, 0);
    const r = x.shape.length;
    const perm = getInts(ctx.node, 'perm') ?? Array.from({ length: r }, (_, i) => r - 1 - i);
    if (perm.length !== r || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) fail(ctx.node, `perm [${perm}] is not a permutation of rank ${r}`);
    return [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p]) }];
  },
  Concat: (ctx) => {
    const idx = ctx.inputs.map((_, i) => i);
    const d = sameDtype(ctx, idx);
    const first = req(ctx, 0).shape;
    const axis = normAxis(ctx.node, getInt(ctx.node, 'axis'), first.length);
    const out = [...first];
    out[axis] = 0;
    for (const i of idx) {
      const s = req(ctx, i).shape;
      if (s.length !== first.length || s.some((e, j) => j !== axis && e !== first[j])) fail(ctx.node, `input shapes [${first}] and [${s}] differ off axis ${axis}`);
      out[axis] += s[axis];
    }
    return [{ dtype: d, shape: out }];
  },
  Split: (ctx) => {
    const x = req(ctx, 0);
    const axis = normAxis(ctx.node, getInt(ctx.node, 'axis', 0), x.shape.length);
    const nOut = ctx.node.outputs.length;
    let sizes = getInts(ctx.node, 'split');
    if (!sizes && ctx.inputs[1]) sizes = constInts(ctx, 1, 'split');
    if (!sizes) {
      const d = x.shape[axis];
      const each = Math.ceil(d / nOut);
      sizes = Array.from({ length: nOut }, (_, i) => Math.max(0, Math.min(each, d - i * each)));
    }
    if (sizes.length !== nOut) fail(ctx.node, `${sizes.length} split sizes for ${nOut} outputs`);
    if (sizes.reduce((a, b) => a + b, 0) !== x.shape[axis]) fail(ctx.node, `split sizes [${sizes}] do not sum to ${x.shape[axis]}`);
    return sizes.map((s) => ({ dtype: x.dtype, shape: x.shape.map((d, i) => (i === axis ? s : d)) }));
  },
  Slice: (ctx) => {
    const x = req(ctx, 0);
    const r = x.shape.length;
    const starts = constInts(ctx, 1, 'starts');
    const ends = constInts(ctx, 2, 'ends');
    const axes = ctx.inputs[3] ? constInts(ctx, 3, 'axes') : starts.map((_, i) => i);
    const steps = ctx.inputs[4] ? constInts(ctx, 4, 'steps') : starts.map(() => 1);
    const out = [...x.shape];
    axes.forEach((a0, i) => {
      const a = normAxis(ctx.node, a0, r);
      const b = sliceBounds(x.shape[a], starts[i], ends[i], steps[i]);
      out[a] = b.count;
    });
    return [{ dtype: x.dtype, shape: out }];
  },
  Gather: (ctx) => {
    const x = req(ctx, 0);
    const ind = req(ctx, 1);
    if (ind.dtype !== 'int64' && ind.dtype !== 'int32') fail(ctx.node, `indices must be int64 or int32, got ${ind.dtype}`);
    const axis = normAxis(ctx.node, getInt(ctx.node, 'axis', 0), x.shape.length);
    return [{ dtype: x.dtype, shape: [...x.shape.slice(0, axis), ...ind.shape, ...x.shape.slice(axis + 1)] }];
  },
  GatherElements: (ctx) => [{ dtype: req(ctx, 0).dtype, shape: [...req(ctx, 1).shape] }],
  ScatterND: (ctx) => [{ dtype: req(ctx, 0).dtype, shape: [...req(ctx, 0).shape] }],
  ScatterElements: (ctx) => [{ dtype: req(ctx, 0).dtype, shape: [...req(ctx, 0).shape] }],
  Unsqueeze: (ctx) => {
    const x = req(ctx, 0);
    const axes = getInts(ctx.node, 'axes') ?? constInts(ctx, 1, 'axes');
    const r = x.shape.length + axes.length;
    const norm = axes.map((a) => normAxis(ctx.node, a, r));
    const out: number[] = [];
    let k = 0;
    for (let i = 0; i < r; i++) out.push(norm.includes(i) ? 1 : x.shape[k++]);
    return [{ dtype: x.dtype, shape: out }];
  },
  Squeeze: (ctx) => {
    const x = req(ctx, 0);
    let axes = getInts(ctx.node, 'axes');
    if (!axes && ctx.inputs[1]) axes = constInts(ctx, 1, 'axes');
    const norm = axes ? axes.map((a) => normAxis(ctx.node, a, x.shape.length)) : x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
    for (const a of norm) if (x.shape[a] !== 1) fail(ctx.node, `cannot squeeze axis ${a} of size ${x.shape[a]}`);
    return [{ dtype: x.dtype, shape: x.shape.filter((_, i) => !norm.includes(i)) }];
  },
  Expand: (ctx) => {
    const x = req(ctx, 0);
    const s = constInts(ctx, 1, 'shape');
    return [{ dtype: x.dtype, shape: broadcastShapes(ctx.node, [x.shape, s]) }];
  },
  Tile: (ctx) => {
    const x = req(ctx, 0);
    const reps = constInts(ctx, 1, 'repeats');
    return [{ dtype: x.dtype, shape: x.shape.map((d, i) => d * reps[i]) }];
  },
  Pad: (ctx) => {
    const x = req(ctx, 0);
    const pads = constInts(ctx, 1, 'pads');
    const r = x.shape.length;
    const axes = ctx.inputs[3] ? constInts(ctx, 3, 'axes').map((a) => normAxis(ctx.node, a, r)) : x.shape.map((_, i) => i);
    const out = [...x.shape];
    axes.forEach((a, i) => (out[a] += pads[i] + pads[i + axes.length]));
    return [{ dtype: x.dtype, shape: out }];
  },
  Cast: (ctx) => [{ dtype: fromOnnxCode(getInt(ctx.node, 'to')), shape: [...req(ctx, 0).shape] }],
  CastLike: (ctx) => [{ dtype: req(ctx, 1).dtype, shape: [...req(ctx, 0).shape] }],
  Shape: (ctx) => [{ dtype: 'int64', shape: [req(ctx, 0).shape.length] }],
  Size: () => [{ dtype: 'int64', shape: [] }],
  ConstantOfShape: (ctx) => {
    const v = ctx.node.attrs.value;
    const dtype: DType = v && v.type === 'tensor' ? v.value.dtype : 'float32';
    return [{ dtype, shape: constInts(ctx, 0, 'shape') }];
  },
  Constant: (ctx) => {
    const v = ctx.node.attrs.value;
    if (v && v.type === 'tensor') return [{ dtype: v.value.dtype, shape: [...v.value.shape] }];
    if (ctx.node.attrs.value_float) return [{ dtype: 'float32', shape: [] }];
    if (ctx.node.attrs.value_int) return [{ dtype: 'int64', shape: [] }];
    if (ctx.node.attrs.value_floats) return [{ dtype: 'float32', shape: [(ctx.node.attrs.value_floats.value as number[]).length] }];
    if (ctx.node.attrs.value_ints) return [{ dtype: 'int64', shape: [(ctx.node.attrs.value_ints.value as number[]).length] }];
    fail(ctx.node, 'unsupported Constant attribute');
  },
  Range: (ctx) => {
    const [s, l, d] = [0, 1, 2].map((i) => constInts(ctx, i, 'range bound'));
    return [{ dtype: req(ctx, 0).dtype, shape: [Math.max(Math.ceil((l[0] - s[0]) / d[0]), 0)] }];
  },
  Dropout: (ctx) => {
    const x = req(ctx, 0);
    const outs: OutType[] = [{ dtype: x.dtype, shape: [...x.shape] }];
    if (ctx.node.outputs.length > 1) outs.push({ dtype: 'bool', shape: [...x.shape] });
    return outs;
  },
  Conv: (ctx) => {
    const x = req(ctx, 0);
    const w = req(ctx, 1);
    const n = ctx.node;
    if (x.shape.length < 3 || w.shape.length !== x.shape.length) fail(n, `Conv input [${x.shape}] and weight [${w.shape}] ranks must match and be ≥ 3`);
    const group = getInt(n, 'group', 1);
    if (x.shape[1] !== w.shape[1] * group) fail(n, `input channels ${x.shape[1]} ≠ weight channels ${w.shape[1]} × group ${group}`);
    const kernel = getInts(n, 'kernel_shape') ?? w.shape.slice(2);
    const g = convGeometry(n, x.shape, kernel);
    if (ctx.inputs[2] && req(ctx, 2).shape[0] !== w.shape[0]) fail(n, `bias has ${req(ctx, 2).shape[0]} entries for ${w.shape[0]} output channels`);
    return [{ dtype: sameDtype(ctx, [0, 1]), shape: [x.shape[0], w.shape[0], ...g.out] }];
  },
  ConvTranspose: (ctx) => {
    const x = req(ctx, 0);
    const w = req(ctx, 1);
    const n = ctx.node;
    const group = getInt(n, 'group', 1);
    const kernel = getInts(n, 'kernel_shape') ?? w.shape.slice(2);
    const nsp = kernel.length;
    const strides = getInts(n, 'strides') ?? Array(nsp).fill(1);
    const dil = getInts(n, 'dilations') ?? Array(nsp).fill(1);
    const pads = getInts(n, 'pads') ?? Array(2 * nsp).fill(0);
    const opad = getInts(n, 'output_padding') ?? Array(nsp).fill(0);
    const given = getInts(n, 'output_shape');
    const out = kernel.map((k, i) => given ? given[i] : strides[i] * (x.shape[2 + i] - 1) + opad[i] + ((k - 1) * dil[i] + 1) - pads[i] - pads[i + nsp]);
    if (x.shape[1] !== w.shape[0]) fail(n, `input channels ${x.shape[1]} ≠ weight's first dim ${w.shape[0]}`);
    return [{ dtype: sameDtype(ctx, [0, 1]), shape: [x.shape[0], w.shape[1] * group, ...out] }];
  },
  AveragePool: (ctx) => {
    const x = req(ctx, 0);
    const kernel = getInts(ctx.node, 'kernel_shape') ?? fail(ctx.node, 'missing kernel_shape');
    return [{ dtype: x.dtype, shape: [x.shape[0], x.shape[1], ...convGeometry(ctx.node, x.shape, kernel).out] }];
  },
  MaxPool: (ctx) => {
    const x = req(ctx, 0);
    const kernel = getInts(ctx.node, 'kernel_shape') ?? fail(ctx.node, 'missing kernel_shape');
    return [{ dtype: x.dtype, shape: [x.shape[0], x.shape[1], ...convGeometry(ctx.node, x.shape, kernel).out] }];
  },
  GlobalAveragePool: (ctx) => {
    const x = req(ctx, 0);
    return [{ dtype: x.dtype, shape: x.shape.map((d, i) => (i < 2 ? d : 1)) }];
  },
  OneHot: (ctx) => {
    const ind = req(ctx, 0);
    const depth = constInts(ctx, 1, 'depth')[0];
    const vals = req(ctx, 2);
    const r = ind.shape.length + 1;
    const axis = normAxis(ctx.node, getInt(ctx.node, 'axis', -1), r);
    const out = [...ind.shape];
    out.splice(axis, 0, depth);
    return [{ dtype: vals.dtype, shape: out }];
  },
  Trilu: unary(false),
};

export function sliceBounds(dim: number, start: number, end: number, step: number): { start: number; end: number; count: number } {
  if (step === 0) throw new ShapeError('Slice step 0');
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  if (step > 0) {
    s = clamp(s, 0, dim);
    e = clamp(e, 0, dim);
  } else {
    s = clamp(s, -1, dim - 1);
    e = clamp(e, -1, dim - 1);
  }
  const count = Math.max(0, Math.ceil((e - s) / step));
  return { start: s, end: e, count };
}

export function knownOps(): string[] {
  return Object.keys(RULES).sort();
}

export function canInfer(op: string, domain: string): boolean {
  return domain === '' && op in RULES;
}

export function inferNode(ctx: InferCtx): OutType[] {
  const n = ctx.node;
  if (n.domain !== '' && n.domain !== 'ai.onnx') fail(n, `no shape rule for domain '${n.domain}'`);
  const rule = RULES[n.op];
  if (!rule) fail(n, `no shape rule for op ${n.op}`);
  const out = rule(ctx);
  if (out.length < n.outputs.length) fail(n, `op gives ${out.length} outputs, node names ${n.outputs.length}`);
  return out.slice(0, n.outputs.length);
}
