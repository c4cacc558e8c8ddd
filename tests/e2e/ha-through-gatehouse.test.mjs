// Real Home Assistant clients reaching the HA test double through Gatehouse: HA's own auth must keep
// working unchanged behind the relay (ha-auth-contract.md §1, §3, §4, §7).
// - home-assistant-js-websocket in Node runs login flow -> code exchange (multipart) -> websocket ->
//   states and current user -> refresh -> revoke, and sees HA close its socket with 1000.
// - HA sees the client's address, never Gatehouse's, and never believes a client's own X-Forwarded-For.
// - The login flow's IP pinning (§1.6) survives the relay.
// - The iOS and Android apps' client_id/redirect_uri pairs (§7.1) log in and revoke as the apps do.
// - Across the file, no failed login is ever recorded under Gatehouse's own address (127.0.0.1), since
//   every client connects from 127.0.0.2 or above.
// One double and one Gatehouse serve the whole file, so the last test sees every failed login of it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createHmac, randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import {
  getAuth, createConnection, getUser, getStates, ERR_INVALID_AUTH,
} from 'home-assistant-js-websocket';
import { startDouble } from './lib/double.mjs';
import { startGatehouse, TEST_GUARD } from './lib/harness.mjs';
import { request } from './lib/http-client.mjs';
import { newSecret, recordSecret } from './lib/secrets.mjs';

const GATEHOUSE_ADDRESS = '127.0.0.1'; // where Gatehouse listens and connects to HA from
const CLIENT_A = '127.0.0.2';
const CLIENT_B = '127.0.0.3';
const CLIENT_C = '127.0.0.4';
const CLIENT_D = '127.0.0.5';
const SPOOFED = '203.0.113.66';

const IOS_CLIENT_ID = 'https://home-assistant.io/iOS';
const ANDROID_CLIENT_ID = 'https://home-assistant.io/android';
const APP_REDIRECT_URI = 'homeassistant://auth-callback';
const WEAR_REDIRECT_URI = 'https://wear.googleapis.com/3p_auth/io.homeassistant.companion.android';

let double;
let gatehouse;
const user = { name: 'Ada Owner', username: 'ada' };

before(async () => {
  user.password = newSecret('ha user password');
  double = await startDouble({
    useXForwardedFor: true,
    trustedProxies: [GATEHOUSE_ADDRESS],
    users: [{ ...user, isOwner: true, groups: ['system-admin'] }],
  });
  gatehouse = await startGatehouse({ upstream: double.url, config: { trusted_proxies: [] } });
  assert.equal(gatehouse.host, GATEHOUSE_ADDRESS);
});

after(async () => {
  await gatehouse?.stop();
  await double?.close();
});

// ---- clients -------------------------------------------------------------------------------------

// What home-assistant-js-websocket's fetch and WebSocket use: the source address (`from`) and extra
// request headers (a spoofed X-Forwarded-For) of the client being played, and a log of its HTTP calls.
const libraryClient = { from: CLIENT_A, extraHeaders: {}, calls: [] };
const originalFetch = globalThis.fetch;

// Node's fetch cannot pick a source address; this one sends Gatehouse-bound requests with node:http
// from `libraryClient.from` (the multipart body the library builds is encoded by Request, byte for byte).
globalThis.fetch = async (input, init) => {
  const outgoing = new Request(input, init);
  if (!gatehouse || new URL(outgoing.url).origin !== gatehouse.url) return originalFetch(input, init);
  const body = outgoing.body ? Buffer.from(await outgoing.arrayBuffer()) : undefined;
  const headers = { ...Object.fromEntries(outgoing.headers), ...libraryClient.extraHeaders };
  const response = await request(outgoing.url, { method: outgoing.method, headers, body, localAddress: libraryClient.from });
  libraryClient.calls.push({
    method: outgoing.method, path: new URL(outgoing.url).pathname, contentType: headers['content-type'] ?? null,
    status: response.status, from: libraryClient.from,
  });
  const noBody = [101, 204, 205, 304].includes(response.status);
  return new Response(noBody ? null : response.body, { status: response.status, headers: response.rawHeaders });
};

// Node 20 has no global WebSocket; the library needs one with addEventListener. This one also
// connects from `libraryClient.from` and remembers how the server closed it.
globalThis.WebSocket = class ClientWebSocket extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols, { localAddress: libraryClient.from, headers: { ...libraryClient.extraHeaders } });
    this.closedBy = new Promise((resolve) => {
      this.on('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') }));
    });
    this.on('error', (error) => { this.failure = error; }); // surfaces as a close; never an unhandled throw
  }
};

function post(path, body, contentType, { from, headers = {} }) {
  return request(`${gatehouse.url}${path}`, {
    method: 'POST', headers: { 'content-type': contentType, ...headers }, body, localAddress: from,
  });
}

const postJson = (path, value, options) => post(path, JSON.stringify(value), 'application/json', options);
const postForm = (path, fields, options) => post(path, new URLSearchParams(fields).toString(), 'application/x-www-form-urlencoded', options);
const get = (path, { from, headers = {} }) => request(`${gatehouse.url}${path}`, { headers, localAddress: from });

async function startFlow({ clientId, redirectUri, from, headers }) {
  const response = await postJson('/auth/login_flow', { client_id: clientId, handler: ['homeassistant', null], redirect_uri: redirectUri }, { from, headers });
  assert.equal(response.status, 200, `creating the login flow: ${response.text()}`);
  const flow = response.json();
  assert.equal(flow.type, 'form');
  assert.equal(flow.step_id, 'init');
  assert.match(flow.flow_id, /^[0-9a-f]{32}$/);
  return flow;
}

function finishFlow(flow, { clientId, password = user.password, from, headers }) {
  return postJson(`/auth/login_flow/${flow.flow_id}`, { client_id: clientId, username: user.username, password }, { from, headers });
}

function codeOf(response, label) {
  assert.equal(response.status, 200, `final login-flow step: ${response.text()}`);
  const entry = response.json();
  assert.equal(entry.type, 'create_entry', JSON.stringify(entry));
  assert.match(entry.result, /^[0-9a-f]{32}$/);
  return recordSecret(entry.result, label);
}

// An HS256 JWT shaped like HA's access tokens (contract §2.2) but signed with a key HA never had.
function forgeAccessToken() {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode({ iss: randomBytes(16).toString('hex'), iat: now, exp: now + 1800 })}`;
  return `${unsigned}.${createHmac('sha256', randomBytes(32)).update(unsigned).digest('base64url')}`;
}

function decodeJwtPayload(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

function newFailedLogins(since) {
  return double.failedLogins.slice(since);
}

// ---- 1. home-assistant-js-websocket ------------------------------------------------------------

test('home-assistant-js-websocket through Gatehouse: login flow, multipart code exchange, websocket, refresh, revoke', TEST_GUARD, async (t) => {
  libraryClient.from = CLIENT_A;
  libraryClient.extraHeaders = { 'x-forwarded-for': SPOOFED }; // a client's own claim, never to be believed
  t.after(() => { libraryClient.extraHeaders = {}; });
  const clientId = `${gatehouse.url}/`;

  const flow = await startFlow({ clientId, redirectUri: `${gatehouse.url}/?auth_callback=1`, from: CLIENT_A });
  const code = codeOf(await finishFlow(flow, { clientId, from: CLIENT_A }), 'login-flow code (haws)');

  const saved = [];
  const saveTokens = (tokens) => {
    if (tokens) {
      recordSecret(tokens.access_token, 'haws access token');
      recordSecret(tokens.refresh_token, 'haws refresh token');
    }
    saved.push(tokens);
  };
  const issued = once(double.events, 'token-issued');
  const auth = await getAuth({ hassUrl: gatehouse.url, clientId, authCode: code, saveTokens });
  const [issuedEvent] = await issued;
  assert.equal(issuedEvent.grant, 'authorization_code');
  assert.equal(issuedEvent.clientId, clientId);
  assert.equal(issuedEvent.userId, double.state.userIds[user.username]);
  const exchange = libraryClient.calls.at(-1);
  assert.equal(exchange.path, '/auth/token');
  assert.equal(exchange.status, 200);
  assert.match(exchange.contentType, /^multipart\/form-data; boundary=/, 'the library sends its code exchange as multipart');
  assert.equal(saved.length, 1);
  assert.match(saved[0].refresh_token, /^[0-9a-f]{128}$/);

  const authenticated = once(double.events, 'ws-authenticated');
  const connection = await createConnection({ auth });
  t.after(() => connection.close());
  assert.equal((await authenticated)[0].remote, CLIENT_A, 'HA saw the websocket come from the client, not from Gatehouse or the spoofed header');
  assert.ok(connection.socket.url.startsWith(`${gatehouse.wsUrl}/api/websocket`), connection.socket.url);
  assert.equal(connection.haVersion, double.state.version);

  const currentUser = await getUser(connection);
  assert.equal(currentUser.id, double.state.userIds[user.username]);
  assert.equal(currentUser.name, user.name);
  assert.equal(currentUser.is_owner, true);
  const states = await getStates(connection);
  assert.ok(states.length > 0, 'the double has entities');
  assert.deepEqual(states.map((state) => state.entity_id).sort(), [...double.home.states.keys()].sort());

  const listTokens = () => connection.sendMessagePromise({ type: 'auth/refresh_tokens' });
  const current = (await listTokens()).find((token) => token.is_current);
  assert.equal(current.client_id, clientId);
  assert.equal(current.last_used_ip, CLIENT_A, 'last_used_ip is the client address, not Gatehouse and not the spoofed X-Forwarded-For');

  // The refresh comes from another address (a phone that changed networks): HA records that one.
  libraryClient.from = CLIENT_C;
  const issuer = decodeJwtPayload(auth.accessToken).iss;
  const firstIssuedAt = decodeJwtPayload(auth.accessToken).iat;
  double.advance(60 * 1000); // a later iat, so the refreshed access token differs
  await auth.refreshAccessToken();
  assert.equal(libraryClient.calls.at(-1).status, 200);
  assert.match(libraryClient.calls.at(-1).contentType, /^multipart\/form-data; boundary=/);
  assert.equal(saved.length, 2);
  assert.notEqual(saved[1].access_token, saved[0].access_token);
  assert.equal(saved[1].refresh_token, saved[0].refresh_token, 'HA does not rotate refresh tokens');
  assert.equal(decodeJwtPayload(auth.accessToken).iss, issuer);
  assert.ok(decodeJwtPayload(auth.accessToken).iat > firstIssuedAt);
  const afterRefresh = (await listTokens()).find((token) => token.id === current.id);
  assert.equal(afterRefresh.last_used_ip, CLIENT_C);

  // Revoking closes the session's socket at HA (1000), relayed to the client as 1000; the library's
  // reconnect then fails with invalid auth, and the refresh token is refused.
  const socket = connection.socket;
  const haClosed = new Promise((resolve) => {
    const listener = (event) => {
      if (event.refreshTokenId !== current.id) return;
      double.events.off('ws-closed', listener);
      resolve(event);
    };
    double.events.on('ws-closed', listener);
  });
  const reconnectFailed = new Promise((resolve) => connection.addEventListener('reconnect-error', (_connection, error) => resolve(error)));
  await auth.revoke();
  const revokeCall = libraryClient.calls.at(-1);
  assert.deepEqual([revokeCall.path, revokeCall.status], ['/auth/revoke', 200]);
  assert.equal((await haClosed).code, 1000);
  assert.deepEqual(await socket.closedBy, { code: 1000, reason: '' }, 'HA\'s close relayed unchanged');
  assert.equal(await reconnectFailed, ERR_INVALID_AUTH);
  assert.equal(saved.at(-1), null, 'revoke clears the saved tokens');
  assert.equal(double.refreshTokens().some((token) => token.id === current.id), false);
  await assert.rejects(auth.refreshAccessToken(), (error) => error === ERR_INVALID_AUTH);
  assert.equal(libraryClient.calls.at(-1).status, 400);

  // Gatehouse's own request log names the real client of each websocket: the first from 127.0.0.2, the
  // library's failed reconnect from 127.0.0.4 (each line is written when its socket has ended).
  const isWebsocketLine = (entry) => entry.msg === 'request' && entry.path === '/api/websocket' && entry.status === 101;
  await gatehouse.waitForLog((entry) => isWebsocketLine(entry) && gatehouse.logs().filter(isWebsocketLine).length >= 2,
    { description: 'two websocket request lines' });
  assert.deepEqual(gatehouse.logs().filter(isWebsocketLine).map((entry) => entry.client), [CLIENT_A, CLIENT_C]);
});

// ---- 2. HA sees the client's address ------------------------------------------------------------

test('HA records the client\'s address, not Gatehouse\'s, and ignores a client-supplied X-Forwarded-For', TEST_GUARD, async () => {
  const spoof = { 'x-forwarded-for': SPOOFED };
  const clientId = `${gatehouse.url}/`;

  // A wrong password: HA's failed-login record names 127.0.0.2.
  let since = double.failedLogins.length;
  const flow = await startFlow({ clientId, redirectUri: `${gatehouse.url}/`, from: CLIENT_A, headers: spoof });
  const wrongPassword = newSecret('deliberately wrong password');
  const wrong = await finishFlow(flow, { clientId, password: wrongPassword, from: CLIENT_A, headers: spoof });
  assert.equal(wrong.status, 200);
  assert.deepEqual(wrong.json().errors, { base: 'invalid_auth' });
  assert.deepEqual(newFailedLogins(since).map(({ ip, path, reason }) => ({ ip, path, reason })),
    [{ ip: CLIENT_A, path: `/auth/login_flow/${flow.flow_id}`, reason: 'login flow 200 invalid_auth' }]);

  // The same flow then succeeds from the same address (the pin is the real address, not the header).
  const code = codeOf(await finishFlow(flow, { clientId, from: CLIENT_A, headers: spoof }), 'login-flow code (address test)');

  // A url-encoded code exchange with a spoofed header: the new refresh token's last_used_ip is the client.
  const exchanged = await postForm('/auth/token', { grant_type: 'authorization_code', client_id: clientId, code }, { from: CLIENT_B, headers: spoof });
  assert.equal(exchanged.status, 200, exchanged.text());
  const tokens = exchanged.json();
  recordSecret(tokens.access_token, 'address test access token');
  recordSecret(tokens.refresh_token, 'address test refresh token');
  const record = double.refreshTokens().find((token) => token.id === decodeJwtPayload(tokens.access_token).iss);
  assert.equal(record.lastUsedIp, CLIENT_B);

  // An API call without a token: the shield answers 401 itself, so HA records no failed login at all.
  since = double.failedLogins.length;
  const unauthorized = await get('/api/', { from: CLIENT_B, headers: spoof });
  assert.equal(unauthorized.status, 401);
  assert.equal(unauthorized.json().code, 'unauthorized');
  assert.deepEqual(newFailedLogins(since), []);

  // A well-formed token HA never issued: the shield asks HA once, as the client (a failed login
  // recorded under 127.0.0.3, never under Gatehouse's address); asked again, it answers from memory.
  const forged = forgeAccessToken();
  recordSecret(forged, 'forged access token');
  since = double.failedLogins.length;
  for (let attempt = 0; attempt < 2; attempt += 1) {
    const refused = await get('/api/', { from: CLIENT_B, headers: { ...spoof, authorization: `Bearer ${forged}` } });
    assert.equal(refused.status, 401);
  }
  assert.deepEqual(newFailedLogins(since).map(({ ip, path, reason }) => ({ ip, path, reason })),
    [{ ip: CLIENT_B, path: '/api/websocket', reason: 'websocket auth_invalid' }]);

  // A websocket with another forged token, upgrade carrying the spoofed header: Gatehouse answers the
  // handshake, asks HA (as 127.0.0.2) and hands the client auth_invalid with no HA socket kept.
  since = double.failedLogins.length;
  const badToken = forgeAccessToken();
  recordSecret(badToken, 'deliberately invalid websocket access token');
  const opened = once(double.events, 'ws-open');
  const ws = new WebSocket(`${gatehouse.wsUrl}/api/websocket`, { localAddress: CLIENT_A, headers: spoof });
  const closed = new Promise((resolve) => ws.on('close', (closeCode) => resolve(closeCode)));
  ws.on('error', () => {});
  const messages = [];
  const invalid = new Promise((resolve) => ws.on('message', (data) => {
    const message = JSON.parse(data.toString('utf8'));
    messages.push(message);
    if (message.type === 'auth_required') ws.send(JSON.stringify({ type: 'auth', access_token: badToken }));
    if (message.type === 'auth_invalid') resolve(message);
  }));
  assert.equal((await opened)[0].remote, CLIENT_A, 'the token check reached HA as the client');
  assert.equal((await invalid).type, 'auth_invalid');
  assert.equal(await closed, 1000, 'closed after auth_invalid, as HA does');
  assert.deepEqual(newFailedLogins(since).map(({ ip, path, reason }) => ({ ip, path, reason })),
    [{ ip: CLIENT_A, path: '/api/websocket', reason: 'websocket auth_invalid' }]);
  assert.deepEqual(messages.map((message) => message.type), ['auth_required', 'auth_invalid']);
});

// ---- 3. IP pinning --------------------------------------------------------------------------------

test('login-flow IP pinning survives Gatehouse: same client address succeeds, another gets HA\'s 400 unchanged', TEST_GUARD, async () => {
  const clientId = `${gatehouse.url}/`;
  const redirectUri = `${gatehouse.url}/?auth_callback=1`;

  const sameAddress = await startFlow({ clientId, redirectUri, from: CLIENT_B });
  codeOf(await finishFlow(sameAddress, { clientId, from: CLIENT_B }), 'login-flow code (pinning, same address)');

  let since = double.failedLogins.length;
  const moved = await startFlow({ clientId, redirectUri, from: CLIENT_A });
  const refused = await finishFlow(moved, { clientId, from: CLIENT_B });
  assert.equal(refused.status, 400);
  assert.deepEqual(refused.json(), { message: 'IP address changed' });
  assert.match(refused.headers['content-type'], /^application\/json/);
  assert.deepEqual(newFailedLogins(since).map(({ ip }) => ip), [CLIENT_B]);

  // Claiming the flow's original address in X-Forwarded-For does not get around the pin.
  since = double.failedLogins.length;
  const claimed = await startFlow({ clientId, redirectUri, from: CLIENT_A });
  const stillRefused = await finishFlow(claimed, { clientId, from: CLIENT_B, headers: { 'x-forwarded-for': CLIENT_A } });
  assert.equal(stillRefused.status, 400);
  assert.deepEqual(stillRefused.json(), { message: 'IP address changed' });
  assert.deepEqual(newFailedLogins(since).map(({ ip }) => ip), [CLIENT_B]);

  // "Relayed unchanged": the same refusal straight from the double (through its trusted-proxy path, with
  // documentation addresses) has the same status, content type and body bytes.
  const directClientId = `${double.url}/`;
  const direct = (path, value, forwardedFor) => request(`${double.url}${path}`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor }, body: JSON.stringify(value),
  });
  const directFlow = (await direct('/auth/login_flow', { client_id: directClientId, handler: ['homeassistant', null], redirect_uri: directClientId }, '198.51.100.7')).json();
  const directRefusal = await direct(`/auth/login_flow/${directFlow.flow_id}`, { client_id: directClientId, username: user.username, password: user.password }, '198.51.100.8');
  assert.equal(refused.status, directRefusal.status);
  assert.equal(refused.headers['content-type'], directRefusal.headers['content-type']);
  assert.equal(refused.text(), directRefusal.text());
});

// ---- 4. Companion apps ------------------------------------------------------------------------------

const APPS = [
  { name: 'iOS app', clientId: IOS_CLIENT_ID, redirectUri: APP_REDIRECT_URI, from: CLIENT_C, revoke: 'token-action' },
  { name: 'Android app', clientId: ANDROID_CLIENT_ID, redirectUri: APP_REDIRECT_URI, from: CLIENT_D, revoke: 'revoke-endpoint' },
  { name: 'Wear OS app', clientId: ANDROID_CLIENT_ID, redirectUri: WEAR_REDIRECT_URI, from: CLIENT_D, revoke: 'revoke-endpoint' },
];

for (const app of APPS) {
  test(`${app.name} (${app.clientId} -> ${app.redirectUri}) logs in, refreshes and revokes through Gatehouse`, TEST_GUARD, async () => {
    const { clientId, redirectUri, from } = app;
    // The app's web view opens the authorize page first.
    const authorize = await get(`/auth/authorize?response_type=code&client_id=${encodeURIComponent(clientId)}&redirect_uri=${encodeURIComponent(redirectUri)}`, { from });
    assert.equal(authorize.status, 200);
    assert.match(authorize.headers['content-type'], /^text\/html/);

    const flow = await startFlow({ clientId, redirectUri, from });
    const code = codeOf(await finishFlow(flow, { clientId, from }), `${app.name} code`);

    // The apps send url-encoded bodies.
    const exchanged = await postForm('/auth/token', { grant_type: 'authorization_code', code, client_id: clientId }, { from });
    assert.equal(exchanged.status, 200, exchanged.text());
    assert.equal(exchanged.headers['cache-control'], 'no-store');
    const tokens = exchanged.json();
    recordSecret(tokens.access_token, `${app.name} access token`);
    recordSecret(tokens.refresh_token, `${app.name} refresh token`);
    assert.equal(tokens.token_type, 'Bearer');
    assert.equal(tokens.ha_auth_provider, 'homeassistant');
    assert.match(tokens.refresh_token, /^[0-9a-f]{128}$/);
    const refreshTokenId = decodeJwtPayload(tokens.access_token).iss;
    const record = double.refreshTokens().find((token) => token.id === refreshTokenId);
    assert.equal(record.clientId, clientId);
    assert.equal(record.lastUsedIp, from);

    const bearer = (token) => ({ authorization: `Bearer ${token}` });
    const api = await get('/api/', { from, headers: bearer(tokens.access_token) });
    assert.equal(api.status, 200, api.text());
    assert.deepEqual(api.json(), { message: 'API running.' });

    const refreshed = await postForm('/auth/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: clientId }, { from });
    assert.equal(refreshed.status, 200, refreshed.text());
    const accessToken = recordSecret(refreshed.json().access_token, `${app.name} refreshed access token`);
    assert.equal(refreshed.json().refresh_token, undefined);
    assert.equal((await get('/api/', { from, headers: bearer(accessToken) })).status, 200);

    const revoked = app.revoke === 'token-action'
      ? await postForm('/auth/token', { action: 'revoke', token: tokens.refresh_token }, { from })
      : await postForm('/auth/revoke', { token: tokens.refresh_token }, { from });
    assert.equal(revoked.status, 200);
    assert.equal(revoked.text(), '');
    assert.equal(double.refreshTokens().some((token) => token.id === refreshTokenId), false);
    assert.equal((await get('/api/', { from, headers: bearer(accessToken) })).status, 401, 'access tokens of a revoked session are refused at once');
    const again = await postForm('/auth/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: clientId }, { from });
    assert.equal(again.status, 400);
    assert.deepEqual(again.json(), { error: 'invalid_grant' });
  });
}

// ---- 5. Failed-login hygiene (runs last) ------------------------------------------------------------

test('across this file HA recorded no failed login under Gatehouse\'s own address', TEST_GUARD, async () => {
  const failed = double.failedLogins;
  const addresses = new Set(failed.map((entry) => entry.ip));
  // The file provoked failures on purpose (wrong password, 401, auth_invalid, IP change, revoked tokens),
  // so the records exist and name the clients.
  for (const address of [CLIENT_A, CLIENT_B, CLIENT_C, CLIENT_D]) assert.ok(addresses.has(address), `a failed login from ${address}: ${JSON.stringify(failed)}`);
  assert.deepEqual(failed.filter((entry) => entry.ip === GATEHOUSE_ADDRESS), []);
  // And Gatehouse itself saw every request come from a client address.
  const requestLines = gatehouse.logs().filter((entry) => entry.msg === 'request');
  assert.ok(requestLines.length > 20, `${requestLines.length} request log lines`);
  assert.deepEqual(requestLines.filter((entry) => entry.client === GATEHOUSE_ADDRESS), []);
});
