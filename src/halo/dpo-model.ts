// The base model of a halo-dpo run, behind one interface with two implementations: a built-in
// generator (T2VConfig + safetensors weights, networks rebuilt with buildT2V, LoRA-adaptable linear
// layers) and an ONNX generator exported elsewhere (text encoder + denoiser files inlined into the
// training graph under `<prefix>text.` / `<prefix>den.`, their float initializers as the weights).
// In: a model folder. Out: its sizes, prediction type, tokenizer, schedule, base weights by bare
// name (`text.*`, `den.*`), the network built under a prefix, and `save`, which writes a trained
// copy as a model folder (weights.safetensors, or rewritten ONNX files).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { HaloError } from '../cli/errors.js';
import type { GraphBuilder } from '../graph/builder.js';
import { floatParam, inlineGraph } from '../graph/inline.js';
import type { Graph, Value } from '../graph/ir.js';
import { decodeModel, withInitializers } from '../graph/onnx.js';
import type { Tensor } from '../graph/tensor.js';
import { writeFileAtomic } from '../io/atomic.js';
import { checkDenoiserOnnx, checkTextOnnx } from '../models/generator.js';
import { MANIFEST_FILE, isOnnxPart, loadT2VManifest, type LoadedManifest, type OnnxPart, type T2VManifest } from '../models/manifest.js';
import type { DenoiserConfig, TextEncoderConfig } from '../models/networks.js';
import { Schedule } from '../models/schedule.js';
import { t2vLinearLayers, type T2VConfig } from '../models/t2v.js';
import { Tokenizer } from '../models/tokenizer.js';
import { readSafetensors, writeSafetensors } from '../runtime/safetensors.js';
import type { Prediction } from './dpo-data.js';
import { builtinNetwork, type DpoInputs, type DpoNetwork } from './dpo-graph.js';

export const WEIGHTS = 'weights.safetensors';

/** The base model of a halo-dpo run. */
export interface DpoModel extends DpoNetwork {
  readonly name: string;
  /** 'built-in' (safetensors weights) or 'onnx' (ONNX files exported elsewhere). */
  readonly kind: 'built-in' | 'onnx';
  /** sha256 of the weights file (built-in) or of the ONNX files (text encoder, then denoiser). */
  readonly sha256: string;
  readonly manifest: T2VManifest;
  /** Where the weights come from, for messages. */
  readonly source: string;
  readonly video: { frames: number; height: number; width: number };
  readonly text: { length: number };
  /** What the network outputs: the target of its training loss. */
  readonly prediction: Prediction;
  readonly tokenizer: Tokenizer;
  readonly schedule: Schedule;
  /** The base weights by bare name (`text.*`, `den.*`): the names build() declares after its prefix. */
  readonly weights: Record<string, Tensor>;
  /** The linear layers LoRA can adapt, in build order; undefined when the model takes no adapters. */
  linearLayers(): string[] | undefined;
  /** Write OUT as a model folder with these weights (bare names) and manifest fields (name, provenance). */
  save(out: string, weights: Record<string, Tensor>, extras: Record<string, unknown>): Promise<void>;
}

/** The built-in config of a t2v model folder (a folder of ONNX files has none). */
export function builtinConfig(m: T2VManifest, file: string): T2VConfig {
  if (isOnnxPart(m.text_encoder) || isOnnxPart(m.denoiser)) {
    throw new HaloError(`${file}: this folder holds ONNX files, not built-in networks`);
  }
  if (!m.weights) throw new HaloError(`${file}: weights: missing (a built-in model folder names its safetensors file)`);
  for (const [part, prefix] of [[m.text_encoder, 'text.'], [m.denoiser, 'den.']] as const) {
    if ((part.prefix ?? prefix) !== prefix) throw new HaloError(`${file}: parameter prefix '${String(part.prefix)}' is not supported (expected '${prefix}')`);
  }
  return {
    video: { frames: m.video.frames, height: m.video.height, width: m.video.width, fps: m.video.fps },
    text: m.text_encoder.config as unknown as TextEncoderConfig,
    denoiser: m.denoiser.config as unknown as DenoiserConfig,
    schedule: m.schedule,
  };
}

const sha256 = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

async function writeManifest(out: string, manifest: Record<string, unknown>): Promise<void> {
  await writeFileAtomic(path.join(out, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** Load the base model of a halo-dpo run from a model folder (built-in or ONNX). */
export async function loadDpoModel(dir: string): Promise<DpoModel> {
  const loaded = await loadT2VManifest(dir);
  const m = loaded.manifest;
  const te = m.text_encoder;
  const de = m.denoiser;
  if (isOnnxPart(te) && isOnnxPart(de)) return loadOnnx(loaded, te, de);
  if (isOnnxPart(te) || isOnnxPart(de)) {
    throw new HaloError(`${loaded.file}: the ${isOnnxPart(te) ? 'text encoder' : 'denoiser'} is an ONNX file and the ${isOnnxPart(te) ? 'denoiser' : 'text encoder'} a built-in network; halo-dpo trains folders whose parts are both built-in or both ONNX`);
  }
  return loadBuiltin(loaded);
}

async function loadBuiltin(loaded: LoadedManifest<T2VManifest>): Promise<DpoModel> {
  const m = loaded.manifest;
  const config = builtinConfig(m, loaded.file);
  const file = path.resolve(loaded.dir, m.weights!);
  const weights = readSafetensors(file).tensors;
  const net = builtinNetwork(config);
  return {
    ...net,
    kind: 'built-in',
    name: m.name,
    sha256: sha256(await readFile(file)),
    manifest: m,
    source: file,
    prediction: m.prediction,
    tokenizer: new Tokenizer(m.tokenizer),
    schedule: new Schedule(m.schedule),
    weights,
    linearLayers: () => t2vLinearLayers(config),
    save: async (out, w, extras) => {
      writeSafetensors(path.join(out, WEIGHTS), w, { format: 'halo-weights/1', model: m.name });
      await writeManifest(out, { ...m, ...extras, weights: WEIGHTS });
    },
  };
}

const TEXT = 'text.';
const DEN = 'den.';

async function loadOnnx(loaded: LoadedManifest<T2VManifest>, te: OnnxPart, de: OnnxPart): Promise<DpoModel> {
  const m = loaded.manifest;
  const { textDim } = await checkTextOnnx(loaded, te);
  await checkDenoiserOnnx(loaded, de, textDim);
  const { frames: T, height: H, width: W } = m.video;
  const L = m.tokenizer.max_length;
  const parts = await Promise.all(
    ([[te, TEXT], [de, DEN]] as const).map(async ([part, prefix]) => {
      const file = path.resolve(loaded.dir, part.file);
      const bytes = new Uint8Array(await readFile(file));
      return { part, prefix, file, bytes, out: path.basename(part.file) };
    }),
  );
  const [text, den] = parts as [(typeof parts)[0], (typeof parts)[0]];
  if (text.out === den.out) throw new HaloError(`${loaded.file}: text_encoder.file and denoiser.file have one name (${text.out}); halo-dpo writes both into one folder`);
  const decode = (p: typeof text, inputShapes?: Record<string, number[]>): Graph => {
    try {
      return decodeModel(p.bytes, { source: p.file, baseDir: path.dirname(p.file), inputShapes }).graph;
    } catch (e) {
      throw new HaloError(`${p.file}: ${(e as Error).message}`);
    }
  };
  const weights: Record<string, Tensor> = {};
  for (const p of parts) {
    const own: Record<string, Tensor> = {};
    for (const [name, t] of decode(p).initializers) if (floatParam(name, t)) own[name] = weights[p.prefix + name] = t;
    // refuse now what save() could not write at the end of the run (e.g. weights stored as external data)
    writable(p, own);
  }

  function writable(p: typeof text, values: Record<string, Tensor>): Uint8Array {
    try {
      return withInitializers(p.bytes, values, p.file);
    } catch (e) {
      throw new HaloError(`${p.file}: halo-dpo cannot write trained weights into this file: ${(e as Error).message}`);
    }
  }

  // the graphs with their batch fixed to the step's rows, so that every shape is inferred
  const graphs = new Map<string, Graph>();
  const graphFor = (p: typeof text, rows: number): Graph => {
    const key = `${p.prefix}${rows}`;
    if (!graphs.has(key)) {
      const shapes: Record<string, number[]> =
        p === text
          ? { [te.inputs.ids!.name]: [rows, L] }
          : { [de.inputs.x!.name]: [rows, 3, T, H, W], [de.inputs.t!.name]: [rows], [de.inputs.text!.name]: [rows, textDim] };
      graphs.set(key, decode(p, shapes));
    }
    return graphs.get(key)!;
  };
  const inline = (g: GraphBuilder, p: typeof text, prefix: string, rows: number, inputs: Record<string, Value>): Record<string, Value> => {
    try {
      return inlineGraph(g, graphFor(p, rows), { prefix: prefix + p.prefix, inputs }).outputs;
    } catch (e) {
      throw new HaloError(`${p.file}: cannot build it into the training graph: ${(e as Error).message}`);
    }
  };

  return {
    kind: 'onnx',
    name: m.name,
    sha256: sha256(text.bytes, den.bytes),
    manifest: m,
    source: loaded.dir,
    video: { frames: T, height: H, width: W },
    text: { length: L },
    prediction: m.prediction,
    tokenizer: new Tokenizer(m.tokenizer),
    schedule: new Schedule(m.schedule),
    weights,
    build(g: GraphBuilder, prefix: string, inputs: DpoInputs): Value {
      const rows = inputs.x.shape[0]!;
      const feats = inline(g, text, prefix, rows, { [te.inputs.ids!.name]: inputs.ids })[te.outputs.text!.name]!;
      const out = inline(g, den, prefix, rows, { [de.inputs.x!.name]: inputs.x, [de.inputs.t!.name]: inputs.t, [de.inputs.text!.name]: feats })[de.outputs.out!.name]!;
      const want = [rows, 3, T, H, W];
      if (out.shape.join() !== want.join()) {
        throw new HaloError(`${den.file}: output '${de.outputs.out!.name}' has shape [${out.shape.join(', ')}] for inputs of ${rows} rows, expected [${want.join(', ')}]`);
      }
      return out;
    },
    linearLayers: () => undefined,
    save: async (out, w, extras) => {
      const files: Record<string, string> = {};
      for (const p of parts) {
        const values: Record<string, Tensor> = {};
        for (const [k, v] of Object.entries(w)) if (k.startsWith(p.prefix)) values[k.slice(p.prefix.length)] = v;
        await writeFileAtomic(path.join(out, p.out), writable(p, values));
        files[p.prefix] = p.out;
      }
      const { weights: _none, ...rest } = m;
      void _none;
      await writeManifest(out, { ...rest, ...extras, text_encoder: { ...te, file: files[TEXT] }, denoiser: { ...de, file: files[DEN] } });
    },
  };
}
