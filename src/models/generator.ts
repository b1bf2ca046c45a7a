// A text-to-video generator loaded from a model folder (manifest.json, DESIGN.md §5): the built-in
// networks rebuilt from their config with the folder's safetensors weights baked in, or ONNX files
// exported elsewhere (checked against the manifest's names and shapes). In: a folder, a device.
// Out: a Generator that encodes prompts and predicts x0 for batches, with the model's name and hash.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { HaloError } from '../cli/errors.js';
import { bakeParams } from '../graph/bake.js';
import { Graph } from '../graph/ir.js';
import { loadModel } from '../graph/onnx.js';
import { Tensor, tensor } from '../graph/tensor.js';
import { Device } from '../runtime/ort.js';
import { readSafetensors } from '../runtime/safetensors.js';
import { Session } from '../runtime/session.js';
import { LoadedManifest, OnnxPart, T2VManifest, TensorSpec, isOnnxPart, loadT2VManifest } from './manifest.js';
import { DenoiserConfig, TextEncoderConfig, textFeatureSize } from './networks.js';
import { Schedule } from './schedule.js';
import { toX0 } from './sampler.js';
import { T2VConfig, denoiserGraph, textEncoderGraph } from './t2v.js';
import { Tokenizer } from './tokenizer.js';

export interface GeneratorOptions {
  device?: Device;
  threads?: number;
  /** Rows per denoiser call (batches are padded to it so that one session serves every call). */
  batch: number;
}

interface Part {
  /** run on exactly `rows` rows */
  run(feeds: Record<string, Tensor>): Promise<Tensor>;
  rows: number;
}

export class Generator {
  private constructor(
    readonly loaded: LoadedManifest<T2VManifest>,
    readonly sha256: string,
    readonly tokenizer: Tokenizer,
    readonly schedule: Schedule,
    private readonly text: Part,
    private readonly den: Part,
    readonly textDim: number,
    private readonly names: { ids: string; text: string; x: string; t: string; dtext: string },
    private readonly sessions: Session[],
  ) {}

  get manifest() {
    return this.loaded.manifest;
  }
  get name() {
    return this.manifest.name;
  }
  get video() {
    return this.manifest.video;
  }
  /** Values per video: 3·T·H·W. */
  get size() {
    const v = this.manifest.video;
    return 3 * v.frames * v.height * v.width;
  }

  static async load(dir: string, o: GeneratorOptions): Promise<Generator> {
    const loaded = await loadT2VManifest(dir);
    const m = loaded.manifest;
    const tokenizer = new Tokenizer(m.tokenizer);
    const schedule = new Schedule(m.schedule);
    const sha = await modelHash(loaded);
    const sopts = { device: o.device ?? 'cpu', threads: o.threads ?? 2 };
    const sessions: Session[] = [];
    const v = m.video;
    let weights: Record<string, Tensor> | undefined;
    if (m.weights) {
      try {
        weights = readSafetensors(path.resolve(loaded.dir, m.weights)).tensors;
      } catch (e) {
        throw new HaloError(`${loaded.file}: weights: ${(e as Error).message}`);
      }
    }
    const textPart = m.text_encoder;
    const denPart = m.denoiser;
    let text: Part;
    let den: Part;
    let textDim: number;
    const names = { ids: 'ids', text: 'text', x: 'x', t: 't', dtext: 'text' };
    if (!isOnnxPart(textPart)) {
      if (textPart.architecture !== 'text-transformer') throw new HaloError(`${loaded.file}: text_encoder.architecture: unknown built-in '${textPart.architecture}'`);
      const cfg = textPart.config as unknown as TextEncoderConfig;
      textDim = textFeatureSize(cfg);
      const prefix = String(textPart.prefix ?? 'text.');
      const rows = o.batch;
      const g = bake(textEncoderGraph({ text: cfg } as T2VConfig, rows, prefix), weights!, loaded.file, 'text_encoder');
      const s = await Session.create(g, sopts);
      sessions.push(s);
      text = { rows, run: async (f) => (await s.run(f)).text };
    } else {
      const { spec, textDim: d } = await checkTextOnnx(loaded, textPart);
      names.ids = spec.inputs.ids.name;
      names.text = spec.outputs.text.name;
      textDim = d;
      const s = await Session.create(path.resolve(loaded.dir, textPart.file), sopts);
      sessions.push(s);
      const rows = typeof spec.inputs.ids.shape[0] === 'number' ? spec.inputs.ids.shape[0] : o.batch;
      text = { rows, run: async (f) => (await s.run(f, [names.text]))[names.text] };
    }
    if (!isOnnxPart(denPart)) {
      const cfg = denPart.config as unknown as DenoiserConfig;
      if (cfg.architecture !== denPart.architecture) throw new HaloError(`${loaded.file}: denoiser.config.architecture: expected '${denPart.architecture}'`);
      const prefix = String(denPart.prefix ?? 'den.');
      const rows = 2 * o.batch;
      const c = { video: v, text: { width: textDim }, denoiser: cfg, schedule: m.schedule } as unknown as T2VConfig;
      let graph: Graph;
      try {
        graph = denoiserGraph(c, rows, prefix);
      } catch (e) {
        throw new HaloError(`${loaded.file}: denoiser.config: ${(e as Error).message}`);
      }
      const s = await Session.create(bake(graph, weights!, loaded.file, 'denoiser'), sopts);
      sessions.push(s);
      den = { rows, run: async (f) => (await s.run(f)).out };
    } else {
      const spec = await checkDenoiserOnnx(loaded, denPart, textDim);
      names.x = spec.inputs.x.name;
      names.t = spec.inputs.t.name;
      names.dtext = spec.inputs.text.name;
      const outName = spec.outputs.out.name;
      const s = await Session.create(path.resolve(loaded.dir, denPart.file), sopts);
      sessions.push(s);
      const rows = typeof spec.inputs.x.shape[0] === 'number' ? spec.inputs.x.shape[0] : 2 * o.batch;
      den = { rows, run: async (f) => (await s.run(f, [outName]))[outName] };
    }
    return new Generator(loaded, sha, tokenizer, schedule, text, den, textDim, names, sessions);
  }

  /** Text features of prompts (null: the unconditional input), n × textDim values. */
  async encode(prompts: (string | null)[]): Promise<Float32Array> {
    const L = this.tokenizer.maxLength;
    const out = new Float32Array(prompts.length * this.textDim);
    for (let i = 0; i < prompts.length; i += this.text.rows) {
      const chunk = prompts.slice(i, i + this.text.rows);
      const n = chunk.length;
      while (chunk.length < this.text.rows) chunk.push(null);
      const ids = tensor('int64', [this.text.rows, L], this.tokenizer.batch(chunk));
      const r = await this.text.run({ [this.names.ids]: ids });
      out.set((r.data as Float32Array).subarray(0, n * this.textDim), i * this.textDim);
    }
    return out;
  }

  /** x0 estimates for n rows: x (n·size), t (n), text features (n·textDim). */
  async predictX0(x: Float32Array, t: Float32Array, text: Float32Array): Promise<Float32Array> {
    const n = t.length;
    const size = this.size;
    const v = this.video;
    const R = this.den.rows;
    const out = new Float32Array(n * size);
    for (let i = 0; i < n; i += R) {
      const m = Math.min(R, n - i);
      const xb = new Float32Array(R * size);
      xb.set(x.subarray(i * size, (i + m) * size));
      const tb = new Float32Array(R);
      tb.set(t.subarray(i, i + m));
      const cb = new Float32Array(R * this.textDim);
      cb.set(text.subarray(i * this.textDim, (i + m) * this.textDim));
      const r = await this.den.run({
        [this.names.x]: tensor('float32', [R, 3, v.frames, v.height, v.width], xb),
        [this.names.t]: tensor('float32', [R], tb),
        [this.names.dtext]: tensor('float32', [R, this.textDim], cb),
      });
      if (r.data.length !== R * size) throw new HaloError(`${this.loaded.file}: denoiser returned ${r.data.length} values for ${R} rows, expected ${R * size}`);
      out.set((r.data as Float32Array).subarray(0, m * size), i * size);
    }
    return toX0(this.manifest.prediction, out, x, t, this.schedule, size);
  }

  async close() {
    for (const s of this.sessions) await s.release();
  }
}

function bake(g: Graph, weights: Record<string, Tensor>, file: string, role: string): Graph {
  try {
    return bakeParams(g, weights);
  } catch (e) {
    throw new HaloError(`${file}: weights do not fit the ${role}: ${(e as Error).message.replace(/^bakeParams: /, '')}`);
  }
}

/** sha256 over the manifest and every file it names. */
async function modelHash(l: LoadedManifest<T2VManifest>): Promise<string> {
  const h = createHash('sha256');
  h.update(await readFile(l.file));
  const m = l.manifest;
  const files = [m.weights, isOnnxPart(m.text_encoder) ? m.text_encoder.file : undefined, isOnnxPart(m.denoiser) ? m.denoiser.file : undefined];
  for (const f of files) if (f) h.update(await readFile(path.resolve(l.dir, f)));
  return h.digest('hex');
}

/** Check an ONNX text encoder (role `ids` in, `text` out); returns its part and its feature size. */
export async function checkTextOnnx(l: LoadedManifest<T2VManifest>, part: OnnxPart): Promise<{ spec: OnnxPart; textDim: number }> {
  const spec = await checkOnnx(l, 'text_encoder', part, { ids: ['batch', l.manifest.tokenizer.max_length] }, ['text']);
  const d = spec.outputs.text.shape[1];
  if (typeof d !== 'number') throw new HaloError(`${l.file}: text_encoder.outputs.text.shape: the feature size must be a number`);
  return { spec, textDim: d };
}

/** Check an ONNX denoiser (roles `x`, `t`, `text` in, `out` out) for text features of `textDim` values. */
export async function checkDenoiserOnnx(l: LoadedManifest<T2VManifest>, part: OnnxPart, textDim: number): Promise<OnnxPart> {
  const v = l.manifest.video;
  return checkOnnx(l, 'denoiser', part, { x: ['batch', 3, v.frames, v.height, v.width], t: ['batch'], text: ['batch', textDim] }, ['out']);
}

/**
 * Check an ONNX part against the manifest and the roles' expected shapes: every role is declared,
 * every declared name exists in the file with the declared dtype and a compatible shape.
 */
async function checkOnnx(l: LoadedManifest<T2VManifest>, role: string, part: OnnxPart, want: Record<string, (number | string)[]>, outs: string[]) {
  const file = path.resolve(l.dir, part.file);
  const where = `${l.file}: ${role}`;
  for (const r of Object.keys(want)) if (!part.inputs[r]) throw new HaloError(`${where}.inputs: missing role '${r}' (expected ${Object.keys(want).join(', ')})`);
  for (const r of outs) if (!part.outputs[r]) throw new HaloError(`${where}.outputs: missing role '${r}'`);
  for (const [r, shape] of Object.entries(want)) {
    const have = part.inputs[r].shape;
    const bad = have.length !== shape.length || have.some((d, i) => typeof shape[i] === 'number' && typeof d === 'number' && d !== shape[i]);
    if (bad) throw new HaloError(`${where}.inputs.${r}.shape: expected [${shape.join(', ')}] (names are free dimensions), manifest says [${have.join(', ')}]`);
  }
  let g: Graph;
  try {
    g = loadModel(file).graph;
  } catch (e) {
    throw new HaloError(`${file}: not a readable ONNX model (${(e as Error).message.split('\n')[0]})`);
  }
  const check = (kind: 'inputs' | 'outputs', r: string, spec: TensorSpec, names: string[]) => {
    if (!names.includes(spec.name)) throw new HaloError(`${where}.${kind}.${r}.name: '${spec.name}' is not an ${kind === 'inputs' ? 'input' : 'output'} of ${part.file} (it has ${names.join(', ') || 'none'})`);
    const v = g.value(spec.name);
    if (v.dtype !== spec.dtype) throw new HaloError(`${where}.${kind}.${r}: ${part.file} has '${spec.name}' as ${v.dtype}, the manifest says ${spec.dtype}`);
    const ok = v.shape.length === spec.shape.length && v.shape.every((d, i) => d < 0 || typeof spec.shape[i] !== 'number' || d === spec.shape[i]);
    if (!ok) throw new HaloError(`${where}.${kind}.${r}: ${part.file} has '${spec.name}' of shape [${v.shape.map((d) => (d < 0 ? '?' : d)).join(', ')}], the manifest says [${spec.shape.join(', ')}]`);
  };
  for (const r of Object.keys(part.inputs)) check('inputs', r, part.inputs[r], g.inputs);
  for (const r of Object.keys(part.outputs)) check('outputs', r, part.outputs[r], g.outputs);
  for (const n of g.inputs) if (!Object.values(part.inputs).some((s) => s.name === n)) throw new HaloError(`${where}.inputs: ${part.file} has an input '${n}' the manifest does not name`);
  return part;
}
