// halo-label --teacher openai --estimate: what labeling the input would cost in each patch mode,
// without sending a request (no API key needed). In: the records halo-label would label; out: a
// table of requests and estimated tokens per video for `grid` and `per-patch` (each including
// the video request), on stdout.
import { readRecords, type ReadOptions } from '../io/jsonl.js';
import { LabelInput, requestFor, type Level } from './label-run.js';
import type { OpenAITeacher, PatchMode } from './openai.js';
import { TEMPLATE_VERSION } from './prompt-template.js';

export interface ModeCost {
  /** Videos the mode could be estimated for (per-patch needs storyboards). */
  videos: number;
  requests: number;
  promptTokens: number;
  completionTokens: number;
}

/** Sum, over the records, of what each mode would cost (video request included). */
export async function estimateCost(teacher: OpenAITeacher, inputs: string[], read: ReadOptions, level: Level | undefined): Promise<{ videos: number; modes: Record<PatchMode, ModeCost> }> {
  const zero = (): ModeCost => ({ videos: 0, requests: 0, promptTokens: 0, completionTokens: 0 });
  const modes: Record<PatchMode, ModeCost> = { grid: zero(), 'per-patch': zero() };
  let videos = 0;
  for await (const located of readRecords(inputs, LabelInput, read)) {
    const request = requestFor(located, level);
    const e = await teacher.estimate(request);
    videos++;
    for (const mode of ['grid', 'per-patch'] as const) {
      const patch = e[mode];
      if (request.wantPatches && !patch) continue;
      const m = modes[mode];
      m.videos++;
      for (const part of [e.video, patch]) {
        if (!part) continue;
        m.requests += part.requests;
        m.promptTokens += part.promptTokens;
        m.completionTokens += part.completionTokens;
      }
    }
  }
  return { videos, modes };
}

export function formatEstimate(r: { videos: number; modes: Record<PatchMode, ModeCost> }, settings: string): string {
  const rows = [['mode', 'videos', 'requests/video', 'prompt tokens/video', 'completion tokens/video']];
  for (const [mode, m] of Object.entries(r.modes)) {
    const per = (v: number) => (m.videos ? (v / m.videos).toFixed(1).replace(/\.0$/, '') : '—');
    rows.push([mode, String(m.videos), per(m.requests), per(m.promptTokens), per(m.completionTokens)]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((x) => x[c]!.length)));
  const table = rows.map((x) => x.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join('  '));
  return [
    `estimate for ${r.videos} videos (${settings}, template ${TEMPLATE_VERSION}); no request was sent`,
    'tokens estimated with OpenAI\'s rules for GPT-4o-class models (text: 4 characters a token; images: 85 at detail low, 85 + 170 per 512-px tile otherwise)',
    ...table,
    ...(r.modes['per-patch'].videos < r.videos ? ['per-patch: records without storyboards are not counted'] : []),
  ].join('\n') + '\n';
}
