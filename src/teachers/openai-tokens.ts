// Token estimates for chat requests with images, following OpenAI's published rules for GPT-4o
// class models: text ≈ 1 token per 4 characters (+4 per message); an image at detail "low" costs
// 85 tokens; at "high" (and "auto", counted as high) it is fitted into 2048×2048, its short side
// scaled down to 768, and costs 85 + 170 per 512-pixel tile. Used by the fake server's `usage`
// and by halo-label --estimate. In: messages (images as data: URLs); out: a token count.
import type { ChatMessage } from './prompt-template.js';

/** Width and height from a PNG (IHDR), JPEG (SOF) or WebP header; undefined when unknown. */
export function imageSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length >= 24 && b.readUInt32BE(0) === 0x89504e47) return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) {
    let i = 2;
    while (i + 9 < b.length) {
      if (b[i] !== 0xff) return undefined;
      const marker = b[i + 1]!;
      const len = b.readUInt16BE(i + 2);
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7) };
      }
      i += 2 + len;
    }
    return undefined;
  }
  if (b.length >= 30 && b.toString('ascii', 0, 4) === 'RIFF' && b.toString('ascii', 8, 12) === 'WEBP') {
    const kind = b.toString('ascii', 12, 16);
    if (kind === 'VP8X') return { width: 1 + b.readUIntLE(24, 3), height: 1 + b.readUIntLE(27, 3) };
    if (kind === 'VP8 ') return { width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff };
    if (kind === 'VP8L') {
      const v = b.readUInt32LE(21);
      return { width: 1 + (v & 0x3fff), height: 1 + ((v >> 14) & 0x3fff) };
    }
  }
  return undefined;
}

/** Tokens of one image at a detail level. */
export function imageTokens(width: number, height: number, detail: string | undefined): number {
  if (detail === 'low') return 85;
  let w = width;
  let h = height;
  const fit = Math.min(1, 2048 / Math.max(w, h));
  w *= fit;
  h *= fit;
  const short = Math.min(w, h);
  if (short > 768) {
    w *= 768 / short;
    h *= 768 / short;
  }
  return 85 + 170 * Math.ceil(w / 512) * Math.ceil(h / 512);
}

/** Decode a data: URL's bytes (base64 only). */
export function dataUrlBytes(url: string): { mime: string; bytes: Buffer } | undefined {
  const m = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (!m) return undefined;
  return { mime: m[1]!, bytes: Buffer.from(m[2]!, 'base64') };
}

export function textTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** Estimated prompt tokens of a request. */
export function estimatePromptTokens(messages: readonly ChatMessage[]): number {
  let total = 3;
  for (const m of messages) {
    total += 4;
    if (typeof m.content === 'string') {
      total += textTokens(m.content);
      continue;
    }
    for (const part of m.content) {
      if (part.type === 'text') total += textTokens(part.text);
      else {
        const data = dataUrlBytes(part.image_url.url);
        const size = data ? imageSize(data.bytes) : undefined;
        total += size ? imageTokens(size.width, size.height, part.image_url.detail) : 85;
      }
    }
  }
  return total;
}
