// Video I/O: the only module that spawns ffmpeg. Decodes any ffmpeg-readable video to RGB24
// frames (streamed, one frame at a time) and encodes RGB24 frames to video.
// Default encoding for generated videos: H.264 lossless in RGB (libx264rgb, qp 0) in .mp4, so a
// decode gives back the exact pixels (docs/media.md). Binary: HALO_FFMPEG, then ffmpeg-static's
// binary when present, then `ffmpeg` on PATH, then the one shipped in @ffmpeg-installer/ffmpeg.
import { execa, execaSync } from 'execa';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { HaloError } from '../cli/errors.js';

const require = createRequire(import.meta.url);

export interface FfmpegBinary {
  path: string;
  /** How it was found: 'HALO_FFMPEG', 'ffmpeg-static', 'PATH' or '@ffmpeg-installer/ffmpeg'. */
  origin: string;
}

let cached: FfmpegBinary | undefined;

function onPath(name: string): string | undefined {
  const r = execaSync('sh', ['-c', `command -v ${name}`], { reject: false });
  const p = String(r.stdout ?? '').trim();
  return r.exitCode === 0 && p ? p : undefined;
}

function fromPackage(name: string): string | undefined {
  try {
    const mod = require(name) as string | { path?: string } | null;
    const p = typeof mod === 'string' ? mod : mod?.path;
    return p && existsSync(p) ? p : undefined;
  } catch {
    return undefined;
  }
}

/** Find the ffmpeg binary (see the header for the order), or explain how to install one. */
export function resolveFfmpeg(): FfmpegBinary {
  if (cached) return cached;
  const env = process.env.HALO_FFMPEG;
  if (env) {
    if (!existsSync(env)) throw new HaloError(`HALO_FFMPEG=${env}: no such file`);
    return (cached = { path: env, origin: 'HALO_FFMPEG' });
  }
  const candidates: [() => string | undefined, string][] = [
    [() => fromPackage('ffmpeg-static'), 'ffmpeg-static'],
    [() => onPath('ffmpeg'), 'PATH'],
    [() => fromPackage('@ffmpeg-installer/ffmpeg'), '@ffmpeg-installer/ffmpeg'],
  ];
  for (const [find, origin] of candidates) {
    const p = find();
    if (p) return (cached = { path: p, origin });
  }
  throw new HaloError(
    'no ffmpeg found: install one (Debian/Ubuntu: apt-get install ffmpeg; or `make setup`), or set HALO_FFMPEG=/path/to/ffmpeg',
  );
}

export interface VideoInfo {
  width: number;
  height: number;
  fps: number;
  /** Frame count when the container says it (or when counted), else undefined. */
  frames?: number;
  duration?: number;
}

/** Read width, height, fps (and duration) from ffmpeg's description of the input. */
export async function probeVideo(file: string): Promise<VideoInfo> {
  if (!existsSync(file)) throw new HaloError(`${file}: video file not found`);
  const ff = resolveFfmpeg();
  const r = await execa(ff.path, ['-hide_banner', '-i', file], { reject: false });
  const text = String(r.stderr ?? '');
  const m = /Stream #[^\n]*Video:[^\n]*?(\d{2,5})x(\d{2,5})[^\n]*/.exec(text) ?? /Stream #[^\n]*Video:[^\n]*?\b(\d+)x(\d+)\b[^\n]*/.exec(text);
  if (!m) {
    const why = /Invalid data|moov atom not found|End of file|could not find codec/i.exec(text)?.[0] ?? 'no video stream';
    throw new HaloError(`${file}: not a readable video (${why})`);
  }
  const line = m[0];
  const fpsM = /([\d.]+) fps/.exec(line) ?? /([\d.]+) tbr/.exec(line);
  const durM = /Duration: (\d+):(\d+):([\d.]+)/.exec(text);
  const duration = durM ? Number(durM[1]) * 3600 + Number(durM[2]) * 60 + Number(durM[3]) : undefined;
  const fps = fpsM ? Number(fpsM[1]) : 0;
  return {
    width: Number(m[1]),
    height: Number(m[2]),
    fps,
    duration,
    frames: duration !== undefined && fps > 0 ? Math.round(duration * fps) : undefined,
  };
}

export interface DecodeOptions {
  /** Resample to this frame rate (ffmpeg fps filter). */
  fps?: number;
  /** Stop after this many frames. */
  maxFrames?: number;
  /** Scale to this size (bilinear) when given. */
  width?: number;
  height?: number;
}

/** Stream RGB24 frames (H*W*3 bytes each) of a video. */
export async function* decodeFrames(
  file: string,
  options: DecodeOptions = {},
): AsyncGenerator<{ data: Uint8Array; width: number; height: number; index: number }> {
  const info = await probeVideo(file);
  const width = options.width ?? info.width;
  const height = options.height ?? info.height;
  const filters: string[] = [];
  if (options.fps) filters.push(`fps=${options.fps}`);
  if (options.width || options.height) filters.push(`scale=${width}:${height}:flags=bilinear`);
  const args = ['-hide_banner', '-loglevel', 'error', '-i', file];
  if (filters.length) args.push('-vf', filters.join(','));
  if (options.maxFrames) args.push('-frames:v', String(options.maxFrames));
  args.push('-f', 'rawvideo', '-pix_fmt', 'rgb24', '-');
  const ff = resolveFfmpeg();
  const proc = execa(ff.path, args, { encoding: 'buffer', buffer: { stdout: false, stderr: true }, reject: false });
  const frameSize = width * height * 3;
  let pending: Buffer = Buffer.alloc(0);
  let index = 0;
  for await (const chunk of proc.stdout as AsyncIterable<Buffer>) {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= frameSize) {
      yield { data: new Uint8Array(pending.subarray(0, frameSize)), width, height, index: index++ };
      pending = pending.subarray(frameSize);
    }
  }
  const r = await proc;
  if (r.exitCode !== 0) {
    throw new HaloError(`${file}: decoding failed (${String(Buffer.from(r.stderr as Uint8Array)).trim().split('\n').pop() ?? 'ffmpeg error'})`);
  }
  if (index === 0) throw new HaloError(`${file}: the video has no frames`);
}

/** A whole video in memory: frames * height * width * 3 bytes, RGB, row-major. */
export interface Video {
  frames: number;
  height: number;
  width: number;
  fps: number;
  data: Uint8Array;
}

/** Decode a whole (small) video into memory. */
export async function readVideo(file: string, options: DecodeOptions = {}): Promise<Video> {
  const info = await probeVideo(file);
  const parts: Uint8Array[] = [];
  let width = 0;
  let height = 0;
  for await (const f of decodeFrames(file, options)) {
    parts.push(f.data);
    width = f.width;
    height = f.height;
  }
  const data = new Uint8Array(parts.length * width * height * 3);
  parts.forEach((p, i) => data.set(p, i * p.length));
  return { frames: parts.length, height, width, fps: options.fps ?? info.fps, data };
}

/** Encode RGB24 frames to `file` (lossless H.264 RGB in .mp4 by default). Not atomic by itself. */
export async function writeVideo(file: string, video: Video): Promise<void> {
  const ff = resolveFfmpeg();
  const args = [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${video.width}x${video.height}`, '-r', String(video.fps), '-i', '-',
    '-c:v', 'libx264rgb', '-qp', '0', '-preset', 'veryfast', '-pix_fmt', 'rgb24',
    '-f', 'mp4', file,
  ];
  const r = await execa(ff.path, args, { input: Buffer.from(video.data.buffer, video.data.byteOffset, video.data.byteLength), reject: false });
  if (r.exitCode !== 0) throw new HaloError(`${file}: encoding failed (${String(r.stderr).trim().split('\n').pop()})`);
}
