// halo-label --teacher openai against a real HTTP server speaking the chat-completions protocol
// (fake-vlm-server.ts), with faults switched on: the labeler survives each, loses no record,
// and a second run is served from the cache.
import test from 'ava';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { runCli, tempDir, jsonl } from '../testing/cli.js';
import { startFakeVlmServer, type Fault, type FakeVlm } from './fake-vlm-server.js';
import { makeLabelFixture } from './label-fixtures.js';
import { ASPECTS } from '../records/aspects.js';

const KEY = 'sk-test-0123456789abcdef';
let dir = '';
let records: Record<string, any>[] = [];

test.before(async () => {
  dir = await tempDir('halo-label-openai-');
  records = await makeLabelFixture(dir, { videos: 3, grid: [2, 2, 2] });
});

/** Run halo-label --teacher openai against `vlm` with short timeouts. */
function label(vlm: FakeVlm, extra: string[], options: { env?: Record<string, string>; input?: string; timeoutMs?: number; maxRetries?: number } = {}) {
  const args = [
    ...(options.input === undefined ? ['samples.jsonl'] : []),
    '--teacher', 'openai', '--base-url', vlm.url, '--model', 'fake-vlm',
    '--timeout-ms', String(options.timeoutMs ?? 30_000), '--backoff-ms', '10', '--max-retries', String(options.maxRetries ?? 3), ...extra,
  ];
  return runCli('label', args, { cwd: dir, env: { OPENAI_API_KEY: KEY, ...options.env }, input: options.input });
}

async function withServer<T>(faults: Fault[], fn: (vlm: FakeVlm) => Promise<T>): Promise<T> {
  const vlm = await startFakeVlmServer({ apiKey: KEY, faults, retryAfterS: 1 });
  try {
    return await fn(vlm);
  } finally {
    await vlm.close();
  }
}

function allScored(t: any, rec: Record<string, any>, patches: number) {
  t.is(rec.labels.missing, undefined, `${rec.sample_id}: ${JSON.stringify(rec.labels.missing)}`);
  for (const a of ASPECTS) {
    t.true(rec.labels.video[a] >= 1 && rec.labels.video[a] <= 4);
    t.is(rec.labels.patch[a].length, patches);
    t.true(rec.labels.patch[a].every((v: number) => v >= 1 && v <= 4));
  }
}

test.serial('grid mode: one video request and one request per temporal segment, records in input order, then all from the cache', async (t) => {
  const cache = path.join(dir, 'cache-grid');
  await withServer([], async (vlm) => {
    const r = await label(vlm, ['--cache-dir', cache, '--jobs', '2', '--verbose']);
    t.is(r.exitCode, 0, r.stderr);
    t.deepEqual(r.records.map((x) => x.sample_id), records.map((x) => x.sample_id));
    for (const rec of r.records) {
      allScored(t, rec, 8);
      t.deepEqual(rec.labels.source, { teacher: 'openai', version: '1', model: 'fake-vlm', template: 'halo-vlm-1', mode: 'grid' });
      t.is(rec.patches.grid.length, 3, 'input fields are kept');
      t.is(rec.labels.video.overall, ASPECTS.reduce((s, a) => s + rec.labels.video[a], 0) / 5);
    }
    // 3 videos × (1 video request + 2 segments)
    t.is(vlm.log.length, 9);
    t.deepEqual(vlm.log.filter((q) => q.kind === 'video').map((q) => q.images), [8, 8, 8]);
    t.deepEqual(vlm.log.filter((q) => q.kind === 'grid').map((q) => q.images), [2, 2, 2, 2, 2, 2]);
    t.regex(r.stderr, /9 requests sent \(0 retries, 0 re-asks, 0 failed\)/);
    t.regex(r.stderr, /per video \(3 videos[^)]*\): 3 requests, [\d.]+ prompt \+ [\d.]+ completion tokens/);
    t.false(r.stderr.includes(KEY), 'the key is never logged');

    const again = await label(vlm, ['--cache-dir', cache]);
    t.is(again.exitCode, 0, again.stderr);
    t.is(vlm.log.length, 9, 'the second run sends no request');
    t.deepEqual(again.records, r.records);
    t.regex(again.stderr, /0 requests sent .* 9 answers, 9 from the cache/);
    t.regex(again.stderr, /per video \(3 videos[^)]*\): 3 requests/, 'cached answers still report what they cost');
  });
});

test.serial('per-patch mode: one request per patch storyboard; --force asks again', async (t) => {
  const cache = path.join(dir, 'cache-per-patch');
  await withServer([], async (vlm) => {
    const r = await label(vlm, ['--mode', 'per-patch', '--cache-dir', cache, '--level', 'patch']);
    t.is(r.exitCode, 0, r.stderr);
    t.is(vlm.log.length, 24, '3 videos × 8 patches, no video request with --level patch');
    t.true(vlm.log.every((q) => q.kind === 'patch' && q.images === 1));
    for (const rec of r.records) {
      t.deepEqual(rec.labels.video, {});
      t.is(rec.labels.patch.visual_quality.length, 8);
    }
    // Different storyboards, different (deterministic) answers: the patches are not all scored alike.
    const scores = r.records.flatMap((rec) => rec.labels.patch.visual_quality);
    t.true(new Set(scores).size > 1);
    const forced = await label(vlm, ['--mode', 'per-patch', '--cache-dir', cache, '--level', 'patch', '--force']);
    t.is(forced.exitCode, 0, forced.stderr);
    t.is(vlm.log.length, 48);
    t.deepEqual(forced.records, r.records);
  });
});

test.serial('faults: 429 with Retry-After, 500, a hang, malformed JSON, out-of-range scores, a truncated body, missing cells; no record lost; the cache makes the second run free', async (t) => {
  const cache = path.join(dir, 'cache-faults');
  const faults: Fault[] = ['429', '500', 'hang', 'malformed', 'out-of-range', 'truncated', 'missing-cells'];
  await withServer(faults, async (vlm) => {
    const started = Date.now();
    // A hang costs one --timeout-ms; 3 s leaves room for a loaded machine's normal answers.
    const r = await label(vlm, ['--cache-dir', cache, '--verbose', '--concurrency', '1', '--jobs', '1'], { timeoutMs: 3000 });
    t.is(r.exitCode, 0, r.stderr);
    t.true(Date.now() - started >= 1000, 'the 429 was retried after its Retry-After (1 s)');
    t.is(r.records.length, 3);
    for (const rec of r.records) allScored(t, rec, 8);
    t.deepEqual(vlm.faults, [], 'every fault was served');
    t.deepEqual(vlm.log.slice(0, 7).map((q) => q.fault), faults);
    t.regex(r.stderr, /HTTP 429; retry 1\/3 in 1000 ms \(Retry-After\)/);
    t.regex(r.stderr, /HTTP 500; retry/);
    t.regex(r.stderr, /timed out; retry/);
    t.regex(r.stderr, /broken response .*; retry/);
    t.regex(r.stderr, /invalid answer: the answer is not valid JSON/);
    t.regex(r.stderr, /invalid answer: (cells\[0\]\.)?visual_quality: expected a number from 1 to 4 \(or null\), got (7|0)/);
    t.regex(r.stderr, /invalid answer: cells \d+, \d+ have no entry/);
    t.regex(r.stderr, /\(([4-9]|\d\d) retries, 3 re-asks, 0 failed\)/);
    t.false(r.stderr.includes(KEY));
    const n = vlm.log.length;
    t.true(n >= 9 + 7, `${n} requests`);

    const again = await label(vlm, ['--cache-dir', cache]);
    t.is(again.exitCode, 0, again.stderr);
    t.is(vlm.log.length, n, 'zero requests on the second run');
    t.deepEqual(again.records, r.records);
  });
});

test.serial('requests that keep failing give null scores with reasons; a re-run asks only for those', async (t) => {
  const cache = path.join(dir, 'cache-fail');
  const two = jsonl(records.slice(0, 2));
  await withServer(['500', '500'], async (vlm) => {
    // One record at a time: the first video's request fails twice (1 retry) and gives up.
    const r = await label(vlm, ['--cache-dir', cache, '--jobs', '1', '--level', 'video'], { input: two, maxRetries: 1 });
    t.is(r.exitCode, 0, r.stderr);
    t.is(r.records.length, 2, 'no record is lost');
    const [first, second] = r.records as [Record<string, any>, Record<string, any>];
    t.is(first.labels.video.visual_quality, null);
    t.is(first.labels.video.overall, null);
    t.regex(first.labels.missing['video.visual_quality'], /^request failed: HTTP 500 \(2 attempts\)/);
    t.is(Object.keys(first.labels.missing).length, 5);
    t.is(second.labels.missing, undefined);
    t.true(second.labels.video.visual_quality >= 1);
    t.regex(r.stderr, /1 requests failed for good/);
    t.regex(r.stderr, /5 scores missing/);
    const sent = vlm.log.length;
    t.is(sent, 3);
    const again = await label(vlm, ['--cache-dir', cache, '--level', 'video'], { input: two });
    t.is(again.exitCode, 0);
    t.is(vlm.log.length - sent, 1, 'only the failed ask is sent again');
    t.is(again.records[0]!.labels.missing, undefined);
    t.deepEqual(again.records[1], second);
  });
});

test.serial('an answer that stays invalid after the re-asks gives nulls with the reason', async (t) => {
  await withServer(['malformed', 'malformed', 'malformed'], async (vlm) => {
    const r = await label(vlm, ['--no-cache', '--max-reasks', '2', '--level', 'video', '--concurrency', '1', '--jobs', '1'], { input: jsonl(records.slice(0, 1)) });
    t.is(r.exitCode, 0, r.stderr);
    t.regex(r.records[0]!.labels.missing['video.dynamic_degree'], /^invalid answer after 3 attempts: the answer is not valid JSON/);
    t.is(vlm.log.filter((q) => q.reask).length, 2);
  });
});

test.serial('the request budget stops requests; what is left is null with the reason', async (t) => {
  await withServer([], async (vlm) => {
    const r = await label(vlm, ['--no-cache', '--max-requests', '2', '--concurrency', '1', '--jobs', '1']);
    t.is(r.exitCode, 0, r.stderr);
    t.is(vlm.log.length, 2);
    t.is(r.records.length, 3);
    const reasons = r.records.flatMap((x) => Object.values(x.labels.missing ?? {}));
    t.true(reasons.length > 0);
    t.true(reasons.every((m) => m === 'request budget spent (--max-requests 2)'));
  });
});

test.serial('bad input: missing API key: a clear message and no request sent', async (t) => {
  await withServer([], async (vlm) => {
    const r = await label(vlm, ['--api-key-env', 'HALO_TEST_NO_SUCH_KEY']);
    t.is(r.exitCode, 1);
    t.regex(r.stderr, /^halo-label: the openai teacher needs an API key in \$HALO_TEST_NO_SUCH_KEY, which is not set \(no request was sent\)/);
    t.is(vlm.log.length, 0);
  });
});

test.serial('bad input: a key the server refuses stops the run with the status, without the key', async (t) => {
  await withServer([], async (vlm) => {
    const r = await label(vlm, ['--no-cache'], { env: { OPENAI_API_KEY: 'sk-wrong-key-xyz' } });
    t.is(r.exitCode, 1);
    t.regex(r.stderr, /the request was refused: HTTP 401/);
    t.false(r.stderr.includes('sk-wrong-key-xyz'));
  });
});

test.serial('bad input: per-patch mode without storyboards names the field; --skip-invalid goes on', async (t) => {
  const noBoards = records.map((r) => ({ ...r, patches: { ...r.patches, storyboards: undefined } }));
  await withServer([], async (vlm) => {
    const r = await label(vlm, ['--no-cache', '--mode', 'per-patch'], { input: jsonl(noBoards) });
    t.is(r.exitCode, 1);
    t.regex(r.stderr, /<stdin>:1: patches\.storyboards: patch mode per-patch needs a storyboard per patch/);
    const missingFile = records.map((r, i) => (i === 1 ? { ...r, patches: { ...r.patches, storyboards: r.patches.storyboards.map((s: string) => `${s}.gone`) } } : r));
    const s = await label(vlm, ['--no-cache', '--mode', 'per-patch', '--skip-invalid'], { input: jsonl(missingFile) });
    t.is(s.exitCode, 0, s.stderr);
    t.deepEqual(s.records.map((x) => x.sample_id), [records[0]!.sample_id, records[2]!.sample_id]);
    // patches are requested concurrently: whichever missing storyboard is read first is named
    t.regex(s.stderr, /<stdin>:2: patches\.storyboards\[(\d+)\]: .*p0*\1\.png\.gone: cannot read the storyboard \(ENOENT\) \(skipped\)/);
    t.regex(s.stderr, /2 records labeled by openai, 1 skipped/);
  });
});

test.serial('bad input: patch labels asked of records without patches', async (t) => {
  const plain = records.map(({ patches, ...r }) => r);
  await withServer([], async (vlm) => {
    const r = await label(vlm, ['--no-cache', '--level', 'both'], { input: jsonl(plain) });
    t.is(r.exitCode, 1);
    t.regex(r.stderr, /<stdin>:1: patches: patch labels were asked \(--level both\) but the record has no patches; run halo-patchify first/);
    t.is(vlm.log.length, 0);
    // Without --level, records without patches get video labels only.
    const v = await label(vlm, ['--no-cache'], { input: jsonl(plain) });
    t.is(v.exitCode, 0, v.stderr);
    t.is(v.records[0]!.labels.patch, undefined);
    t.is(vlm.log.length, 3);
  });
});

test.serial('bad input: unknown teacher is a usage error; missing video file is an error naming it', async (t) => {
  const r = await runCli('label', ['--teacher', 'gpt5'], { cwd: dir, input: jsonl(records) });
  t.is(r.exitCode, 2);
  t.regex(r.stderr, /teacher.*gpt5|Invalid values/i);
  await withServer([], async (vlm) => {
    const gone = [{ ...records[0]!, video: 'videos/nope.mp4' }];
    const m = await label(vlm, ['--no-cache'], { input: jsonl(gone) });
    t.is(m.exitCode, 1);
    t.regex(m.stderr, /videos\/nope\.mp4: video file not found/);
  });
});

test.serial('the cache folder holds one entry per answer', async (t) => {
  const cache = path.join(dir, 'cache-count');
  await rm(cache, { recursive: true, force: true });
  await withServer([], async (vlm) => {
    const r = await label(vlm, ['--cache-dir', cache], { input: jsonl(records.slice(0, 1)) });
    t.is(r.exitCode, 0, r.stderr);
    let files = 0;
    for (const sub of await readdir(cache)) files += (await readdir(path.join(cache, sub))).filter((f) => f.endsWith('.json')).length;
    t.is(files, 3);
  });
});

test.serial('--estimate prints requests and tokens per video of each mode, sends nothing, needs no key; a real run costs what it said', async (t) => {
  const est = await runCli('label', ['samples.jsonl', '--teacher', 'openai', '--estimate'], { cwd: dir, env: { OPENAI_API_KEY: '' } });
  t.is(est.exitCode, 0, est.stderr);
  t.regex(est.stdout, /no request was sent/);
  const row = (mode: string) => new RegExp(`^${mode} +(\\d+) +([\\d.]+) +([\\d.]+) +([\\d.]+)$`, 'm').exec(est.stdout);
  const grid = row('grid');
  const perPatch = row('per-patch');
  t.truthy(grid);
  t.truthy(perPatch);
  t.deepEqual([grid![1], grid![2]], ['3', '3'], '3 videos, 1 video + 2 segment requests each');
  t.deepEqual([perPatch![1], perPatch![2]], ['3', '9'], '1 video + 8 patch requests each');
  await withServer([], async (vlm) => {
    const r = await label(vlm, ['--no-cache']);
    t.is(r.exitCode, 0, r.stderr);
    const prompt = vlm.log.reduce((s, q) => s + q.promptTokens, 0) / 3;
    t.is(Number(grid![3]), Number(prompt.toFixed(1)));
  });
  const other = await runCli('label', ['samples.jsonl', '--teacher', 'csv', '--csv', 'x.csv', '--estimate'], { cwd: dir });
  t.is(other.exitCode, 2);
  t.regex(other.stderr, /--estimate: only the openai teacher sends requests/);
});

test.serial('frames larger than --image-size are shrunk before sending; small ones are enlarged', async (t) => {
  const big = await tempDir('halo-label-big-');
  await makeLabelFixture(big, { videos: 1, shape: [8, 64, 96], grid: [2, 2, 3], storyboards: false });
  await withServer([], async (vlm) => {
    const r = await runCli('label', ['samples.jsonl', '--teacher', 'openai', '--base-url', vlm.url, '--no-cache', '--image-size', '48', '--video-frames', '3'], { cwd: big, env: { OPENAI_API_KEY: KEY } });
    t.is(r.exitCode, 0, r.stderr);
    t.is(r.records[0]!.labels.patch.visual_quality.length, 12);
    t.is(r.records[0]!.labels.missing, undefined);
    t.deepEqual(vlm.log.map((q) => q.kind).sort(), ['grid', 'grid', 'video']);
    t.deepEqual([...new Set(vlm.log.flatMap((q) => q.imageSizes.map((s) => s.join('x'))))], ['48x32']);
  });
  await withServer([], async (vlm) => {
    const r = await label(vlm, ['--no-cache', '--image-size', '100', '--level', 'video'], { input: jsonl(records.slice(0, 1)) });
    t.is(r.exitCode, 0, r.stderr);
    t.deepEqual(vlm.log[0]!.imageSizes, Array(8).fill([96, 96]), '32×32 frames enlarged 3×');
  });
});
