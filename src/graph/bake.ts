// Turns parameter inputs of a graph into initializers holding given values, giving a self-contained
// ONNX model (for export, manifests and faster inference feeds). In: a Graph and tensors by parameter
// name. Out: a new Graph (the input graph is left as it was).

import { Graph } from './ir.js';
import { Tensor } from './tensor.js';

export function bakeParams(g: Graph, values: Record<string, Tensor>, o: { only?: (name: string) => boolean } = {}): Graph {
  const out = new Graph(g.opset);
  Object.assign(out, { name: g.name, extraOpsets: [...g.extraOpsets], metadata: { ...g.metadata }, source: g.source });
  out.values = new Map(g.values);
  out.initializers = new Map(g.initializers);
  out.constants = new Map(g.constants);
  out.nodes = g.nodes.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs], attrs: { ...n.attrs } }));
  out.outputs = [...g.outputs];
  out.inputs = [];
  for (const name of g.inputs) {
    const p = g.params.get(name);
    if (p && (!o.only || o.only(name))) {
      const t = values[name];
      if (!t) throw new Error(`bakeParams: no value for parameter '${name}'`);
      if (t.dtype !== p.dtype || t.shape.join() !== p.shape.join())
        throw new Error(`bakeParams: parameter '${name}' is ${p.dtype}[${p.shape}], value is ${t.dtype}[${t.shape}]`);
      out.initializers.set(name, t);
    } else {
      out.inputs.push(name);
      if (p) out.params.set(name, p);
    }
  }
  return out;
}

/**
 * The reverse of bakeParams, for imported models: initializers chosen by `select` (default: float
 * tensors of rank ≥ 1) become parameter inputs; returns the new graph and their current values.
 */
export function paramsFromInitializers(g: Graph, select: (name: string, t: Tensor) => boolean = (_n, t) => (t.dtype === 'float32' || t.dtype === 'float64') && t.shape.length > 0): { graph: Graph; values: Record<string, Tensor> } {
  const out = new Graph(g.opset);
  Object.assign(out, { name: g.name, extraOpsets: [...g.extraOpsets], metadata: { ...g.metadata }, source: g.source });
  out.values = new Map(g.values);
  out.constants = new Map(g.constants);
  out.nodes = g.nodes;
  out.outputs = [...g.outputs];
  out.inputs = [...g.inputs];
  out.params = new Map(g.params);
  const values: Record<string, Tensor> = {};
  for (const [name, t] of g.initializers) {
    if (select(name, t)) {
      values[name] = t;
      out.inputs.push(name);
      out.params.set(name, { name, dtype: t.dtype, shape: [...t.shape], init: 'zeros' });
    } else out.initializers.set(name, t);
  }
  return { graph: out, values };
}
