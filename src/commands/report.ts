// halo-report: eval.json in, a static HTML report out (table, training curves, side-by-side videos
// with the oracle's defective patches boxed).
import path from 'node:path';
import type { Argv } from 'yargs';
import type { CommandSpec } from '../cli/command.js';
import { writeReport } from '../halo/report.js';

export const reportCommand: CommandSpec = {
  name: 'report',
  positionals: '<eval>',
  build: (y: Argv) =>
    y
      .positional('eval', { type: 'string', describe: "halo-eval's eval.json" })
      .option('out', { type: 'string', describe: 'output folder (default: report/ next to eval.json)' })
      .option('compare', { type: 'string', describe: 'model shown against the first (default: the last in eval.json)' })
      .option('videos', { type: 'number', default: 4, describe: 'how many (prompt, seed) pairs to show side by side' }),
  run: async (args) => {
    const evalFile = String(args.eval);
    const out = typeof args.out === 'string' ? path.resolve(args.out) : path.join(path.dirname(path.resolve(evalFile)), 'report');
    const r = await writeReport({ evalFile, out, compare: args.compare as string | undefined, videos: Number(args.videos) });
    process.stderr.write(`halo-report: wrote ${path.relative(process.cwd(), r.html)} (${r.videos} videos)\n`);
    process.stdout.write(`${r.html}\n`);
  },
};
