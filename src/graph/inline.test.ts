import test from 'ava';
import { GraphBuilder } from './builder.js';
import { inlineGraph } from './inline.js';
import { decodeModel, loadModel, withInitializers } from './onnx.js';
import * as fs from 'node:fs';
import { missingRules } from './autodiff.js';
import { Rng } from './rng.js';
import { Tensor, tensor } from './tensor.js';
import { Session } from '../runtime/session.js';

const FIXTURE = new URL('../../../fixtures/models/torch-unet3d/denoiser.onnx', import.meta.url).pathname;
const SHAPES = { sample: [2, 3, 8, 16, 16], timestep: [2], encoder_hidden_states: [2, 32] };

function feeds(): Record<string, Tensor> {
  const r = new Rng(11);
  return {
    sample: tensor('float32', SHAPES.sample, r.fill(2 * 3 * 8 * 16 * 16, (q) => q.normal())),
    timestep: tensor('float32', [2], [0.3, 0.8]),
    encoder_hidden_states: tensor('float32', [2, 32], r.fill(64, (q) => q.normal())),
  };
}

test('a PyTorch-exported denoiser inlined twice under two prefixes computes what the file computes, and is differentiable', async (t) => {
  const { graph: sub } = loadModel(FIXTURE, { inputShapes: SHAPES });
  const f = feeds();
  const direct = (await (await Session.create(FIXTURE)).run(f)).noise_pred.data as Float32Array;

  const g = new GraphBuilder({ name: 'twice' });
  const inputs = {
    sample: g.input('x', 'float32', SHAPES.sample),
    timestep: g.input('t', 'float32', SHAPES.timestep),
    encoder_hidden_states: g.input('c', 'float32', SHAPES.encoder_hidden_states),
  };
  const a = inlineGraph(g, sub, { prefix: 'policy.', inputs });
  const b = inlineGraph(g, sub, { prefix: 'ref.', inputs });
  t.is(Object.keys(a.params).length, Object.keys(b.params).length);
  t.true(Object.keys(a.params).every((k) => k.startsWith('policy.') && `ref.${k.slice(7)}` in b.params));
  g.output(a.outputs.noise_pred, 'ya');
  g.output(b.outputs.noise_pred, 'yb');
  const loss = g.reduceSum(g.mul(a.outputs.noise_pred, a.outputs.noise_pred));
  t.deepEqual(missingRules(g.graph, loss.name, Object.keys(a.params)), []);

  const s = await Session.create(g.graph);
  const out = await s.run({ x: f.sample, t: f.timestep, c: f.encoder_hidden_states, ...a.params, ...b.params });
  const ya = out.ya.data as Float32Array;
  t.is(ya.length, direct.length);
  let worst = 0;
  for (let i = 0; i < ya.length; i++) worst = Math.max(worst, Math.abs(ya[i] - direct[i]), Math.abs((out.yb.data as Float32Array)[i] - direct[i]));
  t.true(worst < 1e-5, `max difference ${worst}`);
});

test('inlining names what does not fit', (t) => {
  const { graph: sub } = loadModel(FIXTURE, { inputShapes: SHAPES });
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', SHAPES.sample);
  const narrow = g.input('narrow', 'float32', [2, 3, 8, 16, 8]);
  const tt = g.input('t', 'float32', [2]);
  const c = g.input('c', 'float32', [2, 32]);
  t.throws(() => inlineGraph(g, sub, { prefix: 'p.', inputs: { sample: x, timestep: tt } }), { message: /input 'encoder_hidden_states' is not bound/ });
  t.throws(() => inlineGraph(g, sub, { prefix: 'q.', inputs: { sample: narrow, timestep: tt, encoder_hidden_states: c } }), { message: /input 'sample' has shape \[2, 3, 8, 16, 16\], bound to \[2, 3, 8, 16, 8\]/ });
  t.throws(() => inlineGraph(g, sub, { prefix: 'r.', inputs: { sample: x, timestep: tt, encoder_hidden_states: c, extra: c } }), { message: /no input named 'extra'/ });
  t.is(g.graph.params.size, 0, 'nothing was added');
});

test('withInitializers rewrites weights of an ONNX file and keeps the rest (dynamic batch included)', async (t) => {
  const bytes = fs.readFileSync(FIXTURE);
  const { graph } = decodeModel(bytes);
  const [name, w] = [...graph.initializers].find(([, v]) => v.dtype === 'float32' && v.shape.length === 5)!;
  const doubled = tensor('float32', w.shape, Float32Array.from(w.data as Float32Array, (v) => 2 * v));
  const out = decodeModel(withInitializers(bytes, { [name]: doubled })).graph;
  t.deepEqual(Array.from(out.initializers.get(name)!.data as Float32Array), Array.from(doubled.data as Float32Array));
  t.deepEqual(out.value('sample').shape, graph.value('sample').shape);
  t.is(out.nodes.length, graph.nodes.length);
  t.throws(() => withInitializers(bytes, { nope: doubled }), { message: /no initializer named nope/ });
  t.throws(() => withInitializers(bytes, { [name]: tensor('float32', [1], [0]) }), { message: /is float32\[/ });
});
