// Test helpers for halo-dpo runs: pair records made from patchified videos (two samples of each
// prompt, fixed patch preferences with ties), the command line of a run, runs shared by the tests of
// a file, the kill -9 / resume check (the same weights and losses as an uninterrupted run), and the
// check that a usage error writes nothing. Output weights are read from safetensors or ONNX files.
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { decodeModel } from '../graph/onnx.js';
import type { Tensor } from '../graph/tensor.js';
import { readSafetensors } from '../runtime/safetensors.js';
import { ROOT, jsonl, runCli, type CliResult } from './cli.js';

export interface DpoFixture {
  /** The working folder (runs write into it; pairs.jsonl lies in it). */
  dir: string;
  /** The base model folder. */
  model: string;
  pairs: Record<string, any>[];
}

/**
 * Pair records from patchified sample records cut on a grid of `patches` patches: the first two
 * samples of each prompt, preferences cycling +1, −1, 0 (ties) with weight 0.5 where not tied.
 * Written to dir/pairs.jsonl.
 */
export async function writePairs(dir: string, samples: Record<string, any>[], patches: number): Promise<Record<string, any>[]> {
  const byPrompt = new Map<string, Record<string, any>[]>();
  for (const r of samples) byPrompt.set(r.id, [...(byPrompt.get(r.id) ?? []), r]);
  const pairs = [...byPrompt.values()].map(([w, l], i) => {
    const pref = Array.from({ length: patches }, (_, p) => [1, -1, 0][(p + i) % 3]);
    return { prompt_id: w!.id, prompt: w!.prompt, win: w, lose: l, video_margin: 0.5, patch_pref: pref, patch_weight: pref.map((s) => Math.abs(s!) * 0.5) };
  });
  await writeFile(path.join(dir, 'pairs.jsonl'), jsonl(pairs));
  return pairs;
}

/** The arguments of a halo-dpo run on dir/pairs.jsonl (batch 2, a checkpoint every 2 steps). */
export const dpoArgs = (f: DpoFixture, out: string, extra: string[] = [], steps = 6) =>
  ['pairs.jsonl', '--model', f.model, '--out', out, '--steps', String(steps), '--batch', '2', '--checkpoint-every', '2', '--lr', '1e-3', ...extra];

const runs = new Map<string, Promise<CliResult>>();
/** A halo-dpo run into f.dir/out, made once (tests that read the same run share it). */
export function dpoOnce(f: DpoFixture, out: string, extra: string[] = []): Promise<CliResult> {
  const key = path.join(f.dir, out);
  if (!runs.has(key)) runs.set(key, runCli('dpo', dpoArgs(f, out, extra), { cwd: f.dir }));
  return runs.get(key)!;
}

export const bytes = (x: Tensor) => Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength);

/** The tensors of a weights file: safetensors, or an ONNX file's initializers. */
export function weightsOf(file: string): Record<string, Tensor> {
  if (file.endsWith('.onnx')) return Object.fromEntries(decodeModel(readFileSync(file), { source: file }).graph.initializers);
  return readSafetensors(file).tensors;
}

/** Kill -9 a run once the checkpoint of step 2 or 4 exists, resume it: the same files and losses as an uninterrupted run. */
export async function resumesExactly(t: ExecutionContext, f: DpoFixture, full: string, cut: string, extra: string[], files: string[]) {
  const whole = await dpoOnce(f, full, extra);
  t.is(whole.exitCode, 0, whole.stderr);
  const proc = execa(process.execPath, [path.join(ROOT, 'bin', 'halo-dpo.js'), ...dpoArgs(f, cut, extra)], { cwd: f.dir, reject: false });
  let lines = 0;
  proc.stdout!.on('data', (b: Buffer) => {
    lines += b.toString().split('\n').filter(Boolean).length;
    if (lines >= 3) proc.kill('SIGKILL');
  });
  const killed = await proc;
  t.true(killed.signal === 'SIGKILL' || killed.exitCode !== 0 || lines < 6, 'the first run was cut');
  t.true(existsSync(path.join(f.dir, cut, 'checkpoint.safetensors')));
  const resumed = await runCli('dpo', dpoArgs(f, cut, extra), { cwd: f.dir });
  t.is(resumed.exitCode, 0, resumed.stderr);
  t.regex(resumed.stderr, /resuming from .* at step [24]/);
  for (const file of files) {
    const a = weightsOf(path.join(f.dir, full, file));
    const b = weightsOf(path.join(f.dir, cut, file));
    t.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
    for (const k of Object.keys(a)) t.deepEqual(bytes(a[k]!), bytes(b[k]!), `${file}: ${k}`);
  }
  const losses = async (out: string) => (await readFile(path.join(f.dir, out, 'train-log.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l).loss);
  t.deepEqual(await losses(cut), await losses(full), 'the same loss curve');
}

/** A run with these extra arguments stops with a usage error matching `pattern` and writes nothing. */
export async function refusedUsage(t: ExecutionContext, f: DpoFixture, out: string, extra: string[], pattern: RegExp) {
  const r = await runCli('dpo', dpoArgs(f, out, extra), { cwd: f.dir });
  t.is(r.exitCode, 2, r.stderr);
  t.regex(r.stderr, pattern);
  t.false(existsSync(path.join(f.dir, out)), 'nothing written');
}
