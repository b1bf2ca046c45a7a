// End-to-end tests of halo-sample: the shipped halo-tiny-t2v and the PyTorch-exported fixture
// (fixtures/models/torch-unet3d), resume, determinism per seed, and bad input.
import test from 'ava';
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { readVideo } from '../media/video.js';
import { SampleRecord } from '../records/schemas.js';
import { ROOT, jsonl, runCli, tempDir } from '../testing/cli.js';

const PROMPTS = [
  { id: 'p1', prompt: 'a red circle moves right on a gray background' },
  { id: 'p2', prompt: 'a blue square moves up on a white background', extra: 7 },
];
const TORCH = path.join(ROOT, 'fixtures/models/torch-unet3d');

test('halo-sample writes one playable video and one record per (prompt, seed), resumes, and the same seed gives the same video', async (t) => {
  const dir = await tempDir();
  const out = path.join(dir, 'out');
  const args = ['--out', out, '--samples-per-prompt', '2', '--seed', '5', '--steps', '3', '--batch', '3'];
  const r = await runCli('sample', args, { input: jsonl(PROMPTS) });
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.records.length, 4);
  t.deepEqual(r.records.map((x) => x.sample_id), ['p1-s5', 'p1-s6', 'p2-s5', 'p2-s6']);
  for (const rec of r.records) {
    t.true(SampleRecord.safeParse(rec).success);
    t.is(rec.model.name, 'halo-tiny-t2v');
    t.regex(rec.model.sha256, /^[0-9a-f]{64}$/);
    t.deepEqual(rec.sampler, { name: 'ddim', steps: 3, guidance: 2 });
    t.deepEqual([rec.frames, rec.height, rec.width, rec.fps], [16, 32, 32, 8]);
    t.true(path.isAbsolute(rec.video));
  }
  t.is(r.records[1].extra, undefined);
  t.is(r.records[2].extra, 7); // incoming fields are kept
  const v = await readVideo(r.records[0].video);
  t.deepEqual([v.frames, v.height, v.width], [16, 32, 32]);
  const first = await Promise.all(r.records.map(async (x) => (await readVideo(x.video)).data));
  t.notDeepEqual(first[0], first[1]); // another seed, another video

  // a re-run skips every video (same files, same records)
  const before = await readFile(r.records[3].video);
  const again = await runCli('sample', args, { input: jsonl(PROMPTS) });
  t.is(again.exitCode, 0, again.stderr);
  t.deepEqual(again.records, r.records);
  t.deepEqual(await readFile(r.records[3].video), before);

  // one prompt alone, batch 1: the same seed gives the same video, up to float rounding (ONNX Runtime's
  // kernels are not bit-for-bit alike at every batch size: a pixel may land one level off, rarely)
  const out2 = path.join(dir, 'out2');
  const one = await runCli('sample', ['--out', out2, '--seed', '6', '--steps', '3', '--batch', '1'], { input: jsonl([PROMPTS[1]]) });
  t.is(one.exitCode, 0, one.stderr);
  const alone = (await readVideo(one.records[0].video)).data;
  const off = alone.filter((v, i) => v !== first[3][i]);
  t.true(alone.every((v, i) => Math.abs(v - first[3][i]) <= 1), 'no value more than one level off');
  t.true(off.length <= alone.length / 1000, `${off.length} values one level off`);
});

test('halo-sample runs the model exported from PyTorch (ONNX files + manifest)', async (t) => {
  const dir = await tempDir();
  const r = await runCli('sample', ['--model', TORCH, '--out', 'o', '--steps', '2', '--sampler', 'ddpm', '--guidance', '3'], { input: jsonl(PROMPTS), cwd: dir });
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.records.length, 2);
  t.is(r.records[0].model.name, 'torch-unet3d');
  t.is(r.records[0].video, path.join('o', 'videos', 'p1-s0.mp4')); // relative --out: paths relative to cwd
  t.deepEqual(r.records[0].sampler, { name: 'ddpm', steps: 2, guidance: 3 });
  const v = await readVideo(path.join(dir, r.records[1].video));
  t.deepEqual([v.frames, v.height, v.width, v.fps], [8, 16, 16, 8]);
});

test('the default model reads the motion words: "moves left" and "moves right" give other videos from one seed', async (t) => {
  const dir = await tempDir();
  const prompts = ['left', 'right'].map((m) => ({ id: m, prompt: `a red circle moves ${m} on a white background` }));
  const r = await runCli('sample', ['--out', 'o', '--steps', '5'], { input: jsonl(prompts), cwd: dir });
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.records[0].model.name, 'halo-tiny-t2v');
  const [a, b] = await Promise.all(r.records.map((x: any) => readVideo(path.join(dir, x.video))));
  let sq = 0;
  for (let i = 0; i < a.data.length; i++) sq += ((a.data[i] - b.data[i]) / 127.5) ** 2;
  t.true(Math.sqrt(sq / a.data.length) > 0.05, `RMS difference ${Math.sqrt(sq / a.data.length)}`);
});

async function badModel(edit: (m: any) => void) {
  const dir = await tempDir();
  const model = path.join(dir, 'model');
  await cp(TORCH, model, { recursive: true });
  const m = JSON.parse(await readFile(path.join(model, 'manifest.json'), 'utf8'));
  edit(m);
  await writeFile(path.join(model, 'manifest.json'), JSON.stringify(m));
  return { dir, model };
}

async function expectNothingWritten(t: any, out: string) {
  t.false(existsSync(out) && (await readdir(out)).length > 0, 'nothing is written');
}

const bad: [string, (dir: string) => Promise<{ args: string[]; input?: string; code: number; message: RegExp }>][] = [
  ['unknown model folder', async (dir) => ({ args: ['--model', path.join(dir, 'nope')], code: 1, message: /nope: no such model folder/ })],
  ['broken manifest', async (dir) => {
    await cp(TORCH, path.join(dir, 'm'), { recursive: true });
    await writeFile(path.join(dir, 'm', 'manifest.json'), '{"format": ');
    return { args: ['--model', path.join(dir, 'm')], code: 1, message: /manifest\.json: broken manifest: not JSON/ };
  }],
  ['manifest without a denoiser', async () => {
    const { model } = await badModel((m) => delete m.denoiser);
    return { args: ['--model', model], code: 1, message: /manifest\.json: denoiser: / };
  }],
  ['ONNX input name not in the file', async () => {
    const { model } = await badModel((m) => (m.denoiser.inputs.x.name = 'pixels'));
    return { args: ['--model', model], code: 1, message: /denoiser\.inputs\.x\.name: 'pixels' is not an input of denoiser\.onnx \(it has sample, timestep, encoder_hidden_states\)/ };
  }],
  ['ONNX shape that does not match the manifest', async () => {
    const { model } = await badModel((m) => {
      m.video.frames = 9;
      m.denoiser.inputs.x.shape[2] = 9;
      m.denoiser.outputs.out.shape[2] = 9;
    });
    return { args: ['--model', model], code: 1, message: /denoiser\.inputs\.x: denoiser\.onnx has 'sample' of shape \[\?, 3, 8, 16, 16\], the manifest says \[batch, 3, 9, 16, 16\]/ };
  }],
  ['empty prompt', async () => ({ args: [], input: jsonl([PROMPTS[0], { id: 'e', prompt: '' }]), code: 1, message: /<stdin>:2: prompt: expected a non-empty prompt/ })],
  ['prompt without words', async () => ({ args: [], input: jsonl([{ id: 'e', prompt: ' ?! ' }]), code: 1, message: /<stdin>:1: prompt: empty prompt/ })],
  ['prompt longer than the tokenizer takes', async () => ({ args: [], input: jsonl([PROMPTS[0], { id: 'l', prompt: Array(30).fill('red').join(' ') }]), code: 1, message: /<stdin>:2: prompt: prompt too long: 30 words, the tokenizer takes at most 23/ })],
  ['non-integer seed', async () => ({ args: ['--seed', '1.5'], code: 2, message: /--seed: expected an integer, got '1.5'/ })],
  ['seed that is not a number', async () => ({ args: ['--seed', 'abc'], code: 2, message: /--seed: expected an integer/ })],
  ['--samples-per-prompt 0', async () => ({ args: ['--samples-per-prompt', '0'], code: 2, message: /--samples-per-prompt: expected an integer >= 1, got 0/ })],
];

for (const [name, make] of bad) {
  test(`bad input: ${name}`, async (t) => {
    const dir = await tempDir();
    const out = path.join(dir, 'out');
    const c = await make(dir);
    const r = await runCli('sample', ['--out', out, '--steps', '1', ...c.args], { input: c.input ?? jsonl(PROMPTS) });
    t.is(r.exitCode, c.code, r.stderr);
    t.regex(r.stderr, c.message);
    t.is(r.stdout, '');
    await expectNothingWritten(t, out);
  });
}
