// The tape-style graph builder: each method appends one ONNX node (or a few) to a Graph, infers its
// output dtype and shape at once, and returns typed Values. In: Values, numbers and attributes.
// Out: the Graph in `g.graph`, with deterministic node names, constant names and attribute order.

import { DType, isFloat, onnxCode } from './dtype.js';
import { Attr, Graph, Init, Node, ParamInfo, Value, attr } from './ir.js';
import { inferNode } from './infer.js';
import { Tensor, int64Tensor, scalarTensor, tensor, tensorBytes } from './tensor.js';

/** The opset every built graph declares: 24 (Gelu since 20, LayerNormalization 17, Swish 24; reduce axes and split sizes are inputs). */
export const OPSET = 24;

export type Operand = Value | number;

/**
 * A term added to the output of the nn.ts `linear` layer `name` (input x, weight W), after its
 * x·W + b, e.g. LoRA adapters (src/graph/lora.ts); undefined leaves the layer as it is. Adding the term
 * last keeps the layer's own nodes as they are without the hook, so a zero term changes no bit.
 */
export type LinearHook = (g: GraphBuilder, name: string, x: Value, w: Value) => Value | undefined;

export interface ConvOptions {
  strides?: number[];
  pads?: number[];
  dilations?: number[];
  group?: number;
}

export class GraphBuilder {
  readonly graph: Graph;
  /** The float dtype used for scalars that have no other operand to follow. */
  dtype: DType;
  private counter = 0;
  private prefix: string[] = [];
  private constCache = new Map<string, Value>();
  private linearHook: LinearHook | undefined;

  constructor(opts: { opset?: number; dtype?: DType; name?: string; graph?: Graph } = {}) {
    this.graph = opts.graph ?? new Graph(opts.opset ?? OPSET);
    if (opts.name) this.graph.name = opts.name;
    this.dtype = opts.dtype ?? 'float32';
    // continue numbering after whatever the graph already holds
    this.counter = this.graph.nodes.length + this.graph.initializers.size;
    for (const [name, t] of this.graph.initializers) this.constCache.set(constKey(t), this.graph.value(name));
  }

  /** The Value of a name already in the graph. */
  value(name: string): Value {
    return this.graph.value(name);
  }

  get opset(): number {
    return this.graph.opset;
  }

  /** Run fn with node names prefixed by `name/`. */
  scope<T>(name: string, fn: () => T): T {
    this.prefix.push(name);
    try {
      return fn();
    } finally {
      this.prefix.pop();
    }
  }

  private fresh(base: string): string {
    const name = `${this.prefix.length ? this.prefix.join('/') + '/' : ''}${base}_${this.counter++}`;
    if (this.graph.values.has(name)) return this.fresh(base);
    return name;
  }

  private addValue(v: Value): Value {
    if (this.graph.values.has(v.name)) throw new Error(`graph ${this.graph.name}: value '${v.name}' defined twice`);
    this.graph.values.set(v.name, v);
    return v;
  }

  input(name: string, dtype: DType, shape: readonly number[]): Value {
    const v = this.addValue({ name, dtype, shape: [...shape] });
    this.graph.inputs.push(name);
    return v;
  }

  /** A named parameter (a graph input listed in graph.params). The same name twice gives the same Value. */
  param(name: string, shape: readonly number[], opts: { init?: Init; dtype?: DType } = {}): Value {
    const dtype = opts.dtype ?? this.dtype;
    const have = this.graph.params.get(name);
    if (have) {
      if (have.dtype !== dtype || have.shape.join() !== shape.join())
        throw new Error(`param ${name}: requested ${dtype}[${shape}] but it exists as ${have.dtype}[${have.shape}]`);
      return this.graph.value(name);
    }
    const info: ParamInfo = { name, dtype, shape: [...shape], init: opts.init ?? 'zeros' };
    this.graph.params.set(name, info);
    return this.input(name, dtype, shape);
  }

  /** Mark v as a graph output, renamed to `name` (through Identity) when a name is given. */
  output(v: Value, name?: string): Value {
    let out = v;
    if (name !== undefined && name !== v.name) {
      if (this.graph.values.has(name)) throw new Error(`output name '${name}' is already a value of graph ${this.graph.name}`);
      out = this.emit('Identity', [v], {}, 1, { outputs: [name] })[0];
    }
    if (this.graph.outputs.includes(out.name)) throw new Error(`'${out.name}' is already an output`);
    this.graph.outputs.push(out.name);
    return out;
  }

  /** A constant (initializer); identical constants share one initializer. */
  const(t: Tensor, name?: string): Value {
    const key = constKey(t);
    if (!name) {
      const hit = this.constCache.get(key);
      if (hit) return hit;
    }
    const v = this.addValue({ name: name ?? this.fresh('const'), dtype: t.dtype, shape: [...t.shape] });
    this.graph.initializers.set(v.name, t);
    if (!name) this.constCache.set(key, v);
    return v;
  }

  scalar(value: number, dtype: DType = this.dtype): Value {
    return this.const(scalarTensor(dtype, value));
  }

  ints(values: number[]): Value {
    return this.const(int64Tensor(values));
  }

  /** A Value for an operand: numbers become scalars of `like`'s dtype. */
  lift(x: Operand, like?: Value | DType): Value {
    if (typeof x !== 'number') return x;
    const dtype = like === undefined ? this.dtype : typeof like === 'string' ? like : like.dtype;
    return this.scalar(x, dtype);
  }

  /** Run fn with `hook` adding to the linear layers it builds (where it returns undefined, an outer hook may). */
  withLinearHook<T>(hook: LinearHook, fn: () => T): T {
    const outer = this.linearHook;
    this.linearHook = (g, name, x, w) => hook(g, name, x, w) ?? outer?.(g, name, x, w);
    try {
      return fn();
    } finally {
      this.linearHook = outer;
    }
  }

  /** The active linear hook's term for the linear layer `name` (undefined: none). */
  linearExtra(name: string, x: Value, w: Value): Value | undefined {
    return this.linearHook?.(this, name, x, w);
  }

  /** Append a node; infer and register its outputs. */
  emit(op: string, inputs: (Value | null)[], attrs: Record<string, Attr> = {}, nOut = 1, opts: { domain?: string; outputs?: string[]; name?: string } = {}): Value[] {
    const name = opts.name ?? this.fresh(op);
    const outputs = opts.outputs ?? Array.from({ length: nOut }, (_, i) => (i === 0 ? name : `${name}_o${i}`));
    const sorted: Record<string, Attr> = {};
    for (const k of Object.keys(attrs).sort()) sorted[k] = attrs[k];
    const node: Node = { name, op, domain: opts.domain ?? '', inputs: inputs.map((v) => (v ? v.name : '')), outputs, attrs: sorted };
    const types = inferNode({
      node,
      inputs: inputs.map((v) => v ?? undefined),
      constant: (i) => (inputs[i] ? this.graph.constant(inputs[i]!.name) : undefined),
      opset: this.opset,
    });
    this.graph.nodes.push(node);
    return outputs.map((o, i) => this.addValue({ name: o, dtype: types[i].dtype, shape: types[i].shape }));
  }

  op(op: string, inputs: (Value | null)[], attrs: Record<string, Attr> = {}): Value {
    return this.emit(op, inputs, attrs)[0];
  }

  private bin(op: string, a: Operand, b: Operand): Value {
    if (typeof a === 'number' && typeof b === 'number') throw new Error(`${op}: at least one operand must be a Value`);
    const av = this.lift(a, typeof b === 'number' ? undefined : b);
    const bv = this.lift(b, av);
    return this.op(op, [av, bv]);
  }

  // ---- elementwise
  add(a: Operand, b: Operand) { return this.bin('Add', a, b); }
  sub(a: Operand, b: Operand) { return this.bin('Sub', a, b); }
  mul(a: Operand, b: Operand) { return this.bin('Mul', a, b); }
  div(a: Operand, b: Operand) { return this.bin('Div', a, b); }
  pow(a: Operand, b: Operand) { return this.bin('Pow', a, b); }
  max(a: Operand, b: Operand) { return this.bin('Max', a, b); }
  min(a: Operand, b: Operand) { return this.bin('Min', a, b); }
  greater(a: Operand, b: Operand) { return this.bin('Greater', a, b); }
  less(a: Operand, b: Operand) { return this.bin('Less', a, b); }
  equal(a: Operand, b: Operand) { return this.bin('Equal', a, b); }
  neg(x: Value) { return this.op('Neg', [x]); }
  sqrt(x: Value) { return this.op('Sqrt', [x]); }
  exp(x: Value) { return this.op('Exp', [x]); }
  log(x: Value) { return this.op('Log', [x]); }
  abs(x: Value) { return this.op('Abs', [x]); }
  tanh(x: Value) { return this.op('Tanh', [x]); }
  sigmoid(x: Value) { return this.op('Sigmoid', [x]); }
  relu(x: Value) { return this.op('Relu', [x]); }
  erf(x: Value) { return this.op('Erf', [x]); }
  reciprocal(x: Value) { return this.op('Reciprocal', [x]); }
  identity(x: Value) { return this.op('Identity', [x]); }
  isNaN(x: Value) { return this.op('IsNaN', [x]); }
  not(x: Value) { return this.op('Not', [x]); }
  square(x: Value) { return this.mul(x, x); }
  /** SiLU: the ONNX Swish op (opset ≥ 24), else x · sigmoid(x) in two nodes. */
  silu(x: Value): Value {
    if (this.opset >= 24) return this.op('Swish', [x]);
    return this.mul(x, this.sigmoid(x));
  }

  /** GELU: the ONNX Gelu op (opset ≥ 20), or spelled out in primitives when `primitive` (float64-safe for tanh). */
  gelu(x: Value, approximate: 'none' | 'tanh' = 'none', primitive = false): Value {
    if (!primitive && this.opset >= 20) return this.op('Gelu', [x], approximate === 'tanh' ? { approximate: attr.string('tanh') } : {});
    if (approximate === 'tanh') {
      const inner = this.mul(this.add(x, this.mul(this.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
      return this.mul(this.mul(x, 0.5), this.add(this.tanh(inner), 1));
    }
    return this.mul(this.mul(x, 0.5), this.add(this.erf(this.mul(x, Math.SQRT1_2)), 1));
  }

  where(cond: Value, a: Operand, b: Operand): Value {
    const av = typeof a === 'number' ? this.lift(a, typeof b === 'number' ? undefined : b) : a;
    const bv = this.lift(b, av);
    return this.op('Where', [cond, av, bv]);
  }

  cast(x: Value, to: DType): Value {
    if (x.dtype === to) return x;
    return this.op('Cast', [x], { to: attr.int(onnxCode(to)) });
  }

  // ---- linear algebra
  matmul(a: Value, b: Value) { return this.op('MatMul', [a, b]); }

  gemm(a: Value, b: Value, c: Value | null = null, o: { alpha?: number; beta?: number; transA?: boolean; transB?: boolean } = {}): Value {
    const attrs: Record<string, Attr> = {};
    if (o.alpha !== undefined && o.alpha !== 1) attrs.alpha = attr.float(o.alpha);
    if (o.beta !== undefined && o.beta !== 1) attrs.beta = attr.float(o.beta);
    if (o.transA) attrs.transA = attr.int(1);
    if (o.transB) attrs.transB = attr.int(1);
    return this.op('Gemm', c ? [a, b, c] : [a, b], attrs);
  }

  softmax(x: Value, axis = -1) { return this.op('Softmax', [x], { axis: attr.int(axis) }); }
  logSoftmax(x: Value, axis = -1) { return this.op('LogSoftmax', [x], { axis: attr.int(axis) }); }

  layerNorm(x: Value, scale: Value, bias: Value | null, o: { axis?: number; epsilon?: number } = {}): Value {
    const attrs: Record<string, Attr> = { axis: attr.int(o.axis ?? -1), epsilon: attr.float(o.epsilon ?? 1e-5) };
    return this.op('LayerNormalization', bias ? [x, scale, bias] : [x, scale], attrs);
  }

  // ---- reductions
  private reduce(op: string, x: Value, axes: number[] | undefined, keepdims: boolean): Value {
    const attrs: Record<string, Attr> = { keepdims: attr.int(keepdims ? 1 : 0) };
    const axesAsInput = op === 'ReduceSum' ? this.opset >= 13 : this.opset >= 18;
    if (axes === undefined) return this.op(op, [x], attrs);
    if (axesAsInput) return this.op(op, [x, this.ints(axes)], attrs);
    return this.op(op, [x], { ...attrs, axes: attr.ints(axes) });
  }
  reduceSum(x: Value, axes?: number[], keepdims = false) { return this.reduce('ReduceSum', x, axes, keepdims); }
  reduceMean(x: Value, axes?: number[], keepdims = false) { return this.reduce('ReduceMean', x, axes, keepdims); }
  reduceMax(x: Value, axes?: number[], keepdims = false) { return this.reduce('ReduceMax', x, axes, keepdims); }
  reduceSumSquare(x: Value, axes?: number[], keepdims = false) { return this.reduce('ReduceSumSquare', x, axes, keepdims); }

  // ---- shapes
  reshape(x: Value, shape: number[]): Value {
    if (shape.join() === x.shape.join()) return x;
    return this.op('Reshape', [x, this.ints(shape)]);
  }
  transpose(x: Value, perm: number[]): Value {
    if (perm.every((p, i) => p === i)) return x;
    return this.op('Transpose', [x], { perm: attr.ints(perm) });
  }
  concat(xs: Value[], axis: number): Value {
    if (xs.length === 1) return xs[0];
    return this.op('Concat', xs, { axis: attr.int(axis) });
  }
  split(x: Value, sizes: number[], axis: number): Value[] {
    if (this.opset >= 13) return this.emit('Split', [x, this.ints(sizes)], { axis: attr.int(axis) }, sizes.length);
    return this.emit('Split', [x], { axis: attr.int(axis), split: attr.ints(sizes) }, sizes.length);
  }
  slice(x: Value, starts: number[], ends: number[], axes?: number[], steps?: number[]): Value {
    const ins: (Value | null)[] = [x, this.ints(starts), this.ints(ends)];
    if (axes || steps) ins.push(this.ints(axes ?? starts.map((_, i) => i)));
    if (steps) ins.push(this.ints(steps));
    return this.op('Slice', ins);
  }
  gather(x: Value, indices: Value, axis = 0) { return this.op('Gather', [x, indices], { axis: attr.int(axis) }); }
  unsqueeze(x: Value, axes: number[]): Value {
    if (this.opset >= 13) return this.op('Unsqueeze', [x, this.ints(axes)]);
    return this.op('Unsqueeze', [x], { axes: attr.ints(axes) });
  }
  squeeze(x: Value, axes: number[]): Value {
    if (this.opset >= 13) return this.op('Squeeze', [x, this.ints(axes)]);
    return this.op('Squeeze', [x], { axes: attr.ints(axes) });
  }
  expand(x: Value, shape: number[]): Value {
    if (shape.join() === x.shape.join()) return x;
    return this.op('Expand', [x, this.ints(shape)]);
  }
  pad(x: Value, pads: number[], value = 0): Value {
    return this.op('Pad', [x, this.ints(pads), this.scalar(value, x.dtype)]);
  }
  /** A tensor of one value, made at run time (ConstantOfShape) so that the file stays small. */
  fill(shape: readonly number[], value: number, dtype: DType = this.dtype): Value {
    return this.op('ConstantOfShape', [this.ints([...shape])], { value: attr.tensor(tensor(dtype, [1], [value])) });
  }
  zerosLike(x: Value) { return this.fill(x.shape, 0, x.dtype); }

  // ---- convolution
  conv(x: Value, w: Value, b: Value | null = null, o: ConvOptions = {}): Value {
    const nsp = w.shape.length - 2;
    const attrs: Record<string, Attr> = {
      kernel_shape: attr.ints(w.shape.slice(2)),
      strides: attr.ints(o.strides ?? Array(nsp).fill(1)),
      pads: attr.ints(o.pads ?? Array(2 * nsp).fill(0)),
      dilations: attr.ints(o.dilations ?? Array(nsp).fill(1)),
      group: attr.int(o.group ?? 1),
    };
    return this.op('Conv', b ? [x, w, b] : [x, w], attrs);
  }

  convTranspose(x: Value, w: Value, b: Value | null = null, o: ConvOptions & { outputPadding?: number[] } = {}): Value {
    const nsp = w.shape.length - 2;
    const attrs: Record<string, Attr> = {
      kernel_shape: attr.ints(w.shape.slice(2)),
      strides: attr.ints(o.strides ?? Array(nsp).fill(1)),
      pads: attr.ints(o.pads ?? Array(2 * nsp).fill(0)),
      dilations: attr.ints(o.dilations ?? Array(nsp).fill(1)),
      group: attr.int(o.group ?? 1),
    };
    if (o.outputPadding && o.outputPadding.some((p) => p !== 0)) attrs.output_padding = attr.ints(o.outputPadding);
    return this.op('ConvTranspose', b ? [x, w, b] : [x, w], attrs);
  }

  /** Sum of float values, for fan-in of gradients. */
  sum(xs: Value[]): Value {
    if (xs.length === 1) return xs[0];
    return this.op('Sum', xs);
  }

  isFloat(v: Value) { return isFloat(v.dtype); }
}

function constKey(t: Tensor): string {
  const b = tensorBytes(t);
  // constants are small (shapes, scalars); large ones are keyed by identity of contents anyway
  return `${t.dtype}|${t.shape.join(',')}|${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')}`;
}
