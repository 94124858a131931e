import { chromium, type Browser } from 'playwright-core';

/** The Chromium the browser tests drive: CHROMIUM_PATH, else Debian's package (`.ci/run` installs it). */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** A headless Chromium; `await using` closes it. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox'] });
}
