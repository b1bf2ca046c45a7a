// Serialization: deterministic bytes, build → serialize → load → identical bytes and outputs, external
// data, a PyTorch-exported file (shapes inferred, run, differentiated), unknown ops reported.
import test from 'ava';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { AttributeProtoSchema, ModelProtoSchema, ValueInfoProtoSchema } from 'onnx-buf';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GraphBuilder } from './builder.js';
import { decodeModel, encodeModel, loadModel, saveModel } from './onnx.js';
import { attention, conv, layerNorm, linear, mlp } from './nn.js';
import { initParams } from './init.js';
import { bakeParams, paramsFromInitializers } from './bake.js';
import { gradients, missingRules, GradError } from './autodiff.js';
import { Rng } from './rng.js';
import { Tensor, tensor } from './tensor.js';
import { Session } from '../runtime/session.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'halo-onnx-'));

function model() {
  const g = new GraphBuilder({ name: 'm' });
  const x = g.input('x', 'float32', [2, 4, 8]);
  const img = g.input('img', 'float32', [2, 3, 6, 6]);
  let h = attention(g, 'att', layerNorm(g, 'ln', x), { heads: 2 });
  h = mlp(g, 'mlp', h, 16, { act: 'gelu_tanh' });
  const c = g.reduceMean(g.silu(conv(g, 'conv', img, 4, [3, 3], { stride: [2, 2] })), [2, 3]);
  g.output(g.add(g.reduceMean(h, [1]), linear(g, 'proj', c, 8)), 'y');
  return g.graph;
}

const feeds = (): Record<string, Tensor> => {
  const r = new Rng(3);
  return { x: tensor('float32', [2, 4, 8], r.fill(64, (q) => q.normal())), img: tensor('float32', [2, 3, 6, 6], r.fill(216, (q) => q.normal())) };
};

test('the same model gives byte-identical ONNX files', (t) => {
  const a = encodeModel(model());
  const b = encodeModel(model());
  t.true(a.byteLength > 1000);
  t.deepEqual(Buffer.from(a), Buffer.from(b));
});

test('build → serialize → load → identical bytes and identical outputs', async (t) => {
  const g = model();
  const params = initParams(g.params.values(), 1);
  const bytes = encodeModel(g);
  const { graph: back, report } = decodeModel(bytes);
  t.deepEqual(report.opaque, []);
  t.deepEqual([...back.params.keys()], [...g.params.keys()]);
  t.deepEqual(back.params.get('conv.weight')!.init, { kaiming: 'uniform', fanIn: 27 });
  t.deepEqual(Buffer.from(encodeModel(back)), Buffer.from(bytes));
  const s1 = await Session.create(g);
  const s2 = await Session.create(back);
  const o1 = await s1.run({ ...feeds(), ...params });
  const o2 = await s2.run({ ...feeds(), ...params });
  t.deepEqual(o1.y.data, o2.y.data);
  // baked into a self-contained file, saved, loaded by path
  const baked = bakeParams(g, params);
  const file = path.join(tmp, 'baked.onnx');
  saveModel(baked, file);
  const s3 = await Session.create(file);
  // ORT pre-packs constant weights, so a baked model agrees to rounding, not bit for bit
  const o3 = (await s3.run(feeds())).y.data as Float32Array;
  o3.forEach((v, i) => t.true(Math.abs(v - (o1.y.data[i] as number)) < 1e-5));
  t.deepEqual(Buffer.from(encodeModel(loadModel(file).graph)), Buffer.from(fs.readFileSync(file)));
});

test('external data: weights beside the model, loaded by path, same outputs', async (t) => {
  const g = model();
  const params = initParams(g.params.values(), 2);
  const baked = bakeParams(g, params);
  const file = path.join(tmp, 'ext.onnx');
  const r = saveModel(baked, file, { externalData: true, threshold: 64 });
  t.truthy(r.dataFile);
  t.true(fs.statSync(r.dataFile!).size > 4096);
  const proto = fromBinary(ModelProtoSchema, fs.readFileSync(file));
  t.true(proto.graph!.initializer.some((i) => i.externalData.some((e) => e.key === 'location' && e.value === 'ext.onnx.data')));
  const back = loadModel(file).graph;
  for (const [k, v] of Object.entries(params)) t.deepEqual(back.initializers.get(k)!.data, v.data, k);
  const viaOrt = await (await Session.create(file)).run(feeds());
  const direct = await (await Session.create(g)).run({ ...feeds(), ...params });
  (viaOrt.y.data as Float32Array).forEach((v, i) => t.true(Math.abs(v - (direct.y.data[i] as number)) < 1e-5));
  t.throws(() => decodeModel(fs.readFileSync(file)), { message: /external data; load the model by path/ });
});

test('a PyTorch-exported file loads with inferred shapes, runs, and is differentiable', async (t) => {
  const dir = new URL('../../../src/graph/testdata/', import.meta.url);
  const ref = JSON.parse(fs.readFileSync(new URL('torch-net.json', dir), 'utf8'));
  const { graph, report } = loadModel(new URL('torch-net.onnx', dir).pathname, { inputShapes: { x: ref.x_shape } });
  t.is(graph.opset, 17);
  t.deepEqual(report.opaque, []);
  t.deepEqual(report.nonDifferentiable, []);
  t.deepEqual(graph.value('y').shape, [2, 5]);
  const x = tensor('float32', ref.x_shape, ref.x);
  const y = (await (await Session.create(graph)).run({ x })).y.data as Float32Array;
  ref.y.forEach((v: number, i: number) => t.true(Math.abs(v - y[i]) < 1e-5, `y[${i}] ${y[i]} vs torch ${v}`));

  // train it: initializers → parameters, append a loss and the backward pass
  const { graph: pg, values } = paramsFromInitializers(graph);
  t.deepEqual(Object.keys(values).sort(), ['conv.bias', 'conv.weight', 'fc.bias', 'fc.weight', 'ln.bias', 'ln.weight']);
  const g = new GraphBuilder({ graph: pg });
  const loss = g.reduceSum(g.mul(g.value('y'), g.const(tensor('float32', [2, 5], [1, -2, 3, 0.5, -1, 2, 0, -1, 1, 1]))));
  const wrt = ['conv.weight', 'fc.weight'].map((n) => g.graph.value(n));
  t.deepEqual(missingRules(g.graph, loss.name, wrt.map((w) => w.name)), []);
  const grads = gradients(g, loss, wrt);
  g.output(loss, 'loss');
  grads.forEach((gr, i) => g.output(gr, `grad_${i}`));
  const s = await Session.create(g.graph);
  const base = { x, ...values };
  const out = await s.run(base);
  // directional finite difference on conv.weight
  const w = values['conv.weight'];
  const d = new Rng(5).fill(w.data.length, (q) => q.normal());
  const h = 1e-2;
  const shifted = (sgn: number) => tensor('float32', w.shape, Array.from(w.data as Float32Array, (v, i) => v + sgn * h * d[i]));
  const lp = (await s.run({ ...base, 'conv.weight': shifted(1) })).loss.data[0] as number;
  const lm = (await s.run({ ...base, 'conv.weight': shifted(-1) })).loss.data[0] as number;
  const num = (lp - lm) / (2 * h);
  const ana = Array.from(out.grad_0.data as Float32Array).reduce((a, v, i) => a + v * d[i], 0);
  t.true(Math.abs(num - ana) < 2e-2 * Math.max(1, Math.abs(num)), `directional derivative ${ana} vs numeric ${num}`);
});

test('unknown ops are kept for inference and reported as non-differentiable', async (t) => {
  const g = new GraphBuilder({ name: 'u' });
  const a = g.input('a', 'float32', [3, 4]);
  const w = g.param('w', [4, 2], { init: { normal: 1 } });
  const m = g.matmul(a, w);
  g.output(g.tanh(m), 'y');
  const proto = fromBinary(ModelProtoSchema, encodeModel(g.graph));
  // turn the MatMul into ORT's contrib FusedMatMul (alpha 2), declaring its output type
  const node = proto.graph!.node.find((n) => n.opType === 'MatMul')!;
  node.opType = 'FusedMatMul';
  node.domain = 'com.microsoft';
  node.attribute.push(create(AttributeProtoSchema, { name: 'alpha', type: 1, f: 2 }));
  proto.opsetImport.push({ $typeName: 'onnx.OperatorSetIdProto', domain: 'com.microsoft', version: 1n });
  // y = tanh(m) has m's type, float32[3, 2]
  proto.graph!.valueInfo.push(create(ValueInfoProtoSchema, { name: m.name, type: proto.graph!.output[0].type }));
  const bytes = toBinary(ModelProtoSchema, proto);
  const { graph, report } = decodeModel(bytes);
  t.deepEqual(report.opaque.map((o) => o.op), ['FusedMatMul']);
  t.deepEqual(report.nonDifferentiable, [{ node: node.name, op: 'com.microsoft.FusedMatMul' }]);
  t.deepEqual(graph.value(m.name).shape, [3, 2]);
  t.deepEqual(Buffer.from(encodeModel(graph)), Buffer.from(bytes));
  const aV = tensor('float32', [3, 4], [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1]);
  const wV = tensor('float32', [4, 2], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]);
  const y = (await (await Session.create(graph)).run({ a: aV, w: wV })).y.data as Float32Array;
  t.true(Math.abs(y[0] - Math.tanh(0.2)) < 1e-6);
  const b = new GraphBuilder({ graph });
  const loss = b.reduceSum(b.value('y'));
  t.deepEqual(missingRules(graph, loss.name, ['w']), [{ node: node.name, op: 'FusedMatMul' }]);
  t.throws(() => gradients(b, loss, [b.graph.value('w')]), { instanceOf: GradError, message: /no gradient rule for op com\.microsoft\.FusedMatMul \(node MatMul_\d+\)/ });
});

test('bad shapes are build-time errors naming the node', (t) => {
  const g = new GraphBuilder();
  const a = g.input('a', 'float32', [2, 3]);
  const b = g.input('b', 'float32', [4, 5]);
  t.throws(() => g.matmul(a, b), { message: /^node MatMul_\d+ \(MatMul\): inner dimensions differ: \[2,3\] @ \[4,5\]/ });
  t.throws(() => g.add(a, b), { message: /node Add_\d+ \(Add\): cannot broadcast shapes \[2,3\] and \[4,5\]/ });
  t.throws(() => g.reshape(a, [4, 2]), { message: /node Reshape_\d+ \(Reshape\): cannot reshape \[2,3\]/ });
  t.throws(() => g.add(a, g.input('i', 'int64', [2, 3])), { message: /input dtypes differ: float32, int64/ });
  t.throws(() => g.param('a', [2]), { message: /value 'a' defined twice/ });
});

test('a missing gradient rule is an error naming the op and node', (t) => {
  const g = new GraphBuilder();
  const w = g.param('w', [3]);
  const y = g.max(w, 0.5);
  const loss = g.reduceSum(y);
  t.throws(() => gradients(g, loss, [w]), { instanceOf: GradError, message: /no gradient rule for op Max \(node Max_\d+\)/ });
  // pruning: a branch that does not reach the parameters needs no rule
  const g2 = new GraphBuilder();
  const x = g2.input('x', 'float32', [3]);
  const w2 = g2.param('w', [3]);
  const loss2 = g2.reduceSum(g2.mul(g2.max(x, 0.5), w2));
  const [gw] = gradients(g2, loss2, [w2]);
  t.deepEqual(gw.shape, [3]);
});
