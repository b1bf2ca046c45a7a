// Inference sessions: feeds checked by name and shape, a session cache per input shape, execution
// provider fallback with a message, safetensors round trip.
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GraphBuilder } from '../graph/builder.js';
import { Graph } from '../graph/ir.js';
import { encodeModel } from '../graph/onnx.js';
import { tensor } from '../graph/tensor.js';
import { Session, SessionCache } from './session.js';
import { createOrtSession, parseDevice, providerChain } from './ort.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';

function double(shape: number[]): Graph {
  const g = new GraphBuilder();
  g.output(g.mul(g.input('x', 'float32', shape), 2), 'y');
  return g.graph;
}

test('Session runs a built graph and names bad feeds', async (t) => {
  const s = await Session.create(double([2, 2]));
  t.is(s.provider, 'cpu');
  const r = await s.run({ x: tensor('float32', [2, 2], [1, 2, 3, 4]) });
  t.deepEqual(Array.from(r.y.data as Float32Array), [2, 4, 6, 8]);
  await t.throwsAsync(() => s.run({}), { message: /missing input 'x' \(float32\[2,2\]\)/ });
  await t.throwsAsync(() => s.run({ x: tensor('float32', [4], [1, 2, 3, 4]) }), { message: /input 'x' expects float32\[2,2\], got float32\[4\]/ });
  await t.throwsAsync(() => s.run({ x: tensor('float32', [2, 2]), z: tensor('float32', [1]) }), { message: /unknown input 'z'/ });
  await s.release();
});

test('SessionCache builds one session per input shape and reuses it', async (t) => {
  let builds = 0;
  const cache = new SessionCache((shapes) => {
    builds++;
    return double(shapes.x);
  });
  await cache.run({ x: tensor('float32', [3], [1, 2, 3]) });
  const r = await cache.run({ x: tensor('float32', [3], [4, 5, 6]) });
  t.deepEqual(Array.from(r.y.data as Float32Array), [8, 10, 12]);
  await cache.run({ x: tensor('float32', [1, 2], [1, 2]) });
  t.is(builds, 2);
  t.is(cache.size, 2);
  await cache.release();
});

test('an unavailable execution provider falls back to CPU and says so', async (t) => {
  const logs: string[] = [];
  const s = await createOrtSession(encodeModel(double([2])), { device: 'cuda', log: (m) => logs.push(m) });
  t.is(s.provider, 'cpu');
  t.is(logs.length, 1);
  t.regex(logs[0], /device 'cuda' unavailable \(cuda: .*\); using cpu/);
  t.deepEqual(providerChain('auto'), ['cuda', 'webgpu', 'cpu']);
  t.is(parseDevice('webgpu'), 'webgpu');
  t.throws(() => parseDevice('gpu'), { message: "--device: expected one of cpu|cuda|webgpu|auto, got 'gpu'" });
  t.throws(() => providerChain('tpu' as never), { message: /unknown device 'tpu' \(expected cpu\|cuda\|webgpu\|auto\)/ });
});

test('safetensors round trip keeps dtypes, shapes, values and metadata', (t) => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'halo-st-')), 'a.safetensors');
  const ts = {
    a: tensor('float32', [2, 3], [1, 2, 3, 4, 5, 6]),
    b: tensor('int64', [2], [7, -8]),
    c: tensor('float64', [], [Math.PI]),
    d: tensor('bool', [3], [1, 0, 1]),
  };
  writeSafetensors(file, ts, { note: 'x' });
  const raw = fs.readFileSync(file);
  const n = Number(raw.readBigUInt64LE(0));
  t.is((8 + n) % 8, 0);
  t.is(JSON.parse(raw.subarray(8, 8 + n).toString()).a.dtype, 'F32');
  const back = readSafetensors(file);
  t.deepEqual(back.metadata, { note: 'x' });
  for (const k of Object.keys(ts) as (keyof typeof ts)[]) {
    t.is(back.tensors[k].dtype, ts[k].dtype);
    t.deepEqual(back.tensors[k].shape, ts[k].shape);
    t.deepEqual(Array.from(back.tensors[k].data as ArrayLike<number>), Array.from(ts[k].data as ArrayLike<number>));
  }
});
