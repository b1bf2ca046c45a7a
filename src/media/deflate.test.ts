import test from 'ava';
import { inflateSync } from 'node:zlib';
import { FixedDeflate } from './deflate.js';

test('FixedDeflate writes zlib streams that node:zlib inflates (checksum included) to the same bytes', (t) => {
  let s = 12345;
  const rnd = (n: number) => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8) % n;
  for (let trial = 0; trial < 1000; trial++) {
    const z = new FixedDeflate();
    const want: number[] = [];
    const ops = 1 + rnd(60);
    for (let o = 0; o < ops; o++) {
      const kind = want.length < 3 ? 0 : rnd(3);
      if (kind === 0) {
        const b = rnd(4) === 0 ? 0 : rnd(256);
        z.literal(b);
        want.push(b);
      } else {
        const dist = kind === 1 ? 1 : 3;
        const n = rnd(5) === 0 ? rnd(2000) : rnd(30);
        z.repeat(dist as 1 | 3, n);
        for (let k = 0; k < n; k++) want.push(want[want.length - dist]!);
      }
    }
    t.is(z.length, want.length);
    const got = inflateSync(z.finish());
    if (!got.equals(Buffer.from(want))) return t.fail(`trial ${trial}`);
  }
  t.pass();
});
