// Inline a graph (typically one imported from an ONNX file exported elsewhere) into a builder under a
// name prefix: its inputs are bound to Values of the builder, its float initializers become named
// parameters `prefix + name` (so the same network can appear twice, e.g. as a trainable policy and
// a frozen reference), its other initializers become constants, and its nodes are re-emitted (shapes
// inferred again for the bound inputs). In: a builder, a graph, bindings. Out: the graph's outputs as
// Values of the builder, and the initial values of the new parameters.
import { GraphBuilder } from './builder.js';
import { foldNode } from './fold.js';
import { Graph, Value } from './ir.js';
import { Tensor } from './tensor.js';

export interface InlineOptions {
  /** Prefix of every name the inlined graph adds (parameters, node outputs). */
  prefix: string;
  /** A Value for every graph input (by the graph's input name). */
  inputs: Record<string, Value>;
  /** Which initializers become parameters; default: float tensors of rank ≥ 1. */
  param?: (name: string, t: Tensor) => boolean;
}

/** The default of `param`: float initializers of rank ≥ 1 (weights, biases) become parameters. */
export const floatParam = (_name: string, t: Tensor) => (t.dtype === 'float32' || t.dtype === 'float64') && t.shape.length > 0;

export function inlineGraph(g: GraphBuilder, sub: Graph, o: InlineOptions): { outputs: Record<string, Value>; params: Record<string, Tensor> } {
  const where = sub.source ?? sub.name;
  const map = new Map<string, Value>();
  for (const name of sub.inputs) {
    if (sub.initializers.has(name)) continue;
    const v = o.inputs[name];
    if (!v) throw new Error(`${where}: input '${name}' is not bound`);
    const want = sub.value(name);
    if (v.dtype !== want.dtype) throw new Error(`${where}: input '${name}' is ${want.dtype}, bound to a ${v.dtype} value`);
    const fits = v.shape.length === want.shape.length && want.shape.every((d, i) => d < 0 || d === v.shape[i]);
    if (!fits) throw new Error(`${where}: input '${name}' has shape [${want.shape.join(', ')}], bound to [${v.shape.join(', ')}]`);
    map.set(name, v);
  }
  for (const name of Object.keys(o.inputs)) if (!map.has(name)) throw new Error(`${where}: no input named '${name}' (it has ${sub.inputs.join(', ')})`);
  const params: Record<string, Tensor> = {};
  const isParam = o.param ?? floatParam;
  for (const [name, t] of sub.initializers) {
    if (isParam(name, t)) {
      params[o.prefix + name] = t;
      map.set(name, g.param(o.prefix + name, t.shape, { dtype: t.dtype }));
    } else map.set(name, g.const(t));
  }
  for (const node of sub.nodes) {
    const inputs = node.inputs.map((n) => {
      if (!n) return null;
      const v = map.get(n);
      if (!v) throw new Error(`${where}: node ${node.name} reads '${n}', which nothing defines before it`);
      return v;
    });
    const outs = g.emit(node.op, inputs, node.attrs, node.outputs.length, {
      domain: node.domain,
      name: o.prefix + node.name,
      outputs: node.outputs.map((n, i) => (n ? o.prefix + n : `${o.prefix}${node.name}:unused${i}`)),
    });
    node.outputs.forEach((n, i) => n && map.set(n, outs[i]));
    // constants (shapes, Constant nodes) stay known so that later nodes' shapes can be inferred
    const added = g.graph.nodes[g.graph.nodes.length - 1];
    foldNode(added, g.graph)?.forEach((t, i) => t && g.graph.constants.set(added.outputs[i], t));
  }
  const outputs: Record<string, Value> = {};
  for (const name of sub.outputs) outputs[name] = map.get(name)!;
  return { outputs, params };
}
