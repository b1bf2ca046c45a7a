import test from 'ava';
import { Readable } from 'node:stream';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readRecords } from './jsonl.js';
import { PatchesRecord, PromptRecord } from '../records/schemas.js';
import { parseShard, inShard } from './shard.js';
import { tempDir } from '../testing/cli.js';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const stdin = (text: string) => Readable.from([text]);

test('reads records from stdin, keeping unknown fields and line numbers', async (t) => {
  const text = '{"id":"a","prompt":"x","extra":1}\n\n{"id":"b","prompt":"y"}\n';
  const got = await collect(readRecords([], PromptRecord, { stdin: stdin(text) }));
  t.deepEqual(got.map((r) => r.record), [{ id: 'a', prompt: 'x', extra: 1 }, { id: 'b', prompt: 'y' }]);
  t.deepEqual(got.map((r) => r.place.line), [1, 3]);
});

test('bad input: malformed JSON names the line', async (t) => {
  const e = await t.throwsAsync(collect(readRecords(['-'], PromptRecord, { stdin: stdin('{"id":"a","prompt":"x"}\n{oops\n') })));
  t.regex(e!.message, /^<stdin>:2: malformed JSON/);
});

test('bad input: a wrong field names the line and the field path', async (t) => {
  const rec = { id: 'a', prompt: 'p', sample_id: 's', seed: 0, video: 'v.mp4', frames: 16, height: 32, width: 32, fps: 8, patches: { grid: [4, 4], size: [4, 8, 8], video: [16, 32, 32], boxes: [], dir: 'd' } };
  const e = await t.throwsAsync(collect(readRecords(['-'], PatchesRecord, { stdin: stdin(JSON.stringify(rec) + '\n') })));
  t.regex(e!.message, /^<stdin>:1: patches\.grid(\[\d\])?: /);
});

test('bad input: a missing field is named', async (t) => {
  const e = await t.throwsAsync(collect(readRecords(['-'], PromptRecord, { stdin: stdin('{"id":"a"}\n') })));
  t.regex(e!.message, /^<stdin>:1: prompt: /);
});

test('--skip-invalid warns and goes on', async (t) => {
  const warnings: string[] = [];
  const got = await collect(
    readRecords(['-'], PromptRecord, { stdin: stdin('{"id":"a"}\n{"id":"b","prompt":"y"}\n'), skipInvalid: true, warn: (m) => warnings.push(m) }),
  );
  t.is(got.length, 1);
  t.is(warnings.length, 1);
  t.regex(warnings[0]!, /<stdin>:1: prompt/);
});

test('records from a file get media paths rebased from the file folder to the current directory', async (t) => {
  const dir = await tempDir();
  const file = path.join(dir, 'p.jsonl');
  const rec = { id: 'a', prompt: 'x', video: 'v/a.mp4', patches: { dir: 'patches/a', storyboards: ['patches/a/0.png', '/abs/1.png'] }, win: { video: 'w.mp4' } };
  await writeFile(file, JSON.stringify(rec) + '\n');
  const [r] = await collect(readRecords([file], PromptRecord));
  t.is(r!.dir, process.cwd());
  t.is(r!.place.source, file);
  const rel = (p: string) => path.relative(process.cwd(), path.join(dir, p));
  t.is(r!.record.video, rel('v/a.mp4'));
  t.deepEqual(r!.record.patches, { dir: rel('patches/a'), storyboards: [rel('patches/a/0.png'), '/abs/1.png'] });
  t.is((r!.record.win as { video: string }).video, rel('w.mp4'));
});

test('bad input: a missing input file is a clear error', async (t) => {
  const e = await t.throwsAsync(collect(readRecords(['/nonexistent/x.jsonl'], PromptRecord)));
  t.regex(e!.message, /\/nonexistent\/x\.jsonl: cannot read/);
});

test('shards partition the records exactly', (t) => {
  const keys = Array.from({ length: 200 }, (_, i) => `p${i}`);
  const shards = [1, 2, 3].map((k) => keys.filter((key) => inShard(parseShard(`${k}/3`), key)));
  t.is(shards.flat().length, keys.length);
  t.is(new Set(shards.flat()).size, keys.length);
  for (const s of shards) t.true(s.length > 30);
  t.throws(() => parseShard('4/3'));
  t.throws(() => parseShard('x'));
});

test('a record file saved in a subfolder with current-directory paths still resolves (cwd fallback)', async (t) => {
  const dir = await tempDir();
  const sub = path.join(dir, 'sub');
  await mkdir(path.join(dir, 'v'), { recursive: true });
  await mkdir(sub, { recursive: true });
  await writeFile(path.join(dir, 'v', 'a.mp4'), 'x');
  const file = path.join(sub, 'p.jsonl');
  await writeFile(file, JSON.stringify({ id: 'a', prompt: 'x', video: path.relative(process.cwd(), path.join(dir, 'v', 'a.mp4')) }) + '\n');
  const [r] = await collect(readRecords([file], PromptRecord));
  t.is(path.resolve(r!.record.video as string), path.join(dir, 'v', 'a.mp4'));
});
