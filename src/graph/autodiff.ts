// Reverse-mode autodiff over the IR. In: a graph, a scalar (or any) loss value and the values to
// differentiate with respect to. Out: gradient values appended to the same graph as ordinary ONNX nodes
// (scope "grad/"), pruned to the nodes on a path from those values to the loss; fan-out is summed.

import { GraphBuilder } from './builder.js';
import { isFloat } from './dtype.js';
import { Graph, Node, Value } from './ir.js';
import { GRAD_RULES, NON_DIFFERENTIABLE } from './rules.js';

export class GradError extends Error {}

export interface GradOptions {
  /** Gradient of the loss itself (default: ones of the loss's shape). */
  seed?: Value;
  /** Scope prefix for gradient nodes (default 'grad'). */
  scope?: string;
}

/** Nodes that lie on a differentiable path from any of `wrt` to `loss`. */
export function pathNodes(graph: Graph, loss: string, wrt: string[]): { nodes: Node[]; active: Set<string>; needed: Set<string> } {
  const active = new Set(wrt);
  for (const n of graph.nodes) {
    if (NON_DIFFERENTIABLE.has(n.op)) continue;
    if (!n.inputs.some((i) => i && active.has(i))) continue;
    for (const o of n.outputs) if (o && isFloat(graph.value(o).dtype)) active.add(o);
  }
  const needed = new Set([loss]);
  for (let k = graph.nodes.length - 1; k >= 0; k--) {
    const n = graph.nodes[k];
    if (!n.outputs.some((o) => needed.has(o))) continue;
    for (const i of n.inputs) if (i) needed.add(i);
  }
  const nodes = graph.nodes.filter(
    (n) => n.outputs.some((o) => o && active.has(o) && needed.has(o)) && n.inputs.some((i) => i && active.has(i) && needed.has(i)),
  );
  return { nodes, active, needed };
}

/** Ops on the loss's path that have no rule (empty when everything is differentiable). */
export function missingRules(graph: Graph, loss: string, wrt: string[]): { node: string; op: string }[] {
  return pathNodes(graph, loss, wrt)
    .nodes.filter((n) => !GRAD_RULES[n.op] || n.domain !== '')
    .map((n) => ({ node: n.name, op: n.op }));
}

/**
 * Append the backward pass for d loss / d wrt. Returns gradient Values in the order of `wrt`
 * (zeros for a value that does not reach the loss).
 */
export function gradients(g: GraphBuilder, loss: Value, wrt: Value[], o: GradOptions = {}): Value[] {
  const graph = g.graph;
  for (const w of wrt) if (!isFloat(w.dtype)) throw new GradError(`cannot differentiate with respect to ${w.name}: dtype ${w.dtype}`);
  const { nodes, active, needed } = pathNodes(graph, loss.name, wrt.map((w) => w.name));
  const pending = new Map<string, Value[]>();
  const add = (name: string, v: Value) => {
    const want = graph.value(name);
    if (v.shape.join() !== want.shape.join() || v.dtype !== want.dtype)
      throw new GradError(`gradient for ${name} is ${v.dtype}[${v.shape}], expected ${want.dtype}[${want.shape}]`);
    const list = pending.get(name);
    if (list) list.push(v);
    else pending.set(name, [v]);
  };
  const take = (name: string): Value | undefined => {
    const list = pending.get(name);
    if (!list) return undefined;
    const s = list.length === 1 ? list[0] : g.sum(list);
    pending.set(name, [s]);
    return s;
  };

  return g.scope(o.scope ?? 'grad', () => {
    add(loss.name, o.seed ?? g.fill(loss.shape, 1, loss.dtype));
    for (let k = nodes.length - 1; k >= 0; k--) {
      const node = nodes[k];
      const grads = node.outputs.map((out) => (out ? take(out) : undefined));
      if (grads.every((x) => !x)) continue;
      const rule = node.domain === '' ? GRAD_RULES[node.op] : undefined;
      if (!rule) throw new GradError(`no gradient rule for op ${node.domain ? node.domain + '.' : ''}${node.op} (node ${node.name}); it lies between the parameters and the loss`);
      const needs = node.inputs.map((i) => !!i && active.has(i) && needed.has(i) && isFloat(graph.value(i).dtype));
      let res: (Value | undefined)[];
      try {
        res = rule({
          g,
          node,
          inputs: node.inputs.map((i) => (i ? graph.value(i) : undefined)),
          outputs: node.outputs.map((out) => graph.value(out)),
          grads,
          needs,
          constant: (i) => (node.inputs[i] ? graph.constant(node.inputs[i]) : undefined),
        });
      } catch (e) {
        if (e instanceof GradError) throw e;
        throw new GradError(`gradient of node ${node.name} (${node.op}): ${(e as Error).message}`);
      }
      node.inputs.forEach((i, j) => {
        if (needs[j] && res[j]) {
          try {
            add(i, res[j]!);
          } catch (e) {
            throw new GradError(`rule ${node.op} at node ${node.name}, input ${j}: ${(e as Error).message}`);
          }
        }
      });
    }
    return wrt.map((w) => take(w.name) ?? g.fill(w.shape, 0, w.dtype));
  });
}
