// The pre-authentication shield in front of the HA double (PRODUCT.md §5; contract §2.3, §4.2, §8):
// - websockets: Gatehouse answers the handshake and the auth step; a bad token gets auth_invalid and
//   HA never sees a websocket; a good one relays, checked with HA once and then known;
// - HTTP: a validated token is remembered until it expires (HA is not asked twice); garbage and expired
//   tokens are refused without HA; a token HA refuses is remembered as refused;
// - browsers opening app pages get HA's shell (HA is asked for "/"), a protected path gets a page;
// - onboarding routes are open only while HA reports onboarding unfinished; authSig GETs pass;
// - report mode forwards what enforce would refuse, and says so in the log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { startDouble } from './lib/double.mjs';
import { runGatehouse, startGatehouse, TEST_GUARD } from './lib/harness.mjs';
import { RawConnection, rawHead } from './lib/http-client.mjs';
import { request } from './lib/http-client.mjs';
import { TestWebSocket } from './lib/ws-client.mjs';
import { recordSecret } from './lib/secrets.mjs';

const CLIENT = '127.0.0.2';

let double;
let gatehouse;
let userId;

before(async () => {
  double = await startDouble({
    useXForwardedFor: true,
    trustedProxies: ['127.0.0.1'],
    users: [{ name: 'Ada Owner', username: 'ada', password: randomBytes(12).toString('hex'), isOwner: true, groups: ['system-admin'] }],
  });
  gatehouse = await startGatehouse({ upstream: double.url });
  userId = double.users().find((user) => user.name === 'Ada Owner').id;
  // Gatehouse learns HA's version at start (for the auth_required it sends in HA's place); after that
  // line, every websocket the double counts was opened for a client.
  await gatehouse.waitForLog((entry) => entry.msg === 'home assistant version');
});

after(async () => {
  await gatehouse?.stop();
  await double?.close();
});

const get = (path, headers = {}) => request(`${gatehouse.url}${path}`, { headers, localAddress: CLIENT });
const websocketsOpened = () => double.websocketCounters.opened;
const requestsSeen = (path) => double.requestCounts[path] ?? 0;

function validToken() {
  const { token } = double.createLongLivedToken(userId, { lifespanDays: 1 });
  recordSecret(token, 'shield test access token');
  return token;
}

// HS256 JWTs shaped like HA's access tokens (contract §2.2), signed with a key HA never had.
function forgedToken({ expiresIn = 1800 } = {}) {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode({ iss: randomBytes(16).toString('hex'), iat: now - 60, exp: now + expiresIn })}`;
  const token = `${unsigned}.${createHmac('sha256', randomBytes(32)).update(unsigned).digest('base64url')}`;
  recordSecret(token, 'forged access token');
  return token;
}

// Opens /api/websocket through Gatehouse, answers auth_required with `token`, and returns the socket
// and HA's (or Gatehouse's) answer to the auth step.
async function authenticate(token) {
  const socket = new TestWebSocket(`${gatehouse.wsUrl}/api/websocket`, { localAddress: CLIENT });
  await socket.opened;
  const [hello] = await socket.waitForMessages(1);
  const required = JSON.parse(hello.data.toString('utf8'));
  await socket.send(JSON.stringify({ type: 'auth', access_token: token }));
  const messages = await socket.waitForMessages(2).catch(() => socket.messages);
  const answer = messages[1] ? JSON.parse(messages[1].data.toString('utf8')) : null;
  return { socket, required, answer };
}

test('a websocket with a garbage or expired token gets auth_invalid and HA never sees a websocket', TEST_GUARD, async () => {
  for (const token of ['not-a-token', forgedToken({ expiresIn: -3600 })]) {
    const before = websocketsOpened();
    const failedBefore = double.failedLogins.length;
    const { socket, required, answer } = await authenticate(token);
    assert.equal(required.type, 'auth_required');
    assert.equal(required.ha_version, double.state.version, 'auth_required carries HA\'s own version');
    assert.deepEqual(answer, { type: 'auth_invalid', message: 'Invalid access token or password' });
    assert.equal((await socket.closed).code, 1000);
    assert.equal(websocketsOpened(), before, 'no websocket was opened to HA');
    assert.equal(double.failedLogins.length, failedBefore, 'HA recorded no failed login');
  }
});

test('a malformed auth message is refused as HA refuses it, without HA', TEST_GUARD, async () => {
  const before = websocketsOpened();
  const socket = new TestWebSocket(`${gatehouse.wsUrl}/api/websocket`, { localAddress: CLIENT });
  await socket.waitForMessages(1);
  await socket.send(JSON.stringify({ type: 'auth', access_token: 'x', id: 1 }));
  const messages = await socket.waitForMessages(2);
  assert.match(JSON.parse(messages[1].data.toString('utf8')).message, /^Auth message incorrectly formatted/);
  await socket.closed;
  assert.equal(websocketsOpened(), before);
});

test('a websocket with a valid token relays after one check with HA; the next one needs no check', TEST_GUARD, async () => {
  const token = validToken();
  for (const expectedNewSockets of [2, 1]) { // the check's own short socket, then only the relayed one
    const before = websocketsOpened();
    const { socket, answer } = await authenticate(token);
    assert.equal(answer.type, 'auth_ok');
    await socket.send(JSON.stringify({ id: 1, type: 'get_states' }));
    const [, , result] = await socket.waitForMessages(3);
    const states = JSON.parse(result.data.toString('utf8'));
    assert.equal(states.success, true);
    assert.ok(Array.isArray(states.result));
    assert.equal(websocketsOpened() - before, expectedNewSockets);
    socket.close(1000);
    await socket.closed;
  }
});

test('a websocket whose session was revoked after its token was checked gets HA\'s auth_invalid', TEST_GUARD, async () => {
  const { token, refreshTokenId } = double.createLongLivedToken(userId, { lifespanDays: 1 });
  recordSecret(token, 'revoked access token');
  const first = await authenticate(token);
  assert.equal(first.answer.type, 'auth_ok');
  first.socket.close(1000);
  double.removeRefreshTokenById(refreshTokenId);
  const second = await authenticate(token);
  assert.equal(second.answer.type, 'auth_invalid');
  await second.socket.closed;
  // Now known as refused: a third try is answered without HA.
  const before = websocketsOpened();
  const third = await authenticate(token);
  assert.equal(third.answer.type, 'auth_invalid');
  assert.equal(websocketsOpened(), before);
});

test('HTTP: a valid token is checked with HA once and then known until it expires', TEST_GUARD, async () => {
  const token = validToken();
  const before = websocketsOpened();
  for (let i = 0; i < 3; i += 1) {
    const answer = await get('/api/states', { authorization: `Bearer ${token}` });
    assert.equal(answer.status, 200, answer.text());
  }
  assert.equal(websocketsOpened() - before, 1, 'one check for three requests');
});

test('HTTP: garbage, expired and wrongly spelled tokens get 401 JSON without reaching HA', TEST_GUARD, async () => {
  const token = validToken();
  const seenBefore = requestsSeen('/api/config');
  const socketsBefore = websocketsOpened();
  for (const authorization of [undefined, 'Bearer garbage', `Bearer ${forgedToken({ expiresIn: -3600 })}`, `bearer ${token}`, `Basic ${token}`]) {
    const answer = await get('/api/config', authorization ? { authorization } : {});
    assert.equal(answer.status, 401, `${authorization?.slice(0, 12)}: ${answer.text()}`);
    assert.equal(answer.json().code, 'unauthorized');
    assert.match(answer.headers['content-type'], /^application\/json/);
  }
  assert.equal(requestsSeen('/api/config'), seenBefore);
  assert.equal(websocketsOpened(), socketsBefore);
});

test('a browser gets HA\'s shell for app pages and a sign-in page for anything protected', TEST_GUARD, async () => {
  const html = { accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8' };
  const shellBefore = requestsSeen('/');
  for (const path of ['/lovelace/0', '/config/dashboard', '/dashboard-kitchen/main?edit=1']) {
    const page = await get(path, html);
    assert.equal(page.status, 200, path);
    assert.match(page.headers['content-type'], /^text\/html/);
  }
  assert.equal(requestsSeen('/') - shellBefore, 3, 'HA was asked for its shell, "/"');
  assert.equal(requestsSeen('/lovelace/0'), 0, 'HA never saw the page path');

  const refused = await get('/api/states', html);
  assert.equal(refused.status, 401);
  assert.match(refused.headers['content-type'], /^text\/html/);
  assert.match(refused.text(), /Sign-in required/);
  assert.match(refused.text(), /href="\/"/);
});

test('public paths pass without a token; /local/* does not by default', TEST_GUARD, async () => {
  for (const path of ['/manifest.json', '/frontend_latest/app.js', '/api/onboarding']) {
    const before = requestsSeen(path);
    const answer = await get(path);
    assert.notEqual(answer.status, 401, path);
    assert.equal(requestsSeen(path) - before, 1, `${path} reached HA`);
  }
  const webhook = await request(`${gatehouse.url}/api/webhook/some-hook-id`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', localAddress: CLIENT });
  assert.equal(webhook.status, 200);
  const local = await get('/local/secret.txt');
  assert.equal(local.status, 401);
  assert.equal(requestsSeen('/local/secret.txt'), 0);
});

test('a GET with a live authSig reaches HA, which checks the signature', TEST_GUARD, async () => {
  const signed = double.store.signPath('/media/local/doorbell.jpg', 30);
  const answer = await get(signed);
  assert.equal(answer.status, 200);
  assert.equal(answer.text(), 'media:local/doorbell.jpg');
  // A signature whose exp has passed is not even forwarded.
  const stale = double.store.signPath('/media/local/doorbell.jpg', -60);
  const before = requestsSeen('/media/local/doorbell.jpg');
  assert.equal((await get(stale)).status, 401);
  assert.equal(requestsSeen('/media/local/doorbell.jpg'), before);
});

test('onboarding routes are open only while HA reports onboarding unfinished', TEST_GUARD, async () => {
  assert.equal((await get('/api/onboarding/installation_type')).status, 401, 'closed: HA is onboarded');
  assert.equal(requestsSeen('/api/onboarding/installation_type'), 0);

  const fresh = await startDouble({ useXForwardedFor: true, trustedProxies: ['127.0.0.1'], onboarded: false });
  const onboarding = await startGatehouse({ upstream: fresh.url });
  try {
    const path = '/api/onboarding/installation_type';
    const open = await request(`${onboarding.url}${path}`, { localAddress: CLIENT });
    assert.equal(open.status, 200, 'open while HA is not onboarded');
    assert.equal(fresh.requestCounts[path], 1);
    fresh.setOnboarded(true);
    const closed = await request(`${onboarding.url}${path}`, { localAddress: CLIENT });
    assert.equal(closed.status, 401);
    assert.equal(closed.json().code, 'unauthorized', 'refused by Gatehouse, not HA');
    assert.equal(fresh.requestCounts[path], 1);
  } finally {
    await onboarding.stop();
    await fresh.close();
  }
});

test('report mode forwards what enforce would refuse and logs it', TEST_GUARD, async () => {
  const reporting = await startGatehouse({ upstream: double.url, config: { shield: { mode: 'report' } } });
  try {
    const before = requestsSeen('/api/config');
    const answer = await request(`${reporting.url}/api/config`, { localAddress: CLIENT });
    assert.equal(answer.status, 401, 'HA itself refused it');
    assert.equal(requestsSeen('/api/config') - before, 1, 'forwarded');
    const line = await reporting.waitForLog((entry) => entry.msg === 'shield would refuse (report mode: forwarded)');
    assert.equal(line.route, 'protected');
    assert.equal(line.reason, 'no access token');
  } finally {
    await reporting.stop();
  }
});

test('no failed login is ever recorded under Gatehouse\'s own address', TEST_GUARD, () => {
  assert.deepEqual(double.failedLogins.filter((entry) => entry.ip === '127.0.0.1'), []);
});

test('local_login: networks opens HA\'s own login to the listed networks only', TEST_GUARD, async () => {
  const limited = await startGatehouse({
    upstream: double.url, config: { local_login: 'networks', local_login_networks: ['127.0.0.3/32'] },
  });
  try {
    const from = (address) => request(`${limited.url}/auth/providers`, { localAddress: address });
    const before = requestsSeen('/auth/providers');
    const outside = await from('127.0.0.2');
    assert.equal(outside.status, 403);
    assert.equal(outside.json().code, 'local_login_disabled');
    assert.equal(requestsSeen('/auth/providers'), before);
    const inside = await from('127.0.0.3');
    assert.equal(inside.status, 200);
    assert.equal(requestsSeen('/auth/providers') - before, 1);
  } finally {
    await limited.stop();
  }
});

test('refusals are counted per class and written to the audit log', TEST_GUARD, async () => {
  const counting = await startGatehouse({ upstream: double.url });
  await counting.waitForLog((entry) => entry.msg === 'home assistant version');
  for (let i = 0; i < 2; i += 1) assert.equal((await request(`${counting.url}/api/config`, { localAddress: CLIENT })).status, 401);
  const ambiguous = await RawConnection.connect({ port: counting.port, localAddress: CLIENT });
  await ambiguous.write(rawHead('GET', '/api/%2e%2e/config', [['Host', 'x']]));
  assert.equal((await ambiguous.readResponse()).status, 400);
  ambiguous.destroy();
  const socket = new TestWebSocket(`${counting.wsUrl}/api/websocket`, { localAddress: CLIENT });
  await socket.waitForMessages(1);
  await socket.send(JSON.stringify({ type: 'auth', access_token: 'garbage' }));
  await socket.closed;
  await counting.stop();

  const audit = await runGatehouse(['audit', '-c', counting.configPath, '--json']);
  assert.equal(audit.code, 0, audit.stderr);
  const entries = audit.stdout.trim().split('\n').map((line) => JSON.parse(line));
  const counts = entries.filter((entry) => entry.event === 'shield_refusals').map((entry) => entry.detail);
  const total = (name) => counts.reduce((sum, detail) => sum + (detail.reasons[name] ?? 0), 0);
  assert.equal(total('unauthenticated'), 2);
  assert.equal(total('ambiguous_request'), 1);
  assert.equal(total('websocket_auth_invalid'), 1);
  // Counted per client too, under the client's own address.
  assert.equal(counts.reduce((sum, detail) => sum + (detail.clients[CLIENT] ?? 0), 0), 4);
});
