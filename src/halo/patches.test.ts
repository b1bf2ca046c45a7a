import test from 'ava';
import { UsageError } from '../cli/errors.js';
import { GridError, cutPatch, gridFor, parseTriple, patchIndex, patchLayout, patchPosition, splitAxis, type Box, type Triple } from './patches.js';

/** How many boxes cover each voxel: must be exactly 1 everywhere. */
function coverage(video: Triple, boxes: Box[]): { min: number; max: number } {
  const [T, H, W] = video;
  const n = new Uint8Array(T * H * W);
  for (const [t0, t1, y0, y1, x0, x1] of boxes) {
    for (let t = t0; t < t1; t++) for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) n[(t * H + y) * W + x]!++;
  }
  return { min: Math.min(...n), max: Math.max(...n) };
}

test('even grid: 4×4×4 on 16×32×32 gives 64 patches of 4×8×8 in time-major, row, column order', (t) => {
  const l = patchLayout([16, 32, 32], { grid: [4, 4, 4] });
  t.deepEqual(l.grid, [4, 4, 4]);
  t.deepEqual(l.size, [4, 8, 8]);
  t.deepEqual(l.video, [16, 32, 32]);
  t.is(l.boxes.length, 64);
  t.deepEqual(l.boxes[0], [0, 4, 0, 8, 0, 8]);
  t.deepEqual(l.boxes[1], [0, 4, 0, 8, 8, 16]); // next column
  t.deepEqual(l.boxes[4], [0, 4, 8, 16, 0, 8]); // next row
  t.deepEqual(l.boxes[16], [4, 8, 0, 8, 0, 8]); // next time slice
  t.deepEqual(l.boxes[63], [12, 16, 24, 32, 24, 32]);
  t.deepEqual(coverage(l.video, l.boxes), { min: 1, max: 1 });
  for (let i = 0; i < 64; i++) {
    const [it, iy, ix] = patchPosition(l.grid, i);
    t.is(patchIndex(l.grid, it, iy, ix), i);
    t.deepEqual(l.boxes[i]!.slice(0, 1), [it * 4]);
  }
});

test('uneven grid: boundaries floor(k·L/g), sizes differ by at most one, the video is covered once', (t) => {
  t.deepEqual(splitAxis(10, 4), [0, 2, 5, 7, 10]);
  const video: Triple = [25, 40, 48];
  const l = patchLayout(video, { grid: [4, 3, 5] });
  t.deepEqual(l.grid, [4, 3, 5]);
  t.is(l.boxes.length, 60);
  t.deepEqual(l.size, [7, 14, 10]); // largest box: 25/4 → 6,6,6,7; 40/3 → 13,13,14; 48/5 → 9,10,9,10,10
  t.deepEqual(coverage(video, l.boxes), { min: 1, max: 1 });
  for (const [t0, t1, y0, y1, x0, x1] of l.boxes) {
    t.true(t1 - t0 >= 6 && t1 - t0 <= 7);
    t.true(y1 - y0 >= 13 && y1 - y0 <= 14);
    t.true(x1 - x0 >= 9 && x1 - x0 <= 10);
  }
});

test('a grid as large as the video gives one-frame, one-pixel patches', (t) => {
  const l = patchLayout([2, 3, 4], { grid: [2, 3, 4] });
  t.is(l.boxes.length, 24);
  t.deepEqual(l.size, [1, 1, 1]);
  t.deepEqual(coverage([2, 3, 4], l.boxes), { min: 1, max: 1 });
});

test('--patch is a largest size: grid = ceil(L/p), then split evenly', (t) => {
  t.deepEqual(gridFor([16, 32, 32], { patch: [4, 8, 8] }), [4, 4, 4]);
  const l = patchLayout([10, 30, 20], { patch: [4, 8, 8] });
  t.deepEqual(l.grid, [3, 4, 3]);
  t.deepEqual(l.size, [4, 8, 7]);
  for (const [t0, t1, y0, y1, x0, x1] of l.boxes) t.true(t1 - t0 <= 4 && y1 - y0 <= 8 && x1 - x0 <= 8);
  t.deepEqual(coverage([10, 30, 20], l.boxes), { min: 1, max: 1 });
  // A patch larger than the video is one patch on that axis.
  t.deepEqual(patchLayout([3, 5, 5], { patch: [8, 8, 8] }).grid, [1, 1, 1]);
});

test('bad input: a grid that exceeds the video names the axis', (t) => {
  const e = t.throws(() => patchLayout([2, 32, 32], { grid: [4, 4, 4] }));
  t.true(e instanceof GridError);
  t.regex(e!.message, /4 patches along time but only 2 frames/);
  const w = t.throws(() => patchLayout([16, 32, 3], { grid: [4, 4, 4] }));
  t.regex(w!.message, /along width but only 3 columns/);
});

test('bad input: grid flags that are not three positive integers are usage errors', (t) => {
  t.deepEqual(parseTriple('4,4,4', '--grid'), [4, 4, 4]);
  t.deepEqual(parseTriple('2x8x8', '--patch'), [2, 8, 8]);
  for (const bad of ['4,4', '0,4,4', 'a,b,c', '4,,4', '1.5,2,2', '4,4,4,4']) {
    const e = t.throws(() => parseTriple(bad, '--grid'));
    t.true(e instanceof UsageError, bad);
    t.regex(e!.message, /^--grid: expected three positive integers/);
  }
});

test('cutPatch copies exactly the pixels of its box', (t) => {
  const [T, H, W] = [3, 4, 5];
  const data = new Uint8Array(T * H * W * 3).map((_, i) => i % 251);
  const p = cutPatch({ frames: T, height: H, width: W, data }, [1, 3, 1, 3, 2, 5]);
  t.deepEqual([p.frames, p.height, p.width], [2, 2, 3]);
  for (let tt = 0; tt < 2; tt++) {
    for (let y = 0; y < 2; y++) {
      for (let x = 0; x < 3; x++) {
        for (let c = 0; c < 3; c++) {
          t.is(p.data[((tt * 2 + y) * 3 + x) * 3 + c], data[(((tt + 1) * H + (y + 1)) * W + (x + 2)) * 3 + c]);
        }
      }
    }
  }
  t.throws(() => cutPatch({ frames: T, height: H, width: W, data }, [0, 4, 0, 1, 0, 1]), { instanceOf: GridError });
});
