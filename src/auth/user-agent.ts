/**
 * What a person reads about a browser on the confirm screen and in their list of sessions. A user agent
 * is whatever the browser (or a phishing page's server) sends: it is shown, never trusted.
 */

const USER_AGENT_MAX_CHARS = 256;
const DEVICE_MAX_CHARS = 64;

/** Printable ASCII only (anything else becomes '?', whitespace one space), at most 256 characters. */
export function sanitizeUserAgent(raw: string | undefined): string {
  return (raw ?? '')
    .replace(/\s+/g, ' ')
    .replace(/[^\x20-\x7e]/g, '?')
    .trim()
    .slice(0, USER_AGENT_MAX_CHARS);
}

/** Browsers by their token, the most specific first: Edge and Opera also say Chrome, Chrome says Safari. */
const BROWSERS: Array<[RegExp, string]> = [
  [/\bMicroMessenger\/(\d+)/, 'WeChat'],
  [/\bEdg(?:e|A|iOS)?\/(\d+)/, 'Edge'],
  [/\b(?:OPR|Opera)\/(\d+)/, 'Opera'],
  [/\bSamsungBrowser\/(\d+)/, 'Samsung Internet'],
  [/\b(?:Firefox|FxiOS)\/(\d+)/, 'Firefox'],
  [/\b(?:Chrome|CriOS|HeadlessChrome)\/(\d+)/, 'Chrome'],
  [/\bChromium\/(\d+)/, 'Chromium'],
  [/\bVersion\/(\d+)[\d.]* (?:Mobile\/\S+ )?Safari\//, 'Safari'],
];

const SYSTEMS: Array<[RegExp, string]> = [
  [/\bWindows\b/, 'Windows'],
  [/\b(?:iPhone|iPad|iPod)\b/, 'iOS'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bAndroid\b/, 'Android'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bLinux\b/, 'Linux'],
];

/** e.g. 'Chrome 120 on Windows'; 'a browser' when the user agent names none this knows. */
export function describeBrowser(userAgent: string): string {
  const browser = BROWSERS.map(([pattern, name]) => {
    const match = pattern.exec(userAgent);
    return match ? `${name} ${match[1]}` : undefined;
  }).find((found) => found !== undefined);
  const system = SYSTEMS.find(([pattern]) => pattern.test(userAgent))?.[1];
  if (browser === undefined) return system === undefined ? 'a browser' : `a browser on ${system}`;
  return system === undefined ? browser : `${browser} on ${system}`;
}

/** The `device` of a web session: it says it is the web, and which browser (at most 64 characters). */
export function webDevice(userAgent: string): string {
  return `Web · ${describeBrowser(userAgent)}`.slice(0, DEVICE_MAX_CHARS);
}
