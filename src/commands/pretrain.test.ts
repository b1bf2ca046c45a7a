// halo-pretrain end to end, a few steps at batch 2: the log, the model folder (text-encoder pooling,
// provenance), and the default frozen, mean-pooled text encoder against `--text-encoder train`.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Tensor } from '../graph/tensor.js';
import { readSafetensors } from '../runtime/safetensors.js';
import { runCli, tempDir } from '../testing/cli.js';

async function pretrainRun(steps: number, extra: string[] = [], runFiles = false) {
  const out = path.join(await tempDir('halo-pretrain-'), 'run');
  const r = await runCli('pretrain', ['--out', out, '--steps', String(steps), '--batch', '2', '--warmup', '1', '--log-every', '1', ...extra]);
  if (r.exitCode !== 0) throw new Error(r.stderr);
  const manifest = JSON.parse(await readFile(path.join(out, 'model', 'manifest.json'), 'utf8'));
  const log = (await readFile(path.join(out, 'train.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  const weights = readSafetensors(path.join(out, 'model', 'weights.safetensors')).tensors;
  if (!runFiles) return { out, manifest, log, weights, checkpoint: {}, ema: {} };
  const checkpoint = readSafetensors(path.join(out, 'checkpoint.safetensors')).tensors;
  return { out, manifest, log, weights, checkpoint, ema: readSafetensors(path.join(out, 'ema.safetensors')).tensors };
}

const same = (a: Tensor, b: Tensor) => (a.data as Float32Array).every((v, i) => v === (b.data as Float32Array)[i]);
const names = (w: Record<string, Tensor>, prefix: string) => Object.keys(w).filter((k) => k.startsWith(prefix));

test('halo-pretrain: log, model folder; the default keeps the text encoder frozen, --text-encoder train trains it', async (t) => {
  const trainedArgs = ['--text-encoder', 'train', '--text-pooling', 'bos'];
  const [one, three, trained] = await Promise.all([pretrainRun(1), pretrainRun(3), pretrainRun(3, trainedArgs)]);
  t.is(three.log.length, 3);
  for (const k of ['step', 'loss', 'mse', 'grad_norm', 'lr', 'seconds']) t.true(k in three.log[2], k);
  t.is(three.manifest.kind, 't2v');
  t.is(three.manifest.text_encoder.config.pooling, 'mean');
  t.is(trained.manifest.text_encoder.config.pooling, undefined); // <bos> pooling
  t.is(three.manifest.denoiser.config.positions, 'sincos'); // the default design, --arch dit-xattn
  t.is(three.manifest.denoiser.config.textWords, three.manifest.tokenizer.max_length); // cross-attends to every position
  t.is(three.manifest.text_encoder.config.words, true);
  t.is(three.manifest.provenance.text_encoder, 'frozen');
  t.is(trained.manifest.provenance.text_encoder, 'train');
  t.is(three.manifest.provenance.steps, 3);
  const text = names(three.weights, 'text.');
  t.true(text.length > 0 && names(three.weights, 'den.').length > 0);
  // frozen: after 1 and 3 steps the text encoder is still its (seeded) initialisation; the denoiser moved
  for (const k of text) t.true(same(one.weights[k]!, three.weights[k]!), `${k} changed while frozen`);
  t.false(same(one.weights['den.embed.weight']!, three.weights['den.embed.weight']!));
  // trained: the text encoder's weights move
  t.true(text.some((k) => !same(trained.weights[k]!, three.weights[k]!)));
});

test('halo-pretrain: the model folder gets the last step\'s parameters, or their EMA with --weights ema', async (t) => {
  const [raw, ema] = await Promise.all([pretrainRun(3, [], true), pretrainRun(3, ['--weights', 'ema'], true)]);
  const k = 'den.embed.weight';
  t.true(same(raw.weights[k]!, raw.checkpoint[`param/${k}`]!), 'raw: the checkpoint\'s parameters');
  t.false(same(ema.weights[k]!, ema.checkpoint[`param/${k}`]!), 'ema: not the last parameters');
  t.true(same(ema.weights[k]!, ema.ema[k]!), 'ema: the run folder\'s EMA');
  t.true(same(raw.checkpoint[`param/${k}`]!, ema.checkpoint[`param/${k}`]!), 'the same training either way');
  t.is(raw.manifest.provenance.weights, 'raw');
  t.is(ema.manifest.provenance.weights, 'ema');

  // re-running the finished ema run with --weights raw re-exports it without training a step more
  const again = await runCli('pretrain', ['--out', ema.out, '--steps', '3', '--batch', '2', '--warmup', '1', '--log-every', '1', '--weights', 'raw']);
  t.is(again.exitCode, 0, again.stderr);
  const log = (await readFile(path.join(ema.out, 'train.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  t.is(log.length, 3);
  const manifest = JSON.parse(await readFile(path.join(ema.out, 'model', 'manifest.json'), 'utf8'));
  t.is(manifest.provenance.weights, 'raw');
  t.is(manifest.provenance.final_loss, log[2].loss); // the resumed run's final loss is the log's last
  t.true(same(readSafetensors(path.join(ema.out, 'model', 'weights.safetensors')).tensors[k]!, ema.checkpoint[`param/${k}`]!));
});

test('halo-pretrain resumes a run with its own options and refuses other text-encoder options', async (t) => {
  const out = path.join(await tempDir('halo-pretrain-'), 'run');
  const args = ['--out', out, '--batch', '2', '--warmup', '1', '--checkpoint-every', '1'];
  t.is((await runCli('pretrain', [...args, '--steps', '2'])).exitCode, 0);
  const other = await runCli('pretrain', [...args, '--steps', '3', '--text-pooling', 'bos']);
  t.not(other.exitCode, 0);
  t.regex(other.stderr, /textPooling mean.*not bos/);
  const again = await runCli('pretrain', [...args, '--steps', '3']);
  t.is(again.exitCode, 0, again.stderr);
  t.regex(again.stderr, /resumed from .* at step 2/);
  t.is((await readFile(path.join(out, 'train.jsonl'), 'utf8')).trim().split('\n').length, 3);
});
