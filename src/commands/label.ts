// halo-label: (patched) sample records in, label records out (`labels` added: video and patch
// scores per aspect from a teacher: the world's oracle, an OpenAI-compatible VLM, or human
// annotations from CSV). `halo-label agree A B` measures the agreement of two label or score files.
import type { Argv } from 'yargs';
import type { CommandSpec } from '../cli/command.js';
import { UsageError } from '../cli/errors.js';
import { inputsOf, readOptions, recordOptions, verboseLog } from '../cli/options.js';
import { compareFiles, formatReport, SCORE_FIELDS, type ScoreField } from '../halo/agreement-files.js';
import { defaultCacheDir } from '../teachers/cache.js';
import { LEVELS, labelRecords, type Level } from '../teachers/label-run.js';
import { PATCH_MODES } from '../teachers/openai.js';
import { TEACHER_NAMES, TEACHERS, createTeacher } from '../teachers/registry.js';

const say = (m: string) => process.stderr.write(`halo-label: ${m}\n`);

function labelFlags(y: Argv): Argv {
  const teachers = TEACHERS.map((t) => `  ${t.name.padEnd(7)} ${t.summary}`).join('\n');
  return recordOptions(
    y
      .usage(`halo-label [inputs..] --teacher NAME\n\nLabel (patched) sample records; inputs: JSONL files (none or - = stdin).\nTeachers:\n${teachers}\n\nhalo-label agree A B: agreement of two label or score files (halo-label agree --help).`)
      .positional('inputs', { type: 'string', array: true, describe: 'JSONL files of sample records, with patches for patch labels' })
      .option('teacher', { choices: TEACHER_NAMES, describe: 'who labels (required)' })
      .option('level', { choices: LEVELS, describe: 'video, patch or both (default: both for records with patches, else video)' })
      .option('jobs', { alias: 'j', type: 'number', default: 2, describe: 'records labeled at once' })
      .group(['teacher', 'level', 'jobs'], 'Labeling:')
      // openai
      .option('base-url', { type: 'string', describe: 'chat-completions API base URL (default $OPENAI_BASE_URL or https://api.openai.com/v1)' })
      .option('model', { type: 'string', default: 'gpt-4o', describe: 'model name on that server' })
      .option('api-key-env', { type: 'string', default: 'OPENAI_API_KEY', describe: 'environment variable holding the API key (never logged)' })
      .option('mode', { choices: PATCH_MODES, default: 'grid', describe: 'patch requests: grid = one per temporal segment (frames with the grid drawn and numbered), per-patch = one per patch storyboard' })
      .option('video-frames', { type: 'number', default: 8, describe: 'frames sampled over the video for the video request' })
      .option('segment-frames', { type: 'number', default: 2, describe: 'frames shown per temporal segment in grid mode' })
      .option('image-size', { type: 'number', default: 256, describe: 'frames are enlarged (nearest neighbour, integer factor) to about this many pixels' })
      .option('detail', { choices: ['low', 'high', 'auto'] as const, default: 'low', describe: 'image detail asked of the model (tokens per image: low 85)' })
      .option('concurrency', { type: 'number', default: 4, describe: 'requests in flight at once' })
      .option('timeout-ms', { type: 'number', default: 120_000, describe: 'limit per request attempt' })
      .option('max-retries', { type: 'number', default: 5, describe: 'retries of a request on 429/5xx/timeouts/broken connections' })
      .option('backoff-ms', { type: 'number', default: 1000, describe: 'first retry delay (doubles per retry) when the server gives no Retry-After' })
      .option('backoff-max-ms', { type: 'number', default: 60_000, describe: 'longest retry delay' })
      .option('max-reasks', { type: 'number', default: 2, describe: 're-asks after a malformed or invalid answer' })
      .option('max-requests', { type: 'number', describe: 'request budget for the run (cache hits are free); beyond it scores are null' })
      .option('max-tokens', { type: 'number', default: 4000, describe: 'answer length limit per request' })
      .option('temperature', { type: 'number', default: 0, describe: 'sampling temperature' })
      .option('response-format', { choices: ['json_object', 'none'] as const, default: 'json_object', describe: "ask for JSON mode; 'none' for servers without it" })
      .option('cache-dir', { type: 'string', default: defaultCacheDir(), describe: 'answer cache (key: content hash + model + template); --no-cache to turn off' })
      .option('cache', { type: 'boolean', default: true, hidden: true })
      .option('estimate', { type: 'boolean', default: false, describe: 'print the requests and tokens per video of each mode for the input, send nothing' })
      .group(['base-url', 'model', 'api-key-env', 'mode', 'video-frames', 'segment-frames', 'image-size', 'detail', 'concurrency', 'timeout-ms', 'max-retries', 'backoff-ms', 'backoff-max-ms', 'max-reasks', 'max-requests', 'max-tokens', 'temperature', 'response-format', 'cache-dir', 'estimate'], 'Teacher openai:')
      // csv
      .option('csv', { type: 'string', describe: 'annotation file (columns: video, patch|box, aspect, score, annotator)' })
      .group(['csv'], 'Teacher csv:'),
  );
}

async function runLabel(args: Record<string, unknown>): Promise<void> {
  if (args.teacher === undefined) throw new UsageError(`--teacher is required (one of ${TEACHER_NAMES.join(', ')})`);
  const jobs = Number(args.jobs);
  if (!Number.isInteger(jobs) || jobs < 1) throw new UsageError(`--jobs: expected a positive integer, got '${String(args.jobs)}'`);
  const warn = (m: string) => say(`warning: ${m}`);
  if (args.estimate) return runEstimate(args);
  const teacher = await createTeacher(String(args.teacher), { args, env: process.env, log: verboseLog(args, 'label'), warn });
  try {
    const r = await labelRecords({
      inputs: inputsOf(args),
      read: readOptions(args),
      teacher,
      level: args.level as Level | undefined,
      jobs,
      warn,
    });
    say(`${r.labeled} records labeled by ${teacher.name}${r.skipped ? `, ${r.skipped} skipped` : ''} in ${r.seconds.toFixed(1)} s${r.missing ? `; ${r.missing} scores missing (null, reasons in labels.missing)` : ''}`);
  } finally {
    for (const line of teacher.summary?.() ?? []) say(line);
    await teacher.close?.();
  }
}

async function runEstimate(args: Record<string, unknown>): Promise<void> {
  if (args.teacher !== 'openai') throw new UsageError('--estimate: only the openai teacher sends requests; use it with --teacher openai');
  const { OpenAITeacher, openaiOptionsFromFlags } = await import('../teachers/openai.js');
  const { estimateCost, formatEstimate } = await import('../teachers/openai-estimate.js');
  const options = openaiOptionsFromFlags(args, process.env, verboseLog(args, 'label'), false);
  const teacher = new OpenAITeacher(options);
  const r = await estimateCost(teacher, inputsOf(args), { ...readOptions(args), warn: (m) => say(`warning: ${m}`) }, args.level as Level | undefined);
  const settings = `video frames ${options.videoFrames}, segment frames ${options.segmentFrames}, image size ${options.imageSize}, detail ${options.detail}`;
  process.stdout.write(formatEstimate(r, settings));
}

/** A file positional; yargs turns a lone `-` (stdin) into '' or true. */
const fileArg = (v: unknown): string => (v === '' || v === true ? '-' : String(v));

async function runAgree(args: Record<string, unknown>): Promise<void> {
  const level = String(args.level ?? 'both');
  const report = await compareFiles(fileArg(args.a), fileArg(args.b), {
    fieldA: args['field-a'] as ScoreField,
    fieldB: args['field-b'] as ScoreField,
    read: { skipInvalid: Boolean(args['skip-invalid']), warn: (m) => say(`warning: ${m}`) },
  });
  const levels = level === 'both' ? (['video', 'patch'] as const) : ([level] as ('video' | 'patch')[]);
  if (args.json) {
    const out = { ...report, video: levels.includes('video') ? report.video : undefined, patch: levels.includes('patch') ? report.patch : undefined };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else process.stdout.write(formatReport(report, levels));
}

export const labelCommand: CommandSpec = {
  name: 'label',
  build: (y: Argv) =>
    y
      .command('$0 [inputs..]', 'label records (the default)', labelFlags, (args) => runLabel(args as Record<string, unknown>))
      .command(
        'agree <a> <b>',
        'agreement of two label or score files on the videos and patches they share (Spearman, Kendall tau-b, mean absolute difference; and Spearman and pair order within each prompt and each video)',
        (sub: Argv) =>
          sub
            .usage('halo-label agree A B [--json]\n\nA and B: JSONL files of label records (halo-label) or score records (halo-score), matched by sample_id.\nwithin_spearman / within_pairs: the same ranking inside groups (the videos of one prompt; the patches of one video).')
            .positional('a', { type: 'string', describe: 'first file (- = stdin)' })
            .positional('b', { type: 'string', describe: 'second file' })
            .option('level', { choices: ['video', 'patch', 'both'] as const, default: 'both', describe: 'which levels to report' })
            .option('field-a', { choices: SCORE_FIELDS, default: 'auto', describe: 'read A\'s labels or scores (auto: scores when present)' })
            .option('field-b', { choices: SCORE_FIELDS, default: 'auto', describe: 'read B\'s labels or scores (auto: scores when present)' })
            .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON instead of a table' })
            .option('skip-invalid', { type: 'boolean', default: false, describe: 'warn about a bad record and go on' }),
        (args) => runAgree(args as Record<string, unknown>),
      ),
};
