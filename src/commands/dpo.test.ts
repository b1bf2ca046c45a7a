// halo-dpo end to end on a tiny random generator and rendered world clips: the log, the model
// folder (sampled by halo-sample), LoRA adapters (only they train; merged output), exact resume after
// kill -9 (with and without LoRA), and bad input.
import test from 'ava';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { numel, type Tensor } from '../graph/tensor.js';
import { DEFAULT_LORA_TARGETS } from '../halo/dpo-graph.js';
import { readSafetensors } from '../runtime/safetensors.js';
import { jsonl, runCli, tempDir } from '../testing/cli.js';
import { bytes, dpoArgs, dpoOnce, refusedUsage, resumesExactly, writePairs, type DpoFixture as Fixture } from '../testing/dpo.js';
import { writeTinyT2V } from '../testing/tiny-t2v.js';

let fixture: Promise<Fixture> | undefined;

/** A tiny model (gates open) and 3 pairs of 4×16×16 world clips cut on a 2×2×2 grid (made once per file). */
function setup(): Promise<Fixture> {
  fixture ??= (async () => {
    const dir = await tempDir('halo-dpo-');
    const model = path.join(dir, 'tiny');
    await writeTinyT2V(model, 0, { open: true }); // every DiT block acts, so adapters on them get a gradient
    const prompts = await runCli('world', ['prompts', '-n', '3', '--seed', '2'], { cwd: dir });
    const render = await runCli('world', ['render', '--out', 'w', '--frames', '4', '--height', '16', '--width', '16', '--samples-per-prompt', '2'], { cwd: dir, input: prompts.stdout });
    const patched = await runCli('patchify', ['--out', 'w', '--grid', '2,2,2'], { cwd: dir, input: render.stdout });
    if (patched.exitCode !== 0) throw new Error(patched.stderr);
    return { dir, model, pairs: await writePairs(dir, patched.records, 8) };
  })();
  return fixture;
}

const LORA = ['--lora', '4', '--lora-alpha', '8'];

test.serial('halo-dpo logs every step and writes a model folder that halo-sample takes', async (t) => {
  const f = await setup();
  const r = await dpoOnce(f, 'gran');
  t.is(r.exitCode, 0, r.stderr);
  t.deepEqual(r.records.map((l) => l.step), [1, 2, 3, 4, 5, 6]);
  for (const k of ['loss', 'loss_video', 'loss_patch', 'acc_video', 'acc_patch', 'margin_video', 'margin_patch', 'lr', 'seconds', 'grad_norm']) {
    t.true(Number.isFinite(r.records[5]![k]), k);
  }
  t.true(r.records[0]!.grad_norm > 0, 'the first step has a gradient');
  t.true(Math.abs(r.records[0]!.loss - 2 * Math.log(2)) < 1e-5, 'policy = reference at the start: L = log 2 + λ log 2');
  const log = (await readFile(path.join(f.dir, 'gran', 'train-log.jsonl'), 'utf8')).trim().split('\n');
  t.is(log.length, 6);
  const manifest = JSON.parse(await readFile(path.join(f.dir, 'gran', 'manifest.json'), 'utf8'));
  t.is(manifest.provenance.post_training.method, 'gran-dpo');
  const s = await runCli('sample', ['--model', 'gran', '--out', 's', '--steps', '2'], { cwd: f.dir, input: jsonl([{ id: 'q', prompt: f.pairs[0]!.prompt }]) });
  t.is(s.exitCode, 0, s.stderr);
  t.true(existsSync(path.join(f.dir, s.records[0]!.video)));
  t.is(s.records[0]!.model.name, manifest.name);
});

test.serial('halo-dpo: --patch-weight 0 is plain Diffusion-DPO (no patch term in the loss)', async (t) => {
  const f = await setup();
  const r = await runCli('dpo', dpoArgs(f, 'video', ['--patch-weight', '0'], 2), { cwd: f.dir });
  t.is(r.exitCode, 0, r.stderr);
  t.true(Math.abs(r.records[0]!.loss - Math.log(2)) < 1e-5);
  t.is(r.records[0]!.loss, r.records[0]!.loss_video);
});

test.serial('halo-dpo --lora trains only the adapters and writes merged weights, the adapters and their settings', async (t) => {
  const f = await setup();
  const r = await dpoOnce(f, 'lora', LORA);
  t.is(r.exitCode, 0, r.stderr);
  const dir = path.join(f.dir, 'lora');
  const base = readSafetensors(path.join(f.model, 'weights.safetensors')).tensors;
  const { tensors: adapters, metadata } = readSafetensors(path.join(dir, 'adapters.safetensors'));
  const layers = [0, 1].flatMap((b) => ['attn.qkv', 'attn.proj', 'mlp.fc1', 'mlp.fc2'].map((l) => `den.block${b}.${l}`));
  t.deepEqual(Object.keys(adapters).sort(), layers.flatMap((l) => [`${l}.lora_a`, `${l}.lora_b`]).sort());
  t.like(metadata, { format: 'halo-lora/1', rank: '4', alpha: '8', targets: DEFAULT_LORA_TARGETS });
  t.deepEqual(JSON.parse(metadata.layers!), layers);
  // the log names the trainable share: the adapters, of base + adapters
  const size = (ts: Record<string, Tensor>) => Object.values(ts).reduce((n, x) => n + numel(x.shape), 0);
  const m = /trainable parameters: ([\d,]+) of ([\d,]+)/.exec(r.stderr);
  t.truthy(m, r.stderr);
  t.is(Number(m![1]!.replaceAll(',', '')), size(adapters));
  t.is(Number(m![2]!.replaceAll(',', '')), size(base) + size(adapters));

  // the checkpoint: the frozen base (shared by policy and reference) is untouched; the policy's own parameters are the adapters
  const ckpt = readSafetensors(path.join(dir, 'checkpoint.safetensors')).tensors;
  const policy = Object.keys(ckpt).filter((k) => k.startsWith('param/policy.'));
  t.deepEqual(policy.sort(), Object.keys(adapters).map((k) => `param/policy.${k}`).sort());
  for (const [k, w] of Object.entries(base)) t.deepEqual(bytes(ckpt[`param/ref.${k}`]!), bytes(w), k);
  for (const l of layers) t.true((adapters[`${l}.lora_b`]!.data as Float32Array).some((v) => v !== 0), `${l}.lora_b trained`);

  // merged weights: W + (α/r)·A·B on the adapted layers, the base elsewhere
  const merged = readSafetensors(path.join(dir, 'weights.safetensors')).tensors;
  t.deepEqual(Object.keys(merged).sort(), Object.keys(base).sort());
  for (const [k, w] of Object.entries(base)) {
    const layer = k.replace(/\.weight$/, '');
    if (!layers.includes(layer) || layer === k) {
      t.deepEqual(bytes(merged[k]!), bytes(w), `${k} unchanged`);
      continue;
    }
    const [A, B] = [adapters[`${layer}.lora_a`]!.data as Float32Array, adapters[`${layer}.lora_b`]!.data as Float32Array];
    const [n, out] = w.shape as [number, number];
    const want = Float32Array.from({ length: n * out }, (_, e) => {
      const [i, j] = [Math.floor(e / out), e % out];
      let ab = 0;
      for (let q = 0; q < 4; q++) ab += A[i * 4 + q]! * B[q * out + j]!;
      return (w.data as Float32Array)[e]! + 2 * ab;
    });
    t.deepEqual(merged[k]!.data, want, `${k} = W + (8/4)·A·B`);
    t.notDeepEqual(merged[k]!.data, w.data);
  }
  const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8'));
  t.deepEqual(manifest.provenance.post_training.settings.lora, { rank: 4, alpha: 8, targets: DEFAULT_LORA_TARGETS });
  t.like(manifest.provenance.post_training.lora, { adapters: 'adapters.safetensors', merged: true, layers, parameters: size(adapters) });
  const s = await runCli('sample', ['--model', 'lora', '--out', 's-lora', '--steps', '2'], { cwd: f.dir, input: jsonl([{ id: 'q', prompt: f.pairs[0]!.prompt }]) });
  t.is(s.exitCode, 0, s.stderr);
  t.true(existsSync(path.join(f.dir, s.records[0]!.video)));
});

test.serial('halo-dpo --lora starts at the base model (B = 0): its first step has the loss and margins of a full run', async (t) => {
  const f = await setup();
  const [full, lora] = [await dpoOnce(f, 'gran'), await dpoOnce(f, 'lora', LORA)];
  t.is(full.exitCode, 0, full.stderr);
  t.is(lora.exitCode, 0, lora.stderr);
  // equal up to float32 rounding (ONNX Runtime fuses the differentiated policy's nodes unlike the reference's)
  for (const k of ['loss', 'loss_video', 'loss_patch']) t.true(Math.abs(lora.records[0]![k] - full.records[0]![k]) < 1e-5, `${k}: ${lora.records[0]![k]} vs ${full.records[0]![k]}`);
  t.true(Math.abs(lora.records[0]!.loss - 2 * Math.log(2)) < 1e-5);
  for (const r of [lora, full]) for (const k of ['margin_video', 'margin_patch']) t.true(Math.abs(r.records[0]![k]) < 1e-4, `${k} ${r.records[0]![k]}: policy = reference`);
  t.true(lora.records[0]!.grad_norm > 0, 'the adapters get a gradient at the first step');
  t.not(lora.records[5]!.loss, lora.records[0]!.loss, 'and then train');
  t.regex(full.stderr, /trainable parameters: ([\d,]+) of \1 \(100\.00%\)/);
});

test.serial('halo-dpo resumes exactly after kill -9: final weights equal an uninterrupted run', async (t) => resumesExactly(t, await setup(), 'full', 'cut', [], ['weights.safetensors']));

test.serial('halo-dpo --lora resumes exactly after kill -9: the same adapters and merged weights as an uninterrupted run', async (t) =>
  resumesExactly(t, await setup(), 'lora', 'lora-cut', LORA, ['weights.safetensors', 'adapters.safetensors']));

test.serial('bad input: a checkpoint from other settings (LoRA or not) or other pairs is refused, naming what differs', async (t) => {
  const f = await setup();
  for (const [out, extra] of [['full', ['--beta', '777']], ['full', LORA], ['lora', []], ['lora', ['--lora', '8']]] as const) {
    t.is((await dpoOnce(f, out, out === 'lora' ? LORA : [])).exitCode, 0);
    const r = await runCli('dpo', dpoArgs(f, out, [...extra]), { cwd: f.dir });
    t.is(r.exitCode, 1, `${out} ${extra.join(' ')}`);
    t.regex(r.stderr, /checkpoint\.safetensors: this checkpoint comes from other settings \((beta|lora): .* then, .* now\); use --force to start over/);
  }
  // the same settings on other pairs (the patch preferences reversed) must not resume the old run
  await writeFile(path.join(f.dir, 'pairs-other.jsonl'), jsonl(f.pairs.map((p) => ({ ...p, patch_pref: p.patch_pref.map((x: number) => -x) }))));
  const other = await runCli('dpo', ['pairs-other.jsonl', ...dpoArgs(f, 'full').slice(1)], { cwd: f.dir });
  t.is(other.exitCode, 1);
  t.regex(other.stderr, /this checkpoint comes from other pairs \(3 pairs now, not the ones it was trained on\); use --force/);
  t.notRegex(other.stderr, /resuming/);
});

async function badLora(t: any, extra: string[], pattern: RegExp) {
  await refusedUsage(t, await setup(), 'bad-lora', extra, pattern);
}

test.serial('bad input: --lora -1', (t) => badLora(t, ['--lora', '-1'], /--lora must be a non-negative integer \(the adapter rank; 0 = off\), got -1/));

test.serial('bad input: --lora 2.5', (t) => badLora(t, ['--lora', '2.5'], /--lora must be a non-negative integer .*got 2\.5/));

test.serial('bad input: --lora-targets that match no linear layer', (t) =>
  badLora(t, ['--lora', '4', '--lora-targets', 'attn\\.k$'], /--lora-targets \/attn\\\.k\$\/ matches none of the model's linear layers: text\.block0\.attn\.qkv, text\.block0\.attn\.proj, .*den\.final\.out/));

test.serial('bad input: --lora with --train denoiser', (t) => badLora(t, ['--lora', '4', '--train', 'denoiser'], /--train denoiser selects whole parts; with --lora only the adapters train/));

async function badPairs(t: any, mutate: (p: Record<string, any>) => void, pattern: RegExp) {
  const f = await setup();
  const pairs = structuredClone(f.pairs);
  mutate(pairs[1]!);
  const r = await runCli('dpo', ['--model', f.model, '--out', 'bad', '--steps', '1'], { cwd: f.dir, input: jsonl(pairs) });
  t.is(r.exitCode, 1);
  t.regex(r.stderr, pattern);
  t.false(existsSync(path.join(f.dir, 'bad', 'manifest.json')), 'nothing written');
}

test.serial('bad input: a pair whose video is missing', (t) =>
  badPairs(t, (p) => (p.lose.video = 'w/videos/nope.mp4'), /<stdin>:2: lose\.video: .*nope\.mp4: video file not found/));

test.serial('bad input: a pair of videos from different prompts', (t) =>
  badPairs(t, (p) => ((p.lose.id = 'other'), (p.lose.prompt = 'a red circle is static on a white background')), /<stdin>:2: lose\.prompt: the loser belongs to prompt 'other'/));

test.serial('bad input: patch preferences of the wrong length', (t) =>
  badPairs(t, (p) => p.patch_pref.push(1), /<stdin>:2: patch_pref: expected 8 entries \(one per patch of the grid\), got 9/));

test.serial("bad input: a model whose video differs from the pairs' grid", async (t) => {
  const f = await setup();
  const pairs = structuredClone(f.pairs);
  for (const p of pairs) p.win.patches.video = [16, 32, 32];
  const r = await runCli('dpo', ['--model', f.model, '--out', 'bad2', '--steps', '1'], { cwd: f.dir, input: jsonl(pairs) });
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /<stdin>:1: win\.patches\.video: the pairs' patches were cut on a 16×32×32 video, the model makes 4×16×16/);
});
