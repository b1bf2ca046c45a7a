// A fake OpenAI-compatible vision-language server for tests and cost measurements: a real HTTP
// server on 127.0.0.1 that speaks POST /v1/chat/completions with image inputs (content parts
// with image_url data: URLs), checks the bearer key, answers the halo-vlm prompt template with
// deterministic scores (hashes of the images it was shown), reports `usage` with OpenAI's token
// rules (openai-tokens.ts), and injects switchable faults, one per request from a queue:
// 429 with Retry-After, 500, a hang past the client's timeout, malformed JSON, scores out of
// range, a truncated body, a grid answer with cells missing.
// Run alone: node dist/src/teachers/fake-vlm-server.js [--port N] [--key K] [--faults 429,500]
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { ASPECTS } from '../records/aspects.js';
import { estimatePromptTokens, dataUrlBytes, imageSize, textTokens } from './openai-tokens.js';
import type { ChatMessage } from './prompt-template.js';

export const FAULTS = ['429', '500', 'hang', 'malformed', 'out-of-range', 'truncated', 'missing-cells'] as const;
export type Fault = (typeof FAULTS)[number];

export interface FakeVlmOptions {
  /** Required bearer key; undefined = any key. */
  apiKey?: string;
  /** Faults to inject, one per incoming request, in order; requests after the queue is empty are answered normally. */
  faults?: Fault[];
  /** Seconds sent in Retry-After with a 429 (default 1). */
  retryAfterS?: number;
  port?: number;
}

export interface FakeVlmRequest {
  kind: 'video' | 'patch' | 'grid';
  model: string;
  images: number;
  /** Width and height of each image, in order. */
  imageSizes: [number, number][];
  /** Whether the request carried an earlier answer to correct (a re-ask). */
  reask: boolean;
  fault?: Fault;
  status: number;
  promptTokens: number;
  completionTokens: number;
}

export interface FakeVlm {
  /** Base URL for the client, ending in /v1. */
  url: string;
  /** Remaining faults (mutable: push more to switch faults on). */
  faults: Fault[];
  /** Every request received, in arrival order. */
  log: FakeVlmRequest[];
  close(): Promise<void>;
}

function errorBody(message: string, type: string): string {
  return JSON.stringify({ error: { message, type, param: null, code: null } });
}

function scoreOf(seed: string): number {
  return 1 + (createHash('sha256').update(seed).digest()[0]! % 4);
}

function aspectScores(seed: string): Record<string, number> {
  return Object.fromEntries(ASPECTS.map((a) => [a, scoreOf(`${seed}/${a}`)]));
}

interface Parsed {
  model: string;
  kind: FakeVlmRequest['kind'];
  cells: number[];
  imageSeed: string;
  images: number;
  imageSizes: [number, number][];
  reask: boolean;
  messages: ChatMessage[];
}

/** Validate a request body like a server would; a string is the 400 message. */
function parseRequest(body: unknown): Parsed | string {
  if (!body || typeof body !== 'object') return 'the body is not a JSON object';
  const b = body as { model?: unknown; messages?: unknown };
  if (typeof b.model !== 'string' || !b.model) return "'model' is required";
  if (!Array.isArray(b.messages) || b.messages.length === 0) return "'messages' must be a non-empty array";
  const hash = createHash('sha256');
  let images = 0;
  const imageSizes: [number, number][] = [];
  let prompt = '';
  let reask = false;
  for (const m of b.messages as ChatMessage[]) {
    if (m.role === 'assistant') reask = true;
    if (typeof m.content === 'string') {
      if (m.role === 'user' && !reask) prompt += m.content;
      continue;
    }
    if (!Array.isArray(m.content)) return 'message content must be a string or an array of parts';
    for (const part of m.content) {
      if (part.type === 'text') prompt += `${part.text}\n`;
      else if (part.type === 'image_url') {
        const data = dataUrlBytes(part.image_url?.url ?? '');
        if (!data || !/^image\/(png|jpeg|webp)$/.test(data.mime)) return 'image_url must be a base64 data: URL of a PNG, JPEG or WebP image';
        const size = imageSize(data.bytes);
        if (!size) return 'image_url data is not a readable image';
        imageSizes.push([size.width, size.height]);
        hash.update(data.bytes);
        images++;
      } else return `unknown content part type '${(part as { type?: string }).type}'`;
    }
  }
  if (images === 0) return 'this vision model expects at least one image';
  const cellsLine = /^Cells: ([\d, ]+)$/m.exec(prompt);
  const cells = cellsLine ? cellsLine[1]!.split(',').map((s) => Number(s.trim())) : [];
  const kind = cellsLine ? 'grid' : /The image shows patch \d+/.test(prompt) ? 'patch' : 'video';
  return { model: b.model, kind, cells, imageSeed: hash.digest('hex'), images, imageSizes, reask, messages: b.messages as ChatMessage[] };
}

/** The assistant's answer text for a request, with a content fault applied. */
function answerFor(p: Parsed, fault: Fault | undefined): string {
  if (fault === 'malformed') return 'Here are my scores: {"visual_quality": 3, "temporal_consistency": 4,';
  if (p.kind === 'grid') {
    let cells: Record<string, number>[] = p.cells.map((c) => ({ cell: c, ...aspectScores(`${p.imageSeed}/${c}`) }));
    if (fault === 'missing-cells') cells = cells.slice(0, Math.max(0, cells.length - 2));
    if (fault === 'out-of-range' && cells[0]) cells[0].visual_quality = 7;
    return JSON.stringify({ cells });
  }
  const scores = aspectScores(p.imageSeed);
  if (fault === 'out-of-range') scores.visual_quality = 0;
  return JSON.stringify(scores);
}

export async function startFakeVlmServer(options: FakeVlmOptions = {}): Promise<FakeVlm> {
  const faults: Fault[] = [...(options.faults ?? [])];
  const log: FakeVlmRequest[] = [];
  let counter = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: string, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(body);
      };
      if (req.method !== 'POST' || !/^\/(v1\/)?chat\/completions$/.test(req.url ?? '')) {
        return send(404, errorBody(`no route ${req.method} ${req.url}`, 'invalid_request_error'));
      }
      if (options.apiKey !== undefined && req.headers.authorization !== `Bearer ${options.apiKey}`) {
        return send(401, errorBody('Incorrect API key provided.', 'invalid_request_error'));
      }
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return send(400, errorBody('the body is not valid JSON', 'invalid_request_error'));
      }
      const p = parseRequest(body);
      if (typeof p === 'string') return send(400, errorBody(p, 'invalid_request_error'));
      const fault = faults.shift();
      const entry: FakeVlmRequest = { kind: p.kind, model: p.model, images: p.images, imageSizes: p.imageSizes, reask: p.reask, fault, status: 200, promptTokens: 0, completionTokens: 0 };
      log.push(entry);
      if (fault === 'hang') return; // never answers; the client must time out
      if (fault === '429') {
        entry.status = 429;
        return send(429, errorBody('Rate limit reached. Please try again later.', 'rate_limit_error'), { 'retry-after': String(options.retryAfterS ?? 1) });
      }
      if (fault === '500') {
        entry.status = 500;
        return send(500, errorBody('The server had an error while processing your request.', 'server_error'));
      }
      const content = answerFor(p, fault);
      entry.promptTokens = estimatePromptTokens(p.messages);
      entry.completionTokens = textTokens(content);
      const full = JSON.stringify({
        id: `chatcmpl-fake-${++counter}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: p.model,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
        usage: { prompt_tokens: entry.promptTokens, completion_tokens: entry.completionTokens, total_tokens: entry.promptTokens + entry.completionTokens },
      });
      if (fault === 'truncated') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(full)) });
        res.write(full.slice(0, Math.floor(full.length / 2)));
        setTimeout(() => res.socket?.destroy(), 10);
        return;
      }
      send(200, full);
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    faults,
    log,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// Standalone: print the URL and serve until killed.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const faults = (arg('faults') ?? '').split(',').filter(Boolean) as Fault[];
  const bad = faults.find((f) => !(FAULTS as readonly string[]).includes(f));
  if (bad) {
    process.stderr.write(`fake-vlm-server: unknown fault '${bad}' (known: ${FAULTS.join(', ')})\n`);
    process.exit(2);
  }
  const vlm = await startFakeVlmServer({ port: Number(arg('port') ?? 0), apiKey: arg('key'), faults });
  process.stdout.write(`${vlm.url}\n`);
}
