// Video I/O: the only module that spawns ffmpeg. Decodes any ffmpeg-readable video to RGB24
// frames (streamed, one frame at a time; one ffmpeg process per decode, whose log gives the
// stream's size and rate, so there is no separate probe; readVideos() decodes several small
// videos with one process) and encodes RGB24 frames to video.
// Default encoding for generated videos: H.264 lossless in RGB (libx264rgb, qp 0) in .mp4, so a
// decode gives back the exact pixels; 'web' is visually lossless yuv420p H.264 for browsers
// (docs/media.md). Binary: HALO_FFMPEG, then ffmpeg-static's binary when present, then `ffmpeg`
// on PATH, then the one shipped in @ffmpeg-installer/ffmpeg.
import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { HaloError } from '../cli/errors.js';

const require = createRequire(import.meta.url);

export interface FfmpegBinary {
  path: string;
  /** How it was found: 'HALO_FFMPEG', 'ffmpeg-static', 'PATH' or '@ffmpeg-installer/ffmpeg'. */
  origin: string;
}

/** A video that cannot be read: `file` and a reason, so callers can name their record's field. */
export class MediaError extends HaloError {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'MediaError';
  }
}

export const INSTALL_HINT =
  'no ffmpeg found: install one (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg; or `make setup`), or set HALO_FFMPEG=/path/to/ffmpeg';

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** `name` on a PATH string, found without spawning a shell. */
export function onPath(name: string, pathVar: string | undefined = process.env.PATH): string | undefined {
  for (const dir of (pathVar ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    if (isExecutable(p)) return p;
  }
  return undefined;
}

function fromPackage(name: string): string | undefined {
  try {
    const mod = require(name) as string | { path?: string } | null;
    const p = typeof mod === 'string' ? mod : mod?.path;
    return p && isExecutable(p) ? p : undefined;
  } catch {
    return undefined;
  }
}

export interface FfmpegSearch {
  env?: Record<string, string | undefined>;
  /** Where to look for npm-shipped binaries (default: require them). */
  fromPackage?: (name: string) => string | undefined;
}

/** Find an ffmpeg binary (order in the header), or throw the install hint. Not cached. */
export function findFfmpeg(search: FfmpegSearch = {}): FfmpegBinary {
  const env = search.env ?? process.env;
  const pkg = search.fromPackage ?? fromPackage;
  const forced = env.HALO_FFMPEG;
  if (forced) {
    if (!isExecutable(forced)) throw new HaloError(`HALO_FFMPEG=${forced}: no such executable file`);
    return { path: forced, origin: 'HALO_FFMPEG' };
  }
  const candidates: [() => string | undefined, string][] = [
    [() => pkg('ffmpeg-static'), 'ffmpeg-static'],
    [() => onPath('ffmpeg', env.PATH), 'PATH'],
    [() => pkg('@ffmpeg-installer/ffmpeg'), '@ffmpeg-installer/ffmpeg'],
  ];
  for (const [find, origin] of candidates) {
    const p = find();
    if (p) return { path: p, origin };
  }
  throw new HaloError(INSTALL_HINT);
}

let cached: FfmpegBinary | undefined;

/** The ffmpeg binary for this process (found once). */
export function resolveFfmpeg(): FfmpegBinary {
  return (cached ??= findFfmpeg());
}

/** What ffmpeg says about a video stream. */
export interface VideoInfo {
  width: number;
  height: number;
  fps: number;
  /** Frame count estimated from duration × fps when the container gives a duration. */
  frames?: number;
  /** Seconds, from the container. */
  duration?: number;
  codec?: string;
}

interface Ran {
  code: number;
  stderr: string;
}

/** Run ffmpeg to completion with optional stdin bytes; stdout is discarded. */
function runFfmpeg(args: string[], input?: Uint8Array): Promise<Ran> {
  const ff = resolveFfmpeg();
  return new Promise((resolve, reject) => {
    const proc = spawn(ff.path, ['-hide_banner', '-nostdin', ...args], { stdio: [input ? 'pipe' : 'ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (d: string) => {
      if (stderr.length < 1 << 20) stderr += d;
    });
    proc.on('error', (e) => reject(new HaloError(`cannot run ffmpeg at ${ff.path} (${e.message})`)));
    proc.on('close', (code) => resolve({ code: code ?? 1, stderr }));
    if (input) {
      proc.stdin!.on('error', () => {}); // ffmpeg failing early closes its stdin; the exit code reports it
      proc.stdin!.end(Buffer.from(input.buffer, input.byteOffset, input.byteLength));
    }
  });
}

/** The last line of an ffmpeg log that reads like the reason for a failure. */
function reasonOf(stderr: string, file: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const base = path.basename(file);
  const hit =
    [...lines].reverse().find((l) => l.includes(base) && /: /.test(l)) ??
    [...lines].reverse().find((l) => /invalid|error|not found|no such|unsupported|matches no streams/i.test(l)) ??
    lines[lines.length - 1] ??
    'ffmpeg failed';
  const i = hit.lastIndexOf(`${base}: `);
  return (i >= 0 ? hit.slice(i + base.length + 2) : hit.replace(/^\[[^\]]*\]\s*/, '')).trim();
}

function parseRate(text: string | undefined): number {
  if (!text) return 0;
  const m = /^([\d.]+)(k?)$/.exec(text);
  return m ? Number(m[1]) * (m[2] ? 1000 : 1) : 0;
}

/** Parse a "Stream #..: Video: ..." line: codec, WxH, fps. */
function parseStreamLine(line: string): { codec: string; width: number; height: number; fps: number } | undefined {
  const size = /, (\d+)x(\d+)(?=[\s,\[]|$)/.exec(line);
  if (!size) return undefined;
  const codec = /Video: (\w+)/.exec(line)?.[1] ?? '';
  const fps = parseRate(/, ([\d.]+k?) fps/.exec(line)?.[1] ?? /, ([\d.]+k?) tbr/.exec(line)?.[1]);
  return { codec, width: Number(size[1]), height: Number(size[2]), fps };
}

/** The log section of input or output #k: from its "Input #k, …" line to the next section. */
function section(stderr: string, kind: 'Input' | 'Output', k: number): string | undefined {
  const start = stderr.indexOf(`${kind} #${k}, `);
  if (start < 0) return undefined;
  const rest = stderr.slice(start + 1);
  const end = rest.search(/\n(?:Input|Output) #\d+, |\nStream mapping:|\nPress \[q\]/);
  return end < 0 ? stderr.slice(start) : stderr.slice(start, start + 2 + end); // with its last newline
}

/** Input #k's video stream (the first that is not cover art), as the log describes it. */
function parseInput(stderr: string, k = 0): VideoInfo | undefined {
  const part = section(stderr, 'Input', k);
  if (!part) return undefined;
  const line = part.split('\n').find((l) => /Stream #\d+:\d+.*: Video: /.test(l) && !/attached pic/.test(l));
  if (!line) return undefined;
  const s = parseStreamLine(line);
  if (!s) return undefined;
  const d = /Duration: (\d+):(\d+):([\d.]+)/.exec(part);
  const duration = d ? Number(d[1]) * 3600 + Number(d[2]) * 60 + Number(d[3]) : undefined;
  return {
    width: s.width,
    height: s.height,
    fps: s.fps,
    codec: s.codec,
    duration,
    frames: duration !== undefined && s.fps > 0 ? Math.round(duration * s.fps) : undefined,
  };
}

/** Output #k's (rawvideo) stream size and rate, once ffmpeg has logged its whole line. */
function parseOutput(stderr: string, k = 0): { width: number; height: number; fps: number } | undefined {
  const part = section(stderr, 'Output', k);
  if (!part) return undefined;
  const m = /Stream #\d+:\d+[^\n]*: Video: [^\n]*\n/.exec(part); // a whole line: ends with a newline
  return m ? parseStreamLine(m[0].trimEnd()) : undefined;
}

/** Check that `file` is a non-empty file; returns its size. */
async function checkReadable(file: string): Promise<number> {
  let s;
  try {
    s = await stat(file);
  } catch {
    throw new MediaError(file, 'video file not found');
  }
  if (!s.isFile()) throw new MediaError(file, 'not a file');
  if (s.size === 0) throw new MediaError(file, 'empty file (0 bytes), not a video');
  return s.size;
}

/** Read width, height, fps (and duration) from ffmpeg's description of the input. */
export async function probeVideo(file: string): Promise<VideoInfo> {
  await checkReadable(file);
  const r = await runFfmpeg(['-i', file]);
  const info = parseInput(r.stderr);
  if (!info) throw new MediaError(file, `not a readable video (${reasonOf(r.stderr, file)})`);
  return info;
}

export interface DecodeOptions {
  /** Resample to this frame rate (ffmpeg fps filter). */
  fps?: number;
  /** Stop after this many frames (the first ones). */
  maxFrames?: number;
  /** Scale to this size (swscale's area filter: averages when shrinking). */
  width?: number;
  height?: number;
}

/** One decoded frame: height × width × 3 bytes, RGB, row-major. */
export interface Frame {
  data: Uint8Array;
  width: number;
  height: number;
  index: number;
}

/** A video being decoded: what it is (known before the first frame) and its frames. */
export interface VideoStream {
  /** The source stream as the container describes it. */
  source: VideoInfo;
  /** Frames as they come out (after resampling and scaling). */
  width: number;
  height: number;
  fps: number;
  frames: AsyncGenerator<Frame>;
  /** Stop decoding early (kills ffmpeg); the frames generator ends. */
  close(): void;
}

/** ffmpeg output options: resample, scale, limit, raw RGB24 to `target`. */
function outputArgs(o: DecodeOptions, target: string): string[] {
  const filters: string[] = [];
  if (o.fps) filters.push(`fps=${o.fps}`);
  if (o.width || o.height) filters.push(`scale=${o.width ?? -1}:${o.height ?? -1}:flags=area`);
  const args: string[] = [];
  if (filters.length) args.push('-vf', filters.join(','));
  if (o.maxFrames) args.push('-frames:v', String(o.maxFrames));
  args.push('-f', 'rawvideo', '-pix_fmt', 'rgb24', target);
  return args;
}

function decodeArgs(file: string, o: DecodeOptions): string[] {
  return ['-nostats', '-loglevel', 'info', '-i', file, '-map', '0:V:0', ...outputArgs(o, 'pipe:1')];
}

/** The frames a complete decode should give (for the truncation check), if the container says. */
function expectedFrames(source: VideoInfo, o: DecodeOptions): number | undefined {
  return o.fps && source.duration ? Math.round(source.duration * o.fps) : source.frames;
}

/** Far fewer frames than the container promises (ffmpeg's complaints decide for a single decode). */
function looksTruncated(count: number, source: VideoInfo, o: DecodeOptions): number | undefined {
  const expected = expectedFrames(source, o);
  return expected && count < (o.maxFrames ?? Infinity) && count < 0.9 * expected - 1 ? expected : undefined;
}

/**
 * Start decoding `file`: one ffmpeg process, whose log gives the stream's size and rate (so no
 * separate probe), and whose stdout is cut into frames as they arrive. Memory: one frame plus
 * what the pipe holds. Throws MediaError for a missing, empty, corrupt or truncated file.
 */
export async function openVideo(file: string, options: DecodeOptions = {}): Promise<VideoStream> {
  await checkReadable(file);
  const ff = resolveFfmpeg();
  const proc = spawn(ff.path, ['-hide_banner', '-nostdin', ...decodeArgs(file, options)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let exited: { code: number } | undefined;
  let spawnError: Error | undefined;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  const closed = new Promise<void>((resolve) => {
    proc.on('close', (code) => {
      exited = { code: code ?? 1 };
      wake();
      resolve();
    });
    proc.on('error', (e) => {
      // A binary that cannot be started: there may be no 'close' to wait for.
      spawnError = e;
      exited ??= { code: 1 };
      wake();
      resolve();
    });
  });
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (d: string) => {
    if (stderr.length < 1 << 20) stderr += d;
    wake();
  });
  // Chunks of stdout wait here until the generator takes them (the pipe pauses meanwhile).
  const chunks: Buffer[] = [];
  let ended = false;
  proc.stdout!.on('data', (c: Buffer) => {
    chunks.push(c);
    if (chunks.length > 4) proc.stdout!.pause();
    wake();
  });
  proc.stdout!.on('end', () => {
    ended = true;
    wake();
  });
  const next = () => new Promise<void>((resolve) => {
    const w = () => {
      waiters.delete(w);
      resolve();
    };
    waiters.add(w);
  });

  const failure = (): MediaError => {
    if (spawnError) return new MediaError(file, `cannot run ffmpeg at ${ff.path} (${spawnError.message})`);
    return new MediaError(file, `not a readable video (${reasonOf(stderr, file)})`);
  };

  // Wait for the header (the output stream's description) or for ffmpeg to give up.
  let out = parseOutput(stderr);
  while (!out && !exited) {
    await next();
    out = parseOutput(stderr);
  }
  if (!out) {
    await closed.catch(() => {});
    throw failure();
  }
  const source = parseInput(stderr) ?? { width: out.width, height: out.height, fps: out.fps };
  const frameSize = out.width * out.height * 3;
  let stopped = false;

  async function* frames(): AsyncGenerator<Frame> {
    let index = 0;
    let pending: Buffer = Buffer.alloc(0);
    try {
      for (;;) {
        const c = chunks.shift();
        if (c) {
          if (chunks.length <= 1) proc.stdout!.resume();
          pending = pending.length ? Buffer.concat([pending, c]) : c;
          while (pending.length >= frameSize) {
            // Copy out: the frame must not keep the whole chunk alive.
            yield { data: new Uint8Array(pending.subarray(0, frameSize)), width: out!.width, height: out!.height, index: index++ };
            pending = pending.subarray(frameSize);
          }
          continue;
        }
        if (ended && (exited || stopped)) break;
        if (stopped) break;
        await next();
      }
      await closed;
      if (stopped) return;
      if (exited!.code !== 0) throw new MediaError(file, `decoding failed (${reasonOf(stderr, file)})`);
      if (index === 0) throw new MediaError(file, 'the video has no frames');
      // A truncated file: far fewer frames than the container promises, and ffmpeg complained.
      const expected = looksTruncated(index, source, options);
      if (expected && /partial file|error|invalid|corrupt/i.test(stderr.slice(stderr.indexOf('Output #0')))) {
        throw new MediaError(file, `truncated or corrupt video (decoded ${index} of about ${expected} frames: ${reasonOf(stderr, file)})`);
      }
    } finally {
      if (!exited) {
        stopped = true;
        proc.kill('SIGKILL');
        await closed;
      }
    }
  }

  return {
    source,
    width: out.width,
    height: out.height,
    fps: out.fps || options.fps || source.fps,
    frames: frames(),
    close() {
      stopped = true;
      if (!exited) proc.kill('SIGKILL');
      wake();
    },
  };
}

/** Stream RGB24 frames (H*W*3 bytes each) of a video. */
export async function* decodeFrames(file: string, options: DecodeOptions = {}): AsyncGenerator<Frame> {
  const v = await openVideo(file, options);
  yield* v.frames;
}

/** A whole video in memory: frames * height * width * 3 bytes, RGB, row-major. */
export interface Video {
  frames: number;
  height: number;
  width: number;
  fps: number;
  data: Uint8Array;
}

export interface ReadVideoOptions extends DecodeOptions {
  /**
   * Keep this many frames, evenly spaced over the whole (resampled) video: frame
   * floor((k + 0.5) · M / N) for k < N, M the number of frames. A video with at most N frames is
   * kept whole. M is estimated from the container's duration, and counted (a second decode)
   * when the estimate was too high to give N frames.
   */
  frames?: number;
}

/** The indices of `n` frames evenly spaced over `m` (all of them when m ≤ n). */
export function evenlySpaced(n: number, m: number): number[] {
  if (m <= n) return Array.from({ length: m }, (_, i) => i);
  return Array.from({ length: n }, (_, k) => Math.floor(((k + 0.5) * m) / n));
}

export type DecodedVideo = Video & { source: VideoInfo };

/** Keeps the frames `frames: N` selects as they stream by (all of them without N). */
class FrameCollector {
  readonly parts: Uint8Array[] = [];
  seen = 0;
  private readonly keep?: Set<number>;
  constructor(
    private readonly want: number | undefined,
    estimate: number | undefined,
  ) {
    this.keep = want && estimate ? new Set(evenlySpaced(want, estimate)) : undefined;
  }
  push(data: Uint8Array, index: number): void {
    if (!this.keep || this.keep.has(index)) this.parts.push(data);
    this.seen = index + 1;
  }
  /** The video, or undefined when the estimate was too high and a pass with the true count is due. */
  finish(width: number, height: number, fps: number, source: VideoInfo): DecodedVideo | undefined {
    let parts = this.parts;
    const want = this.want;
    if (want && parts.length < Math.min(want, this.seen)) return undefined;
    if (want && parts.length > want) parts = evenlySpaced(want, parts.length).map((i) => parts[i]!);
    const frameSize = width * height * 3;
    const data = new Uint8Array(parts.length * frameSize);
    parts.forEach((p, i) => data.set(p, i * frameSize));
    // Sampling N of M frames spreads them over the same duration: the rate drops by N/M.
    const rate = parts.length < this.seen ? Math.round(((fps * parts.length) / this.seen) * 1000) / 1000 : fps;
    return { frames: parts.length, height, width, fps: rate, data, source };
  }
}

/** Decode a whole video (or the frames `options.frames` selects) into memory. */
export async function readVideo(file: string, options: ReadVideoOptions = {}): Promise<DecodedVideo> {
  const run = async (total?: number) => {
    const v = await openVideo(file, options);
    const estimate = total ?? (v.source.duration ? Math.round(v.source.duration * v.fps) : undefined);
    const c = new FrameCollector(options.frames, estimate);
    for await (const f of v.frames) c.push(f.data, f.index);
    return { v, c };
  };
  const first = await run();
  const done = first.c.finish(first.v.width, first.v.height, first.v.fps, first.v.source);
  if (done) return done;
  // The duration overstated the length (or was missing): decode again with the true count.
  const again = await run(first.c.seen);
  return again.c.finish(again.v.width, again.v.height, again.v.fps, again.v.source)!;
}

/** Files up to this size are decoded several to one ffmpeg process by readVideos(). */
export const BATCH_MAX_BYTES = 8 << 20;

/**
 * Decode several small videos with one ffmpeg process (one input and one output pipe each), so
 * that ffmpeg's start-up, which dominates the decode of a small clip, is paid once. Results are
 * in request order and equal readVideo's: a missing or empty file is rejected as by readVideo,
 * and any video the batch cannot vouch for (ffmpeg failed, too few frames, a frame selection
 * that needs a second pass) is decoded again on its own by readVideo, which gives the exact
 * error. Large files (over BATCH_MAX_BYTES) are always decoded on their own.
 */
export async function readVideos(requests: readonly { file: string; options?: ReadVideoOptions }[]): Promise<PromiseSettledResult<DecodedVideo>[]> {
  const results: PromiseSettledResult<DecodedVideo>[] = new Array(requests.length);
  const batch: number[] = [];
  const alone: number[] = [];
  await Promise.all(
    requests.map(async (r, i) => {
      try {
        const size = await checkReadable(r.file);
        (size <= BATCH_MAX_BYTES ? batch : alone).push(i);
      } catch (e) {
        results[i] = { status: 'rejected', reason: e };
      }
    }),
  );
  batch.sort((a, b) => a - b);
  if (batch.length === 1) alone.push(batch.pop()!);
  const decoded = batch.length ? await decodeBatch(batch.map((i) => requests[i]!)) : [];
  batch.forEach((i, j) => {
    const v = decoded[j];
    if (v) results[i] = { status: 'fulfilled', value: v };
    else alone.push(i);
  });
  alone.sort((a, b) => a - b);
  for (const i of alone) {
    try {
      results[i] = { status: 'fulfilled', value: await readVideo(requests[i]!.file, requests[i]!.options) };
    } catch (e) {
      results[i] = { status: 'rejected', reason: e };
    }
  }
  return results;
}

/** One ffmpeg, N inputs, N raw outputs on pipes 3…N+2; undefined for each video it cannot vouch for. */
async function decodeBatch(requests: readonly { file: string; options?: ReadVideoOptions }[]): Promise<(DecodedVideo | undefined)[]> {
  const ff = resolveFfmpeg();
  const args = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info'];
  for (const r of requests) args.push('-i', r.file);
  requests.forEach((r, k) => args.push('-map', `${k}:V:0`, ...outputArgs(r.options ?? {}, `pipe:${k + 3}`)));
  const proc = spawn(ff.path, args, { stdio: ['ignore', 'ignore', 'pipe', ...requests.map(() => 'pipe' as const)] });
  let stderr = '';
  interface Out {
    chunks: Buffer[];
    header?: { width: number; height: number; fps: number };
    source?: VideoInfo;
    collector?: FrameCollector;
    index: number;
  }
  const outs: Out[] = requests.map(() => ({ chunks: [], index: 0 }));
  const drain = (k: number) => {
    const o = outs[k]!;
    if (!o.header) {
      o.header = parseOutput(stderr, k);
      if (!o.header) return;
      o.source = parseInput(stderr, k) ?? { ...o.header };
      const estimate = o.source.duration ? Math.round(o.source.duration * o.header.fps) : undefined;
      o.collector = new FrameCollector(requests[k]!.options?.frames, estimate);
    }
    const size = o.header.width * o.header.height * 3;
    let buf = o.chunks.length === 1 ? o.chunks[0]! : Buffer.concat(o.chunks);
    while (buf.length >= size) {
      o.collector!.push(new Uint8Array(buf.subarray(0, size)), o.index++);
      buf = buf.subarray(size);
    }
    o.chunks = buf.length ? [buf] : [];
  };
  const code = await new Promise<number>((resolve) => {
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (d: string) => {
      if (stderr.length < 1 << 22) stderr += d;
      outs.forEach((o, k) => o.header || drain(k));
    });
    outs.forEach((o, k) => {
      (proc.stdio[k + 3] as NodeJS.ReadableStream).on('data', (c: Buffer) => {
        o.chunks.push(c);
        drain(k);
      });
    });
    proc.on('close', (c) => resolve(c ?? 1));
    proc.on('error', () => resolve(1));
  });
  if (code !== 0) return requests.map(() => undefined);
  return outs.map((o, k) => {
    drain(k);
    if (!o.header || !o.collector || !o.source || o.index === 0) return undefined;
    if (looksTruncated(o.index, o.source, requests[k]!.options ?? {})) return undefined;
    return o.collector.finish(o.header.width, o.header.height, o.header.fps || requests[k]!.options?.fps || o.source.fps, o.source);
  });
}

export interface EncodeOptions {
  /**
   * 'lossless' (default): H.264 in RGB, qp 0 (libx264rgb): decodes to the exact pixels; for
   * data. 'web': H.264 yuv420p, crf 12: visually lossless, plays in browsers (needs even sizes;
   * odd ones are padded by one pixel).
   */
  quality?: 'lossless' | 'web';
}

function encodeArgs(file: string, width: number, height: number, fps: number, quality: 'lossless' | 'web'): string[] {
  const input = ['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-r', String(fps), '-i', 'pipe:0'];
  const codec =
    quality === 'web'
      ? ['-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2', '-c:v', 'libx264', '-crf', '12', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-movflags', '+faststart']
      : ['-c:v', 'libx264rgb', '-qp', '0', '-preset', 'veryfast', '-pix_fmt', 'rgb24'];
  return ['-loglevel', 'error', '-y', ...input, ...codec, '-f', 'mp4', file];
}

/** Encode RGB24 frames to `file` (.mp4; lossless H.264 RGB by default). Not atomic by itself. */
export async function writeVideo(file: string, video: Video, options: EncodeOptions = {}): Promise<void> {
  const expected = video.frames * video.height * video.width * 3;
  if (video.data.length !== expected) {
    throw new HaloError(`${file}: video data has ${video.data.length} bytes, expected ${expected} (${video.frames}×${video.height}×${video.width}×3)`);
  }
  const r = await runFfmpeg(encodeArgs(file, video.width, video.height, video.fps, options.quality ?? 'lossless'), video.data);
  if (r.code !== 0) throw new HaloError(`${file}: encoding failed (${reasonOf(r.stderr, file)})`);
}

/** Encode a stream of RGB24 frames (for videos too long to hold in memory). Not atomic by itself. */
export async function encodeFrames(
  file: string,
  frames: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  shape: { width: number; height: number; fps: number },
  options: EncodeOptions = {},
): Promise<void> {
  const ff = resolveFfmpeg();
  const proc = spawn(ff.path, ['-hide_banner', '-nostdin', ...encodeArgs(file, shape.width, shape.height, shape.fps, options.quality ?? 'lossless')], {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (d: string) => {
    if (stderr.length < 1 << 20) stderr += d;
  });
  const closed = new Promise<number>((resolve) => {
    proc.on('close', (code) => resolve(code ?? 1));
    proc.on('error', () => resolve(1));
  });
  let broken = false;
  proc.stdin!.on('error', () => {
    broken = true;
  });
  const size = shape.width * shape.height * 3;
  for await (const f of frames) {
    if (f.length !== size) {
      proc.kill('SIGKILL');
      await closed;
      throw new HaloError(`${file}: a frame has ${f.length} bytes, expected ${size}`);
    }
    if (broken) break;
    if (!proc.stdin!.write(Buffer.from(f.buffer, f.byteOffset, f.byteLength))) {
      await new Promise<void>((resolve) => {
        proc.stdin!.once('drain', resolve);
        proc.once('close', () => resolve());
      });
    }
  }
  proc.stdin!.end();
  const code = await closed;
  if (code !== 0) throw new HaloError(`${file}: encoding failed (${reasonOf(stderr, file)})`);
}

/** Whether `file` names something ffmpeg may read as a video (by extension). */
export function looksLikeVideo(file: string): boolean {
  return /\.(mp4|m4v|mov|mkv|webm|avi|gif|mpg|mpeg|ts|mts|flv|wmv|ogv|3gp|y4m|nut)$/i.test(file);
}

/** One crop of a video to write as its own clip: frames [t0, t1), rows [y0, y1), columns [x0, x1). */
export interface Crop {
  file: string;
  box: [number, number, number, number, number, number];
}

/**
 * Write many crops of one in-memory video as separate clips with a single ffmpeg process
 * (split + trim + crop filters, one output per crop), encoded like writeVideo. Not atomic.
 */
export async function writeCrops(video: Video, crops: readonly Crop[], options: EncodeOptions = {}): Promise<void> {
  if (crops.length === 0) return;
  const quality = options.quality ?? 'lossless';
  const input = ['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${video.width}x${video.height}`, '-r', String(video.fps), '-i', 'pipe:0'];
  const labels = crops.map((_, i) => `s${i}`);
  const graph = [`[0:v]split=${crops.length}${labels.map((l) => `[${l}]`).join('')}`];
  crops.forEach(({ box: [t0, t1, y0, y1, x0, x1] }, i) => {
    const pad = quality === 'web' ? ',pad=ceil(iw/2)*2:ceil(ih/2)*2' : '';
    graph.push(`[s${i}]trim=start_frame=${t0}:end_frame=${t1},setpts=PTS-STARTPTS,crop=${x1 - x0}:${y1 - y0}:${x0}:${y0}${pad}[o${i}]`);
  });
  const codec =
    quality === 'web'
      ? ['-c:v', 'libx264', '-crf', '12', '-preset', 'veryfast', '-pix_fmt', 'yuv420p']
      : ['-c:v', 'libx264rgb', '-qp', '0', '-preset', 'veryfast', '-pix_fmt', 'rgb24'];
  const outputs = crops.flatMap((c, i) => ['-map', `[o${i}]`, ...codec, '-f', 'mp4', c.file]);
  const r = await runFfmpeg(['-loglevel', 'error', '-y', ...input, '-filter_complex', graph.join(';'), ...outputs], video.data);
  if (r.code !== 0) throw new HaloError(`${crops[0]!.file}: encoding patch clips failed (${reasonOf(r.stderr, crops[0]!.file)})`);
}

/** Decode `file` and throw the frames away (`ffmpeg -i file -f null -`): the benchmarks' peer. */
export async function decodeToNull(file: string): Promise<void> {
  const r = await runFfmpeg(['-loglevel', 'error', '-i', file, '-f', 'null', '-']);
  if (r.code !== 0) throw new MediaError(file, `decoding failed (${reasonOf(r.stderr, file)})`);
}
