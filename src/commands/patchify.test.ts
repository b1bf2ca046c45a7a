// End-to-end tests of halo-patchify: the real binary on videos made with writeVideo, the
// 48×40 25 fps fixture, and the halo-world pipeline.
import test from 'ava';
import { copyFile, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cutPatch } from '../halo/patches.js';
import { readImage, storyboard } from '../media/image.js';
import { readVideo, writeVideo, type Video } from '../media/video.js';
import { ROOT, jsonl, runCli, tempDir } from '../testing/cli.js';

const FIXTURE = path.join(ROOT, 'fixtures/media/testsrc-48x40-25fps.mp4');

function world(seed: number, frames = 16): Video {
  const data = new Uint8Array(frames * 32 * 32 * 3);
  for (let t = 0; t < frames; t++) {
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        const o = ((t * 32 + y) * 32 + x) * 3;
        const inside = Math.abs(x - 8 - t - seed) < 5 && Math.abs(y - 16) < 5;
        data.set(inside ? [200, 40 + seed * 20, 40] : [230, 230, 230 - seed], o);
      }
    }
  }
  return { frames, height: 32, width: 32, fps: 8, data };
}

const sample = (i: number, extra: Record<string, unknown> = {}) => ({
  id: `p${i}`,
  prompt: 'a red square moves right',
  sample_id: `p${i}-s0`,
  seed: 0,
  video: `videos/v${i}.mp4`,
  frames: 16,
  height: 32,
  width: 32,
  fps: 8,
  ...extra,
});

/** Six videos made once (16×32×32), copied into each test's folder. */
let made: Promise<string> | undefined;
function templates(): Promise<string> {
  made ??= (async () => {
    const dir = await tempDir('halo-patchify-videos-');
    await Promise.all([0, 1, 2, 3, 4, 5].map((i) => writeVideo(path.join(dir, `v${i}.mp4`), world(i))));
    return dir;
  })();
  return made;
}

/** A folder with videos/v0..v{n-1}.mp4 (16×32×32) to run in. */
async function workspace(n = 4): Promise<string> {
  const src = await templates();
  const dir = await tempDir('halo-patchify-');
  await mkdir(path.join(dir, 'videos'));
  for (let i = 0; i < n; i++) await copyFile(path.join(src, `v${i}.mp4`), path.join(dir, 'videos', `v${i}.mp4`));
  return dir;
}

/** Every file and folder under `dir`, relative. */
async function tree(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true })).map(String).sort();
  } catch {
    return [];
  }
}

const leftovers = (files: string[]) => files.filter((f) => /\.tmp|\.old-|write-test/.test(f));

/** Width and height from a PNG's IHDR. */
async function pngSize(file: string): Promise<[number, number]> {
  const b = await readFile(file);
  return [b.readUInt32BE(16), b.readUInt32BE(20)];
}

test('records in → records out: geometry, storyboards on disk, fields kept, input order', async (t) => {
  const dir = await workspace(4);
  const records = [3, 1, 0, 2].map((i) => sample(i, { extra: `x${i}` }));
  const r = await runCli('patchify', ['--out', 'out', '--jobs', '2'], { input: jsonl(records), cwd: dir });
  t.is(r.exitCode, 0, r.stderr);
  t.deepEqual(r.records.map((x) => x.sample_id), ['p3-s0', 'p1-s0', 'p0-s0', 'p2-s0']);
  for (const rec of r.records) {
    t.is(rec.extra, `x${rec.id.slice(1)}`);
    t.is(rec.video, `videos/v${rec.id.slice(1)}.mp4`);
    const p = rec.patches;
    t.deepEqual([p.grid, p.size, p.video], [[4, 4, 4], [4, 8, 8], [16, 32, 32]]);
    t.is(p.boxes.length, 64);
    t.deepEqual(p.boxes[5], [0, 4, 8, 16, 8, 16]);
    t.is(p.dir, `out/patches/${rec.sample_id}`);
    t.is(p.storyboards.length, 64);
    t.is(p.storyboards[63], `out/patches/${rec.sample_id}/p063.png`);
    for (const f of [p.storyboards[0], p.storyboards[63]]) t.deepEqual(await pngSize(path.join(dir, f)), [4 * 64 + 3 * 2, 64]);
  }
  // A storyboard shows its patch's pixels.
  const rec = r.records[0]!;
  const video = await readVideo(path.join(dir, rec.video));
  const shown = await readImage(path.join(dir, rec.patches.storyboards[21]));
  t.deepEqual(Buffer.from(shown.data), Buffer.from(storyboard(cutPatch(video, rec.patches.boxes[21])).data));
  t.deepEqual(leftovers(await tree(path.join(dir, 'out'))), []);
});

test('ad-hoc: halo-patchify clip.mp4 makes a sample-shaped record (48×40 at 25 fps, uneven grid)', async (t) => {
  const dir = await tempDir('halo-patchify-');
  await copyFile(FIXTURE, path.join(dir, 'clip.mp4'));
  const r = await runCli('patchify', ['clip.mp4', '--out', 'o'], { cwd: dir });
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.records.length, 1);
  const rec = r.records[0]!;
  t.like(rec, { id: 'clip', sample_id: 'clip', prompt: 'clip', seed: 0, video: 'clip.mp4', frames: 25, height: 40, width: 48, fps: 25 });
  t.deepEqual(rec.patches.video, [25, 40, 48]);
  t.deepEqual(rec.patches.size, [7, 10, 12]); // 25 frames in 4 → 6, 6, 6, 7
  t.deepEqual(rec.patches.boxes[63], [18, 25, 30, 40, 36, 48]);
  for (const f of rec.patches.storyboards) t.true((await stat(path.join(dir, f))).size > 0);

  // Sampling and --prompt: 8 frames evenly spaced, a 4×2×2 grid.
  const s = await runCli('patchify', [path.join(dir, 'clip.mp4'), '--out', 'o2', '--frames', '8', '--grid', '4,2,2', '--prompt', 'a test pattern'], { cwd: dir });
  t.is(s.exitCode, 0, s.stderr);
  t.like(s.records[0], { prompt: 'a test pattern', frames: 8, fps: 8, video: path.join(dir, 'clip.mp4') });
  t.deepEqual(s.records[0]!.patches.video, [8, 40, 48]);
  t.deepEqual(s.records[0]!.patches.sampling, { frames: 8 });
  t.is(s.records[0]!.patches.storyboards.length, 16);

  // Resampling and scaling before cutting, recorded so later stages decode alike.
  const z = await runCli('patchify', ['clip.mp4', '--out', 'o3', '--fps', '8', '--resize', '16,24', '--grid', '2,2,2'], { cwd: dir });
  t.is(z.exitCode, 0, z.stderr);
  t.like(z.records[0], { frames: 8, height: 16, width: 24, fps: 8 });
  t.deepEqual(z.records[0]!.patches.size, [4, 8, 12]);
  t.deepEqual(z.records[0]!.patches.sampling, { fps: 8, size: [16, 24] });
});

test('--patch sizes and --clips: each patch also as a lossless clip', async (t) => {
  const dir = await workspace(1);
  const r = await runCli('patchify', ['--out', 'out', '--patch', '8,16,16', '--clips'], { input: jsonl([sample(0)]), cwd: dir });
  t.is(r.exitCode, 0, r.stderr);
  const p = r.records[0]!.patches;
  t.deepEqual([p.grid, p.size], [[2, 2, 2], [8, 16, 16]]);
  t.is(p.clips.length, 8);
  const clip = await readVideo(path.join(dir, p.clips[3]));
  const video = await readVideo(path.join(dir, 'videos/v0.mp4'));
  t.deepEqual(Buffer.from(clip.data), Buffer.from(cutPatch(video, p.boxes[3]).data));
});

test('--shard K/N: each record goes to exactly one shard', async (t) => {
  const dir = await workspace(6);
  const input = jsonl([0, 1, 2, 3, 4, 5].map((i) => sample(i)));
  const a = await runCli('patchify', ['--out', 'out', '--shard', '1/2'], { input, cwd: dir });
  const b = await runCli('patchify', ['--out', 'out', '--shard', '2/2'], { input, cwd: dir });
  t.is(a.exitCode, 0, a.stderr);
  t.is(b.exitCode, 0, b.stderr);
  const ids = [...a.records, ...b.records].map((x) => x.sample_id).sort();
  t.deepEqual(ids, ['p0-s0', 'p1-s0', 'p2-s0', 'p3-s0', 'p4-s0', 'p5-s0']);
  t.true(a.records.length > 0 && b.records.length > 0);
  const bad = await runCli('patchify', ['--out', 'out', '--shard', '3/2'], { input, cwd: dir });
  t.is(bad.exitCode, 2);
  t.regex(bad.stderr, /--shard/);
});

test('resume: a re-run reuses matching artifacts; --force, new settings or a changed video redo them', async (t) => {
  const dir = await workspace(2);
  const input = jsonl([sample(0), sample(1)]);
  const first = await runCli('patchify', ['--out', 'out', '--verbose'], { input, cwd: dir });
  t.is(first.exitCode, 0, first.stderr);
  t.regex(first.stderr, /2 videos cut, 0 reused/);
  const sb = path.join(dir, 'out/patches/p0-s0/p000.png');
  const before = (await stat(sb)).mtimeMs;
  const again = await runCli('patchify', ['--out', 'out', '--verbose'], { input, cwd: dir });
  t.regex(again.stderr, /0 videos cut, 2 reused/);
  t.deepEqual(again.records, first.records);
  t.is((await stat(sb)).mtimeMs, before);
  const forced = await runCli('patchify', ['--out', 'out', '--verbose', '--force'], { input, cwd: dir });
  t.regex(forced.stderr, /2 videos cut, 0 reused/);
  const regrid = await runCli('patchify', ['--out', 'out', '--verbose', '--grid', '2,2,2'], { input, cwd: dir });
  t.regex(regrid.stderr, /2 videos cut, 0 reused/);
  t.is(regrid.records[0]!.patches.storyboards.length, 8);
  t.false((await tree(path.join(dir, 'out/patches/p0-s0'))).includes('p063.png'), 'the old folder was replaced whole');
  await writeVideo(path.join(dir, 'videos/v1.mp4'), world(5));
  const changed = await runCli('patchify', ['--out', 'out', '--verbose', '--grid', '2,2,2'], { input, cwd: dir });
  t.regex(changed.stderr, /1 videos cut, 1 reused/);
});

test('--verbose names the ffmpeg binary; HALO_FFMPEG picks it; a missing one is a clear error', async (t) => {
  const dir = await workspace(1);
  const r = await runCli('patchify', ['--out', 'out', '--verbose'], { input: jsonl([sample(0)]), cwd: dir });
  t.regex(r.stderr, /halo-patchify: ffmpeg: \S*ffmpeg\S* \((PATH|ffmpeg-static|@ffmpeg-installer\/ffmpeg|HALO_FFMPEG)\)/);
  const bundled = path.join(ROOT, 'node_modules/@ffmpeg-installer/linux-x64/ffmpeg');
  if ((await stat(bundled).catch(() => undefined))?.isFile()) {
    const e = await runCli('patchify', ['--out', 'out2', '--verbose'], { input: jsonl([sample(0)]), cwd: dir, env: { HALO_FFMPEG: bundled } });
    t.is(e.exitCode, 0, e.stderr);
    t.true(e.stderr.includes(`ffmpeg: ${bundled} (HALO_FFMPEG)`));
  }
  const missing = await runCli('patchify', ['--out', 'out3'], { input: jsonl([sample(0)]), cwd: dir, env: { HALO_FFMPEG: '/nonexistent/ffmpeg' } });
  t.is(missing.exitCode, 1);
  t.regex(missing.stderr, /^halo-patchify: HALO_FFMPEG=\/nonexistent\/ffmpeg: no such executable file/m);
});

test('the done-check pipeline: halo-world prompts | halo-world render | halo-patchify', async (t) => {
  const world = path.join(ROOT, 'bin/halo-world.js');
  if (!(await stat(world).catch(() => undefined))) return t.pass('halo-world is not built yet');
  const dir = await tempDir('halo-patchify-');
  const prompts = await runCli('world', ['prompts', '-n', '4'], { cwd: dir });
  t.is(prompts.exitCode, 0, prompts.stderr);
  const rendered = await runCli('world', ['render', '--out', 'r'], { input: prompts.stdout, cwd: dir });
  t.is(rendered.exitCode, 0, rendered.stderr);
  const r = await runCli('patchify', ['--out', 'r'], { input: rendered.stdout, cwd: dir });
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.records.length, rendered.records.length);
  t.true(r.records.length >= 4);
  for (const [i, rec] of r.records.entries()) {
    t.is(rec.sample_id, rendered.records[i]!.sample_id);
    t.deepEqual(rec.patches.video, [rec.frames, rec.height, rec.width]);
    t.is(rec.patches.storyboards.length, 64);
    for (const f of [rec.patches.storyboards[0], rec.patches.storyboards[63]]) t.true((await stat(path.join(dir, f))).size > 0);
  }
});

// ---- bad input -------------------------------------------------------------------------------

/** Run with records on stdin and assert exit code, a message, and no half-written files. */
async function fails(t: any, dir: string, input: string, args: string[], code: number, re: RegExp) {
  const r = await runCli('patchify', ['--out', 'out', ...args], { input, cwd: dir });
  t.is(r.exitCode, code, r.stderr);
  t.regex(r.stderr, re);
  t.deepEqual(leftovers(await tree(path.join(dir, 'out'))), []);
  return r;
}

test('bad input: a malformed JSON line names its line; records before it are still written', async (t) => {
  const dir = await workspace(1);
  const r = await fails(t, dir, `${JSON.stringify(sample(0))}\n{"id": oops\n`, [], 1, /^halo-patchify: <stdin>:2: malformed JSON/m);
  t.is(r.records.length, 1);
});

test('bad input: a record missing a field names the line and field', async (t) => {
  const dir = await workspace(1);
  const { video: _, ...noVideo } = sample(0);
  await fails(t, dir, jsonl([sample(0), noVideo]), [], 1, /^halo-patchify: <stdin>:2: video: /m);
});

test('bad input: a field of the wrong type names the line and field', async (t) => {
  const dir = await workspace(1);
  await fails(t, dir, jsonl([sample(0, { frames: '16' })]), [], 1, /^halo-patchify: <stdin>:1: frames: .*number/m);
});

test('bad input: a missing video file names the line, the field and the path', async (t) => {
  const dir = await workspace(1);
  await fails(t, dir, jsonl([sample(0), sample(7)]), [], 1, /^halo-patchify: <stdin>:2: video: video file not found \(.*videos\/v7\.mp4\)/m);
});

test('bad input: a corrupt video', async (t) => {
  const dir = await workspace(1);
  await writeFile(path.join(dir, 'videos/v1.mp4'), Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 131) & 255)));
  await fails(t, dir, jsonl([sample(1)]), [], 1, /^halo-patchify: <stdin>:1: video: not a readable video \(Invalid data/m);
});

test('bad input: a truncated video', async (t) => {
  const dir = await workspace(1);
  const bytes = await readFile(path.join(dir, 'videos/v0.mp4'));
  await writeFile(path.join(dir, 'videos/v1.mp4'), bytes.subarray(0, bytes.length - 200));
  const fixture = await readFile(FIXTURE);
  await writeFile(path.join(dir, 'videos/v2.mp4'), fixture.subarray(0, 2800));
  await fails(t, dir, jsonl([sample(1)]), [], 1, /^halo-patchify: <stdin>:1: video: not a readable video/m);
  await fails(t, dir, jsonl([sample(2)]), [], 1, /^halo-patchify: <stdin>:1: video: truncated or corrupt video/m);
});

test('bad input: a zero-length video', async (t) => {
  const dir = await workspace(1);
  await writeFile(path.join(dir, 'videos/v1.mp4'), '');
  await fails(t, dir, jsonl([sample(1)]), [], 1, /^halo-patchify: <stdin>:1: video: empty file \(0 bytes\)/m);
});

test('bad input: a grid that exceeds the video (exit 1) or is not a grid (exit 2)', async (t) => {
  const dir = await workspace(1);
  await fails(t, dir, jsonl([sample(0)]), ['--grid', '32,4,4'], 1, /^halo-patchify: <stdin>:1: video: a grid of 32×4×4 does not fit a 16×32×32 video: 32 patches along time but only 16 frames/m);
  await fails(t, dir, jsonl([sample(0)]), ['--grid', '4,4'], 2, /--grid: expected three positive integers/);
  await fails(t, dir, jsonl([sample(0)]), ['--grid', '4,4,4', '--patch', '4,8,8'], 2, /mutually exclusive|conflict/i);
  await fails(t, dir, jsonl([sample(0)]), ['--frames', '0'], 2, /--frames: expected a positive integer/);
});

test('bad input: an unwritable --out', async (t) => {
  const dir = await workspace(1);
  await writeFile(path.join(dir, 'afile'), 'x');
  const r = await runCli('patchify', ['--out', 'afile/sub'], { input: jsonl([sample(0)]), cwd: dir });
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /^halo-patchify: --out afile\/sub: cannot create the output folder \(ENOTDIR\)/m);
  t.is(r.stdout, '');
});

test('bad input: unknown flags and a missing --out are usage errors (exit 2)', async (t) => {
  const dir = await workspace(0);
  const r = await runCli('patchify', ['--out', 'out', '--gird', '4,4,4'], { cwd: dir });
  t.is(r.exitCode, 2);
  t.regex(r.stderr, /Unknown argument: gird/);
  const n = await runCli('patchify', [], { cwd: dir });
  t.is(n.exitCode, 2);
  t.regex(n.stderr, /Missing required argument: out/);
});

test('bad input: --skip-invalid warns about bad records and videos and goes on', async (t) => {
  const dir = await workspace(2);
  await writeFile(path.join(dir, 'videos/v1.mp4'), '');
  const input = `${JSON.stringify(sample(0))}\n{oops\n${JSON.stringify(sample(1))}\n${JSON.stringify(sample(9))}\n`;
  const r = await runCli('patchify', ['--out', 'out', '--skip-invalid'], { input, cwd: dir });
  t.is(r.exitCode, 0, r.stderr);
  t.deepEqual(r.records.map((x) => x.sample_id), ['p0-s0']);
  t.regex(r.stderr, /<stdin>:2: malformed JSON/);
  t.regex(r.stderr, /<stdin>:3: video: empty file/);
  t.regex(r.stderr, /<stdin>:4: video: video file not found/);
});
