// Signing out of HA ends the IdP session too (providers[].logout: idp, OpenID Connect RP-Initiated Logout),
// and a refusal page offers "Sign in as someone else". Real parts: the IdP (oidc-provider, its own sign-out
// confirmation page), the HA double; the browser is drive-login's cookie jar.
// - logout: idp: the HA frontend's "Log out" revokes its refresh token through Gatehouse (HA's answer
//   unchanged, the token gone in HA); the next sign-in from that browser first goes to the IdP's
//   end_session_endpoint with the ID token as hint, comes back to /sso/signed-out and goes on to the IdP's
//   sign-in form (the IdP session did not sign bob straight back in); then it is an ordinary sign-in.
//   /auth/token with action=revoke (the older form, which iOS sends) does the same.
// - logout: local (the default): the revoke changes nothing at the IdP; the next sign-in is silent.
// - A refused person (in no group) gets "Sign in as someone else", which ends that IdP session so
//   another person can sign in from the same browser.
// - Bad input: /sso/signed-out without a sign-out in progress is a 400 page; /sso/switch-account
//   without one says there is nothing to end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TEST_GUARD } from './lib/harness.mjs';
import { startSsoStack, frontendState, linksOf, pageText, CookieJar } from './lib/sso-stack.mjs';
import { send } from '../idp/drive-login.mjs';
import { decodeJwt } from '../idp/jws.mjs';

// What the HA frontend's "Log out" does (home-assistant-js-websocket's revoke(): a FormData POST to
// /auth/revoke with the browser's cookies); `iOS`: /auth/token with action=revoke, form-encoded.
async function signOutOfHa(stack, jar, refreshToken, { iOS = false } = {}) {
  if (iOS) {
    return send(`${stack.externalUrl}/auth/token`, {
      method: 'POST', jar, body: new URLSearchParams({ action: 'revoke', token: refreshToken }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
  }
  const boundary = '----gatehouse-test-boundary';
  const body = `--${boundary}\r\nContent-Disposition: form-data; name="token"\r\n\r\n${refreshToken}\r\n--${boundary}--\r\n`;
  return send(`${stack.externalUrl}/auth/revoke`, { method: 'POST', jar, body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
}

async function signIn(stack, username, jar) {
  const login = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username, jar });
  assert.equal(login.kind, 'redirect', `${username} signs in`);
  const redeemed = await stack.postToken({ grant_type: 'authorization_code', code: login.code, client_id: stack.frontendClientId });
  assert.equal(redeemed.status, 200);
  return { login, tokens: redeemed.json() };
}

const visited = (result, path) => result.history.some((url) => new URL(url).pathname === path);
const hasSignoutCookie = (response) => [response.headers['set-cookie'] ?? []].flat().some((line) => line.startsWith('gatehouse_idp_signout=') && !/Max-Age=0/.test(line));

for (const iOS of [false, true]) {
  test(`logout: idp — after HA's "Log out" (${iOS ? '/auth/token action=revoke, as iOS sends it' : 'the frontend: /auth/revoke'}), the next sign-in from that browser first ends the IdP session`, TEST_GUARD, async (t) => {
    const stack = await startSsoStack(t, { providers: [{ config: { logout: 'idp' } }] });
    const jar = new CookieJar();
    const { tokens } = await signIn(stack, 'bob', jar);
    const tokenId = decodeJwt(tokens.access_token).payload.iss;
    // Without a sign-out, the IdP session signs him straight back in (no username needed).
    const silent = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), jar });
    assert.equal(silent.kind, 'redirect', 'the IdP session is reused while nobody signed out');

    const revoked = await signOutOfHa(stack, jar, tokens.refresh_token, { iOS });
    assert.equal(revoked.status, 200, 'HA\'s answer to the revoke, unchanged');
    assert.equal(revoked.body, '');
    assert.ok(hasSignoutCookie(revoked), 'the browser is told its next sign-in ends the IdP session first');
    const setCookie = [revoked.headers['set-cookie']].flat().find((line) => line.startsWith('gatehouse_idp_signout='));
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Lax/);
    assert.ok(!stack.double.refreshTokens().some((token) => token.id === tokenId), 'HA revoked the session');

    // The next sign-in: the IdP's sign-out page (answered yes), back to Gatehouse, then the IdP's sign-in form.
    const next = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), jar, signOut: true });
    assert.ok(visited(next, '/session/end'), `went to the IdP's end_session_endpoint: ${next.history.join(' -> ')}`);
    const endSession = new URL(next.history.find((url) => new URL(url).pathname === '/session/end'));
    assert.equal(decodeJwt(endSession.searchParams.get('id_token_hint')).payload.sub, 'bob', 'with bob\'s ID token as hint');
    assert.equal(endSession.searchParams.get('post_logout_redirect_uri'), `${stack.externalUrl}/sso/signed-out`);
    assert.ok(visited(next, '/sso/signed-out'), 'the IdP sent the browser back to Gatehouse');
    assert.equal(next.kind, 'page');
    assert.match(new URL(next.url).pathname, /^\/interaction\//, `ends on the IdP's sign-in form, not signed in silently: ${next.url}`);

    // From here on it is an ordinary sign-in, and the one after it is silent again.
    const again = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'alice', jar });
    assert.equal(again.kind, 'redirect');
    assert.ok(!visited(again, '/session/end'), 'the IdP session is ended once, not at every sign-in');
    assert.ok(stack.newUsers().some((user) => user.username === 'alice'), 'someone else can now sign in from this browser');

    const kinds = (await stack.audit()).map((entry) => entry.kind);
    for (const kind of ['idp_signout_armed', 'idp_signout_started', 'idp_signout_finished']) assert.ok(kinds.includes(kind), `${kind}: ${kinds.join(' ')}`);
    assert.deepEqual(stack.leakedSecrets(), []);
  });
}

test('logout: local (the default) — HA\'s "Log out" leaves the IdP session alone', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t);
  const jar = new CookieJar();
  const { tokens } = await signIn(stack, 'bob', jar);
  const revoked = await signOutOfHa(stack, jar, tokens.refresh_token);
  assert.equal(revoked.status, 200);
  assert.ok(!hasSignoutCookie(revoked));
  const next = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), jar });
  assert.equal(next.kind, 'redirect', 'signed in again by the IdP session');
  assert.ok(!visited(next, '/session/end'));
});

test('a refusal page offers "Sign in as someone else", which ends that IdP session first', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t);
  const jar = new CookieJar();
  const refused = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'nobody', jar });
  assert.equal(refused.kind, 'page');
  assert.equal(refused.status, 403);
  assert.match(pageText(refused.body), /not in any group/);
  const link = linksOf(refused.body).find((entry) => /someone else/.test(entry.text));
  assert.ok(link, `the page has the link: ${JSON.stringify(linksOf(refused.body))}`);
  // Without it, trying again is the same person again.
  const same = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), jar });
  assert.equal(same.status, 403, 'the IdP session signs "nobody" straight back in');

  const switched = await stack.resume(link.href, { jar, signOut: true });
  assert.ok(visited(switched, '/session/end'), switched.history.join(' -> '));
  assert.ok(visited(switched, '/sso/signed-out'));
  assert.match(new URL(switched.url).pathname, /^\/interaction\//, 'the IdP asks who signs in');
  const alice = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'alice', jar });
  assert.equal(alice.kind, 'redirect', 'someone else signs in from that browser');
});

test('/sso/signed-out and /sso/switch-account without a sign-out in progress: a page that says so, nothing else', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t);
  const unknown = await stack.get('/sso/signed-out?state=forged', { headers: { accept: 'text/html' } });
  assert.equal(unknown.status, 400);
  assert.match(pageText(unknown.body), /no sign-out in progress/);
  assert.equal(unknown.headers.location, undefined, 'never a redirect');
  const nothing = await stack.get('/sso/switch-account', { headers: { accept: 'text/html' } });
  assert.equal(nothing.status, 200);
  assert.match(pageText(nothing.body), /no sign-in at your identity provider to end/);
  assert.equal((await stack.get('/sso/signed-out', { headers: { accept: 'text/html' } })).status, 400);
});
