// Chat-completion requests to an OpenAI-compatible server through the official `openai` client,
// with what a long labeling run needs around it: a concurrency limit, retries with exponential
// backoff on 429/408/409/5xx, timeouts and broken connections (honouring Retry-After and
// retry-after-ms), a request budget, and counts of requests, retries and tokens. In: messages;
// out: the answer's text and token usage. The API key goes to the client only, never to a log.
import OpenAI, { APIConnectionError, APIError } from 'openai';
import { HaloError } from '../cli/errors.js';
import type { ChatMessage } from './prompt-template.js';

export interface ChatClientOptions {
  baseURL: string;
  apiKey: string;
  model: string;
  /** Per-attempt limit, headers and body together. */
  timeoutMs: number;
  /** Retries after the first attempt for transient failures. */
  maxRetries: number;
  /** First backoff; doubles each retry up to backoffMaxMs. */
  backoffMs: number;
  backoffMaxMs: number;
  /** Requests in flight at once. */
  concurrency: number;
  /** Most requests (attempts) to send in this run; undefined = no limit. */
  maxRequests?: number;
  /** 'json_object' asks the server for JSON mode; 'none' leaves response_format out. */
  responseFormat: 'json_object' | 'none';
  temperature: number;
  maxTokens: number;
  log: (message: string) => void;
}

export interface ChatUsage {
  promptTokens: number;
  completionTokens: number;
}

export interface ChatAnswer {
  text: string;
  usage: ChatUsage;
  finishReason: string | null;
  /** HTTP requests this answer took (1 + retries). */
  attempts: number;
}

/** The request budget is spent: no more requests go out. `attempts`: requests sent before that. */
export class BudgetSpent extends Error {
  constructor(message: string, readonly attempts: number) {
    super(message);
  }
}

/** A request that kept failing with transient errors until its retries ran out. */
export class RequestFailed extends Error {
  constructor(message: string, readonly attempts: number) {
    super(message);
  }
}

export interface ChatStats {
  /** HTTP requests sent (attempts, retries included). */
  requests: number;
  retries: number;
  /** Requests that failed for good after their retries. */
  failed: number;
  promptTokens: number;
  completionTokens: number;
  /** Requests whose answer had no usage (tokens unknown). */
  noUsage: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Milliseconds a server asked us to wait (retry-after-ms, or Retry-After in seconds or as a date). */
export function retryAfterMs(headers: Headers | undefined, now = Date.now()): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const ra = headers.get('retry-after');
  if (!ra) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(ra)) return Number(ra) * 1000;
  const date = Date.parse(ra);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Whether a failure is worth retrying, and why (for logs and reasons). */
function classify(e: unknown, timedOut: boolean): { retry: boolean; why: string; wait?: number } {
  if (timedOut) return { retry: true, why: 'timed out' };
  if (e instanceof APIConnectionError) return { retry: true, why: `connection failed (${e.message})` };
  if (e instanceof APIError) {
    const s = e.status ?? 0;
    const why = `HTTP ${s}`;
    if (s === 429 || s === 408 || s === 409 || s >= 500) return { retry: true, why, wait: retryAfterMs(e.headers) };
    return { retry: false, why: `${why}: ${e.message}` };
  }
  // A body cut short (undici "terminated"), an unparseable body, a reset socket: transient.
  if (e instanceof TypeError || e instanceof SyntaxError || (e as Error)?.name === 'AbortError') {
    return { retry: true, why: `broken response (${(e as Error).message})` };
  }
  return { retry: false, why: (e as Error)?.message ?? String(e) };
}

export class ChatClient {
  readonly stats: ChatStats = { requests: 0, retries: 0, failed: 0, promptTokens: 0, completionTokens: 0, noUsage: 0 };
  private readonly client: OpenAI;
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly options: ChatClientOptions) {
    // Retries and timeouts are ours (counted, logged, configurable), so the client's are off.
    this.client = new OpenAI({ baseURL: options.baseURL, apiKey: options.apiKey, maxRetries: 0, timeout: options.timeoutMs });
  }

  get model(): string {
    return this.options.model;
  }

  /** The request body for `messages` (also what the cache key is made of). */
  body(messages: ChatMessage[]): Record<string, unknown> {
    const body: Record<string, unknown> = {
      model: this.options.model,
      messages,
      temperature: this.options.temperature,
      max_tokens: this.options.maxTokens,
    };
    if (this.options.responseFormat === 'json_object') body.response_format = { type: 'json_object' };
    return body;
  }

  private async slot(): Promise<void> {
    if (this.active < this.options.concurrency) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }

  /** Send one chat completion, retrying transient failures. Throws BudgetSpent, RequestFailed or HaloError. */
  async complete(messages: ChatMessage[], label: string): Promise<ChatAnswer> {
    const o = this.options;
    const body = this.body(messages) as unknown as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming;
    for (let attempt = 0; ; attempt++) {
      await this.slot();
      if (o.maxRequests !== undefined && this.stats.requests >= o.maxRequests) {
        this.release();
        throw new BudgetSpent(`request budget spent (--max-requests ${o.maxRequests})`, attempt);
      }
      this.stats.requests++;
      const controller = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, o.timeoutMs);
      const started = Date.now();
      let failure: { retry: boolean; why: string; wait?: number };
      try {
        const r = await this.client.chat.completions.create(body, { signal: controller.signal, timeout: o.timeoutMs });
        const choice = r.choices?.[0];
        const text = choice?.message?.content ?? '';
        const usage = { promptTokens: r.usage?.prompt_tokens ?? 0, completionTokens: r.usage?.completion_tokens ?? 0 };
        if (r.usage) {
          this.stats.promptTokens += usage.promptTokens;
          this.stats.completionTokens += usage.completionTokens;
        } else this.stats.noUsage++;
        o.log(`${label}: 200 in ${Date.now() - started} ms, ${usage.promptTokens}+${usage.completionTokens} tokens`);
        return { text, usage, finishReason: choice?.finish_reason ?? null, attempts: attempt + 1 };
      } catch (e) {
        failure = classify(e, timedOut);
      } finally {
        clearTimeout(timer);
        this.release();
      }
      if (!failure.retry) {
        throw new HaloError(`${o.baseURL} (model ${o.model}): the request was refused: ${failure.why}`);
      }
      if (attempt >= o.maxRetries) {
        this.stats.failed++;
        o.log(`${label}: ${failure.why}; giving up after ${attempt + 1} attempts`);
        throw new RequestFailed(`${failure.why} (${attempt + 1} attempts)`, attempt + 1);
      }
      const backoff = Math.min(o.backoffMaxMs, o.backoffMs * 2 ** attempt);
      const wait = failure.wait !== undefined ? Math.max(failure.wait, 0) : backoff;
      this.stats.retries++;
      o.log(`${label}: ${failure.why}; retry ${attempt + 1}/${o.maxRetries} in ${wait} ms${failure.wait !== undefined ? ' (Retry-After)' : ''}`);
      await sleep(wait);
    }
  }
}
