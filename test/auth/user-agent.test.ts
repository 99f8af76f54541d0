import { expect } from 'chai';
import { describeBrowser, sanitizeUserAgent, webDevice } from '../../src/auth/user-agent.js';

describe('what a person reads about a browser', () => {
  const agents: Array<[string, string]> = [
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
      'Chrome 120 on Windows',
    ],
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91',
      'Edge 120 on Windows',
    ],
    ['Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0', 'Firefox 121 on Linux'],
    [
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15',
      'Safari 17 on macOS',
    ],
    [
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1',
      'Safari 17 on iOS',
    ],
    [
      'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36',
      'Chrome 120 on Android',
    ],
    [
      'Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0.4044.138 Safari/537.36 NetType/WIFI MicroMessenger/7.0.20.1781(0x6700143B) WindowsWechat(0x63090819)',
      'WeChat 7 on Windows',
    ],
    [
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36',
      'Chrome 156 on Linux',
    ],
    ['curl/8.5.0', 'a browser'],
    ['Mozilla/5.0 (X11; Linux x86_64)', 'a browser on Linux'],
  ];
  for (const [agent, described] of agents) {
    it(`reads ${described} from ${agent.slice(0, 50)}…`, () => {
      expect(describeBrowser(agent)).to.equal(described);
    });
  }

  it("names a web session's device 'Web · <browser>', at most 64 characters", () => {
    expect(webDevice(agents[0]![0])).to.equal('Web · Chrome 120 on Windows');
    expect(webDevice(`Mozilla/5.0 (Windows NT 10.0) ${'SamsungBrowser/99 '.repeat(3)}`).length).to.be.at.most(
      64,
    );
  });

  it('keeps printable ASCII only, one space for any whitespace, at most 256 characters', () => {
    expect(sanitizeUserAgent('  Mozilla/5.0\t\n(é 中) \u0000x  ')).to.equal('Mozilla/5.0 (? ?) ?x');
    expect(sanitizeUserAgent('a'.repeat(300))).to.have.length(256);
    expect(sanitizeUserAgent(undefined)).to.equal('');
  });
});
