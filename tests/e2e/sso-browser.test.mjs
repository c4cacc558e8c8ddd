// Single sign-on in a real browser (notes/sso-spec.md, ha-auth-contract.md §7.4): Chromium opens
// Gatehouse's "/", which is HA's frontend (the double's page running the real home-assistant-js-websocket);
// the frontend sends it to /auth/authorize, Gatehouse to the IdP's sign-in form; after signing in the
// browser comes back to the frontend with HA's code and storeToken=true, the library exchanges the code
// and connects, and the page shows the signed-in user. A reload keeps the session from localStorage,
// without visiting the IdP or Gatehouse's sign-in routes again.
// Needs Debian's chromium and the npm package playwright-core; skipped when either is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSsoStack, ROLE_GROUPS } from './lib/sso-stack.mjs';
import { chromium, CHROMIUM, CHROMIUM_ARGS, noBrowser } from './lib/chromium.mjs';

const skip = noBrowser;

// As tests/ha-double/browser.test.mjs launches it; the IdP's certificate is from a throwaway CA the
// browser does not know (Gatehouse is the one that must verify it, and does, through ca_file).
async function launch(t) {
  const profile = mkdtempSync(join(tmpdir(), 'gatehouse-sso-browser-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    ignoreHTTPSErrors: true,
    args: CHROMIUM_ARGS,
  });
  t.after(async () => {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  });
  return browser;
}

test('browser: Gatehouse "/" -> IdP sign-in -> HA frontend signed in; a reload stays signed in without the IdP', { skip, timeout: 60_000 }, async (t) => {
  const stack = await startSsoStack(t, { providers: [{ alg: 'ES256' }] });
  const { double, externalUrl } = stack;
  const issuer = stack.idp.issuer;
  const browser = await launch(t);
  const page = await browser.newPage();
  const requested = [];
  page.on('request', (req) => requested.push(req.url()));
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));

  await page.goto(`${externalUrl}/`);
  await page.waitForURL((url) => url.href.startsWith(`${issuer}/interaction/`));
  const authorize = requested.map((url) => new URL(url)).find((url) => url.origin === externalUrl && url.pathname === '/auth/authorize');
  assert.ok(authorize, 'the frontend opened Gatehouse\'s /auth/authorize');
  assert.equal(authorize.searchParams.get('client_id'), `${externalUrl}/`);
  assert.equal(authorize.searchParams.get('redirect_uri'), `${externalUrl}/?auth_callback=1`);

  await page.fill('#username', 'alice');
  await page.click('#signin');
  await page.waitForSelector('#user:not(:empty)');
  assert.equal(await page.textContent('#user'), 'Alice Liddell');
  await page.waitForSelector('#entity-count:not(:empty)');
  assert.equal(await page.textContent('#entity-count'), String(double.home.states.size));
  assert.equal(await page.textContent('#status'), 'connected');
  assert.equal(new URL(page.url()).origin, externalUrl);
  assert.equal(new URL(page.url()).search, '', 'the frontend stripped the auth parameters');

  // The way back: /sso/callback, then the frontend with HA's code, the frontend's state and storeToken=true.
  for (const url of requested) {
    const parsed = new URL(url);
    if (parsed.origin !== externalUrl) continue;
    if (parsed.pathname === '/sso/callback') stack.rememberSecret(parsed.searchParams.get('code'), 'IdP authorization code (browser)');
    if (parsed.searchParams.has('auth_callback') && parsed.searchParams.get('code')) stack.rememberSecret(parsed.searchParams.get('code'), 'HA code (browser)');
  }
  assert.ok(requested.some((url) => url.startsWith(`${externalUrl}/sso/callback?`)), 'came back through /sso/callback');
  const landing = requested.map((url) => new URL(url)).find((url) => url.origin === externalUrl && url.pathname === '/' && url.searchParams.get('auth_callback') === '1' && url.searchParams.has('code'));
  assert.ok(landing, requested.join('\n'));
  assert.equal(landing.searchParams.get('storeToken'), 'true');
  assert.equal(landing.searchParams.get('state'), authorize.searchParams.get('state'), 'the frontend\'s own state came back');
  const stored = await page.evaluate(() => JSON.parse(localStorage.hassTokens ?? 'null'));
  assert.ok(stored?.refresh_token, 'tokens kept in localStorage (storeToken=true)');
  stack.rememberSecret(stored.refresh_token, 'HA refresh token (browser)');
  stack.rememberSecret(stored.access_token, 'HA access token (browser)');

  const user = stack.newUsers().find((candidate) => candidate.username === 'alice');
  assert.ok(user, JSON.stringify(double.users()));
  assert.equal(user.name, 'Alice Liddell');
  assert.deepEqual(user.groupIds, [ROLE_GROUPS.admin]);
  const sessions = double.refreshTokens().filter((token) => token.userId === user.id);
  assert.deepEqual(sessions.map((token) => token.clientId), [`${externalUrl}/`]);

  // Reload: signed in again from localStorage; neither the IdP nor Gatehouse's sign-in routes are visited.
  const mark = requested.length;
  await page.reload();
  await page.waitForSelector('#user:not(:empty)');
  assert.equal(await page.textContent('#user'), 'Alice Liddell');
  await page.waitForFunction(() => document.getElementById('status').textContent === 'connected');
  const afterReload = requested.slice(mark);
  assert.deepEqual(afterReload.filter((url) => url.startsWith(issuer)), [], 'the IdP was not visited again');
  assert.deepEqual(afterReload.filter((url) => /\/(auth\/authorize|sso\/)/.test(new URL(url).pathname)), [], 'no new sign-in');
  assert.equal(double.refreshTokens().filter((token) => token.userId === user.id).length, 1, 'the same HA session');
  assert.deepEqual(pageErrors, []);
  // The browser connects from 127.0.0.1 like Gatehouse itself, so the client-address checks do not apply here.
  stack.assertHygiene({ clientChecks: false });
});
