// Unit tests of the VLM teacher's parts: answer validation, Retry-After, token estimates, the cache.
import test from 'ava';
import path from 'node:path';
import { AnswerCache, cacheKey, canonicalJson } from './cache.js';
import { retryAfterMs } from './openai-client.js';
import { estimatePromptTokens, imageSize, imageTokens } from './openai-tokens.js';
import { evenly } from './openai.js';
import { TEMPLATE_VERSION, gridMessages, parseAspectAnswer, parseGridAnswer, videoMessages } from './prompt-template.js';
import { encodePng } from '../media/image.js';
import { tempDir } from '../testing/cli.js';

const full = { visual_quality: 3, temporal_consistency: 4, dynamic_degree: 2, text_alignment: 1, factual_consistency: 4 };

test('aspect answers: valid, fenced, null allowed; out of range, missing and non-JSON answers name the problem', (t) => {
  t.deepEqual(parseAspectAnswer(JSON.stringify(full)), { ok: true, value: full });
  t.true(parseAspectAnswer('```json\n' + JSON.stringify({ ...full, reason: 'fine' }) + '\n```').ok);
  t.true(parseAspectAnswer(JSON.stringify({ ...full, dynamic_degree: null })).ok);
  t.deepEqual(parseAspectAnswer(JSON.stringify({ ...full, visual_quality: 5 })), { ok: false, problem: 'visual_quality: expected a number from 1 to 4 (or null), got 5' });
  t.deepEqual(parseAspectAnswer(JSON.stringify({ ...full, text_alignment: '3' })), { ok: false, problem: 'text_alignment: expected a number from 1 to 4 (or null), got "3"' });
  const { factual_consistency: _, ...partial } = full;
  t.deepEqual(parseAspectAnswer(JSON.stringify(partial)), { ok: false, problem: 'factual_consistency: expected a number from 1 to 4 (or null), got nothing' });
  t.deepEqual(parseAspectAnswer('Scores: {visual_quality: 3'), { ok: false, problem: 'the answer is not valid JSON' });
  t.deepEqual(parseAspectAnswer('[3, 4]'), { ok: false, problem: 'expected one JSON object' });
});

test('grid answers: exactly the asked cells, each once', (t) => {
  const cells = (ids: number[]) => JSON.stringify({ cells: ids.map((cell) => ({ cell, ...full })) });
  const ok = parseGridAnswer(cells([4, 5, 6, 7]), [4, 5, 6, 7]);
  t.true(ok.ok);
  t.deepEqual(ok.ok && [...ok.value.keys()], [4, 5, 6, 7]);
  t.deepEqual(parseGridAnswer(cells([4, 5]), [4, 5, 6]), { ok: false, problem: 'cell 6 has no entry' });
  t.deepEqual(parseGridAnswer(cells([4, 4, 5]), [4, 5]), { ok: false, problem: 'cell 4 appears twice' });
  t.deepEqual(parseGridAnswer(cells([4, 9]), [4, 5]), { ok: false, problem: 'cell 9 was not asked (cells: 4, 5)' });
  t.deepEqual(parseGridAnswer(JSON.stringify({ cells: [{ cell: 4, ...full, visual_quality: 0 }] }), [4]), { ok: false, problem: 'cells[0].visual_quality: expected a number from 1 to 4 (or null), got 0' });
});

test('the template carries its version and lists the cells for the grid', (t) => {
  t.regex(TEMPLATE_VERSION, /^halo-vlm-\d+$/);
  const ctx = { prompt: 'a red circle', frames: 16, fps: 8, width: 32, height: 32 };
  const img = { url: 'data:image/png;base64,AAAA', detail: 'low' as const };
  const g = gridMessages(ctx, { index: 1, count: 4, t0: 4, t1: 8, frameIndices: [4, 7] }, [16, 17, 18], [img, img]);
  const text = JSON.stringify(g);
  t.regex(text, /Cells: 16, 17, 18/);
  t.regex(text, /segment 2 of 4 \(frames 4-7\)/);
  t.is((g[1]!.content as unknown[]).length, 3, 'text + two images');
  const v = videoMessages(ctx, [0, 15], [img, img]);
  t.regex(JSON.stringify(v), /a red circle/);
});

test('Retry-After: seconds, HTTP dates and retry-after-ms', (t) => {
  t.is(retryAfterMs(new Headers({ 'retry-after': '2' })), 2000);
  t.is(retryAfterMs(new Headers({ 'retry-after-ms': '150', 'retry-after': '9' })), 150);
  const now = Date.parse('2026-01-01T00:00:00Z');
  t.is(retryAfterMs(new Headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:03 GMT' }), now), 3000);
  t.is(retryAfterMs(new Headers({})), undefined);
  t.is(retryAfterMs(undefined), undefined);
});

test("token estimates follow OpenAI's image rules", async (t) => {
  t.is(imageTokens(4096, 4096, 'low'), 85);
  t.is(imageTokens(1024, 1024, 'high'), 765); // 768×768 → 4 tiles
  t.is(imageTokens(2048, 4096, 'high'), 1105); // 1024×2048 → 768×1536 → 6 tiles
  t.is(imageTokens(256, 256, 'auto'), 255);
  const png = encodePng({ width: 300, height: 200, data: new Uint8Array(300 * 200 * 3) });
  t.deepEqual(imageSize(png), { width: 300, height: 200 });
  const messages = [{ role: 'user' as const, content: [{ type: 'text' as const, text: 'x'.repeat(400) }, { type: 'image_url' as const, image_url: { url: `data:image/png;base64,${png.toString('base64')}`, detail: 'high' as const } }] }];
  t.is(estimatePromptTokens(messages), 3 + 4 + 100 + 255);
});

test('evenly spaced frames', (t) => {
  t.deepEqual(evenly(0, 16, 8), [0, 2, 4, 6, 9, 11, 13, 15]);
  t.deepEqual(evenly(4, 8, 2), [4, 7]);
  t.deepEqual(evenly(4, 8, 10), [4, 5, 6, 7]);
  t.deepEqual(evenly(0, 5, 1), [2]);
});

test('cache: keys ignore object key order; entries round-trip; no folder = no cache', async (t) => {
  t.is(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] }), '{"a":[{"c":3,"d":2}],"b":1}');
  t.is(cacheKey({ model: 'm', messages: [1] }), cacheKey({ messages: [1], model: 'm' }));
  t.not(cacheKey({ model: 'm', messages: [1] }), cacheKey({ model: 'n', messages: [1] }));
  const dir = path.join(await tempDir(), 'cache');
  const cache = new AnswerCache(dir);
  const key = cacheKey({ x: 1 });
  t.is(await cache.get(key), undefined);
  await cache.put(key, { content: '{}' }, { model: 'm' });
  t.deepEqual(await cache.get(key), { content: '{}' });
  t.deepEqual([cache.hits, cache.misses, cache.writes], [1, 1, 1]);
  const none = new AnswerCache(undefined);
  await none.put(key, 1);
  t.is(await none.get(key), undefined);
});
