// Serialization between the IR and ONNX ModelProto (onnx-buf / protobuf-es). In: a Graph, or the bytes
// or path of an .onnx file (with external data beside it). Out: deterministic bytes, or a Graph whose
// shapes are inferred for known ops and taken from value_info for the rest.

import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  AttributeProto,
  AttributeProtoSchema,
  AttributeProto_AttributeType as AT,
  ModelProto,
  ModelProtoSchema,
  NodeProto,
  TensorProto,
  TensorProto_DataLocation,
  TensorProtoSchema,
  TypeProto,
  ValueInfoProto,
  ValueInfoProtoSchema,
} from 'onnx-buf';
import { DType, dtypeInfo, fromOnnxCode, isFloat, onnxCode } from './dtype.js';
import { GRAD_RULES, NON_DIFFERENTIABLE } from './rules.js';
import { Attr, Graph, Node, ParamInfo, Value } from './ir.js';
import { canInfer, inferNode } from './infer.js';
import { Tensor, numel, tensorBytes, tensorFromBytes } from './tensor.js';
import { foldNode } from './fold.js';

const IR_VERSION = 11n; // ONNX 1.19, opset 24
/** Tensors at least this large go to external data when a model is saved with externalData 'auto'. */
export const TWO_GB = 2 ** 31 - 1;

export interface SaveOptions {
  /** 'auto': external data when the model would pass 2 GB; true: always for tensors ≥ threshold bytes. */
  externalData?: 'auto' | boolean;
  threshold?: number;
}

interface ExternalSink {
  file: string; // name relative to the model
  chunks: Uint8Array[];
  offset: number;
  threshold: number;
}

function tensorProto(name: string, t: Tensor, sink?: ExternalSink): TensorProto {
  const bytes = tensorBytes(t);
  const p = create(TensorProtoSchema, { name, dims: t.shape.map((d) => BigInt(d)), dataType: onnxCode(t.dtype) });
  if (sink && bytes.byteLength >= sink.threshold) {
    // align each tensor to 4 KiB so that it can be memory-mapped
    const pad = (4096 - (sink.offset % 4096)) % 4096;
    if (pad) sink.chunks.push(new Uint8Array(pad));
    sink.offset += pad;
    p.dataLocation = TensorProto_DataLocation.EXTERNAL;
    p.externalData = [
      { key: 'location', value: sink.file },
      { key: 'offset', value: String(sink.offset) },
      { key: 'length', value: String(bytes.byteLength) },
    ].map((e) => ({ $typeName: 'onnx.StringStringEntryProto', ...e }));
    sink.chunks.push(bytes.slice());
    sink.offset += bytes.byteLength;
  } else {
    p.rawData = bytes.slice() as Uint8Array<ArrayBuffer>;
  }
  return p;
}

function typeProto(v: Value): TypeProto {
  return {
    $typeName: 'onnx.TypeProto',
    denotation: '',
    value: {
      case: 'tensorType',
      value: {
        $typeName: 'onnx.TypeProto.Tensor',
        elemType: onnxCode(v.dtype),
        shape: {
          $typeName: 'onnx.TensorShapeProto',
          dim: v.shape.map((d, i) => ({
            $typeName: 'onnx.TensorShapeProto.Dimension',
            denotation: '',
            value: d >= 0 ? { case: 'dimValue' as const, value: BigInt(d) } : { case: 'dimParam' as const, value: `${v.name}_d${i}` },
          })),
        },
      },
    },
  };
}

function valueInfo(v: Value): ValueInfoProto {
  return create(ValueInfoProtoSchema, { name: v.name, type: typeProto(v) });
}

function attrProto(name: string, a: Attr): AttributeProto {
  if (a.type === 'raw') return fromBinary(AttributeProtoSchema, a.value);
  const p = create(AttributeProtoSchema, { name });
  switch (a.type) {
    case 'int': p.type = AT.INT; p.i = BigInt(a.value); break;
    case 'float': p.type = AT.FLOAT; p.f = a.value; break;
    case 'string': p.type = AT.STRING; p.s = new TextEncoder().encode(a.value) as Uint8Array<ArrayBuffer>; break;
    case 'ints': p.type = AT.INTS; p.ints = a.value.map((x) => BigInt(x)); break;
    case 'floats': p.type = AT.FLOATS; p.floats = [...a.value]; break;
    case 'strings': p.type = AT.STRINGS; p.strings = a.value.map((s) => new TextEncoder().encode(s) as Uint8Array<ArrayBuffer>); break;
    case 'tensor': p.type = AT.TENSOR; p.t = tensorProto('', a.value); break;
  }
  return p;
}

/** The ModelProto of a graph; with a sink, large initializers are written as external data. */
export function toModelProto(g: Graph, sink?: ExternalSink): ModelProto {
  // value_info only for outputs of ops without a shape rule, so that loading the file again can type them
  const valueInfos: ValueInfoProto[] = [];
  for (const n of g.nodes) {
    if (canInfer(n.op, n.domain)) continue;
    for (const o of n.outputs) if (o && !g.outputs.includes(o)) valueInfos.push(valueInfo(g.value(o)));
  }
  const meta = { ...g.metadata };
  if (g.params.size) meta['halo.params'] = JSON.stringify([...g.params.values()].map((p) => ({ name: p.name, init: p.init })));
  const opsets = [{ domain: '', version: BigInt(g.opset) }, ...g.extraOpsets.map((o) => ({ domain: o.domain, version: BigInt(o.version) }))];
  return create(ModelProtoSchema, {
    irVersion: IR_VERSION,
    producerName: 'halo',
    producerVersion: '0.1',
    opsetImport: opsets,
    metadataProps: Object.keys(meta).sort().map((k) => ({ key: k, value: meta[k] })),
    graph: {
      name: g.name,
      node: g.nodes.map((n) =>
        ({
          name: n.name,
          opType: n.op,
          domain: n.domain,
          input: n.inputs,
          output: n.outputs,
          attribute: Object.keys(n.attrs).map((k) => attrProto(k, n.attrs[k])),
        }) as unknown as NodeProto,
      ),
      initializer: [...g.initializers].map(([name, t]) => tensorProto(name, t, sink)),
      input: g.inputs.map((n) => valueInfo(g.value(n))),
      output: g.outputs.map((n) => valueInfo(g.value(n))),
      valueInfo: valueInfos,
    },
  });
}

/** Bytes of the model with all weights inline (fails beyond protobuf's 2 GB; use saveModel). */
export function encodeModel(g: Graph): Uint8Array {
  let total = 0;
  for (const t of g.initializers.values()) total += t.data.byteLength;
  if (total > TWO_GB) throw new Error(`graph ${g.name}: ${total} bytes of initializers exceed 2 GB; save with saveModel (external data)`);
  return toBinary(ModelProtoSchema, toModelProto(g));
}

/** Write a model to `file`; big weights go to `<file>.data` beside it (external data). */
export function saveModel(g: Graph, file: string, o: SaveOptions = {}): { file: string; dataFile?: string } {
  let total = 0;
  for (const t of g.initializers.values()) total += t.data.byteLength;
  const external = o.externalData === true || (o.externalData !== false && total > TWO_GB - 64 * 1024 * 1024);
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  if (!external) {
    writeAtomic(file, encodeModel(g));
    return { file };
  }
  const sink: ExternalSink = { file: path.basename(file) + '.data', chunks: [], offset: 0, threshold: o.threshold ?? 1024 };
  const proto = toModelProto(g, sink);
  const dataFile = path.join(dir, sink.file);
  const tmp = `${dataFile}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    for (const c of sink.chunks) fs.writeSync(fd, c);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, dataFile);
  writeAtomic(file, toBinary(ModelProtoSchema, proto));
  return { file, dataFile };
}

/**
 * An ONNX file's bytes with some initializers' values replaced (same names, dtypes and shapes);
 * everything else (graph, dynamic shapes, metadata) is kept as it was. External data is not rewritten.
 */
export function withInitializers(bytes: Uint8Array, values: Record<string, Tensor>, source = '<bytes>'): Uint8Array {
  const m = fromBinary(ModelProtoSchema, bytes);
  const left = new Set(Object.keys(values));
  for (const [i, p] of (m.graph?.initializer ?? []).entries()) {
    const t = values[p.name];
    if (!t) continue;
    const dims = p.dims.map((d) => Number(d));
    if (fromOnnxCode(p.dataType) !== t.dtype || dims.join() !== t.shape.join()) {
      throw new Error(`${source}: initializer ${p.name} is ${fromOnnxCode(p.dataType)}[${dims}], the new value ${t.dtype}[${t.shape}]`);
    }
    if (p.dataLocation === TensorProto_DataLocation.EXTERNAL) throw new Error(`${source}: initializer ${p.name} is stored as external data; not rewritten`);
    m.graph!.initializer[i] = tensorProto(p.name, t);
    left.delete(p.name);
  }
  if (left.size) throw new Error(`${source}: no initializer named ${[...left].join(', ')}`);
  return toBinary(ModelProtoSchema, m);
}

function writeAtomic(file: string, bytes: Uint8Array) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, file);
}

// ---------------------------------------------------------------- decoding

function decodeTensor(p: TensorProto, baseDir: string | undefined, where: string): Tensor {
  const dtype = fromOnnxCode(p.dataType);
  const shape = p.dims.map((d) => Number(d));
  const n = numel(shape);
  const info = dtypeInfo(dtype);
  if (p.dataLocation === TensorProto_DataLocation.EXTERNAL) {
    const kv = Object.fromEntries(p.externalData.map((e) => [e.key, e.value]));
    if (!baseDir) throw new Error(`${where}: tensor ${p.name} has external data; load the model by path`);
    const file = path.join(baseDir, kv.location);
    const offset = Number(kv.offset ?? 0);
    const length = Number(kv.length ?? n * info.bytes);
    const buf = Buffer.alloc(length);
    const fd = fs.openSync(file, 'r');
    try {
      fs.readSync(fd, buf, 0, length, offset);
    } finally {
      fs.closeSync(fd);
    }
    return tensorFromBytes(dtype, shape, buf);
  }
  if (p.rawData.byteLength) return tensorFromBytes(dtype, shape, p.rawData);
  const data = new info.array(n);
  const src: ArrayLike<number | bigint> =
    dtype === 'float32' ? p.floatData : dtype === 'float64' ? p.doubleData : dtype === 'int64' ? p.int64Data : p.int32Data;
  if (src.length !== n) throw new Error(`${where}: tensor ${p.name} holds ${src.length} values for shape [${shape}]`);
  for (let i = 0; i < n; i++) (data as unknown as (number | bigint)[])[i] = dtype === 'int64' ? BigInt(src[i]) : Number(src[i]);
  return { dtype, shape, data };
}

function decodeAttr(a: AttributeProto, baseDir: string | undefined, where: string): Attr {
  switch (a.type) {
    case AT.INT: return { type: 'int', value: Number(a.i) };
    case AT.FLOAT: return { type: 'float', value: a.f };
    case AT.STRING: return { type: 'string', value: new TextDecoder().decode(a.s) };
    case AT.INTS: return { type: 'ints', value: a.ints.map((x) => Number(x)) };
    case AT.FLOATS: return { type: 'floats', value: [...a.floats] };
    case AT.STRINGS: return { type: 'strings', value: a.strings.map((s) => new TextDecoder().decode(s)) };
    case AT.TENSOR: return { type: 'tensor', value: decodeTensor(a.t!, baseDir, where) };
    default: return { type: 'raw', value: toBinary(AttributeProtoSchema, a) };
  }
}

function decodeType(t: TypeProto | undefined, name: string): { dtype: DType; shape: number[] } | undefined {
  if (!t || t.value.case !== 'tensorType') return undefined;
  const tt = t.value.value;
  const shape = (tt.shape?.dim ?? []).map((d) => (d.value.case === 'dimValue' ? Number(d.value.value) : -1));
  try {
    return { dtype: fromOnnxCode(tt.elemType), shape };
  } catch {
    throw new Error(`value ${name}: unsupported element type ${tt.elemType}`);
  }
}

export interface ImportReport {
  /** Nodes whose output shapes were taken from the file (no inference rule or inference failed). */
  opaque: { node: string; op: string; reason: string }[];
  /** Nodes with float outputs whose op has no gradient rule: they run, but gradients cannot pass them. */
  nonDifferentiable: { node: string; op: string }[];
}

/** Decode a ModelProto into the IR. `baseDir` resolves external data. */
export function fromModelProto(m: ModelProto, o: { baseDir?: string; source?: string; inputShapes?: Record<string, number[]> } = {}): { graph: Graph; report: ImportReport } {
  const src = o.source ?? '<bytes>';
  const gp = m.graph;
  if (!gp) throw new Error(`${src}: model has no graph`);
  const main = m.opsetImport.find((x) => x.domain === '' || x.domain === 'ai.onnx');
  const g = new Graph(main ? Number(main.version) : 1);
  g.source = src;
  g.name = gp.name || 'imported';
  g.extraOpsets = m.opsetImport.filter((x) => x !== main).map((x) => ({ domain: x.domain, version: Number(x.version) }));
  for (const kv of m.metadataProps) g.metadata[kv.key] = kv.value;
  const report: ImportReport = { opaque: [], nonDifferentiable: [] };

  for (const t of gp.initializer) {
    const tensor = decodeTensor(t, o.baseDir, src);
    g.initializers.set(t.name, tensor);
    g.values.set(t.name, { name: t.name, dtype: tensor.dtype, shape: tensor.shape });
  }
  for (const vi of gp.input) {
    if (g.initializers.has(vi.name)) continue;
    const ty = decodeType(vi.type, vi.name);
    if (!ty) throw new Error(`${src}: input ${vi.name} is not a tensor`);
    const fixed = o.inputShapes?.[vi.name];
    g.values.set(vi.name, { name: vi.name, dtype: ty.dtype, shape: fixed ?? ty.shape });
    g.inputs.push(vi.name);
  }
  const declared = new Map<string, { dtype: DType; shape: number[] }>();
  for (const vi of [...gp.valueInfo, ...gp.output]) {
    const ty = decodeType(vi.type, vi.name);
    if (ty) declared.set(vi.name, ty);
  }
  for (const np of gp.node) {
    const node: Node = {
      name: np.name || `${np.opType}_${g.nodes.length}`,
      op: np.opType,
      domain: np.domain === 'ai.onnx' ? '' : np.domain,
      inputs: [...np.input],
      outputs: [...np.output],
      attrs: {},
    };
    for (const a of np.attribute) node.attrs[a.name] = decodeAttr(a, o.baseDir, `${src}: node ${node.name}`);
    const ins = node.inputs.map((n) => (n ? g.values.get(n) : undefined));
    let types: { dtype: DType; shape: number[] }[] | undefined;
    let reason = `no shape rule for ${node.domain ? node.domain + '.' : ''}${node.op}`;
    if (canInfer(node.op, node.domain) && ins.every((v, i) => v || !node.inputs[i])) {
      try {
        types = inferNode({ node, inputs: ins, constant: (i) => (node.inputs[i] ? g.constant(node.inputs[i]) : undefined), opset: g.opset });
      } catch (e) {
        reason = (e as Error).message;
      }
    }
    if (!types) {
      types = node.outputs.map((out) => declared.get(out) ?? { dtype: 'float32' as DType, shape: [-1] });
      report.opaque.push({ node: node.name, op: node.op, reason });
    }
    g.nodes.push(node);
    node.outputs.forEach((out, i) => {
      if (out) g.values.set(out, { name: out, dtype: types![i].dtype, shape: types![i].shape });
    });
    const folded = foldNode(node, g);
    if (folded) node.outputs.forEach((out, i) => folded[i] && g.constants.set(out, folded[i]));
  }
  for (const vi of gp.output) g.outputs.push(vi.name);
  for (const n of g.nodes) {
    const hasRule = n.domain === '' && (GRAD_RULES[n.op] || NON_DIFFERENTIABLE.has(n.op));
    if (!hasRule && n.outputs.some((o) => o && isFloat(g.value(o).dtype))) report.nonDifferentiable.push({ node: n.name, op: n.domain ? `${n.domain}.${n.op}` : n.op });
  }
  const params = g.metadata['halo.params'];
  if (params) {
    for (const p of JSON.parse(params) as Pick<ParamInfo, 'name' | 'init'>[]) {
      const v = g.value(p.name);
      g.params.set(p.name, { name: p.name, dtype: v.dtype, shape: [...v.shape], init: p.init });
    }
    delete g.metadata['halo.params'];
  }
  return { graph: g, report };
}

export function decodeModel(bytes: Uint8Array, o: { baseDir?: string; source?: string; inputShapes?: Record<string, number[]> } = {}) {
  return fromModelProto(fromBinary(ModelProtoSchema, bytes), o);
}

/** Load an .onnx file (external data resolved beside it). */
export function loadModel(file: string, o: { inputShapes?: Record<string, number[]> } = {}) {
  return decodeModel(fs.readFileSync(file), { baseDir: path.dirname(file), source: file, inputShapes: o.inputShapes });
}
