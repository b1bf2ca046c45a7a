// Test helper: a tiny randomly initialised built-in generator folder (4 frames of 16×16, a 2-layer
// DiT of width 32 that cross-attends to the words, like the shipped design) written with the generator's own exportModel, so that commands that train or
// sample can be tested in seconds without the shipped weights. By default the DiT's adaLN-zero gates
// and output layer start at zero as in pretraining, so its blocks do nothing yet; `open` draws those
// zero-initialised parameters from N(0, 0.05²) instead, so that every block acts (and gets a gradient),
// as in a trained model.
import { GraphBuilder } from '../graph/builder.js';
import { initParams } from '../graph/init.js';
import { exportModel } from '../models/pretrain.js';
import { DEFAULT_SCHEDULE } from '../models/schedule.js';
import { buildT2V, t2vInputs, type T2VConfig } from '../models/t2v.js';
import { Tokenizer } from '../models/tokenizer.js';
import { WORDS } from '../world/grammar.js';

export const TINY_VIDEO = { frames: 4, height: 16, width: 16, fps: 8 };

/** The tiny model's config and tokenizer. */
export function tinyT2V(): { config: T2VConfig; tokenizer: Tokenizer } {
  const tokenizer = Tokenizer.fromWords(WORDS, 24);
  const config: T2VConfig = {
    video: TINY_VIDEO,
    text: { vocab: tokenizer.vocabSize, length: tokenizer.maxLength, width: 32, heads: 2, layers: 1, pooling: 'mean', words: true },
    denoiser: { architecture: 'dit', patch: [2, 8, 8], width: 32, depth: 2, heads: 2, mlp: 64, positions: 'sincos', textWords: tokenizer.maxLength },
    schedule: DEFAULT_SCHEDULE,
  };
  return { config, tokenizer };
}

export async function writeTinyT2V(dir: string, seed = 0, o: { open?: boolean } = {}): Promise<T2VConfig> {
  const { config, tokenizer } = tinyT2V();
  const g = new GraphBuilder();
  buildT2V(g, '', t2vInputs(g, config, 1), config);
  const infos = [...g.graph.params.values()].map((p) => (o.open && p.init === 'zeros' ? { ...p, init: { normal: 0.05 } } : p));
  const params = initParams(infos, seed);
  await exportModel(dir, config, tokenizer, params, { made_by: 'src/testing/tiny-t2v.ts (random init, for tests)' });
  return config;
}
