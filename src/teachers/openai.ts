// The OpenAI-compatible VLM teacher (`--teacher openai`): GPT-4o, or any vision-language model
// behind a chat-completions API (vLLM, Ollama, ...). Video labels: one request with frames
// sampled over the video. Patch labels, two modes: `per-patch` sends one request per patch with
// its storyboard; `grid` (batched) sends one request per temporal segment showing the segment's
// frames with the patch grid drawn and numbered, answered with scores per cell. Answers are
// validated (prompt-template.ts), re-asked a bounded number of times when malformed, cached on
// disk (cache.ts), and a score that could not be had is null with its reason in `missing`.
import { readFile } from 'node:fs/promises';
import { DataError, HaloError, UsageError } from '../cli/errors.js';
import { encodePng, gridOverlay, upscale, type Image } from '../media/image.js';
import { ASPECTS, overallOf, type Aspect } from '../records/aspects.js';
import type { Labels, PatchGeometry } from '../records/schemas.js';
import { AnswerCache, cacheKey } from './cache.js';
import { BudgetSpent, ChatClient, RequestFailed, type ChatClientOptions, type ChatUsage } from './openai-client.js';
import { evenly, loadFrames, segmentsOf, type FrameSet } from './openai-frames.js';
import { estimatePromptTokens, imageSize, textTokens } from './openai-tokens.js';
import {
  TEMPLATE_VERSION,
  gridMessages,
  parseAspectAnswer,
  parseGridAnswer,
  patchMessages,
  reaskMessages,
  videoMessages,
  type AspectAnswer,
  type Box,
  type ChatMessage,
  type ImageInput,
  type Parsed,
  type RequestKind,
  type VideoContext,
} from './prompt-template.js';
import type { LabelRequest, Teacher } from './teacher.js';

/** Version of this teacher's code (how requests are made and answers turned into labels). */
export const OPENAI_TEACHER_VERSION = '1';

export const PATCH_MODES = ['grid', 'per-patch'] as const;
export type PatchMode = (typeof PATCH_MODES)[number];

export interface OpenAITeacherOptions extends ChatClientOptions {
  mode: PatchMode;
  /** Frames sampled over the video for the video request. */
  videoFrames: number;
  /** Frames shown per temporal segment in grid mode (at most the segment's length). */
  segmentFrames: number;
  /** Frames are enlarged by an integer factor up to about this many pixels on the longer side. */
  imageSize: number;
  detail: 'low' | 'high' | 'auto';
  /** Re-asks after a malformed answer. */
  maxReasks: number;
  /** undefined = no cache. */
  cacheDir?: string;
  /** Ignore cached answers (they are still written). */
  force: boolean;
}

/** What one answer cost when it was paid for (kept in the cache, so cached runs can report it). */
interface CachedAnswer {
  content: string;
  requests: number;
  usage: ChatUsage;
}

type AskResult<T> = { ok: true; value: T } | { ok: false; reason: string };

interface Cost {
  asks: number;
  cacheHits: number;
  /** Requests and tokens of the answers, whether paid now or earlier (cached). */
  requests: number;
  promptTokens: number;
  completionTokens: number;
}

function mimeOf(bytes: Uint8Array): string {
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'image/jpeg';
  if (bytes[0] === 0x52 && bytes[8] === 0x57) return 'image/webp';
  return 'image/png';
}

export { evenly };

/** What the prompt says about the video: its prompt, frames and size as the record gives them. */
function contextOf(record: LabelRequest['record']): VideoContext {
  return { prompt: record.prompt, frames: record.frames, fps: record.fps, width: record.width, height: record.height };
}

/** Integer enlargement so the longer side reaches about `size` (1 for frames already that big). */
export function scaleFor(width: number, height: number, size: number): number {
  return Math.max(1, Math.floor(size / Math.max(width, height)));
}

export class OpenAITeacher implements Teacher {
  readonly name = 'openai';
  private readonly client: ChatClient;
  private readonly cache: AnswerCache;
  private videos = 0;
  private reasks = 0;
  private invalid = 0;
  private readonly cost: Record<RequestKind, Cost> = {
    video: { asks: 0, cacheHits: 0, requests: 0, promptTokens: 0, completionTokens: 0 },
    patch: { asks: 0, cacheHits: 0, requests: 0, promptTokens: 0, completionTokens: 0 },
    grid: { asks: 0, cacheHits: 0, requests: 0, promptTokens: 0, completionTokens: 0 },
  };

  constructor(private readonly options: OpenAITeacherOptions) {
    this.client = new ChatClient(options);
    this.cache = new AnswerCache(options.cacheDir);
  }

  get source(): Labels['source'] {
    return { teacher: 'openai', version: OPENAI_TEACHER_VERSION, model: this.options.model, template: TEMPLATE_VERSION, mode: this.options.mode };
  }

  private async image(rgb: Image): Promise<ImageInput> {
    const png: Buffer = await encodePng(rgb);
    return { url: `data:image/png;base64,${png.toString('base64')}`, detail: this.options.detail };
  }

  /** Ask once (with re-asks on malformed answers), through the cache. */
  private async ask<T>(kind: RequestKind, label: string, messages: ChatMessage[], parse: (content: string) => Parsed<T>): Promise<AskResult<T>> {
    const cost = this.cost[kind];
    cost.asks++;
    const key = cacheKey({ template: TEMPLATE_VERSION, request: this.client.body(messages) });
    if (!this.options.force) {
      const hit = await this.cache.get<CachedAnswer>(key);
      const parsed = hit ? parse(hit.content) : undefined;
      if (hit && parsed?.ok) {
        cost.cacheHits++;
        cost.requests += hit.requests;
        cost.promptTokens += hit.usage.promptTokens;
        cost.completionTokens += hit.usage.completionTokens;
        return parsed;
      }
    }
    let conversation = messages;
    const paid = { requests: 0, promptTokens: 0, completionTokens: 0 };
    let problem = '';
    try {
      for (let attempt = 0; attempt <= this.options.maxReasks; attempt++) {
        if (attempt > 0) this.reasks++;
        const answer = await this.client.complete(conversation, `${label}${attempt ? ` (re-ask ${attempt})` : ''}`);
        paid.requests += answer.attempts;
        paid.promptTokens += answer.usage.promptTokens;
        paid.completionTokens += answer.usage.completionTokens;
        const parsed = answer.finishReason === 'length' ? ({ ok: false, problem: 'the answer was cut off (max tokens)' } as const) : parse(answer.text);
        if (parsed.ok) {
          cost.requests += paid.requests;
          cost.promptTokens += paid.promptTokens;
          cost.completionTokens += paid.completionTokens;
          const entry: CachedAnswer = { content: answer.text, requests: paid.requests, usage: { promptTokens: paid.promptTokens, completionTokens: paid.completionTokens } };
          await this.cache.put(key, entry, { model: this.options.model, template: TEMPLATE_VERSION, kind, label });
          return parsed;
        }
        problem = parsed.problem;
        this.options.log(`${label}: invalid answer: ${problem}`);
        conversation = [...messages, ...reaskMessages(answer.text, problem)];
      }
    } catch (e) {
      if (e instanceof BudgetSpent || e instanceof RequestFailed) paid.requests += e.attempts;
      cost.requests += paid.requests;
      cost.promptTokens += paid.promptTokens;
      cost.completionTokens += paid.completionTokens;
      if (e instanceof BudgetSpent) return { ok: false, reason: e.message };
      if (e instanceof RequestFailed) return { ok: false, reason: `request failed: ${e.message}` };
      throw e;
    }
    cost.requests += paid.requests;
    cost.promptTokens += paid.promptTokens;
    cost.completionTokens += paid.completionTokens;
    this.invalid++;
    return { ok: false, reason: `invalid answer after ${this.options.maxReasks + 1} attempts: ${problem}` };
  }

  // ---- requests (built the same way for labeling and for --estimate) ----

  private videoFrameIndices(frames: number): number[] {
    return evenly(0, frames, this.options.videoFrames);
  }

  private async videoRequest(ctx: VideoContext, video: FrameSet): Promise<ChatMessage[]> {
    const scale = scaleFor(video.width, video.height, this.options.imageSize);
    const indices = this.videoFrameIndices(video.frames);
    const images = await Promise.all(indices.map((t) => this.image(upscale(video.get(t), scale))));
    return videoMessages(ctx, indices, images);
  }

  /** One request per patch, each with the patch's storyboard. */
  private async patchRequests(request: LabelRequest, ctx: VideoContext, geometry: PatchGeometry): Promise<ChatMessage[][]> {
    const n = geometry.boxes.length;
    const boards = request.storyboards;
    if (!boards || boards.length === 0) {
      throw new DataError(request.place, 'patches.storyboards', 'patch mode per-patch needs a storyboard per patch (halo-patchify makes them); or use --mode grid, which draws the grid on the frames');
    }
    if (boards.length !== n) {
      throw new DataError(request.place, 'patches.storyboards', `expected ${n} storyboards (one per patch), got ${boards.length}`);
    }
    return Promise.all(
      boards.map(async (file, i) => {
        let bytes: Buffer;
        try {
          bytes = await readFile(file);
        } catch (e) {
          throw new DataError(request.place, `patches.storyboards[${i}]`, `${file}: cannot read the storyboard (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
        }
        if (!imageSize(bytes)) throw new DataError(request.place, `patches.storyboards[${i}]`, `${file}: not a PNG, JPEG or WebP image`);
        const img: ImageInput = { url: `data:${mimeOf(bytes)};base64,${bytes.toString('base64')}`, detail: this.options.detail };
        return patchMessages(ctx, i, n, geometry.boxes[i] as Box, img);
      }),
    );
  }

  /** One request per temporal segment: its frames with the grid drawn and the cells numbered. */
  private async gridRequests(ctx: VideoContext, video: FrameSet, geometry: PatchGeometry): Promise<{ cells: number[]; messages: ChatMessage[] }[]> {
    const [, gh, gw] = geometry.grid;
    const [, H, W] = geometry.video;
    // Boxes are in the patched tensor's pixels; map them onto the decoded frames.
    const fy = video.height / H;
    const fx = video.width / W;
    const scale = scaleFor(video.width, video.height, this.options.imageSize);
    // The grid's row and column boundaries (uneven grids drawn as they were cut).
    const first = geometry.boxes.slice(0, gh * gw);
    const rows = [...new Set(first.flatMap((b) => [b[2], b[3]]))].sort((a, b) => a - b).map((v) => Math.round(v * fy));
    const cols = [...new Set(first.flatMap((b) => [b[4], b[5]]))].sort((a, b) => a - b).map((v) => Math.round(v * fx));
    const segments = segmentsOf(geometry, video.frames, this.options.segmentFrames);
    return Promise.all(
      segments.map(async (seg) => {
        const images = await Promise.all(seg.frames.map((t) => this.image(gridOverlay(video.get(t), rows, cols, { scale, firstIndex: seg.cells[0]! }))));
        const messages = gridMessages(ctx, { index: seg.index, count: segments.length, t0: seg.t0, t1: seg.t1, frameIndices: seg.frames }, seg.cells, images);
        return { cells: seg.cells, messages };
      }),
    );
  }

  /** Decode the frames that the video request and (in grid mode) the segment requests show. */
  private frames(request: LabelRequest, video: boolean, grid: PatchGeometry | undefined): Promise<FrameSet> {
    const { record } = request;
    const wanted = new Set<number>();
    if (video) for (const t of this.videoFrameIndices(record.frames)) wanted.add(t);
    if (grid) for (const seg of segmentsOf(grid, record.frames, this.options.segmentFrames)) for (const t of seg.frames) wanted.add(t);
    return loadFrames(request.videoPath, record, wanted, this.options.imageSize);
  }

  // ---- labels ----

  private async videoLabels(ctx: VideoContext, video: FrameSet, labels: Labels, id: string): Promise<void> {
    const r = await this.ask('video', `${id} video`, await this.videoRequest(ctx, video), parseAspectAnswer);
    for (const a of ASPECTS) {
      const v = r.ok ? r.value[a] : null;
      labels.video[a] = v;
      if (v === null) labels.missing![`video.${a}`] = r.ok ? 'the model gave no score' : r.reason;
    }
    labels.video.overall = overallOf(labels.video as Partial<Record<Aspect, number | null>>);
  }

  private async perPatchLabels(request: LabelRequest, ctx: VideoContext, geometry: PatchGeometry, labels: Labels, id: string): Promise<void> {
    const requests = await this.patchRequests(request, ctx, geometry);
    const results = await Promise.all(requests.map((messages, i) => this.ask('patch', `${id} patch ${i}`, messages, parseAspectAnswer)));
    results.forEach((r, i) => this.setPatch(labels, i, r));
  }

  private async gridLabels(ctx: VideoContext, video: FrameSet, geometry: PatchGeometry, labels: Labels, id: string): Promise<void> {
    const requests = await this.gridRequests(ctx, video, geometry);
    await Promise.all(
      requests.map(async ({ cells, messages }, s) => {
        const r = await this.ask('grid', `${id} segment ${s}`, messages, (content) => parseGridAnswer(content, cells));
        for (const c of cells) this.setPatch(labels, c, r.ok ? { ok: true, value: r.value.get(c)! } : r);
      }),
    );
  }

  /**
   * What labeling this record would cost in each patch mode, without sending anything: requests
   * and estimated tokens (openai-tokens.ts; the answer counted as its JSON). Per-patch needs
   * storyboards; without them its entry is undefined.
   */
  async estimate(request: LabelRequest): Promise<Record<'video' | PatchMode, { requests: number; promptTokens: number; completionTokens: number } | undefined>> {
    const { record } = request;
    const wantVideo = request.wantVideo !== false;
    const geometry = request.wantPatches ? record.patches : undefined;
    const video = await this.frames(request, wantVideo, geometry);
    const ctx = contextOf(record);
    const answer = (cells?: number[]) => {
      const scores = Object.fromEntries(ASPECTS.map((a) => [a, 3]));
      return textTokens(JSON.stringify(cells ? { cells: cells.map((cell) => ({ cell, ...scores })) } : scores));
    };
    const cost = (list: { messages: ChatMessage[]; cells?: number[] }[]) => ({
      requests: list.length,
      promptTokens: list.reduce((s, r) => s + estimatePromptTokens(r.messages), 0),
      completionTokens: list.reduce((s, r) => s + answer(r.cells), 0),
    });
    const out: Record<'video' | PatchMode, ReturnType<typeof cost> | undefined> = { video: undefined, grid: undefined, 'per-patch': undefined };
    if (wantVideo) out.video = cost([{ messages: await this.videoRequest(ctx, video) }]);
    if (geometry) {
      out.grid = cost(await this.gridRequests(ctx, video, geometry));
      if (request.storyboards?.length) out['per-patch'] = cost((await this.patchRequests(request, ctx, geometry)).map((messages) => ({ messages })));
    }
    return out;
  }

  private setPatch(labels: Labels, i: number, r: AskResult<AspectAnswer>): void {
    const patch = labels.patch!;
    for (const a of ASPECTS) {
      const v = r.ok ? r.value[a] : null;
      patch[a]![i] = v;
      if (v === null) labels.missing![`patch.${a}[${i}]`] = r.ok ? 'the model gave no score' : r.reason;
    }
  }

  async label(request: LabelRequest): Promise<Labels> {
    const { record } = request;
    const id = record.sample_id;
    const geometry = request.wantPatches ? record.patches : undefined;
    if (request.wantPatches && !geometry) {
      throw new DataError(request.place, 'patches', 'patch labels were asked but the record has no patches (run halo-patchify first)');
    }
    const wantVideo = request.wantVideo !== false;
    const labels: Labels = { source: this.source, video: {}, missing: {} };
    const grid = geometry && this.options.mode === 'grid' ? geometry : undefined;
    const video = wantVideo || grid ? await this.frames(request, wantVideo, grid) : undefined;
    const ctx = contextOf(record);
    const jobs: Promise<void>[] = [];
    if (wantVideo) jobs.push(this.videoLabels(ctx, video!, labels, id));
    if (geometry) {
      const n = geometry.boxes.length;
      labels.patch = Object.fromEntries(ASPECTS.map((a) => [a, new Array<number | null>(n).fill(null)]));
      jobs.push(this.options.mode === 'grid' ? this.gridLabels(ctx, video!, geometry, labels, id) : this.perPatchLabels(request, ctx, geometry, labels, id));
    }
    await Promise.all(jobs);
    if (labels.patch) {
      const n = geometry!.boxes.length;
      labels.patch.overall = Array.from({ length: n }, (_, i) => overallOf(Object.fromEntries(ASPECTS.map((a) => [a, labels.patch![a]![i]]))));
    }
    if (Object.keys(labels.missing!).length === 0) delete labels.missing;
    this.videos++;
    return labels;
  }

  /** Requests and tokens per video, per request kind and in all (answers cached earlier included). */
  costPerVideo(): { requests: number; promptTokens: number; completionTokens: number; byKind: Record<RequestKind, Cost> } {
    const n = Math.max(1, this.videos);
    const kinds = Object.values(this.cost);
    const sum = (f: (c: Cost) => number) => kinds.reduce((s, c) => s + f(c), 0) / n;
    return { requests: sum((c) => c.requests), promptTokens: sum((c) => c.promptTokens), completionTokens: sum((c) => c.completionTokens), byKind: this.cost };
  }

  summary(): string[] {
    const s = this.client.stats;
    const c = this.cache;
    const per = this.costPerVideo();
    const asks = Object.values(this.cost).reduce((t, k) => t + k.asks, 0);
    const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));
    const kinds = (Object.entries(this.cost) as [RequestKind, Cost][])
      .filter(([, k]) => k.asks > 0)
      .map(([kind, k]) => `${kind} ${fmt(k.requests / Math.max(1, this.videos))} req, ${fmt((k.promptTokens + k.completionTokens) / Math.max(1, this.videos))} tok`)
      .join('; ');
    return [
      `openai: model ${this.options.model}, template ${TEMPLATE_VERSION}, patch mode ${this.options.mode}`,
      `openai: this run: ${s.requests} requests sent (${s.retries} retries, ${this.reasks} re-asks, ${s.failed} failed), ${s.promptTokens} prompt + ${s.completionTokens} completion tokens${s.noUsage ? ` (${s.noUsage} answers without usage)` : ''}; ${asks} answers, ${c.hits} from the cache${this.options.cacheDir ? '' : ' (cache off)'}`,
      `openai: per video (${this.videos} videos, cached answers counted at what they cost): ${fmt(per.requests)} requests, ${fmt(per.promptTokens)} prompt + ${fmt(per.completionTokens)} completion tokens [${kinds}]`,
      ...(this.invalid ? [`openai: ${this.invalid} answers stayed invalid after ${this.options.maxReasks} re-asks (their scores are null, see labels.missing)`] : []),
      ...(s.failed ? [`openai: ${s.failed} requests failed for good (their scores are null); a re-run asks only for them, the rest comes from the cache`] : []),
    ];
  }
}

/** Build the teacher's options from halo-label's flags and the environment; the key is checked first. */
export function openaiOptionsFromFlags(args: Record<string, unknown>, env: NodeJS.ProcessEnv, log: (m: string) => void, requireKey = true): OpenAITeacherOptions {
  const keyVar = String(args['api-key-env'] ?? 'OPENAI_API_KEY');
  const apiKey = env[keyVar] || (requireKey ? undefined : 'unused');
  if (!apiKey) {
    throw new HaloError(
      `the openai teacher needs an API key in $${keyVar}, which is not set (no request was sent). Set it, or name another variable with --api-key-env; a local server without authentication accepts any value, e.g. ${keyVar}=none`,
    );
  }
  const num = (name: string, min: number): number => {
    const v = Number(args[name]);
    if (!Number.isFinite(v) || v < min) throw new UsageError(`--${name}: expected a number ≥ ${min}, got '${String(args[name])}'`);
    return v;
  };
  const mode = String(args.mode ?? 'grid') as PatchMode;
  if (!PATCH_MODES.includes(mode)) throw new UsageError(`--mode: expected one of ${PATCH_MODES.join(', ')}, got '${mode}'`);
  return {
    baseURL: String(args['base-url'] ?? env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1'),
    apiKey,
    model: String(args.model ?? 'gpt-4o'),
    timeoutMs: num('timeout-ms', 1),
    maxRetries: num('max-retries', 0),
    backoffMs: num('backoff-ms', 0),
    backoffMaxMs: num('backoff-max-ms', 0),
    concurrency: num('concurrency', 1),
    maxRequests: args['max-requests'] === undefined ? undefined : num('max-requests', 0),
    responseFormat: args['response-format'] === 'none' ? 'none' : 'json_object',
    temperature: num('temperature', 0),
    maxTokens: num('max-tokens', 1),
    mode,
    videoFrames: num('video-frames', 1),
    segmentFrames: num('segment-frames', 1),
    imageSize: num('image-size', 1),
    detail: (['low', 'high', 'auto'].includes(String(args.detail)) ? String(args.detail) : 'low') as 'low' | 'high' | 'auto',
    maxReasks: num('max-reasks', 0),
    cacheDir: args.cache === false ? undefined : String(args['cache-dir']),
    force: Boolean(args.force),
    log,
  };
}
