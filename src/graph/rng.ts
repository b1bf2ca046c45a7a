// A small seeded random generator (sfc32) with a serializable state, used for parameter init, test data
// and training-loop randomness. In: a seed (number or string). Out: uniforms, normals, integers.

export class Rng {
  private s: Uint32Array;

  constructor(seed: number | string = 0) {
    this.s = new Uint32Array(4);
    const h = typeof seed === 'string' ? hashString(seed) : [seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0, 0x9e3779b9, 0x243f6a88];
    this.s.set([h[0] ^ 0xdeadbeef, h[1] ^ 0x41c64e6d, h[2], h[3]]);
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  /** The state as a string, restored by Rng.fromState. */
  get state(): string {
    return Array.from(this.s, (x) => x.toString(16).padStart(8, '0')).join('');
  }

  static fromState(state: string): Rng {
    if (!/^[0-9a-f]{32}$/.test(state)) throw new Error(`bad Rng state '${state}'`);
    const r = new Rng(0);
    for (let i = 0; i < 4; i++) r.s[i] = parseInt(state.slice(8 * i, 8 * i + 8), 16);
    return r;
  }

  nextU32(): number {
    const s = this.s;
    const t = (((s[0] + s[1]) >>> 0) + s[3]) >>> 0;
    s[3] = (s[3] + 1) >>> 0;
    s[0] = s[1] ^ (s[1] >>> 9);
    s[1] = (s[2] + (s[2] << 3)) >>> 0;
    s[2] = ((s[2] << 21) | (s[2] >>> 11)) >>> 0;
    s[2] = (s[2] + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextU32() >>> 5;
    const lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }

  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  fill(n: number, f: (r: Rng) => number): number[] {
    return Array.from({ length: n }, () => f(this));
  }
}

/** 128 bits of FNV-1a style hashing of a string, as four 32-bit words. */
export function hashString(s: string): number[] {
  const out: number[] = [];
  for (let k = 0; k < 4; k++) {
    let h = (0x811c9dc5 ^ (k * 0x9e3779b1)) >>> 0;
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    out.push(h);
  }
  return out;
}
