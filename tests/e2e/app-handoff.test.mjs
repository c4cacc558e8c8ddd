// The Android app's sign-in handed to the system browser (issue 11; ha-auth-contract.md §7.2: the 2026
// Android app sends every navigation to another host to the system browser and has no way back).
// Gatehouse keeps the app's web view on its own page, which waits while the browser signs in at the IdP;
// the browser shows the same code and asks the person; the web view then continues by itself to
// homeassistant://auth-callback?code=…&state=…, and only the web view that started it can collect it.
// The browser test plays the web view and the system browser with two Chromium contexts; the HTTP tests
// cover the refusals (another browser with the address, denial, an IdP refusal, expiry).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { launchChromium, noBrowser } from './lib/chromium.mjs';
import { startSsoStack, APPS, CookieJar, linksOf, pageText, shownCodeOf, trickyState } from './lib/sso-stack.mjs';
import { driveLogin, send } from '../idp/drive-login.mjs';
import { decodeJwt } from '../idp/jws.mjs';

const ANDROID = APPS.find((app) => app.name === 'Android app');
const WEAR = APPS.find((app) => app.name === 'Wear OS app');
const APP_CALLBACK = 'homeassistant://auth-callback';
// What the 2026 app's web view sends (FrontendUrlManager / HomeAssistantApis user agent).
const ANDROID_WEB_VIEW_UA = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/130.0 Mobile Safari/537.36 Home Assistant/2026.8.1-full (Android 14; Pixel 8)';

const sql = (database, query) => execFileSync('sqlite3', [database, query]).toString().trim();
const databaseOf = (stack) => join(stack.config.data_dir, 'gatehouse.db');

async function redeem(stack, code) {
  const response = await stack.postToken({ grant_type: 'authorization_code', code, client_id: ANDROID.clientId });
  assert.equal(response.status, 200, `HA takes the code the app collected: ${response.text()}`);
  const tokens = response.json();
  const record = stack.double.refreshTokens().find((token) => token.id === decodeJwt(tokens.access_token).payload.iss);
  assert.ok(record, 'HA has the refresh token');
  assert.equal(record.clientId, ANDROID.clientId);
  return { tokens, record };
}

// The web view's first steps over HTTP: /auth/authorize, redirected to the waiting page, which shows the
// code and links to the IdP. { jar, waitUrl, code, idpUrl, page }.
async function startInWebView(stack, state) {
  const jar = new CookieJar();
  const opened = await send(stack.authorizeUrl({ clientId: ANDROID.clientId, redirectUri: ANDROID.redirectUri, state }), { jar });
  assert.equal(opened.status, 302, pageText(opened.body));
  const waitUrl = new URL(opened.headers.location, stack.externalUrl).href;
  assert.ok(waitUrl.startsWith(`${stack.externalUrl}/sso/handoff/`), `the web view stays on Gatehouse: ${waitUrl}`);
  const waiter = opened.headers['set-cookie']?.find((cookie) => cookie.startsWith('gatehouse_handoff_'));
  assert.match(waiter ?? '', /; Path=\/sso\/; .*HttpOnly; SameSite=Lax/, 'the waiter secret is an HttpOnly cookie');
  const page = await send(waitUrl, { jar });
  assert.equal(page.status, 200);
  assert.match(page.body, /<meta http-equiv="refresh" content="2">/, 'the waiting page loads itself again');
  const code = shownCodeOf(page.body);
  assert.match(code ?? '', /^[B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4}$/);
  const idpUrl = linksOf(page.body).find((link) => link.text === 'Open the sign-in page')?.href;
  assert.ok(idpUrl?.startsWith(stack.idps[0].issuer), `the page links to the IdP: ${idpUrl}`);
  assert.equal(new URL(idpUrl).searchParams.get('prompt'), 'login', 'the person signs in at the IdP, not through an existing session');
  return { jar, waitUrl, code, idpUrl, page };
}

// The person's browser, from the waiting page's link to Gatehouse's consent page. { jar, consentId, body }.
async function signInInBrowser(stack, idpUrl, username, { deny = false } = {}) {
  const jar = new CookieJar();
  const walked = await driveLogin(idpUrl, { username, deny, jar, ca: stack.idps[0].ca ? [stack.idps[0].ca] : undefined });
  const callback = walked.history.find((url) => url.startsWith(`${stack.callbackUrl}?`));
  if (callback) stack.rememberSecret(new URL(callback).searchParams.get('code'), 'IdP authorization code (hand-off)');
  return { jar, consentId: stack.consentIdOf(walked.body), body: walked.body, status: walked.status, url: walked.url };
}

test('browser: the Android web view waits on Gatehouse while the system browser signs in; the web view lands on homeassistant://auth-callback with a working code', { skip: noBrowser, timeout: 90_000 }, async (t) => {
  const stack = await startSsoStack(t);
  const idpOrigin = new URL(stack.idps[0].issuer).origin;
  const browser = await launchChromium(t);

  // The app's web view: anything on another origin would leave for the system browser, so it is
  // refused and recorded here; the app's callback is seen as the redirect that names it.
  const webView = await browser.newContext({ userAgent: ANDROID_WEB_VIEW_UA, ignoreHTTPSErrors: true });
  const leftGatehouse = [];
  await webView.route((url) => url.origin !== stack.externalUrl && /^https?:$/.test(url.protocol), (route) => {
    leftGatehouse.push(route.request().url());
    return route.abort();
  });
  // The app's shouldOverrideUrlLoading: a redirect to homeassistant://auth-callback is taken by the app,
  // not loaded (Chromium would abort the navigation to an unknown scheme without a response to read).
  let landedOnApp;
  const appCallback = new Promise((resolve) => { landedOnApp = resolve; });
  await webView.route(`${stack.externalUrl}/sso/handoff/**`, async (route) => {
    const response = await route.fetch({ maxRedirects: 0 });
    const location = response.headers().location ?? '';
    if (!location.startsWith(`${APP_CALLBACK}?`)) return route.fulfill({ response });
    landedOnApp({ location, from: route.request().url() });
    return route.fulfill({ status: 200, contentType: 'text/plain', body: 'taken by the app' });
  });
  const app = await webView.newPage();
  const state = trickyState('android hand-off');
  await app.goto(stack.authorizeUrl({ clientId: ANDROID.clientId, redirectUri: ANDROID.redirectUri, state }));
  assert.match(new URL(app.url()).pathname, /^\/sso\/handoff\/[\w-]{43}$/);
  const waitUrl = app.url();
  const appCode = await app.textContent('.code');
  const idpUrl = await app.getAttribute('a.choice', 'href');
  assert.ok(idpUrl.startsWith(`${idpOrigin}/`), idpUrl);

  // The system browser: the link the app hands over, the IdP's form, then Gatehouse asks.
  const systemBrowser = await browser.newContext({ ignoreHTTPSErrors: true });
  const person = await systemBrowser.newPage();
  await person.goto(idpUrl);
  await person.fill('#username', 'alice');
  await person.click('#signin');
  await person.waitForSelector('.code');
  assert.equal(new URL(person.url()).pathname, '/sso/callback');
  assert.equal(await person.textContent('.code'), appCode, 'the browser shows the code the app shows');
  assert.match(pageText(await person.content()), /Home Assistant for Android waits to be signed in as Alice Liddell \(alice\)/);

  // A third browser that only has the waiting page's address gets nothing.
  const stranger = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
  const strangerVisit = await stranger.goto(waitUrl);
  assert.equal(strangerVisit.status(), 403);
  assert.match(await stranger.textContent('h1'), /belongs to the app that started the sign-in/);

  await person.click('button:has-text("Allow Home Assistant for Android")');
  await person.waitForSelector('h1:has-text("You are signed in")');

  // The person goes back to the app: its web view, reloading its page, is sent on to the app by itself.
  await app.bringToFront();
  const landed = await appCallback;
  assert.ok(landed.from.startsWith(waitUrl), landed.from);
  const params = new URL(landed.location).searchParams;
  assert.equal(params.get('state'), state);
  stack.rememberSecret(params.get('code'), 'HA code (hand-off)');
  const { tokens, record } = await redeem(stack, params.get('code'));
  assert.equal(stack.double.users().find((user) => user.id === record.userId)?.name, 'Alice Liddell');
  const api = await send(`${stack.externalUrl}/api/`, { headers: { authorization: `Bearer ${tokens.access_token}`, accept: 'application/json' } });
  assert.equal(api.status, 200, 'the app\'s token works through Gatehouse');
  assert.deepEqual(leftGatehouse, [], 'the web view never left Gatehouse\'s address');

  // Collected once: the stranger still gets nothing, and the web view's page is over.
  assert.equal((await stranger.goto(waitUrl)).status(), 403);
  const again = await send(waitUrl, {});
  assert.equal(again.status, 403);
  const audit = await stack.audit();
  for (const kind of ['handoff_started', 'consent_requested', 'consent_allowed', 'handoff_settled', 'handoff_collected', 'login_succeeded'])
    assert.ok(audit.some((entry) => entry.kind === kind), `audited ${kind}: ${audit.map((entry) => entry.kind)}`);
  stack.assertHygiene({ clientChecks: false }); // Chromium connects from 127.0.0.1, not the stack's client address
});

// The iOS app's WKWebView follows redirects to any host (contract §7.1): no hand-off, the sign-in runs in
// the web view and ends on homeassistant://auth-callback, which the app takes.
test('browser: the iOS app signs in within its web view at the IdP and lands on homeassistant://auth-callback with a working code', { skip: noBrowser, timeout: 90_000 }, async (t) => {
  const IOS = APPS.find((app) => app.name === 'iOS app');
  const stack = await startSsoStack(t);
  const browser = await launchChromium(t);
  const webView = await browser.newContext({ ignoreHTTPSErrors: true, userAgent: 'Home Assistant/2026.8 (io.robbie.HomeAssistant; build:2026.1234; iOS 18.6.0) Mobile/HomeAssistant' });
  const app = await webView.newPage();
  const state = trickyState('ios web view');
  await app.goto(stack.authorizeUrl({ clientId: IOS.clientId, redirectUri: IOS.redirectUri, state }));
  assert.equal(new URL(app.url()).origin, new URL(stack.idps[0].issuer).origin, 'the web view itself is at the IdP (no hand-off)');
  // The IdP sends the web view to Gatehouse's callback, which redirects to the app's scheme: the app's
  // navigation delegate takes that redirect (Chromium aborts it, after the response is seen here).
  const toApp = app.waitForResponse((response) => response.url().startsWith(`${stack.callbackUrl}?`) &&
    (response.headers().location ?? '').startsWith(`${APP_CALLBACK}?`));
  await app.fill('#username', 'bob');
  await app.click('#signin');
  const params = new URL((await toApp).headers().location).searchParams;
  assert.equal(params.get('state'), state);
  stack.rememberSecret(params.get('code'), 'HA code (iOS)');
  const response = await stack.postToken({ grant_type: 'authorization_code', code: params.get('code'), client_id: IOS.clientId });
  assert.equal(response.status, 200, response.text());
  const record = stack.double.refreshTokens().find((token) => token.id === decodeJwt(response.json().access_token).payload.iss);
  assert.equal(record?.clientId, IOS.clientId);
  assert.equal(stack.double.users().find((user) => user.id === record.userId)?.username, 'bob.builder');
  stack.assertHygiene({ clientChecks: false }); // Chromium connects from 127.0.0.1
});

test('hand-off over HTTP: the address alone collects nothing, the code is collected once, a denial and an IdP refusal reach the app, the Wear OS pair is not handed off', { timeout: 90_000 }, async (t) => {
  const stack = await startSsoStack(t);

  await t.test('collected once, by the web view only', async () => {
    const state = trickyState('once');
    const view = await startInWebView(stack, state);
    const inBrowser = await signInInBrowser(stack, view.idpUrl, 'bob');
    assert.ok(inBrowser.consentId, `the browser is asked: ${pageText(inBrowser.body)}`);
    assert.equal(shownCodeOf(inBrowser.body), view.code);
    assert.match(pageText(inBrowser.body), /started signing in from the address 127\.0\.0\.2, the one you use now/);
    // The browser that signed in holds no waiter secret: the waiting page is not its to collect.
    assert.equal((await send(view.waitUrl, { jar: inBrowser.jar })).status, 403);
    const allowed = await stack.answerConsent(inBrowser.consentId, 'allow', { jar: inBrowser.jar });
    assert.equal(allowed.status, 200);
    assert.match(pageText(allowed.body), /You are signed in/);
    assert.equal((await send(view.waitUrl, { jar: inBrowser.jar })).status, 403, 'not after the answer either');
    assert.equal((await send(view.waitUrl)).status, 403, 'nor without any cookie');
    const collected = await send(view.waitUrl, { jar: view.jar });
    assert.equal(collected.status, 302);
    const to = new URL(collected.headers.location);
    assert.equal(`${to.protocol}//${to.host}${to.pathname}`, APP_CALLBACK);
    assert.equal(to.searchParams.get('state'), state);
    stack.rememberSecret(to.searchParams.get('code'), 'HA code (hand-off)');
    await redeem(stack, to.searchParams.get('code'));
    // Collected: the web view's next load says so (and clears its cookie), nothing is handed twice.
    const over = await send(view.waitUrl, { jar: view.jar });
    assert.ok([403, 410].includes(over.status), `${over.status}`);
    assert.equal(over.headers.location, undefined);
  });

  await t.test('denied in the browser: the app is sent access_denied with its state', async () => {
    const state = trickyState('deny');
    const view = await startInWebView(stack, state);
    const inBrowser = await signInInBrowser(stack, view.idpUrl, 'bob');
    const denied = await stack.answerConsent(inBrowser.consentId, 'deny', { jar: inBrowser.jar });
    assert.match(pageText(denied.body), /Sign-in denied/);
    const told = await send(view.waitUrl, { jar: view.jar });
    assert.equal(told.status, 302);
    const to = new URL(told.headers.location);
    assert.equal(to.searchParams.get('error'), 'access_denied');
    assert.equal(to.searchParams.get('state'), state);
    assert.equal(to.searchParams.get('code'), null);
  });

  await t.test('the IdP refuses (the person cancels there): the browser gets the page, the app access_denied', async () => {
    const view = await startInWebView(stack, 'cancelled');
    const inBrowser = await signInInBrowser(stack, view.idpUrl, 'bob', { deny: true });
    assert.equal(inBrowser.status, 400);
    assert.match(pageText(inBrowser.body), /did not sign you in/);
    const told = await send(view.waitUrl, { jar: view.jar });
    assert.equal(told.status, 302);
    assert.equal(new URL(told.headers.location).searchParams.get('error'), 'access_denied');
  });

  await t.test('the IdP opened in the web view itself after all: it is signed in directly, without the question', async () => {
    const state = trickyState('same web view');
    const view = await startInWebView(stack, state);
    const walked = await driveLogin(view.idpUrl, {
      username: 'bob', jar: view.jar, ca: stack.idps[0].ca ? [stack.idps[0].ca] : undefined,
      stopWhen: (_url, res) => Boolean(res.location?.startsWith(`${APP_CALLBACK}?`)),
    });
    assert.ok(walked.location?.startsWith(`${APP_CALLBACK}?`), pageText(walked.body));
    const to = new URL(walked.location);
    assert.equal(to.searchParams.get('state'), state);
    stack.rememberSecret(to.searchParams.get('code'), 'HA code (hand-off, same web view)');
    await redeem(stack, to.searchParams.get('code'));
  });

  await t.test('the Wear OS pair opens in the phone\'s browser already: no hand-off', async () => {
    const opened = await send(stack.authorizeUrl({ clientId: WEAR.clientId, redirectUri: WEAR.redirectUri, state: 'wear' }));
    assert.equal(opened.status, 302);
    assert.ok(opened.headers.location.startsWith(stack.idps[0].issuer), opened.headers.location);
  });
  stack.assertHygiene();
});

test('hand-off expiry: an expired wait gives a page that starts again; an answer after it changes nothing', { timeout: 60_000 }, async (t) => {
  const stack = await startSsoStack(t);
  const state = trickyState('expiry');
  const view = await startInWebView(stack, state);
  const inBrowser = await signInInBrowser(stack, view.idpUrl, 'bob');
  assert.ok(inBrowser.consentId);
  // Ten minutes pass for this hand-off (the store's clock for it; Gatehouse reads the row on each load).
  const id = new URL(view.waitUrl).pathname.split('/').pop();
  sql(databaseOf(stack), `UPDATE app_handoffs SET expires_at_ms = ${Date.now() - 1000} WHERE id = '${id}'`);

  const late = await stack.answerConsent(inBrowser.consentId, 'allow', { jar: inBrowser.jar });
  assert.equal(late.status, 410);
  assert.match(pageText(late.body), /This sign-in is over/);
  const expired = await send(view.waitUrl, { jar: view.jar });
  assert.equal(expired.status, 410);
  assert.match(pageText(expired.body), /This sign-in expired/);
  assert.equal(expired.headers.location, undefined, 'no code after expiry');
  const again = linksOf(expired.body).find((link) => link.text === 'Sign in again');
  const restart = new URL(again?.href ?? 'about:blank');
  assert.equal(`${restart.origin}${restart.pathname}`, `${stack.externalUrl}/auth/authorize`);
  assert.deepEqual(Object.fromEntries(restart.searchParams), { response_type: 'code', client_id: ANDROID.clientId, redirect_uri: ANDROID.redirectUri, state }, 'the app\'s own request, its state too');
  // Starting again works: a new wait, a new code.
  const second = await send(again.href, { jar: view.jar });
  assert.equal(second.status, 302);
  assert.notEqual(new URL(second.headers.location, stack.externalUrl).href, view.waitUrl);
  const audit = await stack.audit();
  assert.ok(audit.some((entry) => entry.kind === 'handoff_too_late'), audit.map((entry) => entry.kind).join(' '));
  assert.ok(!audit.some((entry) => entry.kind === 'login_succeeded'), 'no HA code was made for the expired hand-off');
  stack.assertHygiene();
});
