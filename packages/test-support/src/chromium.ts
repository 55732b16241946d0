import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium: these machines never download a browser of their own. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Headless Chromium as this repository's browser tests and scripts run it.
 * Without the background-networking flags it keeps dialling out to hosts a
 * closed network refuses.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
