// Build-time evaluation of small constant nodes (Constant, Shape and the int64 arithmetic that exported
// files build shapes with), so that shape inference of imported graphs sees constant shape inputs.
// In: a node whose inputs may be constants. Out: its output tensors, or undefined when not foldable.

import { Graph, Node } from './ir.js';
import { Tensor, int64Tensor, numel, tensor, toNumbers } from './tensor.js';
import { getInt, sliceBounds } from './infer.js';

const MAX_FOLD = 4096;

export function foldNode(node: Node, g: Graph): (Tensor | undefined)[] | undefined {
  if (node.domain !== '') return undefined;
  if (node.op === 'Constant') {
    const a = node.attrs.value ?? node.attrs.value_float ?? node.attrs.value_int ?? node.attrs.value_floats ?? node.attrs.value_ints;
    if (!a) return undefined;
    if (a.type === 'tensor') return [a.value];
    if (a.type === 'float') return [tensor('float32', [], [a.value])];
    if (a.type === 'int') return [int64Tensor([a.value], [])];
    if (a.type === 'floats') return [tensor('float32', [a.value.length], a.value)];
    if (a.type === 'ints') return [int64Tensor(a.value)];
    return undefined;
  }
  if (node.op === 'Shape') {
    const v = g.values.get(node.inputs[0]);
    if (!v || v.shape.some((d) => d < 0)) return undefined;
    let s = [...v.shape];
    const start = node.attrs.start ? getInt(node, 'start') : 0;
    const end = node.attrs.end ? getInt(node, 'end') : s.length;
    s = s.slice(start < 0 ? start + s.length : start, end < 0 ? end + s.length : end);
    return [int64Tensor(s)];
  }
  const ins = node.inputs.map((n) => (n ? g.constant(n) : undefined));
  if (ins.some((t, i) => node.inputs[i] && !t)) return undefined;
  if (ins.some((t) => t && (t.dtype !== 'int64' || numel(t.shape) > MAX_FOLD))) return undefined;
  const x = ins[0];
  if (!x) return undefined;
  const out = g.values.get(node.outputs[0]);
  const vals = toNumbers(x);
  switch (node.op) {
    case 'Identity':
    case 'Reshape':
    case 'Unsqueeze':
    case 'Squeeze':
    case 'Flatten':
      return out ? [int64Tensor(vals, [...out.shape])] : undefined;
    case 'Cast':
      return out && out.dtype === 'int64' ? [int64Tensor(vals, [...out.shape])] : undefined;
    case 'Concat':
      return out ? [int64Tensor(ins.flatMap((t) => toNumbers(t!)), [...out.shape])] : undefined;
    case 'Gather': {
      if (getInt(node, 'axis', 0) !== 0 || x.shape.length !== 1 || !out) return undefined;
      const idx = toNumbers(ins[1]!);
      return [int64Tensor(idx.map((i) => vals[i < 0 ? i + vals.length : i]), [...out.shape])];
    }
    case 'Slice': {
      if (x.shape.length !== 1 || !out) return undefined;
      const [s, e] = [toNumbers(ins[1]!)[0], toNumbers(ins[2]!)[0]];
      const step = ins[4] ? toNumbers(ins[4])[0] : 1;
      const b = sliceBounds(vals.length, s, e, step);
      return [int64Tensor(Array.from({ length: b.count }, (_, i) => vals[b.start + i * step]))];
    }
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div': {
      const y = toNumbers(ins[1]!);
      if (!out) return undefined;
      const n = numel(out.shape);
      const r: number[] = [];
      for (let i = 0; i < n; i++) {
        const a = vals[vals.length === 1 ? 0 : i];
        const b = y[y.length === 1 ? 0 : i];
        r.push(node.op === 'Add' ? a + b : node.op === 'Sub' ? a - b : node.op === 'Mul' ? a * b : Math.trunc(a / b));
      }
      return [int64Tensor(r, [...out.shape])];
    }
    case 'ConstantOfShape': {
      const shape = vals;
      const v = node.attrs.value;
      if (numel(shape) > MAX_FOLD || !v || v.type !== 'tensor' || v.value.dtype !== 'int64') return undefined;
      return [int64Tensor(Array(numel(shape)).fill(toNumbers(v.value)[0]), shape)];
    }
    default:
      return undefined;
  }
}
