// halo-eval's run: sample held-out prompts with the same seeds from several generator folders, judge
// every video and patch with the oracle, score them with the reward model, and summarise per model:
// the patch defect rate (share of patches with any aspect under the oracle's DEFECT_THRESHOLD), mean
// video scores per aspect, win rate against the first model (base) on the same (prompt, seed), and
// the reward model's agreement with the oracle. In: prompt records, model folders, settings.
// Out: OUT/<model>/videos, OUT/<model>/samples.jsonl (samples with oracle labels and reward
// scores), OUT/eval.json.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DataError, HaloError, UsageError, type Place } from '../cli/errors.js';
import { ensureDir, writeFileAtomic } from '../io/atomic.js';
import { readRecords, resolveMedia, type ReadOptions } from '../io/jsonl.js';
import { rebaseMedia } from '../io/rebase.js';
import { readVideo } from '../media/video.js';
import { Generator } from '../models/generator.js';
import { loadRewardModel, scoreVideos, type RewardModel } from '../models/reward-model.js';
import { planJobs, runJobs } from '../models/sample-run.js';
import type { SamplerSettings } from '../models/sampler.js';
import { ASPECTS, SCORE_KEYS } from '../records/aspects.js';
import type { EvalResult, ModelEval } from '../records/eval.js';
import { PromptRecord, type SampleRecord } from '../records/schemas.js';
import type { Device } from '../runtime/ort.js';
import { DEFECT_THRESHOLD, ORACLE_VERSION, isDefective, judgeVideo } from '../teachers/oracle-judge.js';
import { parsePrompt, type Scene } from '../world/grammar.js';
import { agreement, type ScoreSide } from './agreement.js';
import { DEFAULT_GRID, patchLayout } from './patches.js';
import { TRAIN_LOG } from './dpo.js';

export interface EvalModel {
  name: string;
  dir: string;
}

export interface EvalOptions {
  inputs: string[];
  read: ReadOptions;
  models: EvalModel[];
  out: string;
  outFlag: string;
  seed: number;
  perPrompt: number;
  /** Sampler settings; missing fields come from each model's manifest. */
  sampler: Partial<SamplerSettings>;
  batch: number;
  device: Device;
  threads: number;
  rewardModel: string | null;
  force: boolean;
  log: (m: string) => void;
}

/** Parse `--model NAME=DIR` (or a bare DIR, named after its folder). */
export function parseModelFlag(text: string): EvalModel {
  const eq = text.indexOf('=');
  const name = eq > 0 ? text.slice(0, eq) : path.basename(path.resolve(text));
  const dir = eq > 0 ? text.slice(eq + 1) : text;
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new UsageError(`--model: the name '${name}' must be letters, digits, '.', '_' or '-' (it names a folder)`);
  if (!dir) throw new UsageError(`--model ${text}: expected NAME=DIR`);
  return { name, dir };
}

interface Judged {
  record: SampleRecord & Record<string, unknown>;
  overall: number;
  defective: number;
  patches: number;
  oracle: ScoreSide;
  rm?: ScoreSide;
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
const round = (x: number, d = 4) => Math.round(x * 10 ** d) / 10 ** d;

async function judgeSample(rec: SampleRecord, scene: Scene): Promise<{ judged: Omit<Judged, 'rm'>; labels: Record<string, unknown> }> {
  const video = await readVideo(resolveMedia(rec.video, process.cwd()));
  const layout = patchLayout([video.frames, video.height, video.width], { grid: DEFAULT_GRID });
  const j = judgeVideo(scene, video, layout.boxes);
  let defective = 0;
  const n = layout.boxes.length;
  for (let i = 0; i < n; i++) {
    if (isDefective(Object.fromEntries(ASPECTS.map((a) => [a, j.patch[a][i]])))) defective++;
  }
  const labels = { source: { teacher: 'oracle', version: ORACLE_VERSION }, video: j.video, patch: j.patch, grid: layout.grid, facts: j.facts };
  return {
    judged: { record: rec as Judged['record'], overall: j.video.overall, defective, patches: n, oracle: { id: rec.sample_id, video: j.video, patch: j.patch } },
    labels,
  };
}

/** Evaluate every model; returns the result written to OUT/eval.json. */
export async function runEval(o: EvalOptions): Promise<EvalResult> {
  if (o.models.length === 0) throw new UsageError('give at least one --model NAME=DIR (the first is the baseline)');
  const names = new Set<string>();
  for (const m of o.models) {
    if (names.has(m.name)) throw new UsageError(`--model: the name '${m.name}' is given twice`);
    names.add(m.name);
  }
  const t0 = performance.now();
  const prompts: { record: PromptRecord; place: Place }[] = [];
  const scenes = new Map<string, Scene>();
  for await (const r of readRecords(o.inputs, PromptRecord, o.read)) {
    try {
      scenes.set(r.record.prompt, parsePrompt(r.record.prompt));
    } catch (e) {
      throw new DataError(r.place, 'prompt', `${(e as Error).message} (halo-eval judges with the shapes-world oracle, which only reads the world's prompts)`);
    }
    prompts.push(r);
  }
  if (prompts.length === 0) throw new HaloError('no prompts to evaluate (the input was empty)');
  let rm: RewardModel | undefined;
  if (o.rewardModel) rm = await loadRewardModel(o.rewardModel, { device: o.device, threads: o.threads, batch: 16 });
  await ensureDir(o.out);
  const evals: ModelEval[] = [];
  const byModel: Map<string, Judged>[] = [];
  let sampler: SamplerSettings | undefined;
  try {
    for (const m of o.models) {
      const gen = await Generator.load(m.dir, { device: o.device, threads: o.threads, batch: o.batch });
      const dir = path.join(o.out, m.name);
      const dflt = gen.manifest.sampler ?? { name: 'ddim' as const, steps: 25, guidance: 2 };
      const settings: SamplerSettings = { name: o.sampler.name ?? dflt.name, steps: o.sampler.steps ?? dflt.steps, guidance: o.sampler.guidance ?? dflt.guidance };
      sampler ??= settings;
      const run = { out: dir, outFlag: path.join(o.outFlag, m.name), seed: o.seed, perPrompt: o.perPrompt, settings, batch: o.batch, force: o.force };
      const jobs = planJobs(prompts, gen, run);
      o.log(`${m.name}: sampling ${jobs.length} videos from ${m.dir} (${gen.name}, ${settings.name} ${settings.steps} steps, guidance ${settings.guidance})`);
      const samples: SampleRecord[] = [];
      try {
        for await (const rec of runJobs(jobs, gen, run)) samples.push(rec);
      } finally {
        await gen.close();
      }
      const judged = new Map<string, Judged>();
      const lines: string[] = [];
      const scored = rm ? await scoreVideos(rm, samples.map((s) => ({ video: resolveMedia(s.video, process.cwd()), prompt: s.prompt }))) : [];
      for (let i = 0; i < samples.length; i++) {
        const s = samples[i]!;
        const { judged: j, labels } = await judgeSample(s, scenes.get(s.prompt)!);
        const sc = scored[i];
        const rec: Record<string, unknown> = { ...s, labels };
        if (sc) rec.scores = { model: rm!.id, video: sc.video, patch: sc.patch };
        judged.set(`${s.id}/${s.seed}`, { ...j, record: rec as Judged['record'], rm: sc ? { id: s.sample_id, video: sc.video, patch: sc.patch } : undefined });
        // paths in a record file are relative to its folder
        lines.push(JSON.stringify(rebaseMedia(rec, process.cwd(), dir)));
      }
      const samplesFile = path.join(dir, 'samples.jsonl');
      await writeFileAtomic(samplesFile, lines.join('\n') + '\n');
      byModel.push(judged);
      const all = [...judged.values()];
      const videoScores: Record<string, number> = {};
      for (const k of SCORE_KEYS) videoScores[k] = round(mean(all.map((j) => (j.oracle.video[k] as number) ?? Number.NaN)));
      const defects = all.reduce((a, j) => a + j.defective, 0);
      const patches = all.reduce((a, j) => a + j.patches, 0);
      let rmAgreement: ModelEval['rm_agreement'] = null;
      if (rm) {
        const ag = agreement(all.map((j) => j.oracle), all.map((j) => j.rm!));
        const pick = (s: { spearman: number | null; kendall: number | null; n: number } | undefined) => ({ spearman: s?.spearman ?? null, kendall: s?.kendall ?? null, n: s?.n ?? 0 });
        rmAgreement = { video: pick(ag.video.overall), patch: pick(ag.patch.overall) };
      }
      const log = path.join(m.dir, TRAIN_LOG);
      evals.push({
        name: m.name,
        dir: m.dir,
        sha256: all[0]?.record.model?.sha256,
        samples: path.relative(o.out, samplesFile),
        videos: all.length,
        patch_defect_rate: round(defects / Math.max(patches, 1)),
        defects_removed: null,
        video_scores: videoScores,
        win_rate: null,
        rm_agreement: rmAgreement,
        training_log: existsSync(log) ? path.resolve(log) : null,
      });
      o.log(`${m.name}: defect rate ${(100 * defects / Math.max(patches, 1)).toFixed(1)}%, overall ${videoScores.overall}`);
    }
  } finally {
    await rm?.release();
  }
  // comparisons against the first model
  const base = evals[0]!;
  const baseJudged = byModel[0]!;
  evals.forEach((e, i) => {
    if (i === 0) return;
    e.defects_removed = base.patch_defect_rate > 0 ? round(1 - e.patch_defect_rate / base.patch_defect_rate) : null;
    let wins = 0;
    let n = 0;
    for (const [key, j] of byModel[i]!) {
      const b = baseJudged.get(key);
      if (!b) continue;
      n++;
      wins += j.overall > b.overall ? 1 : j.overall === b.overall ? 0.5 : 0;
    }
    e.win_rate = n ? round(wins / n) : null;
  });
  const result: EvalResult = {
    version: 1,
    created: new Date().toISOString(),
    prompts: o.inputs.length ? o.inputs.join(', ') : '<stdin>',
    n_prompts: prompts.length,
    seeds: Array.from({ length: o.perPrompt }, (_, k) => o.seed + k),
    sampler: { ...(sampler ?? {}) },
    judge: { teacher: ORACLE_VERSION, defect_rule: `any aspect < ${DEFECT_THRESHOLD} on the 1–4 scale, ${DEFAULT_GRID.join('×')} grid` },
    reward_model: rm ? rm.id : null,
    models: evals,
    seconds: round((performance.now() - t0) / 1000, 1),
  };
  await writeFileAtomic(path.join(o.out, 'eval.json'), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}
