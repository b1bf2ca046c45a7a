// halo-patchify's library: sample records (or video files) in, the same records with their patch
// geometry out. Each video is decoded once (one ffmpeg process), cut into a grid of
// spatiotemporal patches (src/halo/patches.ts), and each patch's storyboard PNG (and optionally
// its clip) is written under `<out>/patches/<sample_id>/`, whole folder at a time (built in a
// temporary folder, then renamed into place). A manifest (patches.json) and its `.done` key
// (video content hash + settings) let re-runs reuse the folder without decoding.
// Videos are decoded by at most `jobs` ffmpeg processes at once, up to 8 small videos per
// process (ffmpeg's start-up dominates a small clip's decode); records come out in input order;
// memory stays flat.
import { createHash, randomBytes } from 'node:crypto';
import { adHocRecord } from '../records/ad-hoc.js';
import { createReadStream, writeFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DataError, HaloError, type Place } from '../cli/errors.js';
import { ensureDir, isDone, markDone } from '../io/atomic.js';
import { readRecords, recordPath, resolveMedia, type ReadOptions } from '../io/jsonl.js';
import { inShard } from '../io/shard.js';
import { autoScale, storyboardPng } from '../media/image.js';
import { MediaError, looksLikeVideo, readVideo, readVideos, resolveFfmpeg, writeCrops, type ReadVideoOptions, type Video } from '../media/video.js';
import { SampleRecord, type PatchGeometry } from '../records/schemas.js';
import { orderedMap } from './ordered.js';
import { GridError, patchLayout, type GridSpec, type PatchLayout, type Triple } from './patches.js';

/** Bumped when the artifacts' format changes, so old folders are redone. */
export const PATCHIFY_VERSION = 'patchify@1';

/** How videos are sampled before cutting; stored in records so later stages decode alike. */
export interface Sampling {
  /** Keep this many frames, evenly spaced over the video. */
  frames?: number;
  /** Resample to this frame rate first. */
  fps?: number;
  /** Scale frames to [height, width] first. */
  size?: [number, number];
}

export interface PatchifySettings {
  spec: GridSpec;
  sampling: Sampling;
  /** Storyboard upscale factor (default: patch's longer side ≥ 64 px). */
  scale?: number;
  /** Also write each patch as a lossless clip. */
  clips: boolean;
}

export interface PatchifyOptions extends PatchifySettings {
  out: string;
  jobs: number;
  force: boolean;
  /** Prompt of records made for video files named on the command line (default: the file name). */
  prompt?: string;
  read: ReadOptions;
  log: (message: string) => void;
  warn: (message: string) => void;
  /** Show a one-line count on stderr (for a terminal). */
  progress?: boolean;
}

/** A status line on stderr, redrawn at most 5 times a second. */
class Progress {
  private last = 0;
  private shown = false;
  private readonly start = Date.now();
  update(s: PatchifyStats): void {
    const now = Date.now();
    if (now - this.last < 200) return;
    this.last = now;
    this.shown = true;
    const rate = (s.cut + s.reused) / Math.max(0.001, (now - this.start) / 1000);
    process.stderr.write(`\rhalo-patchify: ${s.cut + s.reused + s.skipped} videos (${s.cut} cut, ${s.reused} reused, ${s.skipped} skipped), ${rate.toFixed(1)}/s  `);
  }
  done(): void {
    if (this.shown) process.stderr.write('\r\x1b[K');
  }
}

export interface PatchifyStats {
  records: number;
  cut: number;
  reused: number;
  skipped: number;
}

/** What the manifest holds (and a reused folder gives back). */
interface Manifest {
  version: string;
  key: string;
  layout: PatchLayout;
  /** The video as cut (after sampling). */
  video: { frames: number; height: number; width: number; fps: number };
  sampling: Sampling;
  storyboards: string[];
  clips?: string[];
}

type Item = { kind: 'record'; record: SampleRecord; place: Place; dir: string } | { kind: 'file'; file: string; place: Place };

/** Videos decoded by one ffmpeg process, at most (see readVideos). */
export const VIDEOS_PER_DECODER = 8;

/**
 * Gathers decode requests into batches for readVideos(): at most `decoders` ffmpeg processes at
 * once, each taking an even share of the waiting requests, up to VIDEOS_PER_DECODER.
 */
class DecodeQueue {
  private readonly waiting: { file: string; options: ReadVideoOptions; resolve: (v: Video) => void; reject: (e: unknown) => void }[] = [];
  private running = 0;
  private scheduled = false;
  constructor(private readonly decoders: number) {}

  read(file: string, options: ReadVideoOptions): Promise<Video> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ file, options, resolve, reject });
      if (!this.scheduled) {
        // Let the requests made in this turn of the event loop join the same batch.
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.start();
        });
      }
    });
  }

  private start(): void {
    while (this.running < this.decoders && this.waiting.length > 0) {
      const share = Math.min(VIDEOS_PER_DECODER, Math.ceil(this.waiting.length / (this.decoders - this.running)));
      const batch = this.waiting.splice(0, share);
      this.running++;
      readVideos(batch.map((b) => ({ file: b.file, options: b.options })))
        .then((results) => results.forEach((r, i) => (r.status === 'fulfilled' ? batch[i]!.resolve(r.value) : batch[i]!.reject(r.reason))))
        .catch((e) => batch.forEach((b) => b.reject(e)))
        .finally(() => {
          this.running--;
          this.start();
        });
    }
  }
}

/** A file-system-safe folder name for a sample id. */
export function folderName(id: string): string {
  const s = id.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return s.length > 0 && s.length <= 120 ? s : `${s.slice(0, 100)}-${createHash('sha256').update(id).digest('hex').slice(0, 12)}`;
}

async function hashFile(file: string): Promise<string> {
  const h = createHash('sha256');
  const s = await stat(file);
  if (s.size < 1 << 24) {
    h.update(await readFile(file));
  } else {
    for await (const c of createReadStream(file)) h.update(c as Buffer);
  }
  return h.digest('hex');
}

function settingsKey(videoHash: string, settings: PatchifySettings): string {
  const s = { v: PATCHIFY_VERSION, video: videoHash, spec: settings.spec, sampling: settings.sampling, scale: settings.scale ?? null, clips: settings.clips };
  return createHash('sha256').update(JSON.stringify(s)).digest('hex');
}

/** Check that `out` can be made and written, before any work (an unwritable --out is exit 1). */
export async function checkOut(out: string): Promise<void> {
  await ensureDir(out).catch((e: Error) => {
    throw new HaloError(`--out ${out}: ${e.message.replace(`${out}: `, '')}`);
  });
  const probe = path.join(out, `.write-test-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(probe, '');
  } catch (e) {
    throw new HaloError(`--out ${out}: the folder is not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  } finally {
    await rm(probe, { force: true });
  }
}

/** Rename a finished temporary folder to `final`, replacing an older one. */
async function replaceDir(tmp: string, final: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rename(tmp, final);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOTDIR') || attempt > 3) throw e;
      const trash = `${final}.old-${process.pid}-${randomBytes(4).toString('hex')}`;
      await rename(final, trash).catch(() => {});
      await rm(trash, { recursive: true, force: true });
    }
  }
}

/** Read a reusable folder's manifest, when it exists, matches `key` and lists files that exist. */
async function reusable(dir: string, key: string): Promise<Manifest | undefined> {
  const file = path.join(dir, 'patches.json');
  if (!(await isDone(file, key))) return undefined;
  try {
    const m = JSON.parse(await readFile(file, 'utf8')) as Manifest;
    const present = new Set(await readdir(dir));
    const all = [...m.storyboards, ...(m.clips ?? [])];
    return m.key === key && all.every((f) => present.has(f)) ? m : undefined;
  } catch {
    return undefined;
  }
}

function decodeOptions(sampling: Sampling) {
  return {
    frames: sampling.frames,
    fps: sampling.fps,
    height: sampling.size?.[0],
    width: sampling.size?.[1],
  };
}

/** Decode a record's video the way halo-patchify did (its `patches.sampling`), for later stages. */
export async function readPatchedVideo(file: string, patches: PatchGeometry): Promise<Video> {
  const sampling = (patches as { sampling?: Sampling }).sampling ?? {};
  const v = await readVideo(file, decodeOptions(sampling));
  const [T, H, W] = patches.video;
  if (v.frames !== T || v.height !== H || v.width !== W) {
    throw new HaloError(`${file}: decodes to ${v.frames}×${v.height}×${v.width}, but its patches were cut from ${T}×${H}×${W} (re-run halo-patchify)`);
  }
  return v;
}

/** Cut one decoded video and write its artifacts folder; returns the manifest. */
async function cutVideo(video: Video, layout: PatchLayout, dir: string, key: string, settings: PatchifySettings): Promise<Manifest> {
  const tmp = path.join(path.dirname(dir), `.${path.basename(dir)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const digits = Math.max(3, String(layout.boxes.length - 1).length);
  const name = (i: number, ext: string) => `p${String(i).padStart(digits, '0')}.${ext}`;
  try {
    await mkdir(tmp, { recursive: true });
    const storyboards = layout.boxes.map((_, i) => name(i, 'png'));
    const scale = settings.scale ?? autoScale(layout.size[1], layout.size[2]);
    // Synchronous on purpose: 64 small files per video; a thread-pool round trip per file costs
    // more than the write (measured), and the main thread is the bottleneck, not the disk.
    layout.boxes.forEach((box, i) => writeFileSync(path.join(tmp, storyboards[i]!), storyboardPng(video, box, { scale })));
    let clips: string[] | undefined;
    if (settings.clips) {
      clips = layout.boxes.map((_, i) => name(i, 'mp4'));
      await writeCrops(video, layout.boxes.map((box, i) => ({ file: path.join(tmp, clips![i]!), box })));
    }
    const manifest: Manifest = {
      version: PATCHIFY_VERSION,
      key,
      layout,
      video: { frames: video.frames, height: video.height, width: video.width, fps: video.fps },
      sampling: settings.sampling,
      storyboards,
      ...(clips ? { clips } : {}),
    };
    await writeFile(path.join(tmp, 'patches.json'), `${JSON.stringify(manifest)}\n`);
    await replaceDir(tmp, dir);
    await markDone(path.join(dir, 'patches.json'), key);
    return manifest;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    if (e instanceof HaloError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new HaloError(`${dir}: cannot write the patch artifacts (${code ?? (e as Error).message})`);
  }
}

/** Stream the inputs as items: JSONL sources through readRecords, video files as themselves. */
async function* itemsOf(inputs: readonly string[], options: PatchifyOptions): AsyncGenerator<Item> {
  const list = inputs.length ? inputs : ['-'];
  for (const input of list) {
    if (input !== '-' && looksLikeVideo(input)) {
      const id = path.basename(input).replace(/\.[^.]+$/, '');
      if (options.read.shard && !inShard(options.read.shard, id)) continue;
      yield { kind: 'file', file: input, place: { source: input } };
      continue;
    }
    for await (const r of readRecords([input], SampleRecord, options.read)) {
      yield { kind: 'record', record: r.record, place: r.place, dir: r.dir };
    }
  }
}


/** Turn a media or grid failure into an error naming the record's place and field. */
function placed(e: unknown, item: Item): unknown {
  const field = item.kind === 'record' ? 'video' : undefined;
  if (e instanceof MediaError) {
    return new DataError(item.place, field, item.kind === 'record' ? `${e.reason} (${e.file})` : e.reason);
  }
  if (e instanceof GridError) return new DataError(item.place, field, e.message);
  return e;
}

/** Run halo-patchify over `inputs`, writing records through `emit` in input order. */
export async function patchify(inputs: readonly string[], options: PatchifyOptions, emit: (record: unknown) => Promise<void>): Promise<PatchifyStats> {
  const ff = resolveFfmpeg();
  options.log(`ffmpeg: ${ff.path} (${ff.origin})`);
  await checkOut(options.out);
  const root = path.resolve(options.out, 'patches');
  const stats: PatchifyStats = { records: 0, cut: 0, reused: 0, skipped: 0 };
  const decoder = new DecodeQueue(options.jobs);

  const work = async (item: Item): Promise<unknown> => {
    try {
      const file = item.kind === 'record' ? resolveMedia(item.record.video, item.dir) : path.resolve(item.file);
      const id = item.kind === 'record' ? item.record.sample_id : path.basename(item.file).replace(/\.[^.]+$/, '');
      let hash: string;
      try {
        hash = await hashFile(file);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new MediaError(file, code === 'ENOENT' ? 'video file not found' : code === 'EISDIR' ? 'not a file' : `cannot read (${code ?? (e as Error).message})`);
      }
      const key = settingsKey(hash, options);
      const dir = path.join(root, folderName(id));
      let manifest = options.force ? undefined : await reusable(dir, key);
      if (manifest) {
        stats.reused++;
        options.log(`${id}: artifacts exist and match, reused (${dir})`);
      } else {
        const video = await decoder.read(file, decodeOptions(options.sampling));
        const layout = patchLayout([video.frames, video.height, video.width] as Triple, options.spec);
        manifest = await cutVideo(video, layout, dir, key, options);
        stats.cut++;
      }
      const record = item.kind === 'record' ? item.record : adHocRecord(item.file, options.prompt, manifest.video);
      const at = (f: string) => recordPath(path.join(dir, f), options.out);
      const patches: PatchGeometry = {
        ...manifest.layout,
        dir: recordPath(dir, options.out),
        storyboards: manifest.storyboards.map(at),
        ...(manifest.clips ? { clips: manifest.clips.map(at) } : {}),
        ...(Object.keys(manifest.sampling).length ? { sampling: manifest.sampling } : {}),
      };
      return { ...record, patches };
    } catch (e) {
      const err = placed(e, item);
      if (options.read.skipInvalid && err instanceof DataError) {
        options.warn(`${err.message} (skipped)`);
        stats.skipped++;
        return undefined;
      }
      throw err;
    }
  };

  const progress = options.progress ? new Progress() : undefined;
  try {
    // Enough videos in flight to fill `jobs` decoders with a batch each.
    for await (const out of orderedMap(itemsOf(inputs, options), options.jobs * VIDEOS_PER_DECODER, work)) {
      progress?.update(stats);
      if (out === undefined) continue;
      stats.records++;
      await emit(out);
    }
  } finally {
    progress?.done();
  }
  options.log(`${stats.records} records: ${stats.cut} videos cut, ${stats.reused} reused, ${stats.skipped} skipped`);
  return stats;
}
