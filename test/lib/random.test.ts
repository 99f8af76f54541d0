import { expect } from 'chai';
import { randomBytes, randomId } from '../../src/lib/index.js';

describe('random bytes (pooled)', () => {
  it('answers exactly the size asked, small and large', () => {
    for (const size of [0, 1, 12, 16, 32, 64, 65, 4096, 10_000])
      expect(randomBytes(size).length).to.equal(size);
  });

  it('refuses a size that is not a whole number of bytes, and then still hands out random bytes', () => {
    for (const size of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => randomBytes(size)).to.throw(RangeError);
    expect(randomBytes(32).equals(Buffer.alloc(32))).to.equal(false);
  });

  it('never hands out the same bytes twice, across many refills of the pool', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i += 1) seen.add(randomBytes(16).toString('hex'));
    expect(seen.size).to.equal(20_000);
  });

  it('answers bytes of its own: changing them changes nothing another caller got or gets', () => {
    const first = randomBytes(32);
    const copy = Buffer.from(first);
    const second = randomBytes(32);
    second.fill(0);
    expect(first.equals(copy)).to.equal(true);
    expect(randomBytes(32).equals(Buffer.alloc(32))).to.equal(false);
  });

  it('is spread over every byte value (not a constant or a counter)', () => {
    const many = Buffer.concat(Array.from({ length: 4000 }, () => randomBytes(64)));
    const histogram = new Array<number>(256).fill(0);
    for (const byte of many) histogram[byte]! += 1;
    // 256,000 bytes: 1000 expected per value; a fair source stays far inside 800..1200.
    expect(Math.min(...histogram)).to.be.greaterThan(800);
    expect(Math.max(...histogram)).to.be.lessThan(1200);
  });

  it('makes base64url ids of the entropy asked', () => {
    expect(randomId()).to.match(/^[A-Za-z0-9_-]{22}$/);
    expect(randomId(32)).to.match(/^[A-Za-z0-9_-]{43}$/);
  });
});
