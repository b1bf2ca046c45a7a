// Loading a reward model folder's manifest (DESIGN.md §5; the `reward` fields are declared in
// src/models/manifest.ts). In: a folder path. Out: the manifest and its RewardSpec, or an error naming
// the manifest file and field (wrong kind, missing network file or weights, missing roles).
//
// A reward network is either the built-in halo-tiny-rm (architecture + config, weights in the
// folder's safetensors file) or any ONNX file with roles
//   inputs  {video: float32 [batch, T, H, W, 3] RGB in [0, 1]; ids: int64 [batch, max_length]}
//   outputs {video: float32 [batch, K]; patch: float32 [batch, N, K]}
// K = keys.length (score keys in output order), N = grid[0]·grid[1]·grid[2] patches in patch order.
// A numeric batch dimension is fixed (the scorer pads the last batch); a name ("batch") is free.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { HaloError } from '../cli/errors.js';
import { BuiltinPart, OnnxPart, isOnnxPart, loadManifest, type LoadedManifest, type RewardManifest, type RewardSpec } from './manifest.js';

export interface LoadedRewardManifest extends LoadedManifest<RewardManifest> {
  reward: RewardSpec;
}

/** Read DIR/manifest.json, check it is a reward model, validate its `reward` branch and files. */
export async function loadRewardManifest(dir: string): Promise<LoadedRewardManifest> {
  const loaded = await loadManifest(dir);
  const m = loaded.manifest;
  if (m.kind !== 'reward') {
    throw new HaloError(`${loaded.file}: kind: expected "reward" (a reward model folder), got "${m.kind}" (a ${m.kind === 't2v' ? 'text-to-video generator' : 'model'} folder); pass a reward model to --model`);
  }
  const spec = m.reward;
  if (isOnnxPart(spec.network)) {
    for (const role of ['video', 'ids']) if (!spec.network.inputs[role]) throw new HaloError(`${loaded.file}: reward.network.inputs.${role}: missing (an ONNX reward network takes inputs 'video' and 'ids')`);
    for (const role of ['video', 'patch']) if (!spec.network.outputs[role]) throw new HaloError(`${loaded.file}: reward.network.outputs.${role}: missing (an ONNX reward network gives outputs 'video' and 'patch')`);
    try {
      await stat(path.resolve(loaded.dir, spec.network.file));
    } catch {
      throw new HaloError(`${loaded.file}: reward.network.file: file '${spec.network.file}' not found in ${dir}`);
    }
  } else if (!m.weights) {
    throw new HaloError(`${loaded.file}: weights: the built-in reward network '${spec.network.architecture}' needs a weights file`);
  }
  return { ...(loaded as LoadedManifest<RewardManifest>), reward: spec };
}

export type { BuiltinPart, OnnxPart, RewardSpec };
