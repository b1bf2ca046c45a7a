// A minimal zlib (RFC 1950/1951) writer for pictures whose structure the caller knows: one
// deflate block with the fixed Huffman codes, literals and back-references at distance 1 or 3
// (a repeated byte, a repeated RGB pixel). storyboardPng() drives it while it lays out a
// storyboard, so runs are emitted without being scanned for — several times cheaper than a
// zlib call per small PNG, where the cost is mostly setting zlib up (measured). The output is
// a standard zlib stream (tests inflate it with node:zlib and decode the PNGs with sharp).

const MOD = 65521;

/** Bits of a Huffman code written least significant bit first (deflate packs codes reversed). */
function reverse(code: number, bits: number): number {
  let r = 0;
  for (let i = 0; i < bits; i++) r |= ((code >> i) & 1) << (bits - 1 - i);
  return r;
}

// Fixed literal/length code (RFC 1951 §3.2.6): value (reversed code) and length in bits.
const LIT_CODE = new Uint16Array(288);
const LIT_BITS = new Uint8Array(288);
for (let v = 0; v < 288; v++) {
  const [code, bits] = v < 144 ? [0x30 + v, 8] : v < 256 ? [0x190 + v - 144, 9] : v < 280 ? [v - 256, 7] : [0xc0 + v - 280, 8];
  LIT_CODE[v] = reverse(code, bits);
  LIT_BITS[v] = bits;
}

// Match lengths 3..258: code followed by its extra bits, as one bit string.
const LEN_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEN_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const LEN_VALUE = new Uint32Array(259);
const LEN_NBITS = new Uint8Array(259);
for (let s = 0; s < LEN_BASE.length; s++) {
  const top = s + 1 < LEN_BASE.length ? LEN_BASE[s + 1]! : 259;
  for (let len = LEN_BASE[s]!; len < top && len <= 258; len++) {
    const sym = 257 + s;
    LEN_VALUE[len] = LIT_CODE[sym]! | ((len - LEN_BASE[s]!) << LIT_BITS[sym]!);
    LEN_NBITS[len] = LIT_BITS[sym]! + LEN_EXTRA[s]!;
  }
}
// Distances 1 and 3 are distance codes 0 and 2, five bits, no extra bits.
const DIST_VALUE: Record<1 | 3, number> = { 1: reverse(0, 5), 3: reverse(2, 5) };

export class FixedDeflate {
  private out = new Uint8Array(4096);
  private pos = 0;
  private bitBuf = 0;
  private bitCount = 0;
  private s1 = 1;
  private s2 = 0;
  /** The last three bytes of the uncompressed data (h0 oldest). */
  private h0 = 0;
  private h1 = 0;
  private h2 = 0;
  private count = 0;

  constructor() {
    this.bits(0x78, 8); // zlib header: deflate, 32 KB window
    this.bits(0x01, 8); // no dictionary, (0x7801 % 31 == 0)
    this.bits(1, 1); // BFINAL
    this.bits(1, 2); // BTYPE = 01: fixed Huffman codes
  }

  private bits(value: number, n: number): void {
    this.bitBuf |= value << this.bitCount;
    this.bitCount += n;
    while (this.bitCount >= 8) {
      if (this.pos === this.out.length) {
        const grown = new Uint8Array(this.out.length * 2);
        grown.set(this.out);
        this.out = grown;
      }
      this.out[this.pos++] = this.bitBuf & 0xff;
      this.bitBuf >>>= 8;
      this.bitCount -= 8;
    }
  }

  /** One byte, as a literal. */
  literal(b: number): void {
    this.bits(LIT_CODE[b]!, LIT_BITS[b]!);
    let s1 = this.s1 + b;
    if (s1 >= MOD) s1 -= MOD;
    let s2 = this.s2 + s1;
    if (s2 >= MOD) s2 -= MOD;
    this.s1 = s1;
    this.s2 = s2;
    this.h0 = this.h1;
    this.h1 = this.h2;
    this.h2 = b;
    this.count++;
  }

  /** Three bytes (a pixel), as literals. */
  pixel(r: number, g: number, b: number): void {
    this.literal(r);
    this.literal(g);
    this.literal(b);
  }

  /**
   * `n` more bytes that repeat the last `dist` bytes (dist 1: the last byte; dist 3: the last
   * pixel), as back-references of at most 258 bytes (a remainder under 3 as literals).
   */
  repeat(dist: 1 | 3, n: number): void {
    if (n <= 0) return;
    if (this.count < dist) throw new Error(`deflate: a distance of ${dist} before ${dist} bytes`);
    // The repeated bytes are p0 p1 p2 p0 p1 p2 …
    const p0 = dist === 1 ? this.h2 : this.h0;
    const p1 = dist === 1 ? this.h2 : this.h1;
    const p2 = this.h2;
    // Codes first (they do not depend on the bytes), then the checksum and the last bytes.
    let left = n;
    while (left >= 3) {
      const len = left > 258 ? (left - 258 < 3 ? left - 3 : 258) : left;
      this.bits(LEN_VALUE[len]!, LEN_NBITS[len]!);
      this.bits(DIST_VALUE[dist], 5);
      left -= len;
    }
    for (let k = n - left; k < n; k++) {
      const b = k % 3 === 0 ? p0 : k % 3 === 1 ? p1 : p2;
      this.bits(LIT_CODE[b]!, LIT_BITS[b]!);
    }
    // Adler-32 over whole cycles in closed form: one cycle adds S = p0 + p1 + p2 to s1 and
    // 3·s1 + 3p0 + 2p1 + p2 to s2; m cycles add m·S and 3m·s1 + 3S·m(m−1)/2 + m·C.
    const m = Math.floor(n / 3);
    const S = p0 + p1 + p2;
    const C = 3 * p0 + 2 * p1 + p2;
    let s1 = this.s1;
    let s2 = (this.s2 + ((3 * m) % MOD) * s1 + ((3 * S * ((m * (m - 1)) / 2)) % MOD) + ((m * C) % MOD)) % MOD;
    s1 = (s1 + ((m * S) % MOD)) % MOD;
    for (let k = 3 * m; k < n; k++) {
      s1 += k % 3 === 0 ? p0 : p1;
      if (s1 >= MOD) s1 -= MOD;
      s2 += s1;
      if (s2 >= MOD) s2 -= MOD;
    }
    this.s1 = s1;
    this.s2 = s2;
    // The last three bytes: the pattern, rotated by n mod 3.
    const r = n % 3;
    if (n === 1 && dist === 1) {
      this.h0 = this.h1; // one byte on: the older two are not the pattern
      this.h1 = p2;
    } else if (r === 0) {
      this.h0 = p0;
      this.h1 = p1;
      this.h2 = p2;
    } else if (r === 1) {
      this.h0 = p1;
      this.h1 = p2;
      this.h2 = p0;
    } else {
      this.h0 = p2;
      this.h1 = p0;
      this.h2 = p1;
    }
    this.count += n;
  }

  /** End the block and the stream (Adler-32 of everything written). */
  finish(): Buffer {
    this.bits(LIT_CODE[256]!, LIT_BITS[256]!);
    if (this.bitCount > 0) this.bits(0, 8 - this.bitCount);
    const adler = ((this.s2 << 16) | this.s1) >>> 0;
    const out = Buffer.alloc(this.pos + 4);
    out.set(this.out.subarray(0, this.pos));
    out.writeUInt32BE(adler, this.pos);
    return out;
  }

  /** Bytes of uncompressed data so far. */
  get length(): number {
    return this.count;
  }
}
