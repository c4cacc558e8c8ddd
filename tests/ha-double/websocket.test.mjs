// Tests of the double's websocket API: transport (§4.1), handshake (§4.2), framing (§4.3)
// and the auth / user-management commands (§4.4, §6.6).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { withDouble, TestSocket, authenticatedSocket, ownerToken, loginTokens, decodeJwt, request } from './helpers.mjs';

const SEED = [
  { name: 'Owner', username: 'owner', password: 'pw', isOwner: true, groups: ['system-admin'] },
  { name: 'Admin', username: 'admin', password: 'pw', groups: ['system-admin'] },
  { name: 'Alice', username: 'alice', password: 'pw', groups: ['system-users'] },
];

const tokenFor = (double, name) => double.createLongLivedToken(double.state.userIds[name]).token;

test('§4.2 handshake: auth_required with the version, auth_ok, counters', async (t) => {
  for (const version of ['2025.5.0', '2023.9.3']) {
    const double = await withDouble(t, { version });
    const socket = await TestSocket.open(double);
    const { required, outcome } = await socket.authenticate(await ownerToken(double));
    assert.deepEqual(required, { type: 'auth_required', ha_version: version });
    assert.deepEqual(outcome, { type: 'auth_ok', ha_version: version });
    assert.deepEqual(double.websocketCounters, { opened: 1, authenticated: 1, open: 1, binaryFrames: 0 });
    const closed = once(double.events, 'ws-closed');
    socket.close();
    await closed;
    assert.equal(double.websocketCounters.open, 0);
  }
});

// Test control, not HA behaviour: HA slow to answer an auth message it accepts (one connection only).
test('holdNextWebsocketAuth: the next accepted auth is answered only once released; later ones at once', async (t) => {
  const double = await withDouble(t);
  const hold = double.holdNextWebsocketAuth();
  const held = await TestSocket.open(double);
  const token = await ownerToken(double);
  const outcome = held.authenticate(token);
  await hold.reached;
  assert.equal(double.websocketCounters.authenticated, 0, 'not answered yet');
  const other = await TestSocket.open(double);
  assert.equal((await other.authenticate(token)).outcome.type, 'auth_ok', 'the hold was for one connection');
  hold.release();
  assert.equal((await outcome).outcome.type, 'auth_ok');
  assert.equal(double.websocketCounters.authenticated, 2);
  held.close();
  other.close();
});

test('§4.2 invalid token: auth_invalid, failed login, close 1000', async (t) => {
  const double = await withDouble(t);
  const socket = await TestSocket.open(double);
  await socket.receive((message) => message.type === 'auth_required');
  const failed = once(double.events, 'failed-login');
  socket.send({ type: 'auth', access_token: 'not-a-jwt' });
  assert.deepEqual(await socket.receive(), { type: 'auth_invalid', message: 'Invalid access token or password' });
  assert.equal((await socket.closed).code, 1000);
  const [event] = await failed;
  assert.deepEqual([event.ip, event.path], ['127.0.0.1', '/api/websocket']);
  assert.equal(double.websocketCounters.authenticated, 0);
});

test('§4.2 malformed auth messages: schema errors (not counted), binary or non-JSON frames just close', async (t) => {
  const double = await withDouble(t);
  const token = await ownerToken(double);
  const cases = [
    [{ type: 'auth', access_token: token, id: 1 }, "Auth message incorrectly formatted: extra keys not allowed @ data['id']. Got 1"],
    [{ access_token: token }, "Auth message incorrectly formatted: required key not provided @ data['type']. Got None"],
    [{ type: 'login', access_token: token }, "Auth message incorrectly formatted: not a valid value for dictionary value @ data['type']. Got 'login'"],
    [{ type: 'auth', access_token: 5 }, "Auth message incorrectly formatted: expected str for dictionary value @ data['access_token']. Got 5"],
  ];
  for (const [message, expected] of cases) {
    const socket = await TestSocket.open(double);
    socket.send(message);
    assert.deepEqual(await socket.receive((reply) => reply.type === 'auth_invalid'), { type: 'auth_invalid', message: expected });
    assert.equal((await socket.closed).code, 1000);
  }
  assert.equal(double.failedLogins.length, 0);
  const apiPassword = await TestSocket.open(double);
  apiPassword.send({ type: 'auth', api_password: 'secret' });
  assert.equal((await apiPassword.receive((reply) => reply.type === 'auth_invalid')).message, 'Invalid access token or password');
  assert.equal(double.failedLogins.length, 1, 'a legacy api_password can never succeed and counts');
  const binary = await TestSocket.open(double);
  binary.ws.send(Buffer.from([1, 2, 3]));
  assert.equal((await binary.closed).code, 1000);
  const garbage = await TestSocket.open(double);
  garbage.send('{not json');
  assert.equal((await garbage.closed).code, 1000);
});

test('§4.2 auth timeout runs on the double clock (10 s)', async (t) => {
  const double = await withDouble(t);
  const socket = await TestSocket.open(double);
  await socket.receive((message) => message.type === 'auth_required');
  double.advance(9_000);
  assert.equal(socket.ws.readyState, socket.ws.OPEN);
  double.advance(1_000);
  assert.equal((await socket.closed).code, 1000);
});

test('§4.3 framing: ids, unknown commands, schema errors, ping/pong', async (t) => {
  const double = await withDouble(t);
  const socket = await authenticatedSocket(double, await ownerToken(double));
  t.after(() => socket.close());
  socket.send({ id: 0, type: 'ping' });
  assert.deepEqual(await socket.receive(), { id: 0, type: 'result', success: false, error: { code: 'invalid_format', message: 'Message incorrectly formatted.' } });
  socket.send({ id: 'x', type: 'ping' });
  assert.equal((await socket.receive()).error.code, 'invalid_format');
  socket.send({ id: 3 });
  assert.deepEqual((await socket.receive()).error, { code: 'invalid_format', message: 'Message incorrectly formatted.' });
  assert.deepEqual(await socket.command({ id: 5, type: 'ping' }), { id: 5, type: 'pong' });
  assert.deepEqual((await socket.command({ id: 5, type: 'ping' })).error, { code: 'id_reuse', message: 'Identifier values have to increase.' });
  assert.deepEqual((await socket.command({ id: 4, type: 'get_config' })).error.code, 'id_reuse');
  assert.deepEqual((await socket.command({ id: 9, type: 'no/such/command' })).error, { code: 'unknown_command', message: 'Unknown command.' });
  // An unknown command does not move last_id forward, so 9 can still be used.
  assert.deepEqual(await socket.command({ id: 9, type: 'ping' }), { id: 9, type: 'pong' });
  const extra = await socket.command({ id: 10, type: 'ping', extra: 1 });
  assert.equal(extra.error.code, 'invalid_format');
  assert.match(extra.error.message, /^extra keys not allowed\. Got /);
  const missing = await socket.command({ id: 11, type: 'config/auth/create' });
  assert.deepEqual(missing.error, { code: 'invalid_format', message: "required key not provided @ data['name']. Got None" });
  const wrongType = await socket.command({ id: 12, type: 'config/auth/create', name: 'X', local_only: 'yes' });
  assert.deepEqual(wrongType.error, { code: 'invalid_format', message: "expected bool for dictionary value @ data['local_only']. Got 'yes'" });
});

test('§0.2/§4.3 a negative id is id_reuse; 2023.9 names each extra key of a type-only command', async (t) => {
  for (const version of ['2023.9.3', '2025.5.0']) {
    const double = await withDouble(t, { version });
    const socket = await authenticatedSocket(double, await ownerToken(double));
    t.after(() => socket.close());
    socket.send({ id: -1, type: 'ping' });
    assert.deepEqual(await socket.receive(), { id: -1, type: 'result', success: false, error: { code: 'id_reuse', message: 'Identifier values have to increase.' } });
    const extra = await socket.command({ id: 2, type: 'ping', foo: 1 });
    const twoExtra = await socket.command({ id: 3, type: 'get_config', foo: 1, bar: 'x' });
    if (version === '2023.9.3') {
      assert.deepEqual(extra.error, { code: 'invalid_format', message: "extra keys not allowed @ data['foo']. Got 1" });
      assert.equal(twoExtra.error.message, "extra keys not allowed @ data['bar']. Got 'x'\nextra keys not allowed @ data['foo']. Got 1");
    } else {
      assert.deepEqual(extra.error, { code: 'invalid_format', message: "extra keys not allowed. Got {'id': 2, 'type': 'ping', 'foo': 1}" });
      assert.equal(twoExtra.error.message, "extra keys not allowed. Got {'id': 3, 'type': 'get_config', 'foo': 1, 'bar': 'x'}");
    }
  }
});

test('§0.2 config/auth/update with an unknown group gets no answer at all; nothing changes and the socket stays usable', async (t) => {
  for (const version of ['2023.9.3', '2025.5.0']) {
    const double = await withDouble(t, { version, users: SEED });
    const socket = await authenticatedSocket(double, tokenFor(double, 'owner'));
    t.after(() => socket.close());
    const subscription = await socket.command({ id: 1, type: 'subscribe_events', event_type: 'user_updated' });
    assert.equal(subscription.success, true);
    const aliceId = double.state.userIds.alice;
    socket.send({ id: 2, type: 'config/auth/update', user_id: aliceId, name: 'Renamed', group_ids: ['system-admin', 'no-such-group'] });
    // Replies keep their order, so an answer to 2 would arrive before the pong for 3.
    assert.deepEqual(await socket.command({ id: 3, type: 'ping' }), { id: 3, type: 'pong' });
    assert.deepEqual(socket.log.filter((message) => message.id === 2), [], version);
    const alice = double.users().find((user) => user.id === aliceId);
    assert.deepEqual([alice.name, alice.groupIds], ['Alice', ['system-users']]);
    assert.equal(socket.log.filter((message) => message.type === 'event').length, 0, 'no user_updated event');
    assert.equal((await socket.command({ id: 2, type: 'ping' })).error.code, 'id_reuse', 'the id was used');
    const created = await socket.command({ id: 4, type: 'config/auth/create', name: 'X', group_ids: ['no-such-group'] });
    assert.deepEqual(created.error, { code: 'unknown_error', message: 'Unknown error' }, 'create still answers (§0.1)');
  }
});

test('§4.1-§4.3 deep messages: past 1024 levels the frame is invalid JSON (close 1000, no reply) in both phases; the double survives', async (t) => {
  const nested = (depth, inner = '0') => '['.repeat(depth) + inner + ']'.repeat(depth);
  for (const version of ['2023.9.3', '2025.5.0']) {
    const double = await withDouble(t, { version });
    const unexpected = [];
    double.events.on('unexpected-error', (error) => unexpected.push(error));
    const token = await ownerToken(double);
    // Auth phase: not JSON to orjson -> Disconnect, no auth_invalid, not counted.
    const authDeep = await TestSocket.open(double);
    await authDeep.receive((message) => message.type === 'auth_required');
    authDeep.send(`{"type":"auth","access_token":${nested(1024)}}`);
    assert.equal((await authDeep.closed).code, 1000);
    assert.deepEqual(authDeep.log.map((message) => message.type), ['auth_required']);
    assert.equal(double.failedLogins.length, 0);
    // Command phase: same, and nothing is answered.
    const socket = await authenticatedSocket(double, token);
    socket.send(`{"id":1,"type":"ping","foo":${nested(1024)}}`);
    assert.equal((await socket.closed).code, 1000);
    assert.deepEqual(socket.log.map((message) => message.type), ['auth_required', 'auth_ok']);
    // Within the limit the schema error is answered, its offending value cut at 500 characters.
    const shallow = await authenticatedSocket(double, token);
    const answered = await shallow.command({ id: 1, type: 'config/auth/create', name: JSON.parse(nested(600)) });
    assert.equal(answered.error.code, 'invalid_format');
    assert.equal(answered.error.message, `expected str for dictionary value @ data['name']. Got ${'['.repeat(497)}...`);
    // 1023 levels inside a message of depth 1024: parsed. Python 3.11 (HA 2023.9) cannot
    // repr() it for the error text and drops the connection; later versions answer.
    shallow.send(`{"id":2,"type":"ping","foo":${nested(1023)}}`);
    if (version === '2023.9.3') {
      assert.equal((await shallow.closed).code, 1000);
      assert.equal(shallow.log.some((message) => message.id === 2), false);
    } else {
      assert.match((await shallow.receive((message) => message.id === 2)).error.message, /^extra keys not allowed\. Got \{'id': 2, 'type': 'ping', 'foo': \[\[\[/);
      shallow.close();
    }
    // An echoed id that orjson cannot dump (256 levels): HA's fallback answer fails too and
    // the connection ends.
    const deepId = await authenticatedSocket(double, token);
    deepId.send(`{"id":${nested(256)},"type":"ping"}`);
    assert.equal((await deepId.closed).code, 1000);
    assert.equal(deepId.log.length, 2);
    // An event orjson cannot dump reaches subscribers as "Invalid JSON in response".
    const subscriber = await authenticatedSocket(double, token);
    t.after(() => subscriber.close());
    const subscription = await subscriber.command({ type: 'subscribe_events', event_type: 'deep_event' });
    const fired = await subscriber.command({ type: 'fire_event', event_type: 'deep_event', event_data: { value: JSON.parse(nested(260)) } });
    assert.equal(fired.success, true);
    const eventReply = await subscriber.receive((message) => message.id === subscription.id);
    assert.deepEqual(eventReply, { id: subscription.id, type: 'result', success: false, error: { code: 'unknown_error', message: 'Invalid JSON in response' } });
    // Far deeper than any stack: still a plain close.
    const huge = await authenticatedSocket(double, token);
    huge.send(`{"id":1,"type":"ping","foo":${nested(1_000_000)}}`);
    assert.equal((await huge.closed).code, 1000);
    assert.deepEqual(unexpected, [], 'nothing unexpected was thrown');
    assert.deepEqual(await (await authenticatedSocket(double, token)).command({ type: 'ping' }), { id: 1, type: 'pong' });
  }
});

test('§4.3 coalescing: after supported_features, batched commands come back as one JSON array', async (t) => {
  const double = await withDouble(t);
  const socket = await authenticatedSocket(double, await ownerToken(double));
  t.after(() => socket.close());
  socket.send([{ id: 1, type: 'ping' }, { id: 2, type: 'ping' }]);
  await socket.receive((message) => message.id === 2);
  assert.equal(socket.arraysReceived ?? 0, 0, 'no arrays before coalesce_messages');
  assert.deepEqual(await socket.command({ id: 3, type: 'supported_features', features: { coalesce_messages: 1 } }), { id: 3, type: 'result', success: true, result: null });
  socket.send([{ id: 4, type: 'get_config' }, { id: 5, type: 'get_states' }]);
  const states = await socket.receive((message) => message.id === 5);
  assert.ok(Array.isArray(states.result));
  assert.equal(socket.arraysReceived, 1);
});

test('§4.1 permessage-deflate, binary frames accepted, 4 MiB client limit (close 1009)', async (t) => {
  const double = await withDouble(t);
  const token = await ownerToken(double);
  const deflated = await TestSocket.open(double, { perMessageDeflate: true });
  t.after(() => deflated.close());
  assert.match(deflated.ws.extensions, /permessage-deflate/);
  await deflated.authenticate(token);
  const binaryFrame = once(double.events, 'ws-binary');
  deflated.ws.send(Buffer.from([7, 1, 2, 3]));
  assert.deepEqual((await binaryFrame)[0], { handlerId: 7, bytes: 3 });
  assert.deepEqual(await deflated.command({ type: 'ping' }), { id: 1, type: 'pong' });
  assert.equal(double.websocketCounters.binaryFrames, 1);
  const big = await authenticatedSocket(double, token);
  big.send(JSON.stringify({ id: 1, type: 'ping', pad: 'x'.repeat(4 * 1024 * 1024) }));
  assert.equal((await big.closed).code, 1009);
});

test('§4.4 events: subscribe_events with fireEvent, allowlist for non-admins, unsubscribe', async (t) => {
  const double = await withDouble(t, { users: SEED });
  const owner = await authenticatedSocket(double, tokenFor(double, 'owner'));
  const alice = await authenticatedSocket(double, tokenFor(double, 'alice'));
  t.after(() => { owner.close(); alice.close(); });
  assert.equal((await owner.command({ id: 1, type: 'subscribe_events' })).success, true);
  assert.deepEqual((await alice.command({ id: 1, type: 'subscribe_events' })).error, { code: 'unauthorized', message: 'Unauthorized' });
  assert.deepEqual((await alice.command({ id: 2, type: 'subscribe_events', event_type: 'custom_event' })).error.code, 'unauthorized');
  assert.equal((await alice.command({ id: 3, type: 'subscribe_events', event_type: 'state_changed' })).success, true);
  double.fireEvent('custom_event', { answer: 42 });
  const event = await owner.receive((message) => message.type === 'event' && message.event.event_type === 'custom_event');
  assert.equal(event.id, 1);
  assert.deepEqual(event.event.data, { answer: 42 });
  assert.equal(event.event.origin, 'LOCAL');
  double.setState('sensor.outdoor_temperature', '25.0');
  const changed = await alice.receive((message) => message.type === 'event');
  assert.equal(changed.id, 3);
  assert.equal(changed.event.data.new_state.state, '25.0');
  assert.deepEqual(await owner.command({ id: 2, type: 'unsubscribe_events', subscription: 1 }), { id: 2, type: 'result', success: true, result: null });
  assert.deepEqual((await owner.command({ id: 3, type: 'unsubscribe_events', subscription: 1 })).error, { code: 'not_found', message: 'Subscription not found.' });
});

test('§4.4 subscribe_entities, call_service, get_states', async (t) => {
  const double = await withDouble(t);
  const socket = await authenticatedSocket(double, await ownerToken(double));
  t.after(() => socket.close());
  const states = (await socket.command({ type: 'get_states' })).result;
  assert.ok(states.find((state) => state.entity_id === 'light.kitchen'));
  const subscribed = await socket.command({ type: 'subscribe_entities' });
  assert.equal(subscribed.success, true);
  const initial = await socket.receive((message) => message.type === 'event' && message.id === subscribed.id);
  assert.equal(Object.keys(initial.event.a).length, states.length);
  assert.equal(initial.event.a['light.kitchen'].s, 'on');
  const call = await socket.command({ type: 'call_service', domain: 'light', service: 'turn_off', target: { entity_id: 'light.kitchen' } });
  assert.equal(call.success, true);
  assert.equal(call.result.response, null);
  const change = await socket.receive((message) => message.type === 'event' && message.id === subscribed.id);
  assert.equal(change.event.c['light.kitchen']['+'].s, 'off');
  assert.equal(double.serviceCalls.at(-1).domain, 'light');
});

test('§0.2 2023.9 shapes: states without last_reported (2024.3), the old core config; 2025.5 has the new keys', async (t) => {
  for (const version of ['2023.9.3', '2025.5.0']) {
    const old = version === '2023.9.3';
    const double = await withDouble(t, { version });
    const token = await ownerToken(double);
    const socket = await authenticatedSocket(double, token);
    t.after(() => socket.close());
    const states = (await socket.command({ type: 'get_states' })).result;
    const restStates = (await request(double, { path: '/api/states', headers: { authorization: `Bearer ${token}` } })).json();
    const subscription = await socket.command({ type: 'subscribe_events', event_type: 'state_changed' });
    double.setState('sensor.new', '1', {});
    const event = await socket.receive((message) => message.type === 'event' && message.id === subscription.id);
    const expectedStateKeys = old
      ? ['entity_id', 'state', 'attributes', 'last_changed', 'last_updated', 'context']
      : ['entity_id', 'state', 'attributes', 'last_changed', 'last_reported', 'last_updated', 'context'];
    for (const state of [states[0], restStates[0], event.event.data.new_state]) assert.deepEqual(Object.keys(state), expectedStateKeys, version);
    const config = (await socket.command({ type: 'get_config' })).result;
    const restConfig = (await request(double, { path: '/api/config', headers: { authorization: `Bearer ${token}` } })).json();
    for (const shape of [config, restConfig]) {
      assert.equal('whitelist_external_dirs' in shape, old, version);
      for (const key of ['debug', 'radius', 'recovery_mode']) assert.equal(key in shape, !old, `${version} ${key}`);
      assert.equal('area' in shape.unit_system, !old, `${version} unit_system.area`);
      assert.equal(shape.version, version);
    }
    if (old) assert.deepEqual(config.whitelist_external_dirs, config.allowlist_external_dirs);
  }
});

test('§4.4 auth/current_user, auth/refresh_tokens, auth/long_lived_access_token, auth/sign_path', async (t) => {
  const double = await withDouble(t);
  const tokens = await loginTokens(double);
  const socket = await authenticatedSocket(double, tokens.access_token);
  t.after(() => socket.close());
  const me = (await socket.command({ type: 'auth/current_user' })).result;
  assert.deepEqual(me, {
    id: double.state.ownerId, name: 'Owner', is_owner: true, is_admin: true,
    credentials: [{ auth_provider_type: 'homeassistant', auth_provider_id: null }],
    mfa_modules: [{ id: 'totp', name: 'Authenticator app', enabled: false }],
  });
  const llat = await socket.command({ type: 'auth/long_lived_access_token', client_name: 'script', lifespan: 10 });
  assert.equal(typeof llat.result, 'string');
  assert.equal(decodeJwt(llat.result).payload.exp - decodeJwt(llat.result).payload.iat, 10 * 86400);
  assert.equal((await request(double, { path: '/api/', headers: { authorization: `Bearer ${llat.result}` } })).status, 200);
  const duplicate = await socket.command({ type: 'auth/long_lived_access_token', client_name: 'script', lifespan: 10 });
  assert.deepEqual(duplicate.error, { code: 'unknown_error', message: 'Unknown error' });
  const list = (await socket.command({ type: 'auth/refresh_tokens' })).result;
  assert.equal(list.length, 2);
  const current = list.find((item) => item.is_current);
  assert.deepEqual(Object.keys(current).sort(), ['auth_provider_type', 'client_icon', 'client_id', 'client_name', 'created_at', 'expire_at', 'id', 'is_current', 'last_used_at', 'last_used_ip', 'type']);
  assert.equal(current.id, decodeJwt(tokens.access_token).payload.iss);
  assert.equal(current.type, 'normal');
  assert.equal(current.auth_provider_type, 'homeassistant');
  assert.match(current.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);
  const llatItem = list.find((item) => !item.is_current);
  assert.deepEqual([llatItem.type, llatItem.client_name, llatItem.client_id, llatItem.expire_at], ['long_lived_access_token', 'script', null, null]);
  const signed = await socket.command({ type: 'auth/sign_path', path: '/media/x/y.mp3' });
  assert.match(signed.result.path, /^\/media\/x\/y\.mp3\?authSig=/);
});

test('§4.4/§1.11 auth/delete_refresh_token closes that token\'s sockets with 1000; only own tokens', async (t) => {
  const double = await withDouble(t, { users: SEED });
  const ownerA = await loginTokens(double, { password: 'pw' });
  const ownerB = await loginTokens(double, { password: 'pw' });
  const alice = await loginTokens(double, { username: 'alice', password: 'pw' });
  const control = await authenticatedSocket(double, ownerA.access_token);
  const victim = await authenticatedSocket(double, ownerB.access_token);
  const bystander = await authenticatedSocket(double, alice.access_token);
  t.after(() => { control.close(); bystander.close(); });
  const aliceTokenId = decodeJwt(alice.access_token).payload.iss;
  assert.deepEqual((await control.command({ type: 'auth/delete_refresh_token', refresh_token_id: aliceTokenId })).error, { code: 'invalid_token_id', message: 'Received invalid token' });
  const removed = await control.command({ type: 'auth/delete_refresh_token', refresh_token_id: decodeJwt(ownerB.access_token).payload.iss });
  assert.deepEqual(removed.result, {});
  assert.equal((await victim.closed).code, 1000);
  assert.equal((await bystander.command({ type: 'ping' })).type, 'pong');
  // Deleting the connection's own token closes it before the reply (§4.4).
  control.send({ id: 50, type: 'auth/delete_refresh_token', refresh_token_id: decodeJwt(ownerA.access_token).payload.iss });
  assert.equal((await control.closed).code, 1000);
});

test('§4.4 auth/delete_all_refresh_tokens: 2025.5 keeps the current token 2 s; 2023.9 removes it at once', async (t) => {
  const double = await withDouble(t);
  const current = await loginTokens(double);
  const other = await loginTokens(double);
  const llat = double.createLongLivedToken(double.state.ownerId, { clientName: 'keep' });
  const socket = await authenticatedSocket(double, current.access_token);
  const otherSocket = await authenticatedSocket(double, other.access_token);
  const onlyNormal = await socket.command({ type: 'auth/delete_all_refresh_tokens', token_type: 'normal', delete_current_token: false });
  assert.deepEqual(onlyNormal.result, {});
  assert.equal((await otherSocket.closed).code, 1000);
  assert.ok(double.refreshTokens().some((token) => token.id === llat.refreshTokenId), 'other types kept');
  assert.equal((await socket.command({ type: 'ping' })).type, 'pong');
  assert.deepEqual((await socket.command({ type: 'auth/delete_all_refresh_tokens' })).result, {});
  assert.ok(!double.refreshTokens().some((token) => token.id === llat.refreshTokenId));
  assert.equal(socket.ws.readyState, socket.ws.OPEN, 'the current token survives for 2 s');
  double.advance(2000);
  assert.equal((await socket.closed).code, 1000);

  const old = await withDouble(t, { version: '2023.9.3' });
  const oldTokens = await loginTokens(old);
  const oldSocket = await authenticatedSocket(old, oldTokens.access_token);
  const withOptions = await oldSocket.command({ type: 'auth/delete_all_refresh_tokens', token_type: 'normal' });
  assert.equal(withOptions.error.code, 'invalid_format', '2023.9 has no options');
  assert.deepEqual((await oldSocket.command({ type: 'auth/delete_all_refresh_tokens' })).result, {});
  assert.equal((await oldSocket.closed).code, 1000);
  assert.equal(old.refreshTokens().filter((token) => token.userId === old.state.ownerId).length, 0);
});

test('§4.4 config/auth/*: list, create, update, delete with exact results and errors', async (t) => {
  const double = await withDouble(t, { users: SEED });
  const owner = await authenticatedSocket(double, tokenFor(double, 'owner'));
  const admin = await authenticatedSocket(double, tokenFor(double, 'admin'));
  const alice = await authenticatedSocket(double, tokenFor(double, 'alice'));
  t.after(() => { owner.close(); admin.close(); alice.close(); });
  const list = (await owner.command({ type: 'config/auth/list' })).result;
  const content = list.find((user) => user.name === 'Home Assistant Content');
  assert.deepEqual(content, { id: double.state.contentUserId, username: null, name: 'Home Assistant Content', is_owner: false, is_active: true, local_only: false, system_generated: true, group_ids: ['system-read-only'], credentials: [] });
  assert.deepEqual(list.find((user) => user.name === 'Alice').credentials, [{ type: 'homeassistant' }]);
  assert.deepEqual((await alice.command({ type: 'config/auth/list' })).error, { code: 'unauthorized', message: 'Unauthorized' });
  assert.equal((await admin.command({ type: 'config/auth/list' })).success, true, 'a non-owner admin is allowed');

  const created = (await admin.command({ type: 'config/auth/create', name: 'Bob', group_ids: ['system-users'], local_only: true })).result.user;
  assert.match(created.id, /^[0-9a-f]{32}$/);
  assert.deepEqual({ ...created, id: 'x' }, { id: 'x', username: null, name: 'Bob', is_owner: false, is_active: true, local_only: true, system_generated: false, group_ids: ['system-users'], credentials: [] });
  const noGroups = (await admin.command({ type: 'config/auth/create', name: 'Nobody' })).result.user;
  assert.deepEqual(noGroups.group_ids, []);
  assert.deepEqual((await admin.command({ type: 'config/auth/create', name: 'X', group_ids: ['no-such-group'] })).error, { code: 'unknown_error', message: 'Unknown error' });

  const updated = await admin.command({ type: 'config/auth/update', user_id: created.id, name: 'Robert', group_ids: ['system-admin'] });
  assert.deepEqual([updated.result.user.name, updated.result.user.group_ids], ['Robert', ['system-admin']]);
  assert.deepEqual((await admin.command({ type: 'config/auth/update', user_id: 'f'.repeat(32) })).error, { code: 'not_found', message: 'User not found' });
  assert.deepEqual((await admin.command({ type: 'config/auth/update', user_id: double.state.ownerId, is_active: false })).error, { code: 'cannot_deactivate_owner', message: 'Unable to deactivate owner.' });
  assert.deepEqual((await admin.command({ type: 'config/auth/update', user_id: double.state.contentUserId, name: 'X' })).error, { code: 'cannot_modify_system_generated', message: 'Unable to update system generated users.' });

  assert.deepEqual((await admin.command({ type: 'config/auth/delete', user_id: double.state.userIds.admin })).error, { code: 'no_delete_self', message: 'Unable to delete your own account' });
  assert.deepEqual((await admin.command({ type: 'config/auth/delete', user_id: 'f'.repeat(32) })).error, { code: 'not_found', message: 'User not found' });
  assert.deepEqual(await admin.command({ id: 40, type: 'config/auth/delete', user_id: created.id }), { id: 40, type: 'result', success: true, result: null });

  // Demoting an admin takes effect on its open socket at once (§0.1).
  await owner.command({ type: 'config/auth/update', user_id: double.state.userIds.admin, group_ids: ['system-users'] });
  assert.equal((await admin.command({ type: 'config/auth/list' })).error.code, 'unauthorized');
});

test('§4.4 user events user_added/user_updated/user_removed reach admin subscribers', async (t) => {
  const double = await withDouble(t);
  const socket = await authenticatedSocket(double, await ownerToken(double));
  t.after(() => socket.close());
  const subscription = await socket.command({ type: 'subscribe_events', event_type: 'user_added' });
  const created = (await socket.command({ type: 'config/auth/create', name: 'Eve' })).result.user;
  const event = await socket.receive((message) => message.type === 'event' && message.id === subscription.id);
  assert.deepEqual(event.event.data, { user_id: created.id });
});

test('§4.4/§6.6 homeassistant provider commands on 2025.5: strict usernames, translated errors, owner-only admin changes', async (t) => {
  const double = await withDouble(t, { users: SEED });
  const owner = await authenticatedSocket(double, tokenFor(double, 'owner'));
  const admin = await authenticatedSocket(double, tokenFor(double, 'admin'));
  const alice = await authenticatedSocket(double, tokenFor(double, 'alice'));
  t.after(() => { owner.close(); admin.close(); alice.close(); });
  const bob = (await admin.command({ type: 'config/auth/create', name: 'Bob', group_ids: ['system-users'] })).result.user;
  const notNormalized = await admin.command({ type: 'config/auth_provider/homeassistant/create', user_id: bob.id, username: 'Bob ', password: 'pw' });
  assert.deepEqual(notNormalized.error, {
    code: 'home_assistant_error',
    message: 'Username "Bob " is not normalized. Please make sure the username is lowercase and does not contain any whitespace.',
    translation_key: 'username_not_normalized',
    translation_placeholders: { new_username: 'Bob ' },
    translation_domain: 'auth',
  });
  const duplicate = await admin.command({ type: 'config/auth_provider/homeassistant/create', user_id: bob.id, username: 'alice', password: 'pw' });
  assert.equal(duplicate.error.translation_key, 'username_already_exists');
  assert.deepEqual((await admin.command({ type: 'config/auth_provider/homeassistant/create', user_id: 'f'.repeat(32), username: 'bob', password: 'pw' })).error, { code: 'not_found', message: 'User not found' });
  assert.deepEqual((await admin.command({ type: 'config/auth_provider/homeassistant/create', user_id: double.state.contentUserId, username: 'bob', password: 'pw' })).error.code, 'system_generated');
  assert.equal((await admin.command({ type: 'config/auth_provider/homeassistant/create', user_id: bob.id, username: 'bob', password: 'bob-pw' })).result, null);
  assert.equal((await loginTokens(double, { username: 'BOB', password: 'bob-pw' })).token_type, 'Bearer', 'login input is normalized');

  assert.deepEqual((await admin.command({ type: 'config/auth_provider/homeassistant/admin_change_password', user_id: bob.id, password: 'x' })).error, { code: 'unauthorized', message: 'Unauthorized' });
  assert.equal((await owner.command({ type: 'config/auth_provider/homeassistant/admin_change_password', user_id: bob.id, password: 'new-pw' })).result, null);
  assert.deepEqual((await owner.command({ type: 'config/auth_provider/homeassistant/admin_change_password', user_id: 'f'.repeat(32), password: 'x' })).error, { code: 'user_not_found', message: 'User not found' });
  const credentialless = (await owner.command({ type: 'config/auth/create', name: 'NoLogin' })).result.user;
  assert.deepEqual((await owner.command({ type: 'config/auth_provider/homeassistant/admin_change_password', user_id: credentialless.id, password: 'x' })).error, { code: 'credentials_not_found', message: 'Credentials not found' });
  assert.equal((await owner.command({ type: 'config/auth_provider/homeassistant/admin_change_username', user_id: bob.id, username: 'robert' })).result, null);
  assert.equal((await loginTokens(double, { username: 'robert', password: 'new-pw' })).token_type, 'Bearer');

  assert.deepEqual((await alice.command({ type: 'config/auth_provider/homeassistant/change_password', current_password: 'wrong', new_password: 'x' })).error, { code: 'invalid_current_password', message: 'Invalid current password' });
  assert.equal((await alice.command({ type: 'config/auth_provider/homeassistant/change_password', current_password: 'pw', new_password: 'alice-2' })).result, null);

  const unknownDelete = await admin.command({ type: 'config/auth_provider/homeassistant/delete', username: 'ghost' });
  assert.deepEqual([unknownDelete.error.code, unknownDelete.error.translation_key], ['home_assistant_error', 'user_not_found']);
  assert.equal((await admin.command({ type: 'config/auth_provider/homeassistant/delete', username: 'robert' })).result, null);
  const afterDelete = (await owner.command({ type: 'config/auth/list' })).result.find((user) => user.id === bob.id);
  assert.deepEqual(afterDelete.credentials, []);
});

test('§4.4/§6.6 homeassistant provider commands on 2023.9: silent normalization and legacy error codes', async (t) => {
  const double = await withDouble(t, { version: '2023.9.3', users: SEED });
  const owner = await authenticatedSocket(double, tokenFor(double, 'owner'));
  t.after(() => owner.close());
  const bob = (await owner.command({ type: 'config/auth/create', name: 'Bob', group_ids: ['system-users'] })).result.user;
  assert.equal((await owner.command({ type: 'config/auth_provider/homeassistant/create', user_id: bob.id, username: ' Bob ', password: 'pw' })).result, null);
  const listed = (await owner.command({ type: 'config/auth/list' })).result.find((user) => user.id === bob.id);
  assert.equal(listed.username, 'bob');
  const duplicate = await owner.command({ type: 'config/auth_provider/homeassistant/create', user_id: bob.id, username: 'ALICE', password: 'pw' });
  assert.deepEqual(duplicate.error, { code: 'username_exists', message: 'Username already exists' });
  assert.deepEqual((await owner.command({ type: 'config/auth_provider/homeassistant/delete', username: 'ghost' })).error, { code: 'auth_not_found', message: 'Given username was not found.' });
  assert.equal((await owner.command({ type: 'config/auth_provider/homeassistant/admin_change_username', user_id: bob.id, username: 'x' })).error.code, 'unknown_command');
  assert.equal((await owner.command({ type: 'auth/refresh_token_set_expiry', refresh_token_id: 'x', enable_expiry: true })).error.code, 'unknown_command');
  const tokens = (await owner.command({ type: 'auth/refresh_tokens' })).result;
  assert.ok(tokens.every((token) => !('expire_at' in token)), 'expire_at arrived in 2024.2');
});

test('§4.4/§6.5 person/list and person/create', async (t) => {
  const double = await withDouble(t, { users: SEED });
  const owner = await authenticatedSocket(double, tokenFor(double, 'owner'));
  const alice = await authenticatedSocket(double, tokenFor(double, 'alice'));
  t.after(() => { owner.close(); alice.close(); });
  const list = (await alice.command({ type: 'person/list' })).result;
  assert.deepEqual(Object.keys(list), ['storage', 'config']);
  assert.deepEqual(list.storage.map((person) => [person.name, person.user_id]), [['Owner', double.state.ownerId]]);
  const created = (await owner.command({ type: 'person/create', name: 'Alice', user_id: double.state.userIds.alice })).result;
  assert.deepEqual({ ...created, id: 'x' }, { id: 'x', name: 'Alice', user_id: double.state.userIds.alice, device_trackers: [], picture: null });
  assert.deepEqual((await owner.command({ type: 'person/create', name: 'Alice 2', user_id: double.state.userIds.alice })).error, { code: 'invalid_format', message: 'User already taken' });
  assert.deepEqual((await owner.command({ type: 'person/create', name: 'Ghost', user_id: 'f'.repeat(32) })).error, { code: 'invalid_format', message: 'User does not exist' });
  assert.equal((await owner.command({ type: 'person/create', name: '' })).error.code, 'invalid_format');
  assert.equal((await alice.command({ type: 'person/create', name: 'Nope' })).error.code, 'unauthorized');
  // Deleting the user keeps the person and clears user_id (§6.5).
  await owner.command({ type: 'config/auth/delete', user_id: double.state.userIds.alice });
  const after = (await owner.command({ type: 'person/list' })).result.storage.find((person) => person.name === 'Alice');
  assert.equal(after.user_id, null);
});
