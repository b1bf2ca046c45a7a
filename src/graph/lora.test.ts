// LoRA adapters on nn.ts linear layers: a finite-difference check of the adapter path, which layers get
// adapters and with what parameters, the adapted output against a float64 reference, B = 0 leaving the
// network unchanged, and merged weights computing what the adapted network computes.
import test from 'ava';
import { GraphBuilder } from './builder.js';
import { Rng } from './rng.js';
import { initParams } from './init.js';
import { LORA_A, LORA_B, linearLayers, loraTerm, mergeLora, withLora, type LoraConfig } from './lora.js';
import { mlp } from './nn.js';
import { tensor, type Tensor } from './tensor.js';
import { gradCheck } from '../runtime/gradcheck.js';
import { Session } from '../runtime/session.js';

test('LoRA adapter path x·W + s·(x·A)·B: autodiff gradients of x, W, A and B match finite differences', async (t) => {
  const r = await gradCheck({
    inputs: { x: [2, 3, 5], w: [5, 4], a: [5, 2], b: [2, 4] },
    build: (g, x) => g.add(g.matmul(x.x, x.w), loraTerm(g, x.x, x.a, x.b, 0.75)),
  });
  t.true(r.ok, r.worst);
  t.is(r.checked, 30 + 20 + 10 + 8);
  t.deepEqual(r.ops.sort(), ['Add', 'MatMul', 'Mul']);
});

const [B, T, D, H] = [2, 3, 6, 8];
const cfg: LoraConfig = { rank: 2, alpha: 3, targets: /^fc1$/ };

/** An MLP block `net.*` (fc1, fc2) on x [B, T, D], optionally with adapters. */
function mlpGraph(lora?: LoraConfig) {
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', [B, T, D]);
  const build = () => mlp(g, 'net', x, H, { act: 'relu' });
  g.output(lora ? withLora(g, lora, { prefix: 'net.' }, build) : build(), 'y');
  return g.graph;
}

const normals = (n: number, seed: string) => new Rng(seed).fill(n, (r) => r.normal());

async function run(graph: ReturnType<typeof mlpGraph>, params: Record<string, Tensor>, x: Tensor): Promise<Float32Array> {
  const s = await Session.create(graph);
  const feeds: Record<string, Tensor> = { x };
  for (const name of graph.params.keys()) feeds[name] = params[name]!;
  const y = (await s.run(feeds)).y!.data as Float32Array;
  await s.release();
  return y;
}

test('withLora adds A [in, r] (Kaiming-uniform) and B [r, out] (zeros) to the matching linear layers only', (t) => {
  const g = mlpGraph(cfg);
  t.deepEqual([...g.params.keys()], ['net.fc1.weight', 'net.fc1.bias', 'net.fc1.lora_a', 'net.fc1.lora_b', 'net.fc2.weight', 'net.fc2.bias']);
  t.deepEqual(g.params.get('net.fc1.lora_a')!.shape, [D, 2]);
  t.deepEqual(g.params.get('net.fc1.lora_a')!.init, { kaiming: 'uniform', fanIn: D });
  t.deepEqual(g.params.get('net.fc1.lora_b')!.shape, [2, H]);
  t.is(g.params.get('net.fc1.lora_b')!.init, 'zeros');
  t.deepEqual(linearLayers((g) => mlp(g, 'net', g.input('x', 'float32', [1, D]), H)), ['net.fc1', 'net.fc2']);
  t.throws(() => mlpGraph({ ...cfg, targets: /attn/ }), { message: /LoRA targets \/attn\/ match no linear layer \(layers: fc1, fc2\)/ });
  t.throws(() => mlpGraph({ ...cfg, rank: 0 }), { message: /rank must be a positive integer/ });
});

test('an adapted layer computes x·W + b + (α/r)·(x·A)·B; with B = 0 it equals the base bit for bit', async (t) => {
  const plain = mlpGraph();
  const adapted = mlpGraph(cfg);
  const params = initParams(adapted.params.values(), 3);
  const x = tensor('float32', [B, T, D], normals(B * T * D, 'x'));
  t.deepEqual(await run(adapted, params, x), await run(plain, params, x), 'B starts at zero');

  params['net.fc1.lora_b'] = tensor('float32', [2, H], normals(2 * H, 'b'));
  const y = await run(adapted, params, x);
  // float64 reference of fc2(relu(x·W1 + b1 + 1.5·(x·A)·B))
  const v = (name: string) => params[name]!.data as Float32Array;
  const [W1, b1, A, Bm, W2, b2] = ['fc1.weight', 'fc1.bias', 'fc1.lora_a', 'fc1.lora_b', 'fc2.weight', 'fc2.bias'].map((k) => v(`net.${k}`));
  let worst = 0;
  for (let row = 0; row < B * T; row++) {
    const xr = (x.data as Float32Array).subarray(row * D, (row + 1) * D);
    const xa = [0, 1].map((k) => xr.reduce((s, xi, i) => s + xi * A![i * 2 + k]!, 0));
    const h = Array.from({ length: H }, (_, j) => {
      const pre = xr.reduce((s, xi, i) => s + xi * W1![i * H + j]!, b1![j]!) + 1.5 * (xa[0]! * Bm![j]! + xa[1]! * Bm![H + j]!);
      return Math.max(pre, 0);
    });
    for (let j = 0; j < D; j++) worst = Math.max(worst, Math.abs(h.reduce((s, hi, i) => s + hi * W2![i * D + j]!, b2![j]!) - y[row * D + j]!));
  }
  t.true(worst < 1e-5, `max error ${worst}`);
  t.notDeepEqual(y, await run(plain, params, x), 'a non-zero B changes the output');
});

test('mergeLora: the plain network with merged weights computes what the adapted one does', async (t) => {
  const adapted = mlpGraph(cfg);
  const params = initParams(adapted.params.values(), 4);
  params['net.fc1.lora_b'] = tensor('float32', [2, H], normals(2 * H, 'b2'));
  const adapters = { [`net.fc1${LORA_A}`]: params['net.fc1.lora_a']!, [`net.fc1${LORA_B}`]: params['net.fc1.lora_b']! };
  const merged = mergeLora(params, adapters, cfg);
  t.is(merged['net.fc2.weight'], params['net.fc2.weight'], 'layers without adapters are passed through');
  t.notDeepEqual(merged['net.fc1.weight']!.data, params['net.fc1.weight']!.data);
  const x = tensor('float32', [B, T, D], normals(B * T * D, 'x2'));
  const ya = await run(adapted, params, x);
  const ym = await run(mlpGraph(), merged, x);
  t.true(ya.every((v, i) => Math.abs(v - ym[i]!) < 1e-5));
  t.throws(() => mergeLora({}, adapters, cfg), { message: /adapter net\.fc1: the weights have no net\.fc1\.weight/ });
});
