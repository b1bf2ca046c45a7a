// halo-dpo on a generator exported from PyTorch (fixtures/models/torch-unet3d: ONNX text encoder and
// denoiser, ε-prediction, 8×16×16 videos), on pairs of its own samples: finite losses, OUT holds the
// ONNX files with trained weights where --train says and the base's elsewhere, halo-sample takes
// OUT, exact resume after kill -9; --lora and an op without a gradient rule refused.
import test from 'ava';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { existsSync, readFileSync } from 'node:fs';
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeModel } from '../graph/onnx.js';
import { ROOT, jsonl, runCli, tempDir } from '../testing/cli.js';
import { bytes, dpoOnce, refusedUsage, resumesExactly, weightsOf, writePairs, type DpoFixture } from '../testing/dpo.js';

const MODEL = path.join(ROOT, 'fixtures', 'models', 'torch-unet3d');
const FILES = ['text_encoder.onnx', 'denoiser.onnx'];

let fixture: Promise<DpoFixture> | undefined;

/** 3 pairs of the model's own samples (2 per prompt, 2 sampler steps) cut on a 2×2×2 grid (made once per file). */
function setup(): Promise<DpoFixture> {
  fixture ??= (async () => {
    const dir = await tempDir('halo-dpo-onnx-');
    const prompts = await runCli('world', ['prompts', '-n', '3', '--seed', '2'], { cwd: dir });
    const sampled = await runCli('sample', ['--model', MODEL, '--out', 's', '--steps', '2', '--samples-per-prompt', '2'], { cwd: dir, input: prompts.stdout });
    if (sampled.exitCode !== 0) throw new Error(sampled.stderr);
    const patched = await runCli('patchify', ['--out', 's', '--grid', '2,2,2'], { cwd: dir, input: sampled.stdout });
    if (patched.exitCode !== 0) throw new Error(patched.stderr);
    return { dir, model: MODEL, pairs: await writePairs(dir, patched.records, 8) };
  })();
  return fixture;
}

/** Names of the initializers of OUT/file whose values differ from the base model's, and of those equal. */
function changed(dir: string, file: string): { differ: string[]; same: string[] } {
  const base = weightsOf(path.join(MODEL, file));
  const out = weightsOf(path.join(dir, file));
  const r = { differ: [] as string[], same: [] as string[] };
  for (const [k, w] of Object.entries(base)) (bytes(out[k]!).equals(bytes(w)) ? r.same : r.differ).push(k);
  return r;
}

test.serial('halo-dpo --train denoiser on an ONNX generator: finite losses, rewritten ONNX files (text encoder untouched), and halo-sample takes OUT', async (t) => {
  const f = await setup();
  const r = await dpoOnce(f, 'den', ['--train', 'denoiser']);
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stderr, /base model torch-unet3d \(onnx, [0-9a-f]{12}\)/);
  t.deepEqual(r.records.map((l) => l.step), [1, 2, 3, 4, 5, 6]);
  for (const l of r.records) for (const k of ['loss', 'loss_video', 'loss_patch', 'grad_norm']) t.true(Number.isFinite(l[k]), `step ${l.step} ${k}: ${l[k]}`);
  t.true(Math.abs(r.records[0]!.loss - 2 * Math.log(2)) < 1e-5, 'policy = reference at the start');
  t.true(r.records[0]!.grad_norm > 0);
  t.not(r.records[5]!.loss, r.records[0]!.loss);

  const out = path.join(f.dir, 'den');
  t.false(existsSync(path.join(out, 'weights.safetensors')));
  const text = changed(out, 'text_encoder.onnx');
  t.deepEqual(text.differ, [], 'the text encoder did not train');
  t.true(text.same.length > 0);
  const den = changed(out, 'denoiser.onnx');
  t.deepEqual(den.same, [], 'every denoiser weight trained');
  t.is(den.differ.length, Object.keys(weightsOf(path.join(MODEL, 'denoiser.onnx'))).length);
  // the graph (dynamic batch included) is the base file's
  const [ga, gb] = [path.join(MODEL, 'denoiser.onnx'), path.join(out, 'denoiser.onnx')].map((file) => decodeModel(readFileSync(file)).graph);
  t.deepEqual(gb!.nodes.map((n) => n.op), ga!.nodes.map((n) => n.op));
  t.deepEqual(gb!.value('sample').shape, ga!.value('sample').shape);

  const base = JSON.parse(await readFile(path.join(MODEL, 'manifest.json'), 'utf8'));
  const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8'));
  t.is(manifest.weights, undefined);
  t.deepEqual(manifest.denoiser, base.denoiser);
  t.deepEqual(manifest.text_encoder, base.text_encoder);
  t.is(manifest.prediction, 'eps');
  t.like(manifest.provenance.post_training, { method: 'gran-dpo', base: { name: 'torch-unet3d' }, settings: { train: 'denoiser' } });

  const input = jsonl([{ id: 'q', prompt: f.pairs[0]!.prompt }]);
  const s = await runCli('sample', ['--model', 'den', '--out', 's-den', '--steps', '2'], { cwd: f.dir, input });
  t.is(s.exitCode, 0, s.stderr);
  t.is(s.records[0]!.model.name, manifest.name);
  t.true(existsSync(path.join(f.dir, s.records[0]!.video)));
  const s0 = await runCli('sample', ['--model', MODEL, '--out', 's-base', '--steps', '2'], { cwd: f.dir, input });
  t.is(s0.exitCode, 0, s0.stderr);
  t.notDeepEqual(await readFile(path.join(f.dir, s.records[0]!.video)), await readFile(path.join(f.dir, s0.records[0]!.video)), 'the trained model samples another video');
});

test.serial('halo-dpo on an ONNX generator resumes exactly after kill -9; --train all trains the text encoder too', async (t) => {
  const f = await setup();
  await resumesExactly(t, f, 'all', 'all-cut', [], FILES);
  for (const file of FILES) t.deepEqual(changed(path.join(f.dir, 'all'), file).same, [], `${file}: every weight trained`);
});

test.serial('bad input: --lora on an ONNX generator', async (t) =>
  refusedUsage(t, await setup(), 'onnx-lora', ['--lora', '4'], /--lora: torch-unet3d is an ONNX generator; LoRA adapts the linear layers of the built-in networks only/));

test.serial('bad input: an ONNX generator with an op that has no gradient rule on the path to the loss', async (t) => {
  const f = await setup();
  const model = path.join(f.dir, 'no-rule');
  await cp(MODEL, model, { recursive: true });
  const file = path.join(model, 'denoiser.onnx');
  const m = fromBinary(ModelProtoSchema, readFileSync(file));
  const node = m.graph!.node.find((n) => n.opType === 'Sigmoid')!; // SiLU of the time MLP, between time.0.weight and the output
  node.opType = 'Sin';
  await writeFile(file, toBinary(ModelProtoSchema, m));
  const r = await runCli('dpo', ['pairs.jsonl', '--model', model, '--out', 'no-rule-out', '--steps', '2', '--batch', '2'], { cwd: f.dir });
  t.is(r.exitCode, 1, r.stderr);
  t.regex(r.stderr, new RegExp(`${model}: cannot train torch-unet3d \\(--train all\\): no gradient rule for op Sin \\(node policy\\.den\\.${node.name.replace(/[./]/g, '\\$&')}\\)`));
  t.false(existsSync(path.join(f.dir, 'no-rule-out')), 'nothing written');
});
