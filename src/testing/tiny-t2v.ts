// Test helper: a tiny randomly initialised built-in generator folder (4 frames of 16×16, a 2-layer
// DiT of width 32) written with the generator's own exportModel, so that commands that train or
// sample can be tested in seconds without the shipped weights.
import { GraphBuilder } from '../graph/builder.js';
import { initParams } from '../graph/init.js';
import { exportModel } from '../models/pretrain.js';
import { DEFAULT_SCHEDULE } from '../models/schedule.js';
import { buildT2V, videoShape, type T2VConfig } from '../models/t2v.js';
import { Tokenizer } from '../models/tokenizer.js';
import { WORDS } from '../world/grammar.js';

export const TINY_VIDEO = { frames: 4, height: 16, width: 16, fps: 8 };

export async function writeTinyT2V(dir: string, seed = 0): Promise<T2VConfig> {
  const tokenizer = Tokenizer.fromWords(WORDS, 24);
  const config: T2VConfig = {
    video: TINY_VIDEO,
    text: { vocab: tokenizer.vocabSize, length: tokenizer.maxLength, width: 32, heads: 2, layers: 1 },
    denoiser: { architecture: 'dit', patch: [2, 8, 8], width: 32, depth: 2, heads: 2, mlp: 64 },
    schedule: DEFAULT_SCHEDULE,
  };
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', [1, ...videoShape(config)]);
  const t = g.input('t', 'float32', [1]);
  const ids = g.input('ids', 'int64', [1, tokenizer.maxLength]);
  buildT2V(g, '', { x, t, ids }, config);
  const params = initParams(g.graph.params.values(), seed);
  await exportModel(dir, config, tokenizer, params, { made_by: 'src/testing/tiny-t2v.ts (random init, for tests)' });
  return config;
}
