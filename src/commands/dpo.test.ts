// halo-dpo end to end on a tiny random generator and rendered world clips: the log, the model
// folder (sampled by halo-sample), exact resume after kill -9, and bad input.
import test from 'ava';
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readSafetensors } from '../runtime/safetensors.js';
import { ROOT, jsonl, runCli, tempDir } from '../testing/cli.js';
import { writeTinyT2V } from '../testing/tiny-t2v.js';

interface Fixture {
  dir: string;
  model: string;
  pairs: Record<string, any>[];
}

let fixture: Promise<Fixture> | undefined;

/** A tiny model and 3 pairs of 4×16×16 world clips cut on a 2×2×2 grid (made once per file). */
function setup(): Promise<Fixture> {
  fixture ??= (async () => {
    const dir = await tempDir('halo-dpo-');
    const model = path.join(dir, 'tiny');
    await writeTinyT2V(model);
    const prompts = await runCli('world', ['prompts', '-n', '3', '--seed', '2'], { cwd: dir });
    const render = await runCli('world', ['render', '--out', 'w', '--frames', '4', '--height', '16', '--width', '16', '--samples-per-prompt', '2'], { cwd: dir, input: prompts.stdout });
    const patched = await runCli('patchify', ['--out', 'w', '--grid', '2,2,2'], { cwd: dir, input: render.stdout });
    if (patched.exitCode !== 0) throw new Error(patched.stderr);
    const byPrompt = new Map<string, Record<string, any>[]>();
    for (const r of patched.records) byPrompt.set(r.id, [...(byPrompt.get(r.id) ?? []), r]);
    const pairs = [...byPrompt.values()].map(([w, l], i) => {
      const pref = Array.from({ length: 8 }, (_, p) => [1, -1, 0][(p + i) % 3]);
      return { prompt_id: w!.id, prompt: w!.prompt, win: w, lose: l, video_margin: 0.5, patch_pref: pref, patch_weight: pref.map((s) => Math.abs(s) * 0.5) };
    });
    await writeFile(path.join(dir, 'pairs.jsonl'), jsonl(pairs));
    return { dir, model, pairs };
  })();
  return fixture;
}

const dpoArgs = (f: Fixture, out: string, extra: string[] = [], steps = 6) => ['pairs.jsonl', '--model', f.model, '--out', out, '--steps', String(steps), '--batch', '2', '--checkpoint-every', '2', '--lr', '1e-3', ...extra];

test.serial('halo-dpo logs every step and writes a model folder that halo-sample takes', async (t) => {
  const f = await setup();
  const r = await runCli('dpo', dpoArgs(f, 'gran'), { cwd: f.dir });
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

test.serial('halo-dpo resumes exactly after kill -9: final weights equal an uninterrupted run', async (t) => {
  const f = await setup();
  const full = await runCli('dpo', dpoArgs(f, 'full'), { cwd: f.dir });
  t.is(full.exitCode, 0, full.stderr);
  // Interrupted run: kill -9 once the checkpoint of step 2 or 4 exists, then resume.
  const proc = execa(process.execPath, [path.join(ROOT, 'bin', 'halo-dpo.js'), ...dpoArgs(f, 'cut')], { cwd: f.dir, reject: false });
  let lines = 0;
  proc.stdout!.on('data', (b: Buffer) => {
    lines += b.toString().split('\n').filter(Boolean).length;
    if (lines >= 3) proc.kill('SIGKILL');
  });
  const killed = await proc;
  t.true(killed.signal === 'SIGKILL' || killed.exitCode !== 0 || lines < 6, 'the first run was cut');
  t.true(existsSync(path.join(f.dir, 'cut', 'checkpoint.safetensors')));
  const resumed = await runCli('dpo', dpoArgs(f, 'cut'), { cwd: f.dir });
  t.is(resumed.exitCode, 0, resumed.stderr);
  t.regex(resumed.stderr, /resuming from .* at step [24]/);
  const a = readSafetensors(path.join(f.dir, 'full', 'weights.safetensors')).tensors;
  const b = readSafetensors(path.join(f.dir, 'cut', 'weights.safetensors')).tensors;
  t.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  for (const k of Object.keys(a)) t.deepEqual(Buffer.from(a[k]!.data.buffer, a[k]!.data.byteOffset, a[k]!.data.byteLength), Buffer.from(b[k]!.data.buffer, b[k]!.data.byteOffset, b[k]!.data.byteLength), k);
  const logA = (await readFile(path.join(f.dir, 'full', 'train-log.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l).loss);
  const logB = (await readFile(path.join(f.dir, 'cut', 'train-log.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l).loss);
  t.deepEqual(logB, logA, 'the same loss curve');
});

test.serial('bad input: a checkpoint from another model or other settings is refused', async (t) => {
  const f = await setup();
  const r = await runCli('dpo', dpoArgs(f, 'full', ['--beta', '777']), { cwd: f.dir });
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /checkpoint\.safetensors: this checkpoint comes from another base model or other settings/);
});

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
