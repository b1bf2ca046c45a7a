// halo-pairs: scored (or labelled) samples in, preference pair records out (DESIGN.md §6).
// Flags choose the pairing strategy, the score that ranks videos, the patch tie threshold and
// the patch weights; --export also writes the pairs in the layout PyTorch DPO trainers read.
import path from 'node:path';
import type { Argv } from 'yargs';
import type { CommandSpec } from '../cli/command.js';
import { DataError } from '../cli/errors.js';
import { inputsOf } from '../cli/options.js';
import { RecordWriter, readRecords } from '../io/jsonl.js';
import { PairStats, pairsForPrompt, parseBy, scoreSample, type PairOptions, type ScoredSample } from '../halo/pairs.js';
import { exportPairsForTorch } from '../halo/pairs-export.js';
import type { PairRecord } from '../records/schemas.js';
import { RewardedRecord } from '../records/schemas.js';

export const pairsCommand: CommandSpec = {
  name: 'pairs',
  build: (y: Argv) =>
    y
      .positional('inputs', { type: 'string', array: true, describe: 'score or label record files (default: stdin); grouped by prompt id' })
      .option('strategy', { choices: ['best-worst', 'all', 'top-k'] as const, default: 'best-worst', describe: 'which pairs to make per prompt' })
      .option('min-margin', { type: 'number', default: 0, describe: 'only pairs whose video score margin exceeds this' })
      .option('k', { type: 'number', default: 2, describe: 'pairs per prompt with --strategy top-k (largest margins)' })
      .option('by', { type: 'string', default: 'overall', describe: "score that ranks videos and patches: 'overall', an aspect, or a weighted sum 'a=0.7,b=0.3'" })
      .option('from', { choices: ['auto', 'scores', 'labels'] as const, default: 'auto', describe: 'rank by reward-model scores or teacher labels (auto: scores when present)' })
      .option('tau', { type: 'number', default: 0.1, describe: 'patch tie threshold: |patch gap| <= tau gives s_p = 0' })
      .option('weights', { choices: ['none', 'gap', 'sigmoid'] as const, default: 'gap', describe: 'patch weights a_p: 1, |gap|, or sigmoid((|gap|-tau)/temp)' })
      .option('temp', { type: 'number', default: 0.25, describe: 'temperature of --weights sigmoid' })
      .option('export', { type: 'string', describe: 'also write the pairs for PyTorch DPO trainers to this folder (docs/pairs.md)' })
      .option('skip-invalid', { type: 'boolean', default: false, describe: 'warn about a bad record and go on' })
      .check((a) => {
        if (!(Number(a.k) >= 1) || !Number.isInteger(a.k)) throw new Error('-k must be a positive integer');
        if (!(Number(a.tau) >= 0)) throw new Error('--tau must be >= 0');
        if (!(Number(a.temp) > 0)) throw new Error('--temp must be > 0');
        return true;
      }),
  run: async (args) => {
    const options: PairOptions = {
      strategy: args.strategy as PairOptions['strategy'],
      minMargin: Number(args['min-margin']),
      k: Number(args.k),
      tau: Number(args.tau),
      weights: args.weights as PairOptions['weights'],
      temp: Number(args.temp),
      by: parseBy(String(args.by)),
      from: args.from as PairOptions['from'],
    };
    const groups = new Map<string, ScoredSample[]>();
    for await (const { record, place } of readRecords(inputsOf(args), RewardedRecord, { skipInvalid: Boolean(args['skip-invalid']) })) {
      const sample = scoreSample(record, place, options);
      const group = groups.get(record.id);
      if (group && group[0]!.record.prompt !== record.prompt) {
        throw new DataError(place, 'prompt', `prompt id '${record.id}' was first seen (${group[0]!.place.source}:${group[0]!.place.line}) with another prompt text`);
      }
      if (group) group.push(sample);
      else groups.set(record.id, [sample]);
    }
    const stats = new PairStats();
    const out = new RecordWriter();
    const all: PairRecord[] = [];
    for (const samples of groups.values()) {
      for (const pair of pairsForPrompt(samples, options, stats)) {
        await out.write(pair);
        if (args.export) all.push(pair);
      }
    }
    if (typeof args.export === 'string') {
      const files = await exportPairsForTorch(all, path.resolve(args.export));
      process.stderr.write(`halo-pairs: exported ${all.length} pairs for PyTorch to ${files.join(', ')}\n`);
    }
    for (const line of stats.lines()) process.stderr.write(`halo-pairs: ${line}\n`);
  },
};
