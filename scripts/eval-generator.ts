// Oracle quality figures of a generator on held-out prompts (docs/generator.md), and a contact sheet.
//   node dist/scripts/eval-generator.js [--model DIR] [--prompts 32] [--seeds 1] [--steps 25]
//        [--guidance 2] [--sampler ddim] [--sheet FILE.png] [--sheet-rows 12]
// Prompts: the first N one-object scenes of the eval split (seed 0), seeds 0…S−1. Prints one JSON line.
import { parseArgs } from 'node:util';
import { contactSheet, writePng } from '../src/media/image.js';
import { evaluateGenerator } from '../src/models/evaluate.js';
import { Generator } from '../src/models/generator.js';
import { SamplerName } from '../src/models/sampler.js';
import { DEFAULT_MODEL } from '../src/commands/sample.js';
import { generateScenes } from '../src/world/split.js';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string', default: DEFAULT_MODEL },
    prompts: { type: 'string', default: '32' },
    seeds: { type: 'string', default: '1' },
    steps: { type: 'string', default: '25' },
    guidance: { type: 'string', default: '2' },
    sampler: { type: 'string', default: 'ddim' },
    batch: { type: 'string', default: '16' },
    sheet: { type: 'string' },
    'sheet-rows': { type: 'string', default: '12' },
  },
});
const gen = await Generator.load(a.model!, { batch: Number(a.batch) });
const scenes = generateScenes({ n: Number(a.prompts), seed: 0, split: 'eval', objects: 1 });
const seeds = Array.from({ length: Number(a.seeds) }, (_, i) => i);
const settings = { name: a.sampler as SamplerName, steps: Number(a.steps), guidance: Number(a.guidance) };
const { figures, clips } = await evaluateGenerator(gen, scenes, seeds, settings, Number(a.batch), (d, n) => process.stderr.write(`\reval: ${d}/${n} videos`));
process.stderr.write('\n');
console.log(JSON.stringify({ model: gen.name, sha256: gen.sha256.slice(0, 16), sampler: settings, ...figures }));
if (a.sheet) {
  await writePng(a.sheet, contactSheet(clips.slice(0, Number(a['sheet-rows'])), { columns: 16, scale: 3, gap: 3 }));
  process.stderr.write(`eval: contact sheet ${a.sheet} (${Math.min(clips.length, Number(a['sheet-rows']))} videos, 16 frames each; prompts: \n${clips.slice(0, Number(a['sheet-rows'])).map((c, i) => `  ${i + 1}. ${c.prompt} (seed ${c.seed})`).join('\n')})\n`);
}
await gen.close();
