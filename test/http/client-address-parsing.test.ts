import { expect } from 'chai';
import { addressBucket, canonicalAddress, forwardedEntry } from '../../src/http/client-address.js';

describe('X-Forwarded-For parsing', () => {
  it('takes the entry N from the right, or the leftmost one when there are fewer (as Express does)', () => {
    expect(forwardedEntry('a, b, c', 1)).to.equal('c');
    expect(forwardedEntry('a, b, c', 2)).to.equal('b');
    expect(forwardedEntry('a,b,c', 3)).to.equal('a');
    expect(forwardedEntry('a, b, c', 5)).to.equal('a');
    expect(forwardedEntry(' c ', 1)).to.equal('c');
    expect(forwardedEntry('a,,c', 2)).to.equal('');
    expect(forwardedEntry(',', 4)).to.equal('');
  });

  it('accepts only IP addresses, in one canonical spelling', () => {
    expect(canonicalAddress('203.0.113.7')).to.equal('203.0.113.7');
    expect(canonicalAddress('::ffff:203.0.113.7')).to.equal('203.0.113.7');
    expect(canonicalAddress('::FFFF:cb00:7107')).to.equal('203.0.113.7');
    expect(canonicalAddress('2001:0DB8:0000:0000:0001:0000:0000:0001')).to.equal('2001:db8::1:0:0:1');
    expect(canonicalAddress('2001:db8:0:0:1:0:0:0')).to.equal('2001:db8:0:0:1::');
    expect(canonicalAddress('::1')).to.equal('::1');
    expect(canonicalAddress('fe80::1%eth0')).to.equal('fe80::1');
    for (const wrong of ['', 'unknown', '203.0.113.7:443', '[2001:db8::1]', '1.2.3', `${'1'.repeat(5000)}`])
      expect(canonicalAddress(wrong), wrong).to.equal(undefined);
  });

  it('buckets IPv6 by /64 and IPv4 by address', () => {
    expect(addressBucket('203.0.113.7')).to.equal('203.0.113.7');
    expect(addressBucket('2001:db8:1:2:3:4:5:6')).to.equal('2001:db8:1:2::/64');
    expect(addressBucket('2001:db8::1')).to.equal('2001:db8::/64');
    expect(addressBucket('::1')).to.equal('::/64');
  });
});
