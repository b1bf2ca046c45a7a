// Training checkpoints in safetensors: parameters (`param/<name>`), optimizer state
// (`state/<slot>/<name>`), and in the metadata the step, RNG state, run config and a sha256 content hash
// over every tensor's name, dtype, shape and bytes. Written atomically; the hash is verified on load.

import { createHash } from 'node:crypto';
import { Tensor, tensorBytes } from '../graph/tensor.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';

export const CHECKPOINT_FORMAT = 'halo-checkpoint/1';

export interface Checkpoint {
  params: Record<string, Tensor>;
  state: Record<string, Tensor>; // keyed `${slot}/${param}`
  step: number;
  rng?: string;
  config?: unknown;
  /** Extra string metadata (kept as is). */
  extra?: Record<string, string>;
}

export function contentHash(tensors: Record<string, Tensor>): string {
  const h = createHash('sha256');
  for (const name of Object.keys(tensors).sort()) {
    const t = tensors[name];
    h.update(`${name}\0${t.dtype}\0${t.shape.join(',')}\0`);
    h.update(tensorBytes(t));
  }
  return h.digest('hex');
}

export function saveCheckpoint(file: string, c: Checkpoint): string {
  const tensors: Record<string, Tensor> = {};
  for (const k of Object.keys(c.params)) tensors[`param/${k}`] = c.params[k];
  for (const k of Object.keys(c.state)) tensors[`state/${k}`] = c.state[k];
  const hash = contentHash(tensors);
  const meta: Record<string, string> = { ...(c.extra ?? {}), format: CHECKPOINT_FORMAT, step: String(c.step), content_sha256: hash };
  if (c.rng !== undefined) meta.rng = c.rng;
  if (c.config !== undefined) meta.config = JSON.stringify(c.config);
  writeSafetensors(file, tensors, meta);
  return hash;
}

export function loadCheckpoint(file: string): Checkpoint & { hash: string } {
  const { tensors, metadata } = readSafetensors(file);
  if (metadata.format !== CHECKPOINT_FORMAT) throw new Error(`${file}: not a halo checkpoint (format '${metadata.format ?? 'none'}')`);
  const hash = contentHash(tensors);
  if (hash !== metadata.content_sha256) throw new Error(`${file}: content hash mismatch (file says ${metadata.content_sha256}, data gives ${hash}); the checkpoint is corrupt`);
  const params: Record<string, Tensor> = {};
  const state: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(tensors)) {
    if (k.startsWith('param/')) params[k.slice(6)] = t;
    else if (k.startsWith('state/')) state[k.slice(6)] = t;
  }
  const { format: _f, step, content_sha256: _h, rng, config, ...extra } = metadata;
  return { params, state, step: Number(step), rng, config: config === undefined ? undefined : JSON.parse(config), extra, hash };
}
