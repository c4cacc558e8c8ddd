// Tests of the double's token surface: /auth/token and /auth/revoke (§1.9-§1.11), token
// formats and validation (§2), bearer auth on REST with local_only (§2.3, §6.4), and signed
// paths (§9.5).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import {
  withDouble, request, postForm, postMultipart, postJson, loginCode, loginTokens, clientIdOf, decodeJwt, authenticatedSocket,
  ownerToken, TestSocket, loginFlow,
} from './helpers.mjs';

const bearer = (token) => ({ authorization: `Bearer ${token}` });

test('§1.10 code exchange: exact success body, no-store headers, both form encodings', async (t) => {
  const double = await withDouble(t);
  const urlencoded = await postForm(double, '/auth/token', { grant_type: 'authorization_code', client_id: clientIdOf(double), code: await loginCode(double) });
  assert.equal(urlencoded.status, 200);
  assert.equal(urlencoded.headers['cache-control'], 'no-store');
  assert.equal(urlencoded.headers.pragma, 'no-cache');
  const body = urlencoded.json();
  assert.deepEqual(Object.keys(body), ['access_token', 'token_type', 'refresh_token', 'expires_in', 'ha_auth_provider']);
  assert.equal(body.token_type, 'Bearer');
  assert.match(body.refresh_token, /^[0-9a-f]{128}$/);
  assert.equal(body.expires_in, 1800);
  assert.equal(body.ha_auth_provider, 'homeassistant');
  const multipart = await postMultipart(double, '/auth/token', { grant_type: 'authorization_code', client_id: clientIdOf(double), code: await loginCode(double), client_secret: 'ignored', code_verifier: 'ignored' });
  assert.equal(multipart.status, 200);
  assert.notEqual(multipart.json().refresh_token, body.refresh_token);
});

test('§2.1/§2.2 access token: HS256, claims exactly iss/iat/exp, iss is the refresh token id', async (t) => {
  const double = await withDouble(t, { accessTokenLifetimeSeconds: 600 });
  double.setNow(1_700_000_000_000);
  const tokens = await loginTokens(double);
  const { header, payload } = decodeJwt(tokens.access_token);
  assert.deepEqual(header, { alg: 'HS256', typ: 'JWT' });
  assert.deepEqual(Object.keys(payload), ['iss', 'iat', 'exp']);
  assert.equal(payload.iat, 1_700_000_000);
  assert.equal(payload.exp, 1_700_000_600);
  assert.equal(tokens.expires_in, 600);
  const [stored] = double.refreshTokens().filter((token) => token.type === 'normal');
  assert.equal(payload.iss, stored.id);
  assert.match(stored.id, /^[0-9a-f]{32}$/);
  assert.equal(stored.clientId, clientIdOf(double));
  assert.equal(stored.lastUsedIp, '127.0.0.1');
});

test('§1.10 every error row of the code grant, all counted as failed logins', async (t) => {
  const double = await withDouble(t);
  const clientId = clientIdOf(double);
  const cases = [
    [{ grant_type: 'authorization_code', code: 'x' }, 400, { error: 'invalid_request', error_description: 'Invalid client id' }],
    [{ grant_type: 'authorization_code', client_id: 'http://8.8.8.8/', code: 'x' }, 400, { error: 'invalid_request', error_description: 'Invalid client id' }],
    [{ grant_type: 'authorization_code', client_id: clientId }, 400, { error: 'invalid_request', error_description: 'Invalid code' }],
    [{ grant_type: 'authorization_code', client_id: clientId, code: 'ffffffffffffffffffffffffffffffff' }, 400, { error: 'invalid_request', error_description: 'Invalid code' }],
    [{ grant_type: 'password', username: 'owner', password: 'owner-password' }, 400, { error: 'unsupported_grant_type' }],
    [{}, 400, { error: 'unsupported_grant_type' }],
  ];
  for (const [fields, status, expected] of cases) {
    const response = await postForm(double, '/auth/token', fields);
    assert.equal(response.status, status, JSON.stringify(fields));
    assert.deepEqual(response.json(), expected);
  }
  assert.equal(double.failedLogins.length, cases.length);
  assert.ok(double.failedLogins.every((entry) => entry.path === '/auth/token'));
});

test('§1.1 a JSON body on /auth/token reads as an empty form', async (t) => {
  const double = await withDouble(t);
  const code = await loginCode(double);
  const response = await request(double, { method: 'POST', path: '/auth/token', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'authorization_code', client_id: clientIdOf(double), code }) });
  assert.equal(response.status, 400);
  assert.deepEqual(response.json(), { error: 'unsupported_grant_type' });
});

test('§0.2/§1.1 an urlencoded body without Content-Type is an empty form on /auth/token and /auth/revoke', async (t) => {
  const double = await withDouble(t);
  const tokens = await loginTokens(double);
  const body = new URLSearchParams({ grant_type: 'refresh_token', client_id: clientIdOf(double), refresh_token: tokens.refresh_token }).toString();
  const failed = once(double.events, 'failed-login');
  const untyped = await request(double, { method: 'POST', path: '/auth/token', body });
  assert.equal(untyped.status, 400);
  assert.deepEqual(untyped.json(), { error: 'unsupported_grant_type' });
  assert.equal((await failed)[0].path, '/auth/token', 'counted like every /auth/token 4xx');
  const emptyType = await request(double, { method: 'POST', path: '/auth/token', headers: { 'content-type': '' }, body });
  assert.deepEqual(emptyType.json(), { error: 'unsupported_grant_type' }, 'an empty Content-Type reads as text/plain');
  const mixedCase = await request(double, { method: 'POST', path: '/auth/token', headers: { 'content-type': 'Application/X-WWW-Form-Urlencoded; charset=UTF-8' }, body });
  assert.equal(mixedCase.status, 200, 'the media type is compared case-insensitively');
  // /auth/revoke: the empty form is still 200 with an empty body, and nothing is revoked.
  const revoke = await request(double, { method: 'POST', path: '/auth/revoke', body: new URLSearchParams({ token: tokens.refresh_token }).toString() });
  assert.equal(revoke.status, 200);
  assert.equal(revoke.text, '');
  assert.equal((await request(double, { path: '/api/', headers: bearer(tokens.access_token) })).status, 200, 'the token survived');
  await postForm(double, '/auth/revoke', { token: tokens.refresh_token });
  assert.equal((await request(double, { path: '/api/', headers: bearer(tokens.access_token) })).status, 401);
});

test('§1.9 codes: single use, bound to the exact client_id, 10 minutes on the injected clock', async (t) => {
  const double = await withDouble(t);
  const clientId = clientIdOf(double);
  const code = await loginCode(double);
  const wrongClient = await postForm(double, '/auth/token', { grant_type: 'authorization_code', client_id: `${clientId}other`, code });
  assert.equal(wrongClient.status, 400);
  const first = await postForm(double, '/auth/token', { grant_type: 'authorization_code', client_id: clientId, code });
  assert.equal(first.status, 200, 'a lookup under another client_id does not consume the code');
  const reused = await postForm(double, '/auth/token', { grant_type: 'authorization_code', client_id: clientId, code });
  assert.deepEqual(reused.json(), { error: 'invalid_request', error_description: 'Invalid code' });

  const lateCode = await loginCode(double);
  double.advance(10 * 60 * 1000);
  const late = await postForm(double, '/auth/token', { grant_type: 'authorization_code', client_id: clientId, code: lateCode });
  assert.equal(late.status, 400);
  const freshCode = await loginCode(double);
  double.advance(10 * 60 * 1000 - 1000);
  const inTime = await postForm(double, '/auth/token', { grant_type: 'authorization_code', client_id: clientId, code: freshCode });
  assert.equal(inTime.status, 200);
});

test('§1.10 refresh grant: no rotation, client_id must match exactly, every error row', async (t) => {
  const double = await withDouble(t);
  const clientId = clientIdOf(double);
  const tokens = await loginTokens(double);
  const refreshed = await postForm(double, '/auth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: tokens.refresh_token });
  assert.equal(refreshed.status, 200);
  assert.deepEqual(Object.keys(refreshed.json()), ['access_token', 'token_type', 'expires_in']);
  assert.equal(refreshed.headers['cache-control'], 'no-store');
  assert.equal(decodeJwt(refreshed.json().access_token).payload.iss, decodeJwt(tokens.access_token).payload.iss);
  const rows = [
    [{ grant_type: 'refresh_token', client_id: 'http://8.8.8.8/', refresh_token: tokens.refresh_token }, { error: 'invalid_request', error_description: 'Invalid client id' }],
    [{ grant_type: 'refresh_token', client_id: clientId }, { error: 'invalid_request' }],
    [{ grant_type: 'refresh_token', client_id: clientId, refresh_token: 'f'.repeat(128) }, { error: 'invalid_grant' }],
    [{ grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, { error: 'invalid_request' }],
    [{ grant_type: 'refresh_token', client_id: clientId.slice(0, -1), refresh_token: tokens.refresh_token }, { error: 'invalid_request' }],
  ];
  for (const [fields, expected] of rows) {
    const response = await postForm(double, '/auth/token', fields);
    assert.equal(response.status, 400);
    assert.deepEqual(response.json(), expected);
  }
  // The original refresh token still works: nothing was rotated or consumed.
  assert.equal((await postForm(double, '/auth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: tokens.refresh_token })).status, 200);
});

test('§1.10/§6.4 refresh re-checks local_only and trusted_networks against the current client IP', async (t) => {
  const double = await withDouble(t, {
    useXForwardedFor: true,
    trustedProxies: ['127.0.0.1'],
    users: [
      { name: 'Owner', username: 'owner', password: 'pw', isOwner: true, groups: ['system-admin'] },
      { name: 'Homebody', username: 'homebody', password: 'pw', localOnly: true },
    ],
    authProviders: [{ type: 'homeassistant' }, { type: 'trusted_networks', trustedNetworks: ['192.168.0.0/16'] }],
  });
  const clientId = clientIdOf(double);
  const local = { 'x-forwarded-for': '192.168.1.10' };
  const remote = { 'x-forwarded-for': '203.0.113.10' };
  const homebody = await loginTokens(double, { username: 'homebody', password: 'pw', headers: local });
  const remoteRefresh = await postForm(double, '/auth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: homebody.refresh_token }, remote);
  assert.equal(remoteRefresh.status, 403);
  assert.deepEqual(remoteRefresh.json(), { error: 'access_denied', error_description: 'User cannot authenticate remotely' });
  // The HTTP API refuses a local_only user's token from a remote IP with 401 (§6.4).
  assert.equal((await request(double, { path: '/api/', headers: { ...bearer(homebody.access_token), ...remote } })).status, 401);
  assert.equal((await request(double, { path: '/api/', headers: { ...bearer(homebody.access_token), ...local } })).status, 200);

  const flow = (await postJson(double, '/auth/login_flow', { client_id: clientId, handler: ['trusted_networks', null], redirect_uri: clientId }, local)).json();
  const entry = (await postJson(double, `/auth/login_flow/${flow.flow_id}`, { client_id: clientId, user: double.state.ownerId }, local)).json();
  const trusted = (await postForm(double, '/auth/token', { grant_type: 'authorization_code', client_id: clientId, code: entry.result }, local)).json();
  assert.equal(trusted.ha_auth_provider, 'trusted_networks');
  const outside = await postForm(double, '/auth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: trusted.refresh_token }, remote);
  assert.equal(outside.status, 403);
  assert.deepEqual(outside.json(), { error: 'access_denied', error_description: 'Not in trusted_networks' });
  assert.equal((await postForm(double, '/auth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: trusted.refresh_token }, local)).status, 200);
});

test('§0.2/§6.4 local_only users are refused from a non-local address at login, code exchange, refresh and REST, but not at websocket auth', async (t) => {
  for (const version of ['2023.9.3', '2025.5.0']) {
    const double = await withDouble(t, {
      version,
      useXForwardedFor: true,
      trustedProxies: ['127.0.0.1'],
      users: [
        { name: 'Owner', username: 'owner', password: 'pw', isOwner: true, groups: ['system-admin'] },
        { name: 'Homebody', username: 'homebody', password: 'pw', localOnly: true },
      ],
    });
    const clientId = clientIdOf(double);
    const local = { 'x-forwarded-for': '192.168.1.10' };
    const remote = { 'x-forwarded-for': '203.0.113.10' };
    const login = await loginFlow(double, { username: 'homebody', password: 'pw', headers: remote });
    assert.deepEqual([login.status, login.json()], [403, { message: 'Login blocked: User cannot authenticate remotely' }], version);
    const code = await loginCode(double, { username: 'homebody', password: 'pw', headers: local });
    const exchange = await postForm(double, '/auth/token', { grant_type: 'authorization_code', client_id: clientId, code }, remote);
    assert.deepEqual([exchange.status, exchange.json()], [403, { error: 'access_denied', error_description: 'User cannot authenticate remotely' }]);
    const tokens = await loginTokens(double, { username: 'homebody', password: 'pw', headers: local });
    const refreshed = await postForm(double, '/auth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: tokens.refresh_token }, remote);
    assert.deepEqual([refreshed.status, refreshed.json().error], [403, 'access_denied']);
    assert.equal((await request(double, { path: '/api/', headers: { ...bearer(tokens.access_token), ...local } })).status, 200);
    const rest = await request(double, { path: '/api/', headers: { ...bearer(tokens.access_token), ...remote } });
    assert.deepEqual([rest.status, rest.text], [401, '401: Unauthorized']);
    const socket = await authenticatedSocket(double, tokens.access_token, { headers: remote });
    assert.equal((await socket.command({ type: 'auth/current_user' })).result.name, 'Homebody', 'the websocket does not check local_only');
    socket.close();
  }
});

test('§1.11 revoke: both routes, always 200 with an empty body, access tokens die at once, not counted', async (t) => {
  const double = await withDouble(t);
  const first = await loginTokens(double);
  assert.equal((await request(double, { path: '/api/', headers: bearer(first.access_token) })).status, 200);
  const revoked = await postForm(double, '/auth/revoke', { token: first.refresh_token });
  assert.equal(revoked.status, 200);
  assert.equal(revoked.text, '');
  assert.equal((await request(double, { path: '/api/', headers: bearer(first.access_token) })).status, 401);
  const refresh = await postForm(double, '/auth/token', { grant_type: 'refresh_token', client_id: clientIdOf(double), refresh_token: first.refresh_token });
  assert.deepEqual(refresh.json(), { error: 'invalid_grant' });

  const second = await loginTokens(double);
  const viaToken = await postMultipart(double, '/auth/token', { action: 'revoke', token: second.refresh_token });
  assert.equal(viaToken.status, 200);
  assert.equal(viaToken.text, '');
  assert.equal((await request(double, { path: '/api/', headers: bearer(second.access_token) })).status, 401);

  const failuresBefore = double.failedLogins.length;
  for (const fields of [{}, { token: 'unknown' }, { token: second.refresh_token }]) {
    const response = await postForm(double, '/auth/revoke', fields);
    assert.equal(response.status, 200);
    assert.equal(response.text, '');
  }
  assert.equal(double.failedLogins.length, failuresBefore);
});

test('§1.1/§9.3 CORS: any origin on /auth/token and /auth/revoke, configured origins elsewhere', async (t) => {
  const double = await withDouble(t);
  const origin = 'https://some.app.example';
  const preflight = await request(double, { method: 'OPTIONS', path: '/auth/token', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
  assert.equal(preflight.status, 200);
  assert.equal(preflight.headers['access-control-allow-origin'], origin);
  assert.equal(preflight.headers['access-control-allow-methods'], 'POST');
  const token = await postForm(double, '/auth/revoke', {}, { origin });
  assert.equal(token.headers['access-control-allow-origin'], origin);
  const providers = await request(double, { path: '/auth/providers', headers: { origin } });
  assert.equal(providers.headers['access-control-allow-origin'], undefined);
  const providersPreflight = await request(double, { method: 'OPTIONS', path: '/auth/login_flow', headers: { origin, 'access-control-request-method': 'POST' } });
  assert.equal(providersPreflight.status, 403);
  const cast = await request(double, { path: '/auth/providers', headers: { origin: 'https://cast.home-assistant.io' } });
  assert.equal(cast.headers['access-control-allow-origin'], 'https://cast.home-assistant.io');
  const badHeader = await request(double, { method: 'OPTIONS', path: '/auth/token', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-custom' } });
  assert.equal(badHeader.status, 403);
});

test('§2.3 access-token validation: 10 s leeway, 8192-char limit, exact "Bearer", 401 text counted', async (t) => {
  const double = await withDouble(t);
  double.setNow(1_800_000_000_000);
  const tokens = await loginTokens(double);
  const api = (headers) => request(double, { path: '/api/', headers });
  double.advance(1800 * 1000 + 9000);
  assert.equal((await api(bearer(tokens.access_token))).status, 200, 'within the 10 s leeway');
  double.advance(2000);
  const expired = await api(bearer(tokens.access_token));
  assert.equal(expired.status, 401);
  assert.equal(expired.text, '401: Unauthorized');
  const fresh = (await postForm(double, '/auth/token', { grant_type: 'refresh_token', client_id: clientIdOf(double), refresh_token: tokens.refresh_token })).json().access_token;
  assert.equal((await api(bearer(fresh))).status, 200);
  assert.equal((await api({ authorization: `bearer ${fresh}` })).status, 401, 'the scheme word is case-sensitive');
  assert.equal((await api({ authorization: fresh })).status, 401);
  const [head, , signature] = fresh.split('.');
  const forged = `${head}.${Buffer.from(JSON.stringify({ iss: decodeJwt(fresh).payload.iss, iat: 1, exp: 9_999_999_999 })).toString('base64url')}.${signature}`;
  assert.equal((await api(bearer(forged))).status, 401);
  const padded = `${fresh}${'A'.repeat(8193 - fresh.length)}`;
  assert.equal((await api(bearer(padded))).status, 401);
  const failed = once(double.events, 'failed-login');
  await api({});
  assert.equal((await failed)[0].reason, '401 Unauthorized');
});

// Sends raw bytes on one connection and resolves with everything the server wrote back.
function rawExchange(double, text) {
  return new Promise((resolve, reject) => {
    const socket = connect(double.port, '127.0.0.1', () => socket.end(text));
    let data = '';
    socket.on('data', (chunk) => { data += chunk; });
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
}

test('§0.2/§2.3 a Bearer token with trailing whitespace is 401 text/plain, counted; requests on one connection stay apart', async (t) => {
  const double = await withDouble(t);
  const token = await ownerToken(double);
  const failed = once(double.events, 'failed-login');
  const spaced = await rawExchange(double, `GET /api/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token} \r\nConnection: close\r\n\r\n`);
  assert.match(spaced, /^HTTP\/1\.1 401 /);
  assert.match(spaced, /\r\nContent-Type: text\/plain; charset=utf-8\r\n/);
  assert.ok(spaced.endsWith('\r\n\r\n401: Unauthorized'));
  assert.deepEqual([(await failed)[0].path, (await failed)[0].reason], ['/api/', '401 Unauthorized']);
  const tabbed = await rawExchange(double, `GET /api/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\t\r\nConnection: close\r\n\r\n`);
  assert.match(tabbed, /^HTTP\/1\.1 401 /);
  // Leading whitespace before the value is not part of it (aiohttp strips it).
  const leading = await rawExchange(double, `GET /api/ HTTP/1.1\r\nHost: x\r\nAuthorization: \t Bearer ${token}\r\nConnection: close\r\n\r\n`);
  assert.match(leading, /^HTTP\/1\.1 200 /);
  // PyJWT pads the signature to a multiple of 4 and then skips non-alphabet bytes: two
  // trailing spaces decode like none.
  const twoSpaces = await rawExchange(double, `GET /api/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}  \r\nConnection: close\r\n\r\n`);
  assert.match(twoSpaces, /^HTTP\/1\.1 200 /);
  // Keep-alive with bodies in between (Content-Length and chunked): each request is judged
  // by its own header bytes.
  const pipelined = await rawExchange(double, [
    `POST /auth/revoke HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 31\r\n\r\ntoken=Authorization%3A+Bearer+x`,
    `GET /api/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token} \r\n\r\n`,
    `POST /auth/revoke HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\ntoken\r\n3;x=y\r\n=ab\r\n0\r\n\r\n`,
    `GET /api/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`,
    `GET /api/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\t\r\nConnection: close\r\n\r\n`,
  ].join(''));
  assert.deepEqual([...pipelined.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((match) => Number(match[1])), [200, 401, 200, 200, 401]);
  // The websocket reads the token from JSON; the same PyJWT rule applies there.
  const socket = await TestSocket.open(double);
  const { outcome } = await socket.authenticate(`${token} `);
  assert.equal(outcome.type, 'auth_invalid');
});

test('§2.4 normal refresh tokens expire after 90 days unless used; expiry closes their sockets', async (t) => {
  const double = await withDouble(t);
  double.setNow(1_750_000_000_000);
  const day = 24 * 3600 * 1000;
  const kept = await loginTokens(double);
  const dropped = await loginTokens(double);
  const socket = await authenticatedSocket(double, dropped.access_token);
  double.advance(60 * day);
  const refresh = (tokens) => postForm(double, '/auth/token', { grant_type: 'refresh_token', client_id: clientIdOf(double), refresh_token: tokens.refresh_token });
  assert.equal((await refresh(kept)).status, 200, 'use moves expiry to now + 90 days');
  double.advance(31 * day);
  assert.deepEqual((await socket.closed).code, 1000);
  assert.deepEqual((await refresh(dropped)).json(), { error: 'invalid_grant' });
  assert.equal((await refresh(kept)).status, 200);
  const old = await withDouble(t, { version: '2023.9.3' });
  const oldTokens = await loginTokens(old);
  old.advance(365 * day);
  assert.equal((await postForm(old, '/auth/token', { grant_type: 'refresh_token', client_id: clientIdOf(old), refresh_token: oldTokens.refresh_token })).status, 200, 'no expiry before 2024.2');
});

test('§2.5 long-lived access tokens from the control API work on REST and websocket, and cannot be refreshed', async (t) => {
  const double = await withDouble(t);
  const { token, refreshTokenId } = double.createLongLivedToken(double.state.ownerId, { clientName: 'ci', lifespanDays: 1 });
  const { payload } = decodeJwt(token);
  assert.equal(payload.exp - payload.iat, 86400);
  assert.equal(payload.iss, refreshTokenId);
  assert.equal((await request(double, { path: '/api/', headers: bearer(token) })).status, 200);
  const listed = double.refreshTokens().find((item) => item.id === refreshTokenId);
  assert.equal(listed.type, 'long_lived_access_token');
  assert.equal(listed.clientId, null);
  assert.equal(listed.expireAt, null);
  assert.throws(() => double.createLongLivedToken(double.state.ownerId, { clientName: 'ci' }), /already exists/);
});

test('REST: /api/config, /api/states filtered by group, service calls echo changed states and are recorded', async (t) => {
  const double = await withDouble(t, {
    users: [
      { name: 'Owner', username: 'owner', password: 'pw', isOwner: true, groups: ['system-admin'] },
      { name: 'Reader', username: 'reader', password: 'pw', groups: ['system-read-only'] },
      { name: 'Nobody', username: 'nobody', password: 'pw', groups: [] },
    ],
  });
  const owner = await loginTokens(double, { password: 'pw' });
  const reader = await loginTokens(double, { username: 'reader', password: 'pw' });
  const nobody = await loginTokens(double, { username: 'nobody', password: 'pw' });
  const config = (await request(double, { path: '/api/config', headers: bearer(owner.access_token) })).json();
  assert.equal(config.version, '2025.5.0');
  const ownerStates = (await request(double, { path: '/api/states', headers: bearer(owner.access_token) })).json();
  assert.ok(ownerStates.length >= 3);
  assert.equal((await request(double, { path: '/api/states', headers: bearer(reader.access_token) })).json().length, ownerStates.length);
  assert.deepEqual((await request(double, { path: '/api/states', headers: bearer(nobody.access_token) })).json(), []);
  const missing = await request(double, { path: '/api/states/light.nowhere', headers: bearer(owner.access_token) });
  assert.deepEqual(missing.json(), { message: 'Entity not found.' });

  const called = once(double.events, 'service-call');
  const call = await request(double, { method: 'POST', path: '/api/services/light/turn_off', headers: bearer(owner.access_token), body: JSON.stringify({ entity_id: 'light.kitchen' }) });
  assert.equal(call.status, 200);
  assert.deepEqual(call.json().map((state) => [state.entity_id, state.state]), [['light.kitchen', 'off']]);
  assert.deepEqual((await called)[0].serviceData, { entity_id: 'light.kitchen' });
  assert.equal(double.serviceCalls.at(-1).service, 'turn_off');
  const readerCall = await request(double, { method: 'POST', path: '/api/services/light/turn_on', headers: bearer(reader.access_token), body: '{}' });
  assert.equal(readerCall.status, 401);
  const badJson = await request(double, { method: 'POST', path: '/api/services/light/turn_on', headers: bearer(owner.access_token), body: '{' });
  assert.deepEqual(badJson.json(), { message: 'Data should be valid JSON.' });
});

test('§9.5 signed paths: authSig GETs on /media, exact params, height/width free, 30 s default, token must exist', async (t) => {
  const double = await withDouble(t, {
    users: [
      { name: 'Owner', username: 'owner', password: 'pw', isOwner: true, groups: ['system-admin'] },
      { name: 'Alice', username: 'alice', password: 'pw' },
    ],
  });
  const tokens = await loginTokens(double, { username: 'alice', password: 'pw' });
  const socket = await authenticatedSocket(double, tokens.access_token);
  t.after(() => socket.close());
  const signed = (await socket.command({ type: 'auth/sign_path', path: '/media/local/cat.jpg?size=2&width=10' })).result.path;
  assert.match(signed, /^\/media\/local\/cat\.jpg\?size=2&authSig=[\w-]+\.[\w-]+\.[\w-]+$/);
  const claims = decodeJwt(new URLSearchParams(signed.split('?')[1]).get('authSig')).payload;
  assert.deepEqual(Object.keys(claims), ['iss', 'path', 'params', 'iat', 'exp']);
  assert.equal(claims.iss, decodeJwt(tokens.access_token).payload.iss, 'signed with the connection refresh token');
  assert.deepEqual(claims.params, [['size', '2']]);
  assert.equal(claims.exp - claims.iat, 30);
  const get = (path, method = 'GET') => request(double, { method, path });
  const ok = await get(signed);
  assert.equal(ok.status, 200);
  assert.equal(ok.text, 'media:local/cat.jpg');
  assert.equal((await get(`${signed}&height=20`)).status, 200, 'height may be added');
  assert.equal((await get(signed.replace('size=2', 'size=3'))).status, 401, 'params must match');
  assert.equal((await get(signed.replace('cat.jpg', 'dog.jpg'))).status, 401, 'path must match');
  assert.equal((await get('/media/local/cat.jpg')).status, 401);
  const longer = (await socket.command({ type: 'auth/sign_path', path: '/media/local/cat.jpg', expires: 3600 })).result.path;
  double.advance(31 * 1000);
  assert.equal((await get(signed)).status, 401, 'expired after 30 s, no leeway');
  // Deactivation does not invalidate signed URLs (§5); removing the refresh token does.
  double.updateUser(double.state.userIds.alice, { isActive: false });
  assert.equal((await get(longer)).status, 200);
  double.updateUser(double.state.userIds.alice, { isActive: true });
  await postForm(double, '/auth/revoke', { token: tokens.refresh_token });
  assert.equal((await get(longer)).status, 401);
});
