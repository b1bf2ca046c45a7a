// The graph IR: ONNX nodes over named values with static shapes and dtypes, initializers and
// parameter metadata. In: nodes appended by the builder or by the ONNX importer. Out: a Graph that the
// serializer, the autodiff and the runtime read.

import { DType } from './dtype.js';
import { Tensor } from './tensor.js';

export type Attr =
  | { type: 'int'; value: number }
  | { type: 'float'; value: number }
  | { type: 'string'; value: string }
  | { type: 'ints'; value: number[] }
  | { type: 'floats'; value: number[] }
  | { type: 'strings'; value: string[] }
  | { type: 'tensor'; value: Tensor }
  /** Anything else (subgraphs, type protos) from an imported file, kept as its encoded AttributeProto. */
  | { type: 'raw'; value: Uint8Array };

export const attr = {
  int: (value: number): Attr => ({ type: 'int', value }),
  float: (value: number): Attr => ({ type: 'float', value }),
  string: (value: string): Attr => ({ type: 'string', value }),
  ints: (value: number[]): Attr => ({ type: 'ints', value }),
  floats: (value: number[]): Attr => ({ type: 'floats', value }),
  tensor: (value: Tensor): Attr => ({ type: 'tensor', value }),
};

/** A typed value of the graph. Shapes are static; -1 marks a dimension unknown (imported graphs only). */
export interface Value {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
}

export interface Node {
  name: string;
  op: string;
  domain: string;
  inputs: string[]; // '' for an omitted optional input
  outputs: string[];
  attrs: Record<string, Attr>;
}

export type Init =
  | 'zeros'
  | 'ones'
  | { normal: number; mean?: number }
  | { uniform: [number, number] }
  | { xavier: 'uniform' | 'normal'; gain?: number }
  | { kaiming: 'uniform' | 'normal'; fanIn?: number }
  | { constant: number };

export interface ParamInfo {
  name: string;
  dtype: DType;
  shape: number[];
  init: Init;
}

export class Graph {
  name = 'halo';
  opset: number;
  /** Other operator-set domains the graph uses (imported files). */
  extraOpsets: { domain: string; version: number }[] = [];
  inputs: string[] = [];
  outputs: string[] = [];
  values = new Map<string, Value>();
  initializers = new Map<string, Tensor>();
  nodes: Node[] = [];
  params = new Map<string, ParamInfo>();
  /** Free-form key/value metadata written to ModelProto.metadata_props. */
  metadata: Record<string, string> = {};
  /** Where the graph came from, for messages ("<built>" or a file path). */
  source = '<built>';

  constructor(opset: number) {
    this.opset = opset;
  }

  value(name: string): Value {
    const v = this.values.get(name);
    if (!v) throw new Error(`graph ${this.name}: no value named '${name}'`);
    return v;
  }

  /** The constant tensor behind a value: an initializer or a Constant node's output. */
  constant(name: string): Tensor | undefined {
    return this.initializers.get(name) ?? this.constants.get(name);
  }

  /** Values produced by Constant nodes and by build-time folding (kept for shape inference only). */
  constants = new Map<string, Tensor>();

  inputValues(): Value[] {
    return this.inputs.map((n) => this.value(n));
  }

  outputValues(): Value[] {
    return this.outputs.map((n) => this.value(n));
  }

  /** Map from a value name to the node producing it. */
  producers(): Map<string, Node> {
    const m = new Map<string, Node>();
    for (const n of this.nodes) for (const o of n.outputs) if (o) m.set(o, n);
    return m;
  }
}
