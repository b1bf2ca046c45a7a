import test from 'ava';
import { cutPatch, patchLayout, splitAxis } from '../halo/patches.js';
import {
  RED,
  contactSheet,
  drawBoxes,
  encodeImage,
  encodePng,
  gridOverlay,
  heatmap,
  readImage,
  storyboard,
  storyboardPng,
  thumbnail,
  type Image,
} from './image.js';

function randomClip(frames: number, height: number, width: number, seed = 1) {
  let s = seed;
  const data = new Uint8Array(frames * height * width * 3).map(() => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24));
  return { frames, height, width, data };
}

const px = (img: Image, x: number, y: number) => Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));

test('encodePng writes a PNG that sharp reads back pixel for pixel', async (t) => {
  const clip = randomClip(1, 7, 13);
  const img = { width: 13, height: 7, data: clip.data };
  const png = encodePng(img);
  t.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const back = await readImage(png);
  t.deepEqual([back.width, back.height], [13, 7]);
  t.deepEqual(Buffer.from(back.data), Buffer.from(img.data));
});

test('storyboard: frames side by side, nearest-neighbour upscaled, with gaps', (t) => {
  const clip = randomClip(4, 8, 8);
  const sb = storyboard(clip, { scale: 8, gap: 2 });
  t.deepEqual([sb.width, sb.height], [4 * 64 + 3 * 2, 64]);
  for (let f = 0; f < 4; f++) {
    for (const [x, y] of [[0, 0], [7, 7], [3, 5]] as const) {
      const src = Array.from(clip.data.subarray(((f * 8 + y) * 8 + x) * 3, ((f * 8 + y) * 8 + x) * 3 + 3));
      // Every output pixel of the 8×8 block shows the source pixel.
      t.deepEqual(px(sb, f * 66 + x * 8, y * 8), src);
      t.deepEqual(px(sb, f * 66 + x * 8 + 7, y * 8 + 7), src);
    }
  }
  t.deepEqual(px(sb, 64, 10), [48, 48, 48]); // the gap
  const grid = storyboard(randomClip(10, 2, 3), { scale: 2, columns: 4, gap: 1 });
  t.deepEqual([grid.width, grid.height], [4 * 6 + 3, 3 * 4 + 2]);
});

test('storyboardPng gives the same pixels as encodePng(storyboard(cutPatch(...)))', async (t) => {
  // Noise, and flat areas (runs of equal pixels) with it.
  const video = randomClip(10, 12, 14, 7);
  for (let i = 0; i < video.data.length; i += 3) if ((i / 3) % 5 < 3) video.data.set([9, 9, 9], i);
  const layout = patchLayout([10, 12, 14], { grid: [3, 2, 4] });
  for (const i of [0, 5, layout.boxes.length - 1]) {
    const box = layout.boxes[i]!;
    for (const options of [{ scale: 5 }, { scale: 3, columns: 2, gap: 3 }, {}, { scale: 1, gap: 0 }, { scale: 2, columns: 3, gap: 1 }]) {
      const png = storyboardPng(video, box, options);
      const direct = await readImage(png);
      const reference = storyboard(cutPatch(video, box), options);
      t.deepEqual([direct.width, direct.height], [reference.width, reference.height]);
      t.deepEqual(Buffer.from(direct.data), Buffer.from(reference.data));
    }
  }
});

test('drawBoxes outlines the given patches in red on the frames they span only', (t) => {
  const video = { frames: 4, height: 8, width: 8, data: new Uint8Array(4 * 8 * 8 * 3).fill(100) };
  const frames = drawBoxes(video, [[1, 3, 0, 4, 4, 8]], { scale: 4, thickness: 1 });
  t.is(frames.length, 4);
  t.deepEqual([frames[0]!.width, frames[0]!.height], [32, 32]);
  t.deepEqual(px(frames[1]!, 16, 0), [...RED]); // top-left corner of the box
  t.deepEqual(px(frames[2]!, 31, 15), [...RED]); // bottom-right corner
  t.deepEqual(px(frames[1]!, 20, 8), [100, 100, 100]); // inside
  t.deepEqual(px(frames[1]!, 15, 0), [100, 100, 100]); // outside
  t.false(frames[0]!.data.some((v, i) => i % 3 === 0 && v === 255));
  t.false(frames[3]!.data.some((v, i) => i % 3 === 0 && v === 255));
});

test('heatmap: one panel per time slice, red for low, green for high, grey for missing', (t) => {
  const scores = Array.from({ length: 2 * 2 * 3 }, (_, i) => (i === 0 ? 1 : i === 1 ? 4 : i === 2 ? null : 2.5));
  const img = heatmap(scores, [2, 2, 3], { cell: 10, gap: 4, numbers: false });
  t.deepEqual([img.width, img.height], [2 * 30 + 4, 20]);
  const [r1, g1] = px(img, 5, 5);
  t.true(r1! > 200 && g1! < 80, 'score 1 is red');
  const [r4, g4] = px(img, 15, 5);
  t.true(g4! > 200 && r4! < 80, 'score 4 is green');
  t.deepEqual(px(img, 25, 5), [96, 96, 96]);
  t.deepEqual(px(img, 31, 5), [255, 255, 255]); // gap between time slices
  t.throws(() => heatmap([1, 2], [1, 2, 2]));
  const numbered = heatmap(scores, [2, 2, 3], { cell: 32, numbers: true });
  t.true(numbered.data.some((v, i) => i % 3 === 0 && v === 0), 'numbers are drawn in black');
});

test('gridOverlay draws the grid lines and numbers every cell', (t) => {
  const frame = { width: 32, height: 32, data: new Uint8Array(32 * 32 * 3).fill(60) };
  const rows = splitAxis(32, 4);
  const img = gridOverlay(frame, rows, rows, { scale: 8, firstIndex: 16 });
  t.deepEqual([img.width, img.height], [256, 256]);
  t.deepEqual(px(img, 64, 200), [255, 255, 255]); // a vertical line at x = 8·8
  t.deepEqual(px(img, 200, 128), [255, 255, 255]); // a horizontal line at y = 16·8
  // Each cell's top-left corner carries a black plate with white digits.
  const cellHasDigits = (cx: number, cy: number) => {
    let white = 0;
    let black = 0;
    for (let y = cy + 3; y < cy + 30; y++) {
      for (let x = cx + 3; x < cx + 40; x++) {
        const [r, g, b] = px(img, x, y);
        if (r === 255 && g === 255 && b === 255) white++;
        if (r === 0 && g === 0 && b === 0) black++;
      }
    }
    return white > 5 && black > 5;
  };
  for (const cy of [0, 64, 128, 192]) for (const cx of [0, 64, 128, 192]) t.true(cellHasDigits(cx, cy), `cell at ${cx},${cy}`);
  const plain = gridOverlay(frame, rows, rows, { scale: 8, firstIndex: null });
  t.deepEqual(px(plain, 20, 20), [60, 60, 60]);
});

test('contactSheet: one row per video, frames evenly spaced; thumbnails and other formats via sharp', async (t) => {
  const sheet = contactSheet([randomClip(16, 32, 32), randomClip(5, 16, 24)], { columns: 4, scale: 2, gap: 4 });
  t.deepEqual([sheet.width, sheet.height], [4 * 64 + 3 * 4, 64 + 4 + 32]);
  const frame = { width: 32, height: 16, data: randomClip(1, 16, 32).data };
  const thumb = await readImage(await thumbnail(frame, 128));
  t.deepEqual([thumb.width, thumb.height], [128, 64]);
  const small = await readImage(await thumbnail(frame, 8));
  t.deepEqual([small.width, small.height], [8, 4]);
  const jpeg = await encodeImage(frame, 'jpeg');
  t.deepEqual([...jpeg.subarray(0, 2)], [0xff, 0xd8]);
});
