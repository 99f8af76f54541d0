import { existsSync } from 'node:fs';
import { type Browser, type BrowserContext, chromium } from 'playwright-core';

/** Debian's Chromium, which `.ci/run` installs when missing. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Headless, and quiet on the network: without the background-networking flags Chromium keeps calling
 * Google's hosts, which this machine's closed network refuses, many at a time.
 */
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function present(): void {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
}

/** A fresh browser for a suite. */
export function launchChromium(): Promise<Browser> {
  present();
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
}

/** A browser on a profile of its own (kept storage), at `viewport`. */
export function launchChromiumProfile(
  profile: string,
  viewport: { width: number; height: number },
): Promise<BrowserContext> {
  present();
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: ARGS,
  });
}
