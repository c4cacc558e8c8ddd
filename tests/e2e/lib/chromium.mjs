// A real browser for the e2e tests: Debian's chromium driven by npm playwright-core. `noBrowser` is the
// reason to skip when either is missing (false when both are here); `launchChromium` starts one headless
// browser for a test and closes it when the test ends.
import { existsSync } from 'node:fs';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
let chromium = null;
try {
  ({ chromium } = await import('playwright-core'));
} catch {
  chromium = null;
}
export { chromium };
export const noBrowser = !chromium ? 'playwright-core is not installed' : !existsSync(CHROMIUM) ? `no browser at ${CHROMIUM}` : false;
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export async function launchChromium(t) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  t.after(() => browser.close());
  return browser;
}
