// halo-score: score videos with a reward model (video and per-patch scores per aspect), or fit one.
//   halo-score [inputs..]          sample/patchified records (or video files) in, score records out
//   halo-score fit --stage video   fit the built-in reward model on video labels
//   halo-score fit --stage patch   continue on patch labels, the video head held to stage 1
// (docs/reward-model.md). Flags here; the work is in src/models/reward-*.ts.
import path from 'node:path';
import type { Argv } from 'yargs';
import type { CommandSpec } from '../cli/command.js';
import { UsageError } from '../cli/errors.js';
import { inputsOf, readOptions, recordOptions, verboseLog } from '../cli/options.js';
import { parseTriple } from '../halo/patches.js';
import { RecordWriter } from '../io/jsonl.js';
import { DEVICES, type Device } from '../runtime/ort.js';
import { WORDS } from '../world/grammar.js';
import { SCORE_KEYS } from '../records/aspects.js';
import { loadLabelled } from '../models/reward-data.js';
import { DEFAULT_LOSS_WEIGHTS, checkArch, type RewardArch } from '../models/reward-graph.js';
import { BUILTIN_MODEL_DIR, loadRewardModel, type RewardModel } from '../models/reward-model.js';
import { scoreRun } from '../models/reward-score.js';
import { scoreTable, type TableRow } from '../models/reward-table.js';
import { DEFAULT_SETTINGS, fitReward, SELECTIONS, type Selection, type Stage, type TrainSettings } from '../models/reward-train.js';
import { Tokenizer } from '../models/tokenizer.js';

const say = (m: string) => process.stderr.write(`halo-score: ${m}\n`);

function posInt(v: unknown, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag}: expected a positive integer, got '${String(v)}'`);
  return n;
}

function posNum(v: unknown, flag: string, allowZero = false): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) throw new UsageError(`${flag}: expected a ${allowZero ? 'non-negative' : 'positive'} number, got '${String(v)}'`);
  return n;
}

function scoreFlags(y: Argv): Argv {
  return recordOptions(
    y
      .usage(
        'halo-score [inputs..] [--model DIR]\n\nScore videos with a reward model: video and per-patch scores per aspect (1–4).\nInputs: JSONL files of sample or patchified records (none or - = stdin), or video files\n(any ffmpeg-readable video; resampled to the model\'s frames and size).\n\nhalo-score fit --stage video|patch: fit the built-in reward model (halo-score fit --help).',
      )
      .positional('inputs', { type: 'string', array: true, describe: 'record files, or video files' })
      .option('model', { type: 'string', default: BUILTIN_MODEL_DIR, defaultDescription: 'fixtures/models/halo-tiny-rm', describe: 'reward model folder (manifest.json; docs/reward-model.md)' })
      .option('prompt', { type: 'string', describe: 'prompt for video files named on the command line (default: the file name)' })
      .option('table', { type: 'boolean', default: false, describe: 'print a human-readable summary instead of records' })
      .option('batch', { type: 'number', default: 16, describe: 'videos per scoring call' })
      .option('device', { choices: DEVICES, default: 'cpu' as Device, describe: 'execution provider (falls back to cpu, saying so)' })
      .option('overlay', { type: 'string', describe: 'folder for a copy of each video with its low-scoring patches boxed in red (.mp4) and a heatmap of patch scores (.png)' })
      .option('threshold', { type: 'number', default: 2.5, describe: 'patches scoring below this are boxed (--overlay) and counted (--table)' })
      .option('key', { type: 'string', default: 'overall', describe: 'the score that --overlay and --table rank patches by' })
      .option('output', { alias: 'o', type: 'string', describe: 'append records to this file instead of stdout; a re-run resumes, skipping videos already scored there' })
      .option('jobs', { alias: 'j', type: 'number', default: 2, describe: 'videos decoded at once' }),
  );
}

async function runScore(args: Record<string, unknown>): Promise<void> {
  const batch = posInt(args.batch, '--batch');
  const jobs = posInt(args.jobs, '--jobs');
  const threshold = Number(args.threshold);
  if (!Number.isFinite(threshold)) throw new UsageError(`--threshold: expected a number, got '${String(args.threshold)}'`);
  const log = verboseLog(args, 'score');
  const model = await loadRewardModel(String(args.model), { device: args.device as Device, batch });
  log(`model ${model.id} (${model.dir}, stage ${model.stage}) on ${model.provider}`);
  if (model.stage === 'video') say(`warning: ${model.dir} is a stage-1 (video) model: its patch scores are untrained`);
  const key = String(args.key);
  if (!model.keys.includes(key)) throw new UsageError(`--key: the model scores ${model.keys.join(', ')}; got '${key}'`);
  const writer = new RecordWriter();
  const rows: TableRow[] = [];
  const table = Boolean(args.table);
  const tty = process.stderr.isTTY;
  const t0 = performance.now();
  try {
    const r = await scoreRun(
      inputsOf(args),
      {
        model,
        batch,
        prompt: typeof args.prompt === 'string' ? args.prompt : undefined,
        overlay: typeof args.overlay === 'string' ? args.overlay : undefined,
        threshold,
        overlayKey: key,
        output: typeof args.output === 'string' ? path.resolve(args.output) : undefined,
        force: Boolean(args.force),
        read: readOptions(args),
        jobs,
        log,
        warn: (m) => say(`warning: ${m}`),
        progress: tty ? (n, skipped) => process.stderr.write(`\rhalo-score: ${n} videos scored${skipped ? `, ${skipped} already done` : ''} (${(n / ((performance.now() - t0) / 1000)).toFixed(1)}/s)   `) : undefined,
      },
      async (rec) => {
        if (!table) return writer.write(rec);
        const s = rec.scores as { video: Record<string, number>; patch?: Record<string, number[]>; resampled?: string };
        rows.push({ name: String(rec.sample_id), video: s.video, patch: s.patch, grid: model.grid, resampled: s.resampled });
      },
    );
    if (tty) process.stderr.write('\n');
    if (table) process.stdout.write(scoreTable(rows, model.keys, key, threshold));
    say(`${r.scored} videos scored by ${model.id}${r.skipped ? `, ${r.skipped} already scored (skipped)` : ''} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    await model.release();
  }
}

function fitFlags(y: Argv): Argv {
  const d = DEFAULT_SETTINGS;
  return y
    .usage(
      'halo-score fit --stage video|patch [labels..] --out DIR\n\nFit the built-in reward model (halo-tiny-rm) on label records (halo-label output; none or - = stdin).\nStage video trains on video labels; stage patch continues from a stage-1 model (--init) on patch labels,\nholding the video head to stage 1\'s outputs. DIR becomes a model folder for halo-score --model DIR,\nwith its training log (train.jsonl); an interrupted fit resumes from DIR\'s checkpoint.',
    )
    .positional('labels', { type: 'string', array: true, describe: 'JSONL files of label records' })
    .option('stage', { choices: ['video', 'patch'] as const, demandOption: true, describe: 'video: fit on video labels; patch: continue from --init on patch labels' })
    .option('out', { type: 'string', demandOption: true, describe: 'model folder to write' })
    .option('init', { type: 'string', describe: 'model folder to start from (required for --stage patch: the stage-1 model)' })
    .option('videos', { type: 'string', describe: 'sample records to take the videos from, matched to the labels by sample_id' })
    .option('steps', { type: 'number', default: d.steps, describe: 'most optimizer steps (early stopping may end sooner)' })
    .option('batch', { type: 'number', default: d.batch, describe: 'videos per step' })
    .option('lr', { type: 'number', default: d.lr, describe: 'peak learning rate (AdamW; warm-up then cosine to 10%)' })
    .option('warmup', { type: 'number', default: d.warmup, describe: 'warm-up steps' })
    .option('weight-decay', { type: 'number', default: d.weightDecay, describe: 'AdamW weight decay' })
    .option('eval-every', { type: 'number', default: d.evalEvery, describe: 'validate and checkpoint every N steps' })
    .option('patience', { type: 'number', default: d.patience, describe: 'stop after N validations without improvement' })
    .option('select', { choices: SELECTIONS, default: 'loss' as Selection, describe: 'what keeps the best weights and stops early: validation loss, or validation Spearman of overall (video or patch level)' })
    .option('val-fraction', { type: 'number', default: d.valFraction, describe: 'share of prompts held out for validation' })
    .option('seed', { type: 'number', default: d.seed, describe: 'seed of initialisation, batches and the split' })
    .option('augment', { type: 'boolean', default: DEFAULT_SETTINGS.augment, describe: 'mirror half of each batch left-right, swapping left/right in the prompt (--no-augment to turn off)' })
    .option('distill', { type: 'number', default: DEFAULT_LOSS_WEIGHTS.distill, describe: 'stage patch: weight of holding the video head to stage 1' })
    .option('video-weight', { type: 'number', default: DEFAULT_LOSS_WEIGHTS.video, describe: 'stage patch: weight of the video-label loss' })
    .option('tie', { type: 'number', default: DEFAULT_LOSS_WEIGHTS.tie, describe: 'stage patch: weight of tying mean patch score to stage 1\'s video score' })
    .option('rank', { type: 'number', default: 0, describe: 'both stages: weight of the within-prompt term (order a prompt\'s videos as the labels do); above 0, batches are made of whole prompts (4 videos each)' })
    .group(['steps', 'batch', 'lr', 'warmup', 'weight-decay', 'eval-every', 'patience', 'select', 'val-fraction', 'seed', 'augment', 'distill', 'video-weight', 'tie', 'rank'], 'Training:')
    .option('shape', { type: 'string', default: '16,32,32', describe: 'stage video: frames,height,width the model takes' })
    .option('grid', { type: 'string', default: '4,4,4', describe: 'stage video: patch grid T,H,W (one token per patch)' })
    .option('fps', { type: 'number', default: 8, describe: 'stage video: nominal frame rate (recorded in the manifest)' })
    .option('dim', { type: 'number', default: 64, describe: 'stage video: transformer width' })
    .option('depth', { type: 'number', default: 2, describe: 'stage video: transformer blocks' })
    .option('heads', { type: 'number', default: 4, describe: 'stage video: attention heads' })
    .option('mlp', { type: 'number', default: 256, describe: 'stage video: MLP width' })
    .option('embed-hidden', { type: 'number', default: 128, describe: 'stage video: hidden width of a two-layer patch embedding (0: linear)' })
    .option('max-words', { type: 'number', default: 32, describe: 'stage video: prompt length in tokens' })
    .option('name', { type: 'string', default: 'halo-tiny-rm', describe: 'model name (scores carry name@weights-hash)' })
    .group(['shape', 'grid', 'fps', 'dim', 'depth', 'heads', 'mlp', 'embed-hidden', 'max-words', 'name'], 'Model (stage video without --init):')
    .option('device', { choices: DEVICES, default: 'cpu' as Device, describe: 'execution provider' })
    .option('jobs', { alias: 'j', type: 'number', default: 2, describe: 'videos decoded at once' })
    .option('force', { type: 'boolean', default: false, describe: 'start over, replacing what --out holds' })
    .option('skip-invalid', { type: 'boolean', default: false, describe: 'warn about a bad record and go on' })
    .option('verbose', { type: 'boolean', default: false, describe: 'say more on stderr' });
}

async function runFit(args: Record<string, unknown>): Promise<void> {
  const stage = args.stage as Stage;
  const settings: TrainSettings = {
    steps: posInt(args.steps, '--steps'),
    batch: posInt(args.batch, '--batch'),
    lr: posNum(args.lr, '--lr'),
    warmup: Math.floor(posNum(args.warmup, '--warmup', true)),
    weightDecay: posNum(args['weight-decay'], '--weight-decay', true),
    clip: DEFAULT_SETTINGS.clip,
    evalEvery: posInt(args['eval-every'], '--eval-every'),
    patience: posInt(args.patience, '--patience'),
    select: args.select as Selection,
    valFraction: posNum(args['val-fraction'], '--val-fraction'),
    seed: Math.floor(posNum(args.seed, '--seed', true)),
    augment: Boolean(args.augment),
    loss: { distill: posNum(args.distill, '--distill', true), video: posNum(args['video-weight'], '--video-weight', true), tie: posNum(args.tie, '--tie', true), rank: posNum(args.rank, '--rank', true) },
  };
  if (settings.valFraction >= 1) throw new UsageError(`--val-fraction: expected a number between 0 and 1, got ${settings.valFraction}`);
  if (settings.select === 'patch' && stage !== 'patch') throw new UsageError('--select patch: stage video has no patch scores to validate; use --select video or loss');
  if (stage === 'patch' && typeof args.init !== 'string') throw new UsageError('--stage patch continues from the stage-1 model: give --init DIR (the --out of `fit --stage video`)');
  const device = args.device as Device;
  const init = typeof args.init === 'string' ? await loadRewardModel(args.init, { device }) : undefined;
  try {
    await fit(args, stage, settings, device, init);
  } finally {
    await init?.release();
  }
}

async function fit(args: Record<string, unknown>, stage: Stage, settings: TrainSettings, device: Device, init: RewardModel | undefined): Promise<void> {
  const out = String(args.out);
  let arch: RewardArch;
  let tokenizer: Tokenizer;
  let fps: number;
  if (init) {
    if (!init.arch) throw new UsageError(`--init ${args.init}: fitting continues only from a built-in halo-tiny-rm model; this one is an ONNX network`);
    arch = init.arch;
    tokenizer = init.tokenizer;
    fps = init.shape.fps;
  } else {
    const [frames, height, width] = parseTriple(String(args.shape), '--shape');
    tokenizer = Tokenizer.fromWords(WORDS, posInt(args['max-words'], '--max-words'));
    arch = {
      frames,
      height,
      width,
      grid: parseTriple(String(args.grid), '--grid'),
      dim: posInt(args.dim, '--dim'),
      depth: posInt(args.depth, '--depth'),
      heads: posInt(args.heads, '--heads'),
      mlp: posInt(args.mlp, '--mlp'),
      embedHidden: Math.floor(posNum(args['embed-hidden'], '--embed-hidden', true)),
      vocab: tokenizer.vocabSize,
      maxWords: tokenizer.maxLength,
      keys: [...SCORE_KEYS],
    };
    fps = posNum(args.fps, '--fps');
    try {
      checkArch(arch);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const verbose = verboseLog(args, 'score');
  const t0 = performance.now();
  const data = await loadLabelled(inputsOf({ inputs: args.labels }), {
    shape: arch,
    grid: arch.grid,
    keys: arch.keys,
    tokenizer,
    videos: typeof args.videos === 'string' ? args.videos : undefined,
    read: readOptions(args),
    concurrency: posInt(args.jobs, '--jobs'),
    onVideo: (n) => {
      if (n % 200 === 0) verbose(`${n} videos read`);
    },
  });
  const resampled = data.examples.filter((e) => e.resampled).length;
  say(`${data.examples.length} labelled videos (${data.withPatches} with patch labels) read in ${((performance.now() - t0) / 1000).toFixed(1)} s${resampled ? `; ${resampled} resampled to ${arch.frames}×${arch.height}×${arch.width}` : ''}`);
  {
    const r = await fitReward({
      stage,
      data,
      out,
      init,
      arch,
      tokenizer: tokenizer.spec,
      name: init ? init.name : String(args.name),
      fps,
      settings,
      force: Boolean(args.force),
      device,
      command: ['halo-score', ...process.argv.slice(2)].join(' '),
      log: say,
      progress: (p) => {
        if (p.valLoss !== undefined) say(`step ${p.step}/${p.total}: loss ${p.loss.toFixed(4)}, validation ${p.valLoss.toFixed(4)} (best at step ${p.bestStep})`);
      },
    });
    const summary = {
      model: path.resolve(r.out),
      stage,
      status: r.status,
      steps: r.steps,
      best_step: r.bestStep,
      stopped_early: r.stoppedEarly,
      videos: { train: r.trainVideos, validation: r.valVideos },
      validation: r.val,
    };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    say(`${r.status === 'skipped' ? 'already fitted' : 'fitted'}: ${r.out} (best step ${r.bestStep}; validation Spearman overall: video ${r.val?.videoSpearman?.toFixed(3) ?? '—'}${stage === 'patch' ? `, patch ${r.val?.patchSpearman?.toFixed(3) ?? '—'}` : ''})`);
  }
}

export const scoreCommand: CommandSpec = {
  name: 'score',
  build: (y: Argv) =>
    y
      .command('$0 [inputs..]', 'score records or video files (the default)', scoreFlags, (args) => runScore(args as Record<string, unknown>))
      .command('fit [labels..]', 'fit the built-in reward model: --stage video, then --stage patch', fitFlags, (args) => runFit(args as Record<string, unknown>)),
};
