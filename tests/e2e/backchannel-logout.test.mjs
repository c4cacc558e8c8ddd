// Back-channel logout (OpenID Connect Back-Channel Logout 1.0) at /sso/backchannel-logout, sent by the
// real IdP (oidc-provider) when a person signs out there. Real parts: the IdP, HA's own client library
// (home-assistant-js-websocket), the HA double.
// - By sid: bob signed in from two browsers (two IdP sessions); signing out at the IdP in one ends
//   exactly the HA session that browser's sign-in made — its websocket closed (1008 "Session ended"),
//   its access token refused at the door (HTTP and websocket), its refresh answered with HA's
//   invalid_grant, its refresh token gone from HA itself, a code of that IdP session not yet redeemed
//   refused — while his other session and alice's stay.
//   Signing in again works (a logout is not a cut-off).
// - By sub (a client registered without backchannel_logout_session_required): all of his sessions from
//   that IdP end, alice's stay.
// - Bad input: not a form, no token, garbage, another key's signature, an ID token's nonce, a token of an
//   unknown issuer or for another client, too old, naming nobody, a replayed jti: 400 with an OAuth-style
//   error, audited, nothing ended. While the IdP's discovery fails, twenty forged logouts make Gatehouse
//   fetch it once, not twenty times.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getStates, ERR_INVALID_AUTH } from 'home-assistant-js-websocket';
import { pollUntil, TEST_GUARD } from './lib/harness.mjs';
import { request } from './lib/http-client.mjs';
import { routeHawsThrough, signInAndConnect } from './lib/haws-node.mjs';
import { TestWebSocket } from './lib/ws-client.mjs';
import { startSsoStack, frontendState, CLIENT_ADDRESS, GATEHOUSE_ADDRESS } from './lib/sso-stack.mjs';
import { decodeJwt, generateSigningKey, signJws } from '../idp/jws.mjs';

const EVENT = 'http://schemas.openid.net/event/backchannel-logout';

async function websocketAuth(stack, accessToken) {
  const socket = new TestWebSocket(`${stack.gatehouse.wsUrl}/api/websocket`, { localAddress: CLIENT_ADDRESS });
  await socket.opened;
  await socket.waitForMessages(1);
  await socket.send(JSON.stringify({ type: 'auth', access_token: accessToken }));
  const [, answer] = await socket.waitForMessages(2);
  socket.close();
  return JSON.parse(answer.data).type;
}

const refreshTokenIdOf = (session) => decodeJwt(session.auth.accessToken).payload.iss;
const apiStatus = async (stack, session) => (await request(`${stack.externalUrl}/api/states`, {
  headers: { authorization: `Bearer ${session.auth.accessToken}` }, localAddress: CLIENT_ADDRESS,
})).status;
const refresh = (stack, session) => stack.postToken({
  grant_type: 'refresh_token', refresh_token: session.saved[0].refresh_token, client_id: stack.frontendClientId,
});
// HA's side is done beside the door's (no event announces it): the refresh token leaves the double.
const haForgets = (stack, tokenId) => pollUntil(() => {
  const left = stack.double.refreshTokens().some((token) => token.id === tokenId);
  return { done: !left, value: !left };
}, { timeoutMs: 10000 });

// The logout token as the IdP would post it (iss, aud, iat, jti, events, sid and/or sub), signed with the
// IdP's own key unless `key` is given.
function logoutToken(stack, claims = {}, { key, header = {} } = {}) {
  const entry = stack.idps[0];
  const payload = {
    iss: entry.issuer, aud: entry.clientId, iat: Math.floor(Date.now() / 1000), jti: `jti-${Math.random()}`,
    events: { [EVENT]: {} }, ...claims,
  };
  for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
  if (key) return signJws({ alg: key.alg, kid: key.kid, typ: 'logout+jwt', ...header }, payload, key.privateKey);
  return entry.idp.sign(payload, { typ: 'logout+jwt', ...header });
}

// Posted as the IdP posts it: from Gatehouse's side of the network, a form with logout_token.
const postLogout = (stack, body, contentType = 'application/x-www-form-urlencoded') => request(`${stack.externalUrl}/sso/backchannel-logout`, {
  method: 'POST', localAddress: GATEHOUSE_ADDRESS, body, headers: { 'content-type': contentType },
});

test('a back-channel logout by sid ends exactly the HA session of that IdP session: socket, tokens, refresh, and in HA itself', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t, { providers: [{ backchannelLogout: true }] });
  routeHawsThrough(stack.externalUrl, CLIENT_ADDRESS);
  const laptop = await signInAndConnect(t, stack, 'bob');
  const phone = await signInAndConnect(t, stack, 'bob');
  const alice = await signInAndConnect(t, stack, 'alice');
  await laptop.connection.subscribeEvents(() => {}, 'state_changed'); // as the frontend does
  const laptopTokenId = refreshTokenIdOf(laptop);
  const phoneTokenId = refreshTokenIdOf(phone);
  assert.notEqual(laptopTokenId, phoneTokenId, 'two HA sessions');
  const reconnectFailed = new Promise((resolve) => laptop.connection.addEventListener('reconnect-error', (_c, error) => resolve(error)));

  // A code from a sign-in of the same IdP session, not redeemed before the logout.
  const late = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'bob', jar: laptop.jar });
  assert.equal(late.kind, 'redirect');

  // bob signs out at the IdP in his laptop's browser: the IdP posts its logout token to Gatehouse.
  const sent = await stack.logoutAtIdp(laptop.jar);
  assert.equal(sent.length, 1, 'the IdP sent one back-channel logout');
  assert.equal(sent[0].ok, true, `Gatehouse answered it with 200: ${sent[0].error}`);
  assert.ok(sent[0].sid, 'by sid');

  const closed = await laptop.closed;
  assert.deepEqual({ code: closed.code, reason: closed.reason }, { code: 1008, reason: 'Session ended' });
  assert.equal(await reconnectFailed, ERR_INVALID_AUTH, 'the library\'s reconnect with that session\'s token is refused');
  laptop.connection.close();
  assert.equal(await apiStatus(stack, laptop), 401);
  assert.equal(await websocketAuth(stack, laptop.auth.accessToken), 'auth_invalid');
  const refused = await refresh(stack, laptop);
  assert.equal(refused.status, 400);
  assert.deepEqual(refused.json(), { error: 'invalid_grant' });
  assert.ok(await haForgets(stack, laptopTokenId), 'HA itself no longer has the laptop\'s refresh token');
  const lateRedeemed = await stack.postToken({ grant_type: 'authorization_code', code: late.code, client_id: stack.frontendClientId });
  assert.equal(lateRedeemed.status, 400, 'a code of the logged-out IdP session becomes no session');
  assert.deepEqual(lateRedeemed.json(), { error: 'invalid_grant' });
  const bobId = stack.userNamed('bob.builder').id;
  const bobsInHa = await pollUntil(() => {
    const ids = stack.double.refreshTokens().filter((token) => token.userId === bobId).map((token) => token.id);
    return { done: ids.length === 1, value: ids };
  }, { timeoutMs: 10000 });
  assert.deepEqual(bobsInHa, [phoneTokenId], 'the session HA made for that late code is deleted in HA too');

  // His phone's session (another IdP session) and alice's are untouched.
  assert.ok(stack.double.refreshTokens().some((token) => token.id === phoneTokenId), 'HA keeps his phone\'s session');
  assert.equal(phone.connection.socket.readyState, 1, 'his phone\'s socket is open');
  assert.ok((await getStates(phone.connection)).length > 0);
  await phone.auth.refreshAccessToken();
  assert.equal(await apiStatus(stack, phone), 200);
  assert.ok((await getStates(alice.connection)).length > 0);
  assert.equal(stack.userNamed('bob.builder').isActive, true, 'a logout is not a cut-off: his HA user stays active');

  // He can sign in again in that browser (the IdP asks him to sign in anew).
  const again = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'bob', jar: laptop.jar });
  assert.equal(again.kind, 'redirect');

  const audit = await stack.audit(['--user', 'bob.builder']);
  const kinds = audit.map((entry) => entry.kind);
  const logout = audit.find((entry) => entry.kind === 'backchannel_logout');
  assert.ok(logout, kinds.join(' '));
  assert.equal(logout.raw.detail.by, 'sid');
  assert.equal(logout.raw.detail.sessions, 1);
  const ended = audit.find((entry) => entry.kind === 'sessions_ended');
  assert.equal(ended?.raw.detail.websockets_closed, 1, kinds.join(' '));
  assert.ok(kinds.includes('sessions_ended_in_ha'), kinds.join(' '));
  t.diagnostic(`logout to socket closed: ${ended.raw.detail.took_ms} ms`);
  assert.deepEqual(stack.leakedSecrets(), []);
});

test('a back-channel logout by sub alone ends all of the person\'s sessions from that IdP; others keep theirs', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t, { providers: [{ backchannelLogout: 'sub' }] });
  routeHawsThrough(stack.externalUrl, CLIENT_ADDRESS);
  const laptop = await signInAndConnect(t, stack, 'bob');
  const phone = await signInAndConnect(t, stack, 'bob');
  const alice = await signInAndConnect(t, stack, 'alice');

  const sent = await stack.logoutAtIdp(laptop.jar);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].ok, true, sent[0].error);
  const [laptopClosed, phoneClosed] = await Promise.all([laptop.closed, phone.closed]);
  assert.equal(laptopClosed.code, 1008);
  assert.equal(phoneClosed.code, 1008);
  laptop.connection.close();
  phone.connection.close();
  assert.equal(await apiStatus(stack, laptop), 401);
  assert.equal(await apiStatus(stack, phone), 401);
  assert.equal((await refresh(stack, phone)).status, 400);
  assert.ok(await haForgets(stack, refreshTokenIdOf(phone)));
  assert.ok(await haForgets(stack, refreshTokenIdOf(laptop)));
  assert.equal(await apiStatus(stack, alice), 200);
  assert.ok((await getStates(alice.connection)).length > 0);
  const logout = (await stack.audit()).find((entry) => entry.kind === 'backchannel_logout');
  assert.equal(logout?.raw.detail.by, 'sub');
  assert.equal(logout.raw.detail.sessions, 2);
});

test('back-channel logout refuses what is not a valid, fresh logout token from a configured IdP: 400, audited, nothing ended', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t, { providers: [{ backchannelLogout: true }] });
  routeHawsThrough(stack.externalUrl, CLIENT_ADDRESS);
  const bob = await signInAndConnect(t, stack, 'bob');
  const { sid, sub } = decodeJwt(stack.idps[0].idTokens.at(-1)).payload;
  assert.ok(sid, 'the IdP put the session id in bob\'s ID token');

  const refusedWith = async (response, description) => {
    assert.equal(response.status, 400, `${description}: ${response.body}`);
    assert.equal(response.headers['cache-control'], 'no-store');
    const body = response.json();
    assert.equal(body.error, 'invalid_request', description);
    return body.error_description;
  };
  const form = (token) => new URLSearchParams({ logout_token: token }).toString();
  const good = { sid, sub };

  assert.equal((await request(`${stack.externalUrl}/sso/backchannel-logout`, { localAddress: GATEHOUSE_ADDRESS })).status, 405);
  assert.match(await refusedWith(await postLogout(stack, JSON.stringify({ logout_token: logoutToken(stack, good) }), 'application/json'), 'JSON'), /form/);
  assert.match(await refusedWith(await postLogout(stack, 'other=1'), 'no token'), /no logout_token/);
  assert.match(await refusedWith(await postLogout(stack, form('not.a.jwt')), 'garbage'), /not from a configured provider/);
  const stranger = generateSigningKey('RS256');
  assert.match(await refusedWith(await postLogout(stack, form(logoutToken(stack, good, { key: stranger }))), 'another key'), /logout token/);
  assert.match(await refusedWith(await postLogout(stack, form(logoutToken(stack, { ...good, iss: 'https://elsewhere.example' }))), 'unknown issuer'), /not from a configured provider/);
  assert.match(await refusedWith(await postLogout(stack, form(logoutToken(stack, { ...good, nonce: 'n' }))), 'an ID token'), /nonce/);
  assert.match(await refusedWith(await postLogout(stack, form(logoutToken(stack, { ...good, events: undefined }))), 'no event'), /events/);
  assert.match(await refusedWith(await postLogout(stack, form(logoutToken(stack, { ...good, aud: 'another-client' }))), 'another audience'), /aud/);
  assert.match(await refusedWith(await postLogout(stack, form(logoutToken(stack, { ...good, iat: Math.floor(Date.now() / 1000) - 3600 }))), 'an hour old'), /too old/);
  assert.match(await refusedWith(await postLogout(stack, form(logoutToken(stack, { sid: undefined, sub: undefined }))), 'nobody named'), /neither sub nor sid/);
  assert.equal(await apiStatus(stack, bob), 200, 'nothing refused ended bob\'s session');
  assert.equal(bob.connection.socket.readyState, 1);

  // A good one ends his session; the same token again is a replay.
  const token = logoutToken(stack, good);
  const taken = await postLogout(stack, form(token));
  assert.equal(taken.status, 200, taken.body);
  assert.equal(taken.headers['cache-control'], 'no-store');
  assert.equal((await bob.closed).code, 1008);
  bob.connection.close();
  assert.match(await refusedWith(await postLogout(stack, form(token)), 'replay'), /used already/);

  // The first refusals of an address get entries of their own (the rest are counted, as for sign-ins).
  const refusals = (await stack.audit()).filter((entry) => entry.kind === 'backchannel_logout_refused');
  assert.ok(refusals.length > 0, 'refusals are audited');
  assert.match(refusals[0].reason, /must be a form/);
  assert.deepEqual(stack.leakedSecrets(), []);
});

test('back-channel logouts while the IdP\'s discovery fails do not make Gatehouse ask the IdP each time', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t, { providers: [{ kind: 'rogue', mode: 'discovery_other_issuer' }] });
  const idp = stack.idps[0].idp;
  const forged = (n) => [
    Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'logout+jwt' })).toString('base64url'),
    Buffer.from(JSON.stringify({ iss: idp.issuer, jti: `forged-${n}`, sub: 'someone' })).toString('base64url'),
    'c2ln',
  ].join('.');
  for (let n = 0; n < 20; n++) {
    const answer = await postLogout(stack, `logout_token=${forged(n)}`);
    assert.ok(answer.status >= 400, `refused: ${answer.status} ${answer.body}`);
  }
  // The start's own check (a log line of its own) and one fetch for all twenty: not one per request.
  assert.ok(idp.counts.discovery <= 2, `${idp.counts.discovery} fetches of the failing discovery document`);
});
