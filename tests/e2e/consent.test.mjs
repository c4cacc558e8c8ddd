// Security review findings 1, 9 and 10 (issue "no silent sign-in for third-party clients"): a client that
// is not this instance's frontend, a companion app or a client the admin listed never gets a code
// without the person seeing it named and allowing it; the answer is bound to that browser; a callback
// from another browser cancels nothing; trusted devices hand codes only to the frontend and listed
// clients, and sign in without any provider configured. A sign-in the browser says another site started
// (Sec-Fetch-Site) asks the person even for a companion app or a listed client, through Gatehouse's own
// choice pages too; HA's own frontend never asks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TEST_GUARD } from './lib/harness.mjs';
import { request } from './lib/http-client.mjs';
import { startSsoStack, CookieJar, pageText, linksOf, APPS, CLIENT_ADDRESS } from './lib/sso-stack.mjs';
import { launchChromium, noBrowser } from './lib/chromium.mjs';

const EVIL = { clientId: 'https://evil.example/', redirectUri: 'https://evil.example/cb' };
const LISTED = { clientId: 'https://dashboard.example.test/', redirectUri: 'https://dashboard.example.test/done', name: 'Wall dashboard' };

test('a third-party client gets a consent page, never a silent code, even with an IdP session', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t, { gatehouseConfig: { trusted_clients: [{ client_id: LISTED.clientId, redirect_uris: [LISTED.redirectUri], name: LISTED.name }] } });
  const jar = new CookieJar();
  // The person has an IdP session and is signed in to HA already (the frontend: no question).
  const own = await stack.login({ username: 'alice', jar, state: 'own' });
  assert.equal(own.kind, 'redirect');
  assert.equal(own.consentPage, null);
  const flowsBefore = stack.loginFlowRequestCount();

  // The attack of the review: one link, and the IdP session signs the person in silently.
  const attack = await stack.login({ ...EVIL, state: 'evil-state', jar });
  assert.equal(attack.kind, 'page', 'the walk stops at a page, not at a redirect to the client');
  assert.equal(attack.status, 200);
  const text = pageText(attack.body);
  assert.match(text, /https:\/\/evil\.example/, 'the page names the client');
  assert.match(text, /Alice Liddell \(alice\)/, 'the page names the HA user');
  assert.match(text, /Allow/);
  assert.match(text, /Deny/);
  assert.ok(stack.consentIdOf(attack.body));
  assert.equal(stack.loginFlowRequestCount(), flowsBefore, 'HA issued no code: its login flow was not run');
  const setCookie = [attack.headers['set-cookie'] ?? []].flat().find((line) => line.startsWith('gatehouse_consent_'));
  assert.match(setCookie, /HttpOnly/);
  assert.match(setCookie, /SameSite=Strict/);

  // A client the admin listed gets its code without a question...
  const listed = await stack.login({ clientId: LISTED.clientId, redirectUri: LISTED.redirectUri, state: 'listed', jar });
  assert.equal(listed.kind, 'redirect');
  assert.equal(listed.consentPage, null);
  // ...for the addresses the admin listed: another one on its host (which HA accepts, §1.8: on a shared
  // host such as Alexa's, anyone's skill) gets the page.
  const elsewhere = await stack.login({ clientId: LISTED.clientId, redirectUri: 'https://dashboard.example.test/other-skill', state: 'elsewhere', jar });
  assert.equal(elsewhere.kind, 'page', 'the walk stops at a page, not at a redirect to the other address');
  assert.ok(stack.consentIdOf(elsewhere.body));
  stack.assertHygiene();
});

// In a real browser the answer's redirect to the client must not be held back: the consent page's CSP
// names the client's origin (Alexa's, a music app's…) in form-action, which browsers apply to it.
test('browser: allowing a third-party client in Chromium lands on its redirect_uri with a working code', { skip: noBrowser, timeout: 90_000 }, async (t) => {
  const stack = await startSsoStack(t);
  const browser = await launchChromium(t);
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  let landed;
  const atClient = new Promise((resolve) => { landed = resolve; });
  await context.route('https://evil.example/**', (route) => {
    landed(route.request().url());
    return route.fulfill({ status: 200, contentType: 'text/plain', body: 'the client has it' });
  });
  const page = await context.newPage();
  await page.goto(stack.authorizeUrl({ clientId: EVIL.clientId, redirectUri: EVIL.redirectUri, state: 'in a browser' }));
  await page.fill('#username', 'alice');
  await page.click('#signin');
  await page.waitForSelector('button:has-text("Deny")');
  assert.match(pageText(await page.content()), /https:\/\/evil\.example wants to use Home Assistant as Alice Liddell/);
  await page.click('button:has-text("Allow")');
  const url = new URL(await atClient);
  assert.equal(`${url.origin}${url.pathname}`, EVIL.redirectUri);
  assert.equal(url.searchParams.get('state'), 'in a browser');
  stack.rememberSecret(url.searchParams.get('code'), 'HA code (consent in Chromium)');
  const tokens = await stack.postToken({ grant_type: 'authorization_code', code: url.searchParams.get('code'), client_id: EVIL.clientId });
  assert.equal(tokens.status, 200, tokens.text());
  stack.assertHygiene({ clientChecks: false }); // Chromium connects from 127.0.0.1
});

test('the consent answer is bound to the browser, single use, audited; deny sends access_denied', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t);
  const jar = new CookieJar();
  const page = await stack.login({ ...EVIL, state: 'evil state+1', username: 'bob', jar });
  const consentId = stack.consentIdOf(page.body);
  assert.ok(consentId, 'a consent page');
  const flowsBefore = stack.loginFlowRequestCount();

  // Another browser (no cookie), or a form posted from another site (the SameSite=Strict cookie is not
  // sent): refused, and the person's own answer still works afterwards.
  const stranger = await stack.answerConsent(consentId, 'allow', { jar: new CookieJar() });
  assert.equal(stranger.status, 403);
  assert.match(pageText(stranger.body), /not valid here/);
  const forgedCookie = await stack.answerConsent(consentId, 'allow', { jar: new CookieJar(), headers: { cookie: `gatehouse_consent_${consentId.slice(0, 8)}=forged` } });
  assert.equal(forgedCookie.status, 403);
  assert.equal(stack.loginFlowRequestCount(), flowsBefore, 'nothing reached HA');

  const denied = await stack.answerConsent(consentId, 'deny', { jar });
  assert.equal(denied.status, 302);
  const location = new URL(denied.headers.location);
  assert.equal(`${location.origin}${location.pathname}`, EVIL.redirectUri);
  assert.equal(location.searchParams.get('error'), 'access_denied');
  assert.equal(location.searchParams.get('state'), 'evil state+1');
  assert.equal(location.searchParams.get('code'), null);
  assert.equal(stack.loginFlowRequestCount(), flowsBefore, 'a denied client caused no login flow at HA');

  // Single use: the same answer again finds nothing.
  const again = await stack.answerConsent(consentId, 'allow', { jar });
  assert.equal(again.status, 403);

  // Allowed: the code goes to the client named on the page, and HA accepts it for that client.
  const allowed = await stack.login({ ...EVIL, state: 's2', username: 'bob', jar, consent: 'allow' });
  assert.equal(allowed.kind, 'redirect');
  assert.ok(allowed.consentPage, 'the page was shown and allowed');
  const code = allowed.code;
  const token = await stack.postToken({ grant_type: 'authorization_code', client_id: EVIL.clientId, code });
  assert.equal(token.status, 200, token.text());

  const audit = await stack.audit();
  const kinds = audit.map((entry) => entry.kind);
  for (const kind of ['consent_requested', 'consent_denied', 'consent_allowed', 'consent_refused'])
    assert.ok(kinds.includes(kind), `${kind} in the audit log: ${kinds.join(', ')}`);
  stack.assertHygiene();
});

test('a callback from another browser cancels nothing: the rightful browser still finishes', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t);
  const jar = new CookieJar();
  const half = await stack.login({ username: 'dora', jar, stopBeforeCallback: true, state: 'mine' });
  assert.equal(half.kind, 'callback');
  // Someone who learned the state (and even the IdP code) replays the callback from another browser.
  const foreign = await stack.get(half.callbackUrl, { jar: new CookieJar() });
  assert.equal(foreign.status, 400);
  assert.match(pageText(foreign.body), /another browser/);
  const finished = await stack.resume(half.callbackUrl, { jar });
  assert.equal(finished.kind, 'redirect', pageText(finished.body).slice(0, 300));
  assert.ok(finished.code);
  stack.assertHygiene();
});

test('trusted devices: codes only for the frontend and listed clients, and no provider is needed', TEST_GUARD, async (t) => {
  const DEVICE = '127.0.0.5';
  const stack = await startSsoStack(t, {
    providers: [],
    gatehouseConfig: {
      trusted_devices: [{ name: 'kitchen-panel', networks: ['127.0.0.5/32'], user: 'kiosk-kitchen' }],
      trusted_clients: [{ client_id: LISTED.clientId, redirect_uris: [LISTED.redirectUri], name: LISTED.name }],
    },
  });
  const authorize = (client, from, fetchSite) => request(`${stack.externalUrl}/auth/authorize?${new URLSearchParams({
    response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, state: 'device',
  })}`, { localAddress: from, headers: { accept: 'text/html', ...(fetchSite ? { 'sec-fetch-site': fetchSite } : {}) } });

  // A listed client gets the device's code when the device opens the sign-in itself; nobody is there to
  // allow one a link on another site started, so that is refused.
  const listed = await authorize(LISTED, DEVICE, 'none');
  assert.equal(listed.status, 302, listed.text());
  stack.rememberSecret(new URL(listed.headers.location).searchParams.get('code'), 'trusted device code (listed)');
  const linked = await authorize(LISTED, DEVICE, 'cross-site');
  assert.equal(linked.status, 403, linked.text());
  assert.match(pageText(linked.text()), /not from a link on another site/);

  // Without providers the device still signs in (finding 10): a code for the frontend.
  const own = await authorize({ clientId: stack.frontendClientId, redirectUri: stack.frontendRedirectUri }, DEVICE);
  assert.equal(own.status, 302, own.text());
  const code = new URL(own.headers.location).searchParams.get('code');
  assert.ok(code);
  stack.rememberSecret(code, 'trusted device code');

  // A link naming another client: refused with a page, and HA never runs a login flow for it.
  const flowsBefore = stack.loginFlowRequestCount();
  const evil = await authorize(EVIL, DEVICE);
  assert.equal(evil.status, 403);
  assert.match(pageText(evil.text()), /only to Home Assistant/);
  assert.equal(stack.loginFlowRequestCount(), flowsBefore);

  // Everyone else gets HA's own login page (local login is open without providers).
  const stranger = await authorize({ clientId: stack.frontendClientId, redirectUri: stack.frontendRedirectUri }, CLIENT_ADDRESS);
  assert.equal(stranger.status, 200);
  assert.match(stranger.text(), /Log in/);
});

test('a sign-in another site started asks the person even for a companion app or a listed client, through Gatehouse\'s choice page too; the frontend never asks', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t, { gatehouseConfig: { sign_in_choice: true, trusted_clients: [{ client_id: LISTED.clientId, redirect_uris: [LISTED.redirectUri], name: LISTED.name }] } });
  const ios = APPS.find((app) => app.name === 'iOS app');
  const jar = new CookieJar();
  const here = async (client, fetchSite, state) => {
    // The choice page first (sign_in_choice): "Sign in here" is Gatehouse's own link, followed same-origin.
    const start = await stack.login({ ...client, state, jar, headers: { 'sec-fetch-site': fetchSite } });
    assert.equal(start.kind, 'page', pageText(start.body));
    const link = linksOf(start.body).find((item) => item.text === 'Sign in here');
    assert.ok(link, pageText(start.body));
    return stack.login({ ...client, startUrl: new URL(link.href, stack.externalUrl).href, username: 'alice', jar, headers: { 'sec-fetch-site': 'same-origin' } });
  };
  const silent = await here(ios, 'none', 'typed');
  assert.equal(silent.kind, 'redirect', 'the app opened the sign-in itself: its code, no question');
  const own = await here({}, 'cross-site', 'own');
  assert.equal(own.kind, 'redirect', 'HA\'s own frontend keeps its code on this origin: no question');

  for (const [client, name] of [[ios, 'Home Assistant'], [LISTED, LISTED.name]]) {
    const flowsBefore = stack.loginFlowRequestCount();
    const started = await here(client, 'cross-site', `from-elsewhere-${client.clientId}`);
    assert.equal(started.kind, 'page', `${client.clientId}: a page, not a code`);
    assert.ok(stack.consentIdOf(started.body), pageText(started.body));
    assert.match(pageText(started.body), new RegExp(name));
    assert.equal(stack.loginFlowRequestCount(), flowsBefore, 'HA issued no code');
  }
  const straight = `${stack.authorizeUrl({ ...LISTED, state: 'sibling' })}&gatehouse_where=here`;
  const sibling = await stack.login({ ...LISTED, startUrl: straight, username: 'alice', jar, headers: { 'sec-fetch-site': 'same-site' } });
  assert.equal(sibling.kind, 'page', 'a sibling site is another site');
  assert.ok(stack.consentIdOf(sibling.body));
  // A link cannot take the flag back: the parameter counts whatever its value, through the choice page too.
  const denied = `${stack.authorizeUrl({ ...ios, state: 'take-back' })}&gatehouse_from_another_site=0`;
  const choice = await stack.login({ ...ios, startUrl: denied, jar, headers: { 'sec-fetch-site': 'cross-site' } });
  const hereLink = linksOf(choice.body).find((item) => item.text === 'Sign in here');
  assert.ok(hereLink, pageText(choice.body));
  const followed = await stack.login({ ...ios, startUrl: new URL(hereLink.href, stack.externalUrl).href, username: 'alice', jar, headers: { 'sec-fetch-site': 'same-origin' } });
  assert.equal(followed.kind, 'page', 'still asked');
  assert.ok(stack.consentIdOf(followed.body));
});
