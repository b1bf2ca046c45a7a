// The only module that imports onnxruntime-node. In: model bytes or a path, a device name, thread
// settings, host Tensors. Out: ORT sessions (with the execution provider actually used) and host Tensors.

import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { DType } from '../graph/dtype.js';
import { Tensor } from '../graph/tensor.js';

export type Device = 'cpu' | 'cuda' | 'webgpu' | 'auto';
export const DEVICES: Device[] = ['cpu', 'cuda', 'webgpu', 'auto'];

export interface SessionOptions {
  device?: Device;
  /** Threads inside one op (ORT intra-op); default 2 — this project's machines have 2 cores. */
  threads?: number;
  /** Threads across independent ops; default 1 (sequential execution). */
  interOpThreads?: number;
  /** Where to report a provider fallback; default stderr. */
  log?: (msg: string) => void;
  graphOptimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Let idle intra-op threads spin-wait (default false). Spinning is a little faster on an idle machine
   * but several times slower when halo's piped commands or other jobs share the cores.
   */
  spinning?: boolean;
}

export interface OrtSession {
  session: ort.InferenceSession;
  provider: 'cpu' | 'cuda' | 'webgpu';
  inputNames: readonly string[];
  outputNames: readonly string[];
}

/** Whether this onnxruntime-node build can load a provider: bundled, or its library installed beside the binding. */
function available(name: string): { ok: boolean; why?: string } {
  const b = ort.listSupportedBackends().find((x) => x.name === name);
  if (!b) return { ok: false, why: 'not in this onnxruntime-node build' };
  if (b.bundled) return { ok: true };
  const dir = path.join(path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch);
  const lib = process.platform === 'win32' ? `onnxruntime_providers_${name}.dll` : `libonnxruntime_providers_${name}.so`;
  if (fs.existsSync(path.join(dir, lib))) return { ok: true };
  return { ok: false, why: `provider library not installed (reinstall onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=${name === 'cuda' ? 'cuda12' : name})` };
}

/** A `--device` flag value, or an error listing the choices. */
export function parseDevice(s: string): Device {
  if ((DEVICES as string[]).includes(s)) return s as Device;
  throw new Error(`--device: expected one of ${DEVICES.join('|')}, got '${s}'`);
}

/** Providers to try, in order, for a device request. */
export function providerChain(device: Device): ('cpu' | 'cuda' | 'webgpu')[] {
  switch (device) {
    case 'cpu': return ['cpu'];
    case 'cuda': return ['cuda', 'cpu'];
    case 'webgpu': return ['webgpu', 'cpu'];
    case 'auto': return ['cuda', 'webgpu', 'cpu'];
    default: throw new Error(`unknown device '${device as string}' (expected ${DEVICES.join('|')})`);
  }
}

export async function createOrtSession(model: Uint8Array | string, o: SessionOptions = {}): Promise<OrtSession> {
  const device = o.device ?? 'cpu';
  const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const failures: string[] = [];
  for (const provider of providerChain(device)) {
    const av = provider === 'cpu' ? { ok: true } : available(provider);
    if (!av.ok) {
      failures.push(`${provider}: ${av.why}`);
      continue;
    }
    const opts: ort.InferenceSession.SessionOptions = {
      executionProviders: [provider],
      intraOpNumThreads: o.threads ?? 2,
      interOpNumThreads: o.interOpThreads ?? 1,
      executionMode: 'sequential',
      graphOptimizationLevel: o.graphOptimization ?? 'all',
      logSeverityLevel: 3,
    };
    if (!o.spinning) opts.extra = { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } };
    try {
      const session = typeof model === 'string' ? await ort.InferenceSession.create(model, opts) : await ort.InferenceSession.create(model, opts);
      if (failures.length && device !== 'auto') log(`halo: device '${device}' unavailable (${failures.join('; ')}); using ${provider}`);
      return { session, provider, inputNames: session.inputNames, outputNames: session.outputNames };
    } catch (e) {
      if (provider === 'cpu') throw e;
      failures.push(`${provider}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(`no execution provider for device '${device}': ${failures.join('; ')}`);
}

const ORT_TYPE: Record<DType, ort.Tensor.Type> = {
  float32: 'float32',
  float64: 'float64',
  int64: 'int64',
  int32: 'int32',
  bool: 'bool',
  uint8: 'uint8',
  int8: 'int8',
  float16: 'float16',
};

export function toOrt(t: Tensor): ort.Tensor {
  return new ort.Tensor(ORT_TYPE[t.dtype], t.data as never, t.shape);
}

export function fromOrt(t: ort.Tensor): Tensor {
  const dtype = (Object.keys(ORT_TYPE) as DType[]).find((k) => ORT_TYPE[k] === t.type);
  if (!dtype) throw new Error(`unsupported ORT output type ${t.type}`);
  let data = t.data as Tensor['data'];
  if (dtype === 'bool' && !(data instanceof Uint8Array)) data = Uint8Array.from(data as unknown as ArrayLike<number>);
  return { dtype, shape: [...t.dims], data };
}

export async function runOrt(s: OrtSession, feeds: Record<string, Tensor>, fetch?: readonly string[]): Promise<Record<string, Tensor>> {
  const f: Record<string, ort.Tensor> = {};
  for (const k of Object.keys(feeds)) f[k] = toOrt(feeds[k]);
  const out = fetch ? await s.session.run(f, fetch as string[]) : await s.session.run(f);
  const r: Record<string, Tensor> = {};
  for (const k of Object.keys(out)) r[k] = fromOrt(out[k]);
  return r;
}

export async function releaseOrt(s: OrtSession): Promise<void> {
  await s.session.release();
}
