import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { expect } from 'chai';
import { type ServiceProcess, startService } from '../../scripts/lib/spawn.js';

describe('the admin listener of the server process', () => {
  let started: ServiceProcess | undefined;

  afterEach(async () => {
    await started?.stop('SIGKILL');
    started = undefined;
  });

  it('listens on ADMIN_HOST:ADMIN_PORT when ADMIN_API_KEYS is set, apart from the public port, and stops on SIGTERM', async () => {
    const key = randomBytes(32).toString('hex');
    started = startService({ env: { PORT: '0', ADMIN_API_KEYS: key, ADMIN_PORT: '0', LOG_LEVEL: 'info' } });
    const [, service] = await started.match(/is listening on (http:\/\/localhost:\d+)/, 15000);
    const [, adminUrl] = await started.match(/admin API on (http:\/\/127\.0\.0\.1:\d+)/, 15000);
    expect(adminUrl).not.to.equal(service);
    const unknown = await fetch(`${adminUrl}/admin/users/oNobody`, {
      headers: { Authorization: `Bearer ${key}` },
    });
    expect(unknown.status).to.equal(404);
    expect(((await unknown.json()) as { error: string }).error).to.equal('not_found');
    expect((await fetch(`${adminUrl}/admin/users/oNobody`)).status).to.equal(401);
    const publicly = await fetch(`${service}/admin/users/oNobody`, {
      headers: { Authorization: `Bearer ${key}` },
    });
    expect(publicly.status).to.equal(404);
    expect(((await publicly.json()) as { error: string }).error).to.equal('invalid_request');
    expect(started.output()).not.to.contain(key);
    started.child.kill('SIGTERM');
    const [exitCode] = await once(started.child, 'exit');
    expect(exitCode).to.equal(0);
    started = undefined;
  });

  it('has no admin listener without ADMIN_API_KEYS', async () => {
    started = startService({ env: { PORT: '0', ADMIN_PORT: '0', LOG_LEVEL: 'info' } });
    const [, service] = await started.match(/is listening on (http:\/\/localhost:\d+)/, 15000);
    // The admin listener would be up before the first request is answered.
    await started.healthy(service!);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(started.output()).not.to.contain('admin API on');
  });
});
