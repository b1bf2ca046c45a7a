import test from 'ava';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cutPatch } from '../halo/patches.js';
import { ROOT, tempDir } from '../testing/cli.js';
import {
  INSTALL_HINT,
  MediaError,
  encodeFrames,
  evenlySpaced,
  findFfmpeg,
  openVideo,
  probeVideo,
  readVideo,
  readVideos,
  writeCrops,
  writeVideo,
  type Video,
} from './video.js';

const FIXTURE = path.join(ROOT, 'fixtures/media/testsrc-48x40-25fps.mp4');

function noise(frames: number, height: number, width: number, seed = 3): Video {
  let s = seed;
  const data = new Uint8Array(frames * height * width * 3).map(() => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 24));
  return { frames, height, width, fps: 8, data };
}

/** A smooth moving gradient (what 'web' quality is for). */
function smooth(frames: number, height: number, width: number): Video {
  const data = new Uint8Array(frames * height * width * 3);
  for (let t = 0; t < frames; t++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const o = ((t * height + y) * width + x) * 3;
        data[o] = (x * 3 + t * 4) & 255;
        data[o + 1] = (y * 3) & 255;
        data[o + 2] = 128;
      }
    }
  }
  return { frames, height, width, fps: 8, data };
}

function maxAbsError(a: Uint8Array, b: Uint8Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('round trip: the default encoding is lossless (max error 0), odd sizes included', async (t) => {
  const dir = await tempDir();
  for (const v of [noise(16, 32, 32), noise(5, 9, 7, 11)]) {
    const file = path.join(dir, `v${v.width}.mp4`);
    await writeVideo(file, v);
    const back = await readVideo(file);
    t.deepEqual([back.frames, back.height, back.width, back.fps], [v.frames, v.height, v.width, v.fps]);
    t.is(maxAbsError(back.data, v.data), 0);
  }
});

test("round trip: 'web' quality is visually lossless on smooth content (mean error < 2, max < 24)", async (t) => {
  const dir = await tempDir();
  const v = smooth(8, 32, 48);
  const file = path.join(dir, 'web.mp4');
  await writeVideo(file, v, { quality: 'web' });
  const back = await readVideo(file);
  t.deepEqual([back.frames, back.height, back.width], [8, 32, 48]);
  let sum = 0;
  for (let i = 0; i < v.data.length; i++) sum += Math.abs(back.data[i]! - v.data[i]!);
  t.true(sum / v.data.length < 2, `mean ${sum / v.data.length}`);
  t.true(maxAbsError(back.data, v.data) < 24);
});

test('decodes a non-world video (48×40, 25 fps, 1 s): size, rate, sampling by fps, frames and resize', async (t) => {
  const info = await probeVideo(FIXTURE);
  t.like(info, { width: 48, height: 40, fps: 25, frames: 25, codec: 'h264' });
  const all = await readVideo(FIXTURE);
  t.deepEqual([all.frames, all.height, all.width, all.fps], [25, 40, 48, 25]);
  // testsrc is colourful: not a blank decode
  t.true(new Set(all.data.subarray(0, 48 * 40 * 3)).size > 10);
  const at8 = await readVideo(FIXTURE, { fps: 8 });
  t.deepEqual([at8.frames, at8.fps], [8, 8]);
  const five = await readVideo(FIXTURE, { frames: 5 });
  t.is(five.frames, 5);
  t.is(five.fps, 5);
  const frameSize = 48 * 40 * 3;
  evenlySpaced(5, 25).forEach((src, k) => {
    t.deepEqual(five.data.subarray(k * frameSize, (k + 1) * frameSize), all.data.subarray(src * frameSize, (src + 1) * frameSize));
  });
  const small = await readVideo(FIXTURE, { width: 24, height: 20, maxFrames: 3 });
  t.deepEqual([small.frames, small.height, small.width], [3, 20, 24]);
});

test('openVideo streams frames one at a time and can stop early', async (t) => {
  const v = await openVideo(FIXTURE);
  t.deepEqual([v.width, v.height, v.fps, v.source.frames], [48, 40, 25, 25]);
  const seen: number[] = [];
  for await (const f of v.frames) {
    t.is(f.data.length, 48 * 40 * 3);
    seen.push(f.index);
    if (seen.length === 3) break;
  }
  t.deepEqual(seen, [0, 1, 2]);
});

test('encodeFrames streams frames into a video; writeCrops writes patch clips in one go', async (t) => {
  const dir = await tempDir();
  const v = noise(6, 10, 12);
  const size = 10 * 12 * 3;
  async function* frames() {
    for (let i = 0; i < v.frames; i++) yield v.data.subarray(i * size, (i + 1) * size);
  }
  const file = path.join(dir, 's.mp4');
  await encodeFrames(file, frames(), { width: 12, height: 10, fps: 8 });
  t.is(maxAbsError((await readVideo(file)).data, v.data), 0);
  const boxes: [number, number, number, number, number, number][] = [
    [0, 3, 0, 5, 0, 7],
    [3, 6, 5, 10, 7, 12],
  ];
  await writeCrops(v, boxes.map((box, i) => ({ file: path.join(dir, `c${i}.mp4`), box })));
  for (const [i, box] of boxes.entries()) {
    const clip = await readVideo(path.join(dir, `c${i}.mp4`));
    const want = cutPatch(v, box);
    t.deepEqual([clip.frames, clip.height, clip.width], [want.frames, want.height, want.width]);
    t.is(maxAbsError(clip.data, want.data), 0);
  }
});

test('bad input: a missing, empty, corrupt or truncated video is a MediaError naming the file', async (t) => {
  const dir = await tempDir();
  const missing = path.join(dir, 'missing.mp4');
  const empty = path.join(dir, 'empty.mp4');
  const corrupt = path.join(dir, 'corrupt.mp4');
  const cut = path.join(dir, 'cut.mp4');
  const cutFaststart = path.join(dir, 'cut-faststart.mp4');
  await writeFile(empty, '');
  await writeFile(corrupt, Buffer.from(Array.from({ length: 2000 }, (_, i) => (i * 7919) & 255)));
  const whole = path.join(dir, 'whole.mp4');
  await writeVideo(whole, noise(16, 32, 32));
  const bytes = await readFile(whole);
  await writeFile(cut, bytes.subarray(0, bytes.length >> 1)); // the index (moov) is at the end: lost
  const fixture = await readFile(FIXTURE); // faststart: the index comes first, the frames are cut
  await writeFile(cutFaststart, fixture.subarray(0, 2800));
  const cases: [string, RegExp][] = [
    [missing, /video file not found/],
    [empty, /empty file \(0 bytes\)/],
    [corrupt, /not a readable video \(Invalid data/],
    [cut, /not a readable video/],
    [cutFaststart, /truncated or corrupt video \(decoded \d+ of about 25 frames/],
  ];
  for (const [file, re] of cases) {
    const e = await t.throwsAsync(readVideo(file));
    t.true(e instanceof MediaError, file);
    t.is((e as MediaError).file, file);
    t.regex(e!.message, re, file);
  }
});

test('ffmpeg resolution: HALO_FFMPEG first, then packages, then PATH; none gives the install hint', async (t) => {
  const dir = await tempDir();
  const fake = path.join(dir, 'ffmpeg');
  await writeFile(fake, '#!/bin/sh\n');
  await chmod(fake, 0o755);
  t.deepEqual(findFfmpeg({ env: { HALO_FFMPEG: fake }, fromPackage: () => undefined }), { path: fake, origin: 'HALO_FFMPEG' });
  t.throws(() => findFfmpeg({ env: { HALO_FFMPEG: path.join(dir, 'nope') } }), { message: /HALO_FFMPEG=.*nope: no such executable/ });
  t.deepEqual(findFfmpeg({ env: { PATH: dir }, fromPackage: () => undefined }), { path: fake, origin: 'PATH' });
  t.deepEqual(findFfmpeg({ env: { PATH: dir }, fromPackage: (n) => (n === 'ffmpeg-static' ? '/x/ffmpeg' : undefined) }), {
    path: '/x/ffmpeg',
    origin: 'ffmpeg-static',
  });
  t.deepEqual(findFfmpeg({ env: { PATH: '/nonexistent' }, fromPackage: (n) => (n === '@ffmpeg-installer/ffmpeg' ? '/y/ffmpeg' : undefined) }), {
    path: '/y/ffmpeg',
    origin: '@ffmpeg-installer/ffmpeg',
  });
  const e = t.throws(() => findFfmpeg({ env: { PATH: '/nonexistent' }, fromPackage: () => undefined }));
  t.is(e!.message, INSTALL_HINT);
  t.regex(INSTALL_HINT, /apt-get install ffmpeg.*HALO_FFMPEG/);
});

test('readVideos: one ffmpeg for several videos gives what readVideo gives, errors included', async (t) => {
  const dir = await tempDir();
  const a = path.join(dir, 'a.mp4');
  const b = path.join(dir, 'b.mp4');
  const empty = path.join(dir, 'empty.mp4');
  await writeVideo(a, noise(16, 32, 32, 5));
  await writeVideo(b, noise(6, 9, 7, 6));
  await writeFile(empty, '');
  const requests = [
    { file: a },
    { file: FIXTURE, options: { frames: 5 } },
    { file: empty },
    { file: b, options: { width: 14, height: 18 } },
    { file: FIXTURE, options: { fps: 8 } },
  ];
  const got = await readVideos(requests);
  t.is(got.length, requests.length);
  for (const [i, r] of got.entries()) {
    if (requests[i]!.file === empty) {
      t.is(r.status, 'rejected');
      t.regex((r as PromiseRejectedResult).reason.message, /empty file/);
      continue;
    }
    t.is(r.status, 'fulfilled', String(i));
    const v = (r as PromiseFulfilledResult<Video>).value;
    const want = await readVideo(requests[i]!.file, requests[i]!.options);
    t.deepEqual([v.frames, v.height, v.width, v.fps], [want.frames, want.height, want.width, want.fps], String(i));
    t.true(Buffer.from(v.data).equals(Buffer.from(want.data)), String(i));
  }
  // A corrupt file makes the batch fall back to one decode each: the others still succeed.
  const corrupt = path.join(dir, 'corrupt.mp4');
  await writeFile(corrupt, Buffer.from(Array.from({ length: 2000 }, (_, i) => (i * 7919) & 255)));
  const mixed = await readVideos([{ file: a }, { file: corrupt }, { file: b }]);
  t.deepEqual(mixed.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  t.regex((mixed[1] as PromiseRejectedResult).reason.message, /not a readable video/);
});
