// Writes the reward model's training corpus (src/models/reward-corpus.ts) as files: lossless videos
// under DIR/videos/ and sample records on stdout (the recipe of each video under `corruption`, the
// rendered scene under `rendered_prompt` when it differs from the prompt), ready for
// halo-patchify | halo-label --teacher oracle | halo-score fit.
//   node dist/scripts/reward-data.js --n 2000 --split train --seed 1 --out runs/rm/data > runs/rm/samples.jsonl
import path from 'node:path';
import { produceAtomic } from '../src/io/atomic.js';
import { recordPath } from '../src/io/jsonl.js';
import { writeVideo } from '../src/media/video.js';
import { RECIPE, variants, type DataOptions } from '../src/models/reward-corpus.js';
import { formatScene } from '../src/world/grammar.js';
import { RENDERER_NAME } from '../src/world/render.js';
import type { Split } from '../src/world/split.js';

function flag(argv: string[], name: string, dflt?: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const out = flag(argv, 'out');
  if (!out) {
    process.stderr.write('usage: node dist/scripts/reward-data.js --n N --out DIR [--split train|eval] [--seed S] [--per-prompt K] > samples.jsonl\n');
    process.exit(2);
  }
  const o: DataOptions = {
    n: Number(flag(argv, 'n', '1000')),
    split: (flag(argv, 'split', 'train') as Split),
    seed: Number(flag(argv, 'seed', '1')),
    perPrompt: Number(flag(argv, 'per-prompt', '4')),
    dims: { frames: 16, height: 32, width: 32 },
  };
  const fps = 8;
  let count = 0;
  const pending: Promise<void>[] = [];
  const lines: string[] = [];
  for (const { promptId, sampleId, variant } of variants(o)) {
    const file = path.resolve(out, 'videos', `${sampleId}.mp4`);
    const rec: Record<string, unknown> = {
      id: promptId,
      prompt: formatScene(variant.scene),
      split: o.split,
      sample_id: sampleId,
      seed: variant.seed,
      video: recordPath(file, out),
      frames: o.dims.frames,
      height: o.dims.height,
      width: o.dims.width,
      fps,
      model: { name: `${RENDERER_NAME}+${RECIPE}` },
      corruption: variant.corruptions,
    };
    if (variant.rendered !== variant.scene) rec.rendered_prompt = formatScene(variant.rendered);
    lines.push(JSON.stringify(rec));
    pending.push(produceAtomic(file, (tmp) => writeVideo(tmp, { ...o.dims, fps, data: variant.data })));
    if (pending.length >= 4) await Promise.all(pending.splice(0));
    count++;
  }
  await Promise.all(pending);
  process.stdout.write(lines.map((l) => `${l}\n`).join(''));
  process.stderr.write(`reward-data: ${count} videos (${o.split}, seed ${o.seed}) under ${path.join(out, 'videos')}\n`);
}

await main();
