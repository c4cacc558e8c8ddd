// `gatehouse cut-off` (sessions/cut_off): a person removed by the administrator is out at once. Real
// parts: the IdP (oidc-provider), HA's own client library (home-assistant-js-websocket), the HA double.
// - bob and alice sign in and hold websockets; `gatehouse cut-off bob` closes bob's socket (not alice's),
//   his access token and the links his session signed (authSig) are refused at the door (HTTP and
//   websocket), his refresh gets HA's invalid_grant,
//   signing in again is refused with a page, and in HA itself none of his refresh tokens is left (HA
//   answers his refresh with invalid_grant too) and his user is deactivated; alice keeps everything.
// - `--lift` activates his HA user again and lets him sign in again; the sessions the cut-off ended stay ended.
// - The companion app: bob's and alice's apps register through Gatehouse (HA's answer unchanged) and call
//   their webhooks; after bob's cut-off his webhook gets 410 at the door (400 when its id is spelled
//   with a percent-encoded character) and HA never sees it, though HA would still run it for a deactivated user; alice's works.
//   A registration without a valid token is refused before HA.
// - A websocket whose auth HA is still answering when the cut-off is applied (nothing registered to close
//   yet) is closed with 1008 as soon as it is relayed, not left open.
// - A person whose HA user an admin deleted in HA is cut off all the same: HA's side is done at once
//   (nothing left to end, never retried), and signing in again is refused, not given a new HA user.
// - One whose HA user an admin deactivated in HA: Gatehouse never tries to sign in as them (HA would
//   count a failed login against Gatehouse), says their sessions were left, and a lift leaves the user
//   inactive (the admin's decision).
// - SIGTERM while HA is still authenticating a websocket: it gets 1001 as soon as it is relayed.
// - Bad input: nobody by that name, said on stderr, exit 1, nothing changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getStates, ERR_INVALID_AUTH } from 'home-assistant-js-websocket';
import { TEST_GUARD, runGatehouse, pollUntil } from './lib/harness.mjs';
import { request } from './lib/http-client.mjs';
import { routeHawsThrough, signInAndConnect } from './lib/haws-node.mjs';
import { TestWebSocket } from './lib/ws-client.mjs';
import { startSsoStack, frontendState, CLIENT_ADDRESS, pageText } from './lib/sso-stack.mjs';

async function websocketAuth(stack, accessToken) {
  const socket = new TestWebSocket(`${stack.gatehouse.wsUrl}/api/websocket`, { localAddress: CLIENT_ADDRESS });
  await socket.opened;
  const [required] = await socket.waitForMessages(1);
  assert.equal(JSON.parse(required.data).type, 'auth_required');
  await socket.send(JSON.stringify({ type: 'auth', access_token: accessToken }));
  const [, answer] = await socket.waitForMessages(2);
  socket.close();
  return JSON.parse(answer.data).type;
}

test('gatehouse cut-off closes the person\'s websockets and refuses their tokens, refresh and sign-in; others keep theirs; --lift lets them sign in again', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t);
  routeHawsThrough(stack.externalUrl, CLIENT_ADDRESS);
  const bob = await signInAndConnect(t, stack, 'bob');
  const alice = await signInAndConnect(t, stack, 'alice');
  await bob.connection.subscribeEvents(() => {}, 'state_changed'); // as the frontend does
  const bobUser = stack.userNamed('bob.builder');
  assert.ok(bobUser, 'bob has an HA user');

  // Signed links (§9.5), as the frontend asks for media and camera streams: HA honours one while the
  // session that signed it exists, even for a deactivated user.
  const signedLink = async (person) => (await person.connection.sendMessagePromise({ type: 'auth/sign_path', path: '/media/local/cat.jpg', expires: 3600 })).path;
  const openLink = (path) => request(`${stack.externalUrl}${path}`, { localAddress: CLIENT_ADDRESS });
  const bobLink = await signedLink(bob);
  const aliceLink = await signedLink(alice);
  assert.equal((await openLink(bobLink)).text(), 'media:local/cat.jpg', 'his link works before the cut-off');

  const reconnectFailed = new Promise((resolve) => bob.connection.addEventListener('reconnect-error', (_c, error) => resolve(error)));
  const cut = await runGatehouse(['cut-off', '-c', stack.configPath, 'bob.builder']);
  assert.equal(cut.code, 0, cut.stderr);
  assert.match(cut.stdout, /Done in \d+ ms: 1 websocket\(s\) closed/, cut.stdout);
  assert.match(cut.stdout, /HA's own sessions of bob\.builder ended in \d+ ms: .* Their HA user is deactivated, so HA refuses every token of theirs\./, cut.stdout);
  assert.equal(stack.userNamed('bob.builder').isActive, false, 'HA shows bob deactivated');
  t.diagnostic(cut.stdout.trim());

  // In HA itself: bob has no refresh token left (HA's own answer to his refresh is invalid_grant, even
  // for a client that would go around Gatehouse); alice keeps hers.
  const { double } = stack;
  assert.deepEqual(double.refreshTokens().filter((token) => token.userId === bobUser.id), []);
  assert.ok(double.refreshTokens().some((token) => token.userId === stack.userNamed('alice').id), 'alice keeps her sessions');
  const direct = await request(`${double.url}/auth/token`, { // from the client's address: HA counts it as a failed login
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, localAddress: CLIENT_ADDRESS,
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: bob.saved[0].refresh_token, client_id: stack.frontendClientId }).toString(),
  });
  assert.equal(direct.status, 400);
  assert.deepEqual(direct.json(), { error: 'invalid_grant' });

  // His socket is closed by Gatehouse; the library's reconnect with his token is refused.
  const closed = await bob.closed;
  assert.deepEqual({ code: closed.code, reason: closed.reason }, { code: 1008, reason: 'Access removed' });
  assert.equal(await reconnectFailed, ERR_INVALID_AUTH);
  bob.connection.close();

  // His access token: refused on HTTP and on a new websocket, though HA itself still accepts it.
  const states = await request(`${stack.externalUrl}/api/states`, { headers: { authorization: `Bearer ${bob.auth.accessToken}` }, localAddress: CLIENT_ADDRESS });
  assert.equal(states.status, 401);
  assert.equal(await websocketAuth(stack, bob.auth.accessToken), 'auth_invalid');

  // His signed link is refused at the door (Gatehouse's own refusal, not HA's); alice's still opens.
  const bobOpens = await openLink(bobLink);
  assert.equal(bobOpens.status, 401);
  assert.equal(bobOpens.json().code, 'unauthorized', 'refused by Gatehouse');
  assert.equal((await openLink(aliceLink)).text(), 'media:local/cat.jpg');

  // His refresh: HA's answer for a session that is gone, which the apps take as "signed out".
  const refresh = await stack.postToken({ grant_type: 'refresh_token', refresh_token: bob.saved[0].refresh_token, client_id: stack.frontendClientId });
  assert.equal(refresh.status, 400);
  assert.deepEqual(refresh.json(), { error: 'invalid_grant' });

  // Signing in again ends on a page that says so.
  const again = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'bob' });
  assert.equal(again.kind, 'page');
  assert.equal(again.status, 403);
  assert.match(pageText(again.body), /access to Home Assistant was removed/);

  // alice is untouched: her socket answers, her refresh works.
  assert.ok((await getStates(alice.connection)).length > 0);
  await alice.auth.refreshAccessToken();
  assert.equal(alice.connection.socket.readyState, 1, 'her socket is open');

  // The audit log says who, how many sockets, how long it took.
  const audit = await runGatehouse(['audit', '-c', stack.configPath, '--json', '--user', 'bob.builder']);
  const entries = audit.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line));
  const applied = entries.find((entry) => entry.event === 'cut_off_applied');
  assert.ok(entries.some((entry) => entry.event === 'cut_off_requested'), audit.stdout);
  assert.ok(applied, audit.stdout);
  assert.equal(applied.detail.websockets_closed, 1);
  assert.equal(applied.detail.ha_user_id, bobUser.id);
  assert.ok(entries.some((entry) => entry.event === 'cut_off_ha_sessions_ended'), audit.stdout);

  // Asking twice changes nothing; lifting lets him sign in again (a new session).
  const twice = await runGatehouse(['cut-off', '-c', stack.configPath, 'bob.builder']);
  assert.equal(twice.code, 0);
  assert.match(twice.stdout, /already cut off/);
  const lifted = await runGatehouse(['cut-off', '-c', stack.configPath, '--lift', 'bob.builder']);
  assert.equal(lifted.code, 0, lifted.stderr);
  assert.match(lifted.stdout, /their HA user is active again and they can sign in again/);
  assert.equal(stack.userNamed('bob.builder').isActive, true, 'HA shows bob active again');
  const afterLift = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'bob' });
  assert.equal(afterLift.kind, 'redirect', 'bob signs in again once the cut-off is lifted');
});

test('a person who set up MFA in HA is cut off there all the same: their HA user deactivated; a lift keeps the sessions Gatehouse knows ended', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t);
  routeHawsThrough(stack.externalUrl, CLIENT_ADDRESS);
  const bob = await signInAndConnect(t, stack, 'bob');
  const bobUser = stack.userNamed('bob.builder');
  stack.double.enableTotp(bobUser.id); // HA now asks for a code after the password: Gatehouse cannot sign in as him

  const cut = await runGatehouse(['cut-off', '-c', stack.configPath, 'bob.builder']);
  assert.equal(cut.code, 0, cut.stderr);
  assert.match(cut.stdout, /could not be ended one by one \(.*multi-factor.*\)\. Their HA user is deactivated, so HA refuses every token of theirs/, cut.stdout);
  assert.equal(stack.userNamed('bob.builder').isActive, false, 'HA shows bob deactivated');
  assert.ok(stack.double.refreshTokens().some((token) => token.userId === bobUser.id), 'HA still holds his session');
  await bob.closed;

  const lifted = await runGatehouse(['cut-off', '-c', stack.configPath, '--lift', 'bob.builder']);
  assert.equal(lifted.code, 0, lifted.stderr);
  assert.equal(stack.userNamed('bob.builder').isActive, true, 'HA shows bob active again');
  // The session HA kept does not come back with the lift: Gatehouse refuses it at the door.
  const refresh = await stack.postToken({ grant_type: 'refresh_token', refresh_token: bob.saved[0].refresh_token, client_id: stack.frontendClientId });
  assert.deepEqual({ status: refresh.status, body: refresh.json() }, { status: 400, body: { error: 'invalid_grant' } });
  const states = await request(`${stack.externalUrl}/api/states`, { headers: { authorization: `Bearer ${bob.auth.accessToken}` }, localAddress: CLIENT_ADDRESS });
  assert.equal(states.status, 401);
  // HA will not let Gatehouse end that session either (the same MFA step): said once, never asked again.
  const events = async () => (await runGatehouse(['audit', '-c', stack.configPath, '--json', '--user', 'bob.builder'])).stdout
    .split('\n').filter(Boolean).map((line) => JSON.parse(line).event);
  const seen = await pollUntil(async () => {
    const list = await events();
    return { done: list.includes('sessions_left_in_ha'), value: list };
  }, { timeoutMs: 10_000, intervalMs: 250 });
  assert.equal(seen.filter((event) => event === 'sessions_left_in_ha').length, 1, seen.join(' '));
  assert.ok(!seen.includes('sessions_end_in_ha_failed'), `no retry loop: ${seen.join(' ')}`);
});

test('gatehouse cut-off names nobody: said on stderr, exit 1, nothing changes', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t);
  const result = await runGatehouse(['cut-off', '-c', stack.configPath, 'mallory']);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /nobody who signed in through Gatehouse has the HA username or user id "mallory"/);
  const missing = await runGatehouse(['cut-off', '-c', stack.configPath]);
  assert.notEqual(missing.code, 0, 'the person is required');
  const signIn = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'bob' });
  assert.equal(signIn.kind, 'redirect', 'everyone can still sign in');
});

const REGISTRATION = { app_id: 'io.homeassistant.companion.android', app_name: 'Home Assistant', app_version: '2026.1.0', device_name: 'Phone', manufacturer: 'Google', model: 'Pixel 9', os_name: 'Android', os_version: '16', supports_encryption: false, app_data: { push_token: 'x', push_url: 'https://mobile-apps.home-assistant.io/api/sendPushNotification' } };

test('a person cut off loses the companion app\'s webhooks at the door (410), others keep theirs; registrations are relayed as HA answers them', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t);
  routeHawsThrough(stack.externalUrl, CLIENT_ADDRESS);
  const bob = await signInAndConnect(t, stack, 'bob');
  const alice = await signInAndConnect(t, stack, 'alice');
  const register = (token, body = REGISTRATION) => request(`${stack.externalUrl}/api/mobile_app/registrations`, {
    method: 'POST', localAddress: CLIENT_ADDRESS, body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
  const webhook = (path) => request(`${stack.externalUrl}${path}`, {
    method: 'POST', localAddress: CLIENT_ADDRESS, body: '{"type":"call_service","data":{"domain":"light","service":"turn_on"}}',
    headers: { 'content-type': 'application/json' },
  });

  const anonymous = await register(null);
  assert.equal(anonymous.status, 401);
  const invalid = await register(`${bob.auth.accessToken.slice(0, -4)}AAAA`);
  assert.equal(invalid.status, 401);
  assert.ok(!stack.haRequests.some((entry) => entry.path === '/api/mobile_app/registrations'), 'HA saw no unauthenticated registration');
  const incomplete = await register(bob.auth.accessToken, { app_id: 'x' });
  assert.equal(incomplete.status, 400, 'HA\'s own 400 comes back');
  assert.match(incomplete.json().message, /Message format incorrect/);

  const bobApp = await register(bob.auth.accessToken);
  assert.equal(bobApp.status, 201);
  const bobHook = stack.rememberSecret(bobApp.json().webhook_id, 'mobile_app webhook id');
  assert.match(bobHook, /^[0-9a-f]{64}$/);
  const aliceHook = stack.rememberSecret((await register(alice.auth.accessToken)).json().webhook_id, 'mobile_app webhook id');
  assert.equal(stack.double.webhooks.get(bobHook).userId, stack.userNamed('bob.builder').id, 'HA registered it to bob');
  assert.equal((await webhook(`/api/webhook/${bobHook}`)).status, 200);
  assert.equal(stack.double.webhookDeliveries.at(-1).processed, true);

  const cut = await runGatehouse(['cut-off', '-c', stack.configPath, 'bob.builder']);
  assert.equal(cut.code, 0, cut.stderr);
  const deliveriesBefore = stack.double.webhookDeliveries.length;
  const refused = await webhook(`/api/webhook/${bobHook}`);
  assert.equal(refused.status, 410);
  assert.deepEqual(refused.json(), { message: 'Access removed', code: 'cut_off' });
  // The same id with a letter or digit percent-encoded (HA decodes the captured id): refused before
  // anything else, as every path with an encoded unreserved character is.
  const encoded = await webhook(`/api/webhook/${bobHook.slice(0, 10)}%${bobHook.charCodeAt(10).toString(16)}${bobHook.slice(11)}`);
  assert.equal(encoded.status, 400);
  assert.equal(encoded.json().code, 'bad_request');
  assert.equal(stack.double.webhookDeliveries.length, deliveriesBefore, 'HA saw none of bob\'s webhook calls');
  assert.equal((await webhook(`/api/webhook/${aliceHook}`)).status, 200, 'alice\'s app works');
  assert.equal(stack.double.webhookDeliveries.at(-1).webhookId, aliceHook);
  assert.equal(stack.double.webhookDeliveries.at(-1).processed, true);
  assert.equal((await webhook('/api/webhook/some-integration-hook')).status, 200, 'other webhooks pass as before');
  // What the door prevents: HA itself still runs the webhook of a deactivated user (contract §5).
  await bob.closed;
  const direct = await fetch(`${stack.double.url}/api/webhook/${bobHook}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"get_config"}' });
  assert.equal(direct.status, 200);
  assert.equal(stack.double.webhookDeliveries.at(-1).processed, true);
  assert.equal(stack.userNamed('bob.builder').isActive, false);
  assert.deepEqual(stack.leakedSecrets(), [], 'webhook ids never reach the log');
});

test('a person\'s app registrations are bounded by refusing the next one (429), never by forgetting a webhook Gatehouse must block', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t);
  routeHawsThrough(stack.externalUrl, CLIENT_ADDRESS);
  const alice = await signInAndConnect(t, stack, 'alice');
  const register = () => request(`${stack.externalUrl}/api/mobile_app/registrations`, {
    method: 'POST', localAddress: CLIENT_ADDRESS, body: JSON.stringify(REGISTRATION),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${alice.auth.accessToken}` },
  });
  const first = await register();
  assert.equal(first.status, 201);
  const firstHook = stack.rememberSecret(first.json().webhook_id, 'mobile_app webhook id');
  for (let i = 1; i < 100; i++) {
    const registered = await register();
    assert.equal(registered.status, 201, `registration ${i + 1}`);
    stack.rememberSecret(registered.json().webhook_id, 'mobile_app webhook id');
  }
  const before = stack.double.webhooks.size;
  const refused = await register();
  assert.equal(refused.status, 429);
  assert.match(refused.json().message, /Too many app registrations/);
  assert.equal(stack.double.webhooks.size, before, 'HA was not asked');
  const cut = await runGatehouse(['cut-off', '-c', stack.configPath, 'alice']);
  assert.equal(cut.code, 0, cut.stderr);
  const blocked = await request(`${stack.externalUrl}/api/webhook/${firstHook}`, {
    method: 'POST', localAddress: CLIENT_ADDRESS, body: '{"type":"get_config"}', headers: { 'content-type': 'application/json' },
  });
  assert.equal(blocked.status, 410, 'her first webhook is still blocked');
});

test('a websocket HA is still authenticating when its person is cut off is closed once it is relayed, not left open', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t);
  routeHawsThrough(stack.externalUrl, CLIENT_ADDRESS);
  const bob = await signInAndConnect(t, stack, 'bob');
  const hold = stack.double.holdNextWebsocketAuth(); // HA slow to answer the next auth message
  const socket = new TestWebSocket(`${stack.gatehouse.wsUrl}/api/websocket`, { localAddress: CLIENT_ADDRESS });
  await socket.opened;
  await socket.waitForMessages(1); // auth_required
  await socket.send(JSON.stringify({ type: 'auth', access_token: bob.auth.accessToken }));
  await hold.reached; // Gatehouse found the token valid and passed it on; HA has not answered

  const cut = await runGatehouse(['cut-off', '-c', stack.configPath, 'bob.builder']);
  assert.equal(cut.code, 0, cut.stderr);
  assert.match(cut.stdout, /Done in \d+ ms: 1 websocket\(s\) closed/, 'his other socket; this one was not relayed yet');
  hold.release();
  const closed = await pollUntil(() => ({ done: socket.closeEvent != null, value: socket.closeEvent }), { timeoutMs: 10_000 });
  assert.deepEqual(closed, { code: 1008, reason: 'Access removed' });
});

test('a person whose HA user was deleted in HA is cut off all the same: nothing left to end in HA, and no new HA user at the next sign-in', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t);
  assert.equal((await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'bob' })).kind, 'redirect');
  stack.double.deleteUser(stack.userNamed('bob.builder').id); // an admin, in HA's user list

  const cut = await runGatehouse(['cut-off', '-c', stack.configPath, 'bob.builder']);
  assert.equal(cut.code, 0, cut.stderr);
  assert.match(cut.stdout, /HA has no user bob\.builder any more \(deleted in HA\): nothing there to end/, cut.stdout);
  const kinds = (await stack.audit(['--user', 'bob.builder'])).map((entry) => entry.kind);
  assert.ok(kinds.includes('cut_off_ha_sessions_ended') && !kinds.includes('cut_off_ha_sessions_failed'), kinds.join(' '));

  const again = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'bob' });
  assert.equal(again.kind, 'page');
  assert.equal(again.status, 403);
  assert.match(pageText(again.body), /access to Home Assistant was removed/);
  assert.equal(stack.userNamed('bob.builder'), null, 'no new HA user was made for him');
});

test('a person whose HA user an admin deactivated is cut off without a login attempt in HA, and a lift leaves the user inactive', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t);
  assert.equal((await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'bob' })).kind, 'redirect');
  const bobId = stack.userNamed('bob.builder').id;
  stack.double.updateUser(bobId, { isActive: false }); // an admin, in HA's user list
  const flowsBefore = stack.loginFlowRequestCount();

  const cut = await runGatehouse(['cut-off', '-c', stack.configPath, 'bob.builder']);
  assert.equal(cut.code, 0, cut.stderr);
  assert.match(cut.stdout, /could not be ended one by one \(their HA user is inactive in HA.*\)\. Their HA user was inactive in HA already/, cut.stdout);
  assert.equal(stack.loginFlowRequestCount(), flowsBefore, 'HA was not asked to sign Gatehouse in as him');

  const lifted = await runGatehouse(['cut-off', '-c', stack.configPath, '--lift', 'bob.builder']);
  assert.equal(lifted.code, 0, lifted.stderr);
  assert.match(lifted.stdout, /Lifted the cut-off of bob\.builder/);
  assert.equal(stack.userNamed('bob.builder').isActive, false, 'still inactive: the admin\'s decision, not Gatehouse\'s');
  assert.equal(stack.loginFlowRequestCount(), flowsBefore, 'and the lift asked nothing of HA as him either');
});

test('SIGTERM while HA is still authenticating a websocket: once relayed it gets 1001 at once, not an open socket until shutdown_grace ends', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t, { gatehouseConfig: { timeouts: { shutdown_grace: '60s' } } });
  routeHawsThrough(stack.externalUrl, CLIENT_ADDRESS);
  const bob = await signInAndConnect(t, stack, 'bob');
  bob.connection.close();
  const hold = stack.double.holdNextWebsocketAuth();
  const socket = new TestWebSocket(`${stack.gatehouse.wsUrl}/api/websocket`, { localAddress: CLIENT_ADDRESS });
  await socket.opened;
  await socket.waitForMessages(1); // auth_required
  await socket.send(JSON.stringify({ type: 'auth', access_token: bob.auth.accessToken }));
  await hold.reached;

  stack.gatehouse.proc.kill('SIGTERM');
  await stack.gatehouse.waitForLog((entry) => entry.msg === 'shutting down');
  hold.release();
  const closed = await pollUntil(() => ({ done: socket.closeEvent != null, value: socket.closeEvent }), { timeoutMs: 10_000 });
  assert.deepEqual(closed, { code: 1001, reason: 'Gatehouse is shutting down' });
  assert.deepEqual(await stack.gatehouse.exited, { code: 0, signal: null });
});
