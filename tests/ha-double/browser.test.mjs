// The double's login page and frontend in a real browser (contract §1.3, §7.4): redirect to
// /auth/authorize, a wrong then a right password, "Keep me logged in", the app showing the
// user and entity count, a reload keeping the session, a 403 message, logout, onboarding.
// Needs Debian's chromium and the npm package playwright-core; skipped when either is absent.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withDouble } from './helpers.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
let chromium = null;
try {
  ({ chromium } = await import('playwright-core'));
} catch {
  chromium = null;
}
const skip = !chromium ? 'playwright-core is not installed' : !existsSync(CHROMIUM) ? `no browser at ${CHROMIUM}` : false;

async function launch(t) {
  const profile = mkdtempSync(join(tmpdir(), 'ha-double-browser-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.after(async () => {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  });
  return browser;
}

test('browser: login page -> frontend app, session kept across reload, logout', { skip }, async (t) => {
  const double = await withDouble(t);
  const browser = await launch(t);
  const page = await browser.newPage();
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`${double.url}/`);
  await page.waitForURL(/\/auth\/authorize\?/);
  const authorizeUrl = new URL(page.url());
  assert.equal(authorizeUrl.searchParams.get('client_id'), `${double.url}/`);
  await page.waitForSelector('#field-username');
  assert.equal(await page.isChecked('#remember-me'), true, 'preselect_remember_me for a local client');
  await page.fill('#field-username', 'owner');
  await page.fill('#field-password', 'wrong');
  await page.click('#submit');
  await page.waitForFunction(() => document.getElementById('error').textContent === 'Invalid username or password');
  assert.equal(await page.inputValue('#field-username'), 'owner', 'the username survives a failed attempt');
  await page.fill('#field-password', 'owner-password');
  await page.click('#submit');
  await page.waitForSelector('#user:not(:empty)');
  assert.equal(await page.textContent('#user'), 'Owner');
  await page.waitForSelector('#entity-count:not(:empty)');
  assert.equal(await page.textContent('#entity-count'), String(double.home.states.size));
  assert.equal(new URL(page.url()).search, '', 'auth parameters stripped');
  assert.ok(await page.evaluate(() => JSON.parse(localStorage.hassTokens).refresh_token), 'tokens stored (storeToken=true)');

  await page.reload();
  await page.waitForSelector('#user:not(:empty)');
  assert.equal(await page.textContent('#user'), 'Owner');
  assert.equal(double.websocketCounters.authenticated, 2);
  double.setState('light.porch', 'on');
  await page.waitForFunction((count) => document.getElementById('entity-count').textContent === String(count), double.home.states.size);

  await page.click('#logout');
  await page.waitForFunction(() => document.getElementById('status').textContent === 'logged-out');
  assert.equal(double.refreshTokens().filter((token) => token.type === 'normal').length, 0);
  assert.deepEqual(pageErrors, []);
});

test('browser: without "Keep me logged in" nothing is stored; a blocked user sees the 403 message', { skip }, async (t) => {
  const double = await withDouble(t, {
    users: [
      { name: 'Owner', username: 'owner', password: 'pw', isOwner: true, groups: ['system-admin'] },
      { name: 'Zed', username: 'zed', password: 'pw', isActive: false },
    ],
  });
  const browser = await launch(t);
  const page = await browser.newPage();
  await page.goto(`${double.url}/`);
  await page.waitForSelector('#field-username');
  await page.uncheck('#remember-me');
  await page.fill('#field-username', 'owner');
  await page.fill('#field-password', 'pw');
  await page.click('#submit');
  await page.waitForSelector('#user:not(:empty)');
  assert.equal(await page.evaluate(() => localStorage.hassTokens ?? null), null);

  const blocked = await browser.newPage();
  await blocked.goto(`${double.url}/auth/authorize?client_id=${encodeURIComponent(`${double.url}/`)}&redirect_uri=${encodeURIComponent(`${double.url}/`)}`);
  await blocked.waitForSelector('#field-username');
  await blocked.fill('#field-username', 'zed');
  await blocked.fill('#field-password', 'pw');
  await blocked.click('#submit');
  await blocked.waitForFunction(() => document.getElementById('error').textContent === 'Login blocked: User is not active');
});

test('browser: onboarding from a fresh double ends logged in as the new owner', { skip }, async (t) => {
  const double = await withDouble(t, { onboarded: false });
  const browser = await launch(t);
  const page = await browser.newPage();
  await page.goto(`${double.url}/`);
  await page.waitForURL(/\/onboarding\.html/);
  await page.fill('#name', 'Paulus');
  await page.fill('#username', 'paulus');
  await page.fill('#password', 'secret');
  await page.click('#create-account');
  await page.waitForSelector('#user:not(:empty)');
  assert.equal(await page.textContent('#user'), 'Paulus');
  assert.equal(double.users().find((user) => user.username === 'paulus').isOwner, true);
});
