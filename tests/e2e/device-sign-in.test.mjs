// Signing in with another device (issue 11): with sign_in_choice, a browser chooses "here" or "with
// another device"; the latter waits on Gatehouse's page with a short code (the Android app's hand-off),
// and the person, on their phone, opens /sso/device, types the code, signs in at the IdP and allows the
// waiting device after comparing the code; the waiting page then continues by itself to its client with
// HA's code. Wrong, reused and guessed codes get nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TEST_GUARD } from './lib/harness.mjs';
import { startSsoStack, CookieJar, linksOf, pageText, shownCodeOf, trickyState } from './lib/sso-stack.mjs';
import { driveLogin, send } from '../idp/drive-login.mjs';
import { launchChromium, noBrowser } from './lib/chromium.mjs';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

// What a phone's camera reads from a picture: zbarimg (Debian's zbar-tools), a real QR decoder.
async function readQrCode(t, png) {
  const directory = await mkdtemp(join(tmpdir(), 'gatehouse-qr-'));
  t.after(() => rm(directory, { recursive: true, force: true }));
  const file = join(directory, 'qr.png');
  await writeFile(file, png);
  const { stdout } = await promisify(execFile)('zbarimg', ['--quiet', '--raw', '-Sdisable', '-Sqrcode.enable', file]);
  return stdout.trim();
}

const formBody = (fields) => new URLSearchParams(fields).toString();
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

test('a wall tablet signs in with the person\'s phone: the code it shows, typed at /sso/device, signs it in after the phone allows it', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t, { gatehouseConfig: { sign_in_choice: true } });
  const device = `${stack.externalUrl}/sso/device`;
  const tablet = new CookieJar();
  const state = trickyState('tablet');
  const authorize = stack.authorizeUrl({ clientId: stack.frontendClientId, redirectUri: stack.frontendRedirectUri, state });

  // The tablet's browser: the choice first, then the waiting page with its code.
  const choice = await send(authorize, { jar: tablet });
  assert.equal(choice.status, 200, pageText(choice.body));
  const links = linksOf(choice.body);
  const here = links.find((link) => link.text === 'Sign in here');
  const elsewhere = links.find((link) => link.text === 'Sign in with another device');
  assert.ok(here && elsewhere, JSON.stringify(links));
  const direct = await send(new URL(here.href, stack.externalUrl).href, { jar: new CookieJar() });
  assert.equal(direct.status, 302);
  assert.ok(direct.headers.location.startsWith(stack.idps[0].issuer), 'here: straight to the IdP');

  const started = await send(new URL(elsewhere.href, stack.externalUrl).href, { jar: tablet });
  assert.equal(started.status, 302, pageText(started.body));
  const waitUrl = new URL(started.headers.location, stack.externalUrl).href;
  assert.ok(waitUrl.startsWith(`${stack.externalUrl}/sso/handoff/`), waitUrl);
  const waiting = await send(waitUrl, { jar: tablet });
  assert.equal(waiting.status, 200);
  const code = shownCodeOf(waiting.body);
  assert.match(code ?? '', /^[B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4}$/);
  assert.ok(pageText(waiting.body).includes(device), 'the page says where to type the code');

  // The phone: /sso/device, a wrong code, then the right one typed loosely.
  const phone = new CookieJar();
  const form = await send(device, { jar: phone });
  assert.equal(form.status, 200);
  assert.match(form.body, /<input type="text" name="code"/);
  // Another site's form that posts the code for the person: refused, whatever the code.
  const forged = await send(device, { method: 'POST', headers: { ...FORM, 'sec-fetch-site': 'cross-site' }, body: formBody({ code }), jar: phone });
  assert.equal(forged.status, 403, pageText(forged.body));
  assert.match(pageText(forged.body), /Another site sent this code/);
  for (const headers of [{ 'sec-fetch-site': 'same-site' }, { origin: 'https://evil.example' }]) {
    const sibling = await send(device, { method: 'POST', headers: { ...FORM, ...headers }, body: formBody({ code }), jar: phone });
    assert.equal(sibling.status, 403, `${JSON.stringify(headers)}: ${pageText(sibling.body)}`);
  }
  const wrong = await send(device, { method: 'POST', headers: FORM, body: formBody({ code: 'BBBB-BBBB' }), jar: phone });
  assert.equal(wrong.status, 400);
  assert.match(pageText(wrong.body), /No sign-in waits for this code/);
  const typed = await send(device, { method: 'POST', headers: FORM, body: formBody({ code: ` ${code.toLowerCase().replace('-', '')} ` }), jar: phone });
  // A page that goes on by itself (a 302 after the POST would be held by the form-action of the CSP).
  assert.equal(typed.status, 200, pageText(typed.body));
  const idpUrl = typed.body.match(/<meta http-equiv="refresh" content="0; url=([^"]*)">/)?.[1]?.replace(/&amp;/g, '&');
  assert.ok(idpUrl?.startsWith(stack.idps[0].issuer), `the phone goes on to the IdP for the tablet's sign-in: ${idpUrl}`);
  assert.equal(linksOf(typed.body).find((link) => link.text === 'Open the sign-in page')?.href, idpUrl);
  assert.equal(new URL(idpUrl).searchParams.get('prompt'), 'login');

  const walked = await driveLogin(idpUrl, { username: 'alice', jar: phone, ca: stack.idps[0].ca ? [stack.idps[0].ca] : undefined });
  const callback = walked.history.find((url) => url.startsWith(`${stack.callbackUrl}?`));
  stack.rememberSecret(new URL(callback).searchParams.get('code'), 'IdP authorization code (device)');
  const consentId = stack.consentIdOf(walked.body);
  assert.ok(consentId, pageText(walked.body));
  assert.equal(shownCodeOf(walked.body), code, 'the phone shows the tablet\'s code before it allows');
  assert.match(pageText(walked.body), /waits to be signed in as Alice Liddell \(alice\)/);
  assert.match(pageText(walked.body), /If someone gave you a code or a link to get here, Deny/);

  // Until the phone allows, the tablet waits.
  assert.equal((await send(waitUrl, { jar: tablet })).status, 200);
  const allowed = await stack.answerConsent(consentId, 'allow', { jar: phone });
  assert.equal(allowed.status, 200, pageText(allowed.body));
  assert.match(pageText(allowed.body), /You are signed in/);

  // The tablet's page continues by itself to the frontend with HA's code.
  const landed = await send(waitUrl, { jar: tablet });
  assert.equal(landed.status, 302, pageText(landed.body));
  const back = new URL(landed.headers.location);
  assert.ok(landed.headers.location.startsWith(stack.frontendRedirectUri), landed.headers.location);
  assert.equal(back.searchParams.get('state'), state);
  stack.rememberSecret(back.searchParams.get('code'), 'HA code (device sign-in)');
  const tokens = await stack.postToken({ grant_type: 'authorization_code', code: back.searchParams.get('code'), client_id: stack.frontendClientId });
  assert.equal(tokens.status, 200, tokens.text());

  // The code worked once: typed again, it finds nothing.
  const reused = await send(device, { method: 'POST', headers: FORM, body: formBody({ code }), jar: new CookieJar() });
  assert.equal(reused.status, 400);

  const audit = await stack.audit();
  for (const kind of ['handoff_started', 'handoff_code_entered', 'consent_allowed', 'handoff_settled', 'handoff_collected'])
    assert.ok(audit.some((entry) => entry.kind === kind), `audited ${kind}: ${audit.map((entry) => entry.kind)}`);
  assert.ok(audit.some((entry) => entry.kind === 'login_refused' && entry.reason === 'device_code_unknown'));
  stack.assertHygiene();
});

test('browser: the waiting tablet shows a QR code; the phone\'s camera reads /sso/device with the code filled in, and the phone signs the tablet in', { skip: noBrowser, timeout: 90_000 }, async (t) => {
  const stack = await startSsoStack(t, { gatehouseConfig: { sign_in_choice: true } });
  const browser = await launchChromium(t);
  const tablet = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
  const state = trickyState('qr');
  await tablet.goto(stack.authorizeUrl({ clientId: stack.frontendClientId, redirectUri: stack.frontendRedirectUri, state }));
  await tablet.click('a:has-text("Sign in with another device")');
  await tablet.waitForSelector('.qr svg');
  const code = await tablet.textContent('.code');
  const scanned = await readQrCode(t, await tablet.locator('.qr svg').screenshot());
  assert.equal(scanned, `${stack.externalUrl}/sso/device?code=${code}`);

  // The phone opens what its camera read: the code is there; the person continues, signs in, allows.
  const phone = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
  await phone.goto(scanned);
  assert.equal(await phone.inputValue('input[name="code"]'), code);
  assert.match(pageText(await phone.content()), /Check that the device you want to sign in shows this code/);
  await phone.click('button:has-text("Continue")');
  await phone.waitForSelector('#username');
  await phone.fill('#username', 'alice');
  await phone.click('#signin');
  await phone.waitForSelector('.code');
  assert.equal(await phone.textContent('.code'), code, 'the phone shows the tablet\'s code before it allows');
  await phone.click('button:has-text("Allow")');
  await phone.waitForSelector('h1:has-text("You are signed in")');

  // The tablet's page, reloading by itself, lands on the frontend with HA's code.
  await tablet.waitForURL((url) => url.href.startsWith(stack.frontendRedirectUri), { timeout: 30_000 });
  const landed = new URL(tablet.url());
  assert.equal(landed.searchParams.get('state'), state);
  stack.rememberSecret(landed.searchParams.get('code'), 'HA code (QR sign-in)');
  const tokens = await stack.postToken({ grant_type: 'authorization_code', code: landed.searchParams.get('code'), client_id: stack.frontendClientId });
  assert.equal(tokens.status, 200, tokens.text());

  // Only a code's shape is filled in from the address; anything else leaves the field empty.
  await phone.goto(`${stack.externalUrl}/sso/device?code=${encodeURIComponent('"><script>alert(1)</script>')}`);
  assert.equal(await phone.inputValue('input[name="code"]'), '');
  // A link on another site fills in nothing: a code someone else chose is not one click away.
  const http = await import('node:http');
  const lure = http.createServer((req, res) => res.writeHead(200, { 'content-type': 'text/html' })
    .end(`<a id="lure" href="${stack.externalUrl}/sso/device?code=${code}">Sign in</a>`));
  await new Promise((resolve) => lure.listen(0, '127.0.0.2', resolve));
  t.after(() => new Promise((resolve) => lure.close(resolve)));
  await phone.goto(`http://127.0.0.2:${lure.address().port}/`);
  await phone.click('#lure');
  await phone.waitForURL((url) => url.pathname === '/sso/device');
  assert.equal(await phone.inputValue('input[name="code"]'), '');
  stack.assertHygiene({ clientChecks: false }); // Chromium connects from 127.0.0.1, not the stack's client address
});

// A tablet's browser that chose "Sign in with another device": the code its waiting page shows.
async function waitingDeviceCode(stack) {
  const tablet = new CookieJar();
  const choice = await send(stack.authorizeUrl({ clientId: stack.frontendClientId, redirectUri: stack.frontendRedirectUri, state: 's' }), { jar: tablet });
  const elsewhere = linksOf(choice.body).find((link) => link.text === 'Sign in with another device');
  const started = await send(new URL(elsewhere.href, stack.externalUrl).href, { jar: tablet });
  return shownCodeOf((await send(new URL(started.headers.location, stack.externalUrl).href, { jar: tablet })).body);
}

test('an expired wait: its code finds nothing at /sso/device', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t, { gatehouseConfig: { sign_in_choice: true } });
  const code = await waitingDeviceCode(stack);
  assert.ok(code);
  // Ten minutes later (the store's clock moved on for this one hand-off).
  execFileSync('sqlite3', [join(stack.config.data_dir, 'gatehouse.db'), `UPDATE app_handoffs SET expires_at_ms = ${Date.now() - 1000} WHERE user_code = '${code}'`]);
  const late = await send(`${stack.externalUrl}/sso/device`, { method: 'POST', headers: FORM, body: formBody({ code }) });
  assert.equal(late.status, 400, pageText(late.body));
  assert.match(pageText(late.body), /No sign-in waits for this code/);
  stack.assertHygiene();
});

test('codes cannot be guessed: past 10 tries a minute an address gets 429, even for the right code', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t, { gatehouseConfig: { sign_in_choice: true } });
  const code = await waitingDeviceCode(stack);
  const device = `${stack.externalUrl}/sso/device`;
  const statuses = [];
  for (let i = 0; i < 10; i += 1)
    statuses.push((await send(device, { method: 'POST', headers: FORM, body: formBody({ code: `ZZZZ-ZZZ${'BCDFGHJKLM'[i]}` }) })).status);
  assert.deepEqual(statuses, Array(10).fill(400));
  const over = await send(device, { method: 'POST', headers: FORM, body: formBody({ code }) });
  assert.equal(over.status, 429);
  assert.match(pageText(over.body), /Too many codes tried/);
  stack.assertHygiene();
});

test('without sign_in_choice, browsers go straight to the IdP, "elsewhere" is not honoured, and no page offers /sso/device', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t);
  const authorize = stack.authorizeUrl({ clientId: stack.frontendClientId, redirectUri: stack.frontendRedirectUri, state: 's' });
  for (const url of [authorize, `${authorize}&gatehouse_where=elsewhere`]) {
    const straight = await send(url);
    assert.equal(straight.status, 302);
    assert.ok(straight.headers.location.startsWith(stack.idps[0].issuer), straight.headers.location);
  }
  const app = new CookieJar();
  const opened = await send(stack.authorizeUrl({ clientId: 'https://home-assistant.io/android', redirectUri: 'homeassistant://auth-callback', state: 'a' }), { jar: app });
  const waiting = await send(new URL(opened.headers.location, stack.externalUrl).href, { jar: app });
  assert.match(pageText(waiting.body), /Open the sign-in page/);
  assert.ok(!pageText(waiting.body).includes('/sso/device'), pageText(waiting.body));
  assert.ok(!waiting.body.includes('<svg'), 'no QR code leads to /sso/device either');
  stack.assertHygiene();
});
