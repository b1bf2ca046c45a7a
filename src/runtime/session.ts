// Inference sessions over IR graphs, model bytes or files, and a cache of sessions per input shape.
// In: a Graph (or bytes/path) and feeds of host Tensors. Out: host Tensors by output name; errors name
// the missing or mis-shaped input.

import { Graph } from '../graph/ir.js';
import { encodeModel } from '../graph/onnx.js';
import { Tensor, shapeKey } from '../graph/tensor.js';
import { OrtSession, SessionOptions, createOrtSession, releaseOrt, runOrt } from './ort.js';

export class Session {
  private constructor(
    private readonly ort: OrtSession,
    readonly graph: Graph | undefined,
    readonly label: string,
  ) {}

  static async create(model: Graph | Uint8Array | string, o: SessionOptions = {}): Promise<Session> {
    const bytes = model instanceof Graph ? encodeModel(model) : model;
    const label = model instanceof Graph ? `graph ${model.name}` : typeof model === 'string' ? model : '<bytes>';
    return new Session(await createOrtSession(bytes, o), model instanceof Graph ? model : undefined, label);
  }

  get provider() {
    return this.ort.provider;
  }
  get inputNames() {
    return this.ort.inputNames;
  }
  get outputNames() {
    return this.ort.outputNames;
  }

  /** Run with all graph inputs fed; returns every output (or those in `fetch`). */
  async run(feeds: Record<string, Tensor>, fetch?: readonly string[]): Promise<Record<string, Tensor>> {
    if (this.graph) checkFeeds(this.graph, feeds, this.label);
    return runOrt(this.ort, feeds, fetch);
  }

  async release(): Promise<void> {
    await releaseOrt(this.ort);
  }
}

export function checkFeeds(g: Graph, feeds: Record<string, Tensor>, label: string) {
  for (const v of g.inputValues()) {
    const t = feeds[v.name];
    if (!t) throw new Error(`${label}: missing input '${v.name}' (${v.dtype}[${v.shape}])`);
    if (t.dtype !== v.dtype || t.shape.join() !== v.shape.join())
      throw new Error(`${label}: input '${v.name}' expects ${v.dtype}${shapeKey(v.shape)}, got ${t.dtype}${shapeKey(t.shape)}`);
  }
  for (const k of Object.keys(feeds)) if (!g.inputs.includes(k)) throw new Error(`${label}: unknown input '${k}' (inputs: ${g.inputs.join(', ')})`);
}

/**
 * Sessions built on demand for each distinct set of input shapes: `build(shapes)` makes the graph for
 * those shapes (static-shape IR), created once and reused.
 */
export class SessionCache {
  private sessions = new Map<string, Promise<Session>>();
  constructor(
    private readonly build: (shapes: Record<string, number[]>) => Graph,
    private readonly opts: SessionOptions = {},
    private readonly maxEntries = 8,
  ) {}

  key(feeds: Record<string, Tensor>): string {
    return Object.keys(feeds)
      .sort()
      .map((k) => `${k}:${feeds[k].dtype}${shapeKey(feeds[k].shape)}`)
      .join(';');
  }

  get size() {
    return this.sessions.size;
  }

  async session(feeds: Record<string, Tensor>): Promise<Session> {
    const key = this.key(feeds);
    let s = this.sessions.get(key);
    if (!s) {
      const shapes: Record<string, number[]> = {};
      for (const k of Object.keys(feeds)) shapes[k] = feeds[k].shape;
      s = Session.create(this.build(shapes), this.opts);
      this.sessions.set(key, s);
      if (this.sessions.size > this.maxEntries) {
        const oldest = this.sessions.keys().next().value as string;
        const old = this.sessions.get(oldest)!;
        this.sessions.delete(oldest);
        void old.then((x) => x.release());
      }
    } else {
      // refresh LRU order
      this.sessions.delete(key);
      this.sessions.set(key, s);
    }
    return s;
  }

  async run(feeds: Record<string, Tensor>, fetch?: readonly string[]) {
    return (await this.session(feeds)).run(feeds, fetch);
  }

  async release() {
    for (const s of this.sessions.values()) await (await s).release();
    this.sessions.clear();
  }
}
