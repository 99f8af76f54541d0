import { expect } from 'chai';
import { loadConfig } from '../../src/config/index.js';
import { type Harness, startHarness } from '../helpers/harness.js';

const LIMITED = { RATE_LIMIT_LOGIN_PER_IP: '3/60' };

describe('Client addresses behind proxies', () => {
  let h: Harness;
  let open: Harness[] = [];
  const start = async (env: Record<string, string>) => {
    h = await startHarness({ env });
    open.push(h);
  };
  afterEach(async () => {
    await Promise.all(open.map((harness) => harness.close()));
    open = [];
  });

  /** Logins with a code WeChat refuses: 400 while under the limit, 429 over it. */
  const login = (forwardedFor?: string) => {
    const request = h.http.post('/auth/login');
    if (forwardedFor !== undefined) request.set('X-Forwarded-For', forwardedFor);
    return request.send({ code: 'x' }).then((res) => res.status);
  };
  const limitKeys = async () => (await h.redis!.client.keys(`${h.redis!.prefix}rl:*`)).sort();

  it('counts a client behind one trusted proxy by the entry the proxy added, whatever it wrote to the left', async () => {
    await start({ ...LIMITED, TRUST_PROXY: 'true' });
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push(await login(`10.9.${i}.1, 203.0.113.7`));
    expect(statuses.slice(0, 3)).to.deep.equal([400, 400, 400]);
    expect(statuses.slice(3).every((s) => s === 429)).to.equal(true);
    expect(await limitKeys()).to.deep.equal([`${h.redis!.prefix}rl:login_ip:203.0.113.7`]);
    expect(await login('203.0.113.8')).to.equal(400);
  });

  it('takes the second entry from the right with TRUST_PROXY=2', async () => {
    await start({ ...LIMITED, TRUST_PROXY: '2' });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push(await login(`198.18.0.${i}, 198.51.100.4, 10.0.0.2`));
    expect(statuses).to.deep.equal([400, 400, 400, 429, 429]);
    expect(await login('198.51.100.5, 10.0.0.2')).to.equal(400);
    expect(await limitKeys()).to.deep.equal([
      `${h.redis!.prefix}rl:login_ip:198.51.100.4`,
      `${h.redis!.prefix}rl:login_ip:198.51.100.5`,
    ]);
  });

  it('falls back to the socket address for a garbage entry, which never becomes a Redis key', async () => {
    await start({ ...LIMITED, TRUST_PROXY: 'true' });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push(await login(`${i}`.repeat(12_000)));
    expect(statuses).to.deep.equal([400, 400, 400, 429]);
    expect(await limitKeys()).to.deep.equal([`${h.redis!.prefix}rl:login_ip:127.0.0.1`]);
  });

  it('counts IPv6 clients by their /64, however the address is spelt, and v4-mapped IPv6 as IPv4', async () => {
    await start({ ...LIMITED, TRUST_PROXY: 'true' });
    expect(await login('2001:db8:1:2::1')).to.equal(400);
    expect(await login('2001:0DB8:0001:0002:0000:0000:0000:00ff')).to.equal(400);
    expect(await login('2001:db8:1:2:ffff:ffff:ffff:ffff')).to.equal(400);
    expect(await login('2001:db8:1:2::abcd')).to.equal(429);
    expect(await login('2001:db8:1:3::1')).to.equal(400);
    expect(await login('::ffff:203.0.113.9')).to.equal(400);
    expect(await limitKeys()).to.deep.equal([
      `${h.redis!.prefix}rl:login_ip:2001:db8:1:2::/64`,
      `${h.redis!.prefix}rl:login_ip:2001:db8:1:3::/64`,
      `${h.redis!.prefix}rl:login_ip:203.0.113.9`,
    ]);
  });

  it('ignores X-Forwarded-For when no proxy is trusted, and warns about it once', async () => {
    await start(LIMITED);
    const statuses = [await login('192.0.2.55'), await login('192.0.2.56'), await login()];
    expect(await login('192.0.2.57')).to.equal(429);
    expect(statuses).to.deep.equal([400, 400, 400]);
    const warnings = h.logs.filter((line) => line.includes('"x_forwarded_for_untrusted"'));
    expect(warnings).to.have.length(1);
    expect(JSON.parse(warnings[0]!)).to.include({ level: 40 });
    expect(h.logs.join('\n')).not.to.contain('192.0.2.5');
  });
});

describe('TRUST_PROXY', () => {
  it('takes false, true (one proxy) or the number of proxies in front', () => {
    const hops = (value?: string) =>
      loadConfig(value === undefined ? {} : { TRUST_PROXY: value }).http.trustProxy;
    expect([hops(), hops('false'), hops('true'), hops('0'), hops('1'), hops('3'), hops('10')]).to.deep.equal([
      0, 0, 1, 0, 1, 3, 10,
    ]);
    for (const wrong of ['yes', '11', '-1', '1.5', '01'])
      expect(() => loadConfig({ TRUST_PROXY: wrong }), wrong).to.throw(/TRUST_PROXY/);
  });
});
