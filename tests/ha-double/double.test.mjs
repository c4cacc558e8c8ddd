// Tests of the double as a tool: the control API (methods and /__double/ HTTP), the CLI
// wrapper, seeding, frontend pages (§1.3, §7.4, §8.2), onboarding (§0.1, §8.3) and
// webhooks (§8.5).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Script } from 'node:vm';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { withDouble, request, postJson, postForm, loginTokens, authenticatedSocket, clientIdOf } from './helpers.mjs';

const controlGet = async (double, path) => (await request(double, { path: `/__double${path}` })).json();
const controlPost = async (double, path, body) => {
  const response = await request(double, { method: 'POST', path: `/__double${path}`, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) });
  return { status: response.status, body: response.json() };
};

test('default seed: owner/owner-password (owner, system-admin, with a person) and the content system user', async (t) => {
  const double = await withDouble(t);
  const users = double.users();
  const owner = users.find((user) => user.id === double.state.ownerId);
  assert.deepEqual([owner.name, owner.username, owner.isOwner, owner.groupIds], ['Owner', 'owner', true, ['system-admin']]);
  const content = users.find((user) => user.id === double.state.contentUserId);
  assert.deepEqual([content.name, content.systemGenerated, content.groupIds], ['Home Assistant Content', true, ['system-read-only']]);
  assert.equal(double.state.userIds.owner, double.state.ownerId);
  assert.equal((await loginTokens(double)).ha_auth_provider, 'homeassistant');
  const fresh = await withDouble(t, { onboarded: false });
  assert.equal(fresh.state.ownerId, null);
  assert.deepEqual(fresh.users().map((user) => user.name), ['Home Assistant Content']);
});

test('control API over HTTP: users, tokens, counters, events, clock, onboarding, stopping', async (t) => {
  const double = await withDouble(t);
  const created = await controlPost(double, '/users', { name: 'Dana', username: 'dana', password: 'pw', groups: ['system-users'] });
  assert.equal(created.status, 200);
  assert.match(created.body.id, /^[0-9a-f]{32}$/);
  const users = await controlGet(double, '/users');
  assert.equal(users.find((user) => user.id === created.body.id).username, 'dana');
  assert.equal((await controlPost(double, '/users', {})).status, 400);

  const llat = await controlPost(double, '/long-lived-tokens', { userId: created.body.id, clientName: 'ci' });
  assert.equal((await request(double, { path: '/api/', headers: { authorization: `Bearer ${llat.body.token}` } })).status, 200);
  const tokens = await controlGet(double, '/refresh-tokens');
  const listed = tokens.find((token) => token.id === llat.body.refreshTokenId);
  assert.deepEqual([listed.userId, listed.type, listed.clientName], [created.body.id, 'long_lived_access_token', 'ci']);
  assert.ok(!('token' in listed) && !('jwtKey' in listed), 'secrets are not exposed');

  const socket = await authenticatedSocket(double, llat.body.token);
  const subscribed = await socket.command({ type: 'subscribe_events', event_type: 'state_changed' });
  assert.equal(subscribed.success, true);
  await controlPost(double, '/states', { entityId: 'sensor.test', state: '7', attributes: { unit_of_measurement: 'x' } });
  const event = await socket.receive((message) => message.type === 'event');
  assert.equal(event.event.data.new_state.state, '7');
  assert.deepEqual(await controlGet(double, '/websockets'), { opened: 1, authenticated: 1, open: 1, binaryFrames: 0 });

  const deactivated = await controlPost(double, `/users/${created.body.id}`, { isActive: false });
  assert.equal(deactivated.body.isActive, false);
  assert.equal((await request(double, { path: '/api/', headers: { authorization: `Bearer ${llat.body.token}` } })).status, 401);
  assert.equal(socket.ws.readyState, socket.ws.OPEN, 'deactivation closes nothing (§5)');
  const removed = once(double.events, 'ws-closed');
  const revoke = await request(double, { method: 'DELETE', path: `/__double/refresh-tokens/${llat.body.refreshTokenId}` });
  assert.equal(revoke.status, 200);
  assert.equal((await removed)[0].code, 1000);
  assert.equal((await request(double, { method: 'DELETE', path: `/__double/users/${created.body.id}` })).status, 200);
  assert.equal((await request(double, { method: 'DELETE', path: `/__double/users/${created.body.id}` })).status, 404);

  const failed = await controlGet(double, '/failed-logins');
  assert.deepEqual(failed.map((entry) => [entry.ip, entry.path]), [['127.0.0.1', '/api/']]);
  assert.equal((await controlGet(double, '/request-counts'))['/api/'], 2);
  assert.equal((await controlGet(double, '/request-counts'))['/__double/users'], undefined, 'control calls are not counted');

  const clock = await controlPost(double, '/clock', { now: 1_000_000 });
  assert.deepEqual(clock.body, { now: 1_000_000 });
  assert.deepEqual((await controlPost(double, '/clock', { advance: 500 })).body, { now: 1_000_500 });
  assert.equal(double.now(), 1_000_500);

  await controlPost(double, '/onboarding', { done: false });
  assert.equal((await request(double, { path: '/auth/providers' })).json().code, 'onboarding_required');
  await controlPost(double, '/onboarding', { done: true });
  await controlPost(double, '/stopping', { stopping: true });
  assert.equal((await request(double, { path: '/auth/providers' })).status, 503);
  await controlPost(double, '/stopping', { stopping: false });

  const fired = await controlPost(double, '/events', { type: 'my_event', data: { a: 1 } });
  assert.equal(fired.body.event_type, 'my_event');
  await controlPost(double, '/reset-counters');
  assert.deepEqual(await controlGet(double, '/failed-logins'), []);
  assert.deepEqual(await controlGet(double, '/request-counts'), {});
  assert.equal((await request(double, { path: '/__double/nope' })).status, 404);
  socket.close();
});

test('server.mjs prints one listening line, serves, and exits 0 on SIGTERM', async () => {
  const serverPath = fileURLToPath(new URL('./server.mjs', import.meta.url));
  const child = spawn(process.execPath, [serverPath, '--port', '0', '--options-json', JSON.stringify({ version: '2023.9.3' })], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = createInterface({ input: child.stdout });
  const [firstLine] = await once(lines, 'line');
  const ready = JSON.parse(firstLine);
  assert.equal(ready.event, 'listening');
  assert.ok(Number.isInteger(ready.port) && ready.port > 0);
  const response = await fetch(`http://127.0.0.1:${ready.port}/auth/providers`);
  assert.ok(Array.isArray(await response.json()), 'options reached the double (2023.9 shape)');
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code] = await exited;
  assert.equal(code, 0);
  const bad = spawn(process.execPath, [serverPath, '--options-json', '{nope'], { stdio: 'ignore' });
  assert.equal((await once(bad, 'exit'))[0], 2);
});

test('§7.4/§8.2 frontend shell, panels, static assets and the browser build of home-assistant-js-websocket', async (t) => {
  const double = await withDouble(t);
  for (const path of ['/', '/lovelace/0', '/config/users', '/profile', '/dashboard-test/home']) {
    const page = await request(double, { path });
    assert.equal(page.status, 200, path);
    assert.match(page.text, /id="user"/);
    assert.match(page.text, /\/frontend_latest\/haws\.umd\.js/);
  }
  assert.equal((await request(double, { path: '/not-a-panel' })).status, 404);
  assert.equal((await request(double, { method: 'POST', path: '/' })).status, 405);
  const haws = await request(double, { path: '/frontend_latest/haws.umd.js' });
  assert.equal(haws.status, 200);
  assert.match(haws.text, /global\.HAWS|HAWS = \{\}/);
  assert.equal(haws.headers['cache-control'], 'public, max-age=2678400');
  assert.equal((await request(double, { path: '/frontend_latest/missing.js' })).status, 404);
  const manifest = await request(double, { path: '/manifest.json' });
  assert.equal(manifest.json().name, 'Home Assistant');
  const fresh = await withDouble(t, { onboarded: false });
  const redirect = await request(fresh, { path: '/lovelace/0' });
  assert.equal(redirect.status, 302);
  assert.equal(redirect.headers.location, '/onboarding.html');
  assert.equal((await request(fresh, { path: '/onboarding.html' })).status, 200);
});

test('the static page scripts are valid JavaScript and use the contract flow', () => {
  for (const name of ['authorize.js', 'app.js', 'onboarding.js']) {
    const source = readFileSync(new URL(`./static/${name}`, import.meta.url), 'utf8');
    assert.doesNotThrow(() => new Script(source, { filename: name }), name);
  }
  const authorize = readFileSync(new URL('./static/authorize.js', import.meta.url), 'utf8');
  for (const needle of ['/auth/providers', 'onboarding_required', '/auth/login_flow', 'storeToken=true', 'preselect_remember_me']) {
    assert.ok(authorize.includes(needle), needle);
  }
  const app = readFileSync(new URL('./static/app.js', import.meta.url), 'utf8');
  for (const needle of ['getAuth', 'hassTokens', 'createConnection', 'subscribeEntities']) assert.ok(app.includes(needle), needle);
});

test('§0.1/§8.3 onboarding: status, owner creation with auth_code, 403 on repeat, remaining steps', async (t) => {
  const double = await withDouble(t, { onboarded: false });
  assert.deepEqual((await request(double, { path: '/api/onboarding' })).json(), [
    { step: 'user', done: false }, { step: 'core_config', done: false }, { step: 'analytics', done: false }, { step: 'integration', done: false },
  ]);
  assert.equal((await request(double, { path: '/api/onboarding/installation_type' })).status, 200);
  const clientId = clientIdOf(double);
  const missing = await postJson(double, '/api/onboarding/users', { client_id: clientId, name: 'Paulus' });
  assert.equal(missing.status, 400);
  const created = await postJson(double, '/api/onboarding/users', { client_id: clientId, name: 'Paulus', username: 'paulus', password: 'secret', language: 'en' });
  assert.equal(created.status, 200);
  assert.match(created.json().auth_code, /^[0-9a-f]{32}$/);
  const again = await postJson(double, '/api/onboarding/users', { client_id: clientId, name: 'X', username: 'x', password: 'x', language: 'en' });
  assert.equal(again.status, 403);
  assert.deepEqual(again.json(), { message: 'User step already done' });
  assert.equal((await request(double, { path: '/api/onboarding/installation_type' })).status, 401);
  const tokens = (await postForm(double, '/auth/token', { grant_type: 'authorization_code', client_id: clientId, code: created.json().auth_code })).json();
  const owner = double.users().find((user) => user.username === 'paulus');
  assert.deepEqual([owner.isOwner, owner.groupIds], [true, ['system-admin']]);
  assert.equal(double.state.ownerId, owner.id);
  assert.equal((await request(double, { path: '/auth/providers' })).status, 200, 'providers work once the user step is done');
  const headers = { authorization: `Bearer ${tokens.access_token}` };
  assert.equal((await postJson(double, '/api/onboarding/core_config', {}, headers)).status, 200);
  assert.equal((await postJson(double, '/api/onboarding/analytics', {}, headers)).status, 200);
  assert.equal((await request(double, { path: '/' })).status, 302, 'still onboarding');
  const integration = await postJson(double, '/api/onboarding/integration', { client_id: clientId, redirect_uri: `${double.url}/?auth_callback=1` }, headers);
  assert.match(integration.json().auth_code, /^[0-9a-f]{32}$/);
  assert.equal((await request(double, { path: '/' })).status, 200);
  const exchanged = await postForm(double, '/auth/token', { grant_type: 'authorization_code', client_id: clientId, code: integration.json().auth_code });
  assert.equal(exchanged.status, 200);
});

test('§8.5 webhooks: unknown ids get 200, methods, local_only, deliveries recorded, deleted users lose theirs', async (t) => {
  const double = await withDouble(t, {
    useXForwardedFor: true,
    trustedProxies: ['127.0.0.1'],
    webhooks: ['plain', { id: 'local', localOnly: true }, { id: 'phone', userId: 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb' }],
    users: [{ name: 'Owner', username: 'owner', password: 'pw', isOwner: true, groups: ['system-admin'] }, { name: 'Phone user', id: 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb' }],
  });
  const post = (id, headers = {}) => request(double, { method: 'POST', path: `/api/webhook/${id}`, headers: { 'content-type': 'application/json', ...headers }, body: '{"type":"ping"}' });
  const delivered = once(double.events, 'webhook');
  assert.equal((await post('plain')).status, 200);
  assert.deepEqual([(await delivered)[0].webhookId, (await delivered)[0].processed, (await delivered)[0].body], ['plain', true, '{"type":"ping"}']);
  assert.equal((await post('unknown')).status, 200);
  assert.equal((await request(double, { path: '/api/webhook/plain' })).status, 405);
  assert.equal((await request(double, { method: 'HEAD', path: '/api/webhook/plain' })).status, 200);
  assert.equal((await post('local', { 'x-forwarded-for': '203.0.113.3' })).status, 200);
  assert.equal((await post('local', { 'x-forwarded-for': '192.168.3.3' })).status, 200);
  assert.equal((await post('phone')).status, 200);
  assert.equal((await post('plain', { origin: 'https://anything.example' })).headers['access-control-allow-origin'], 'https://anything.example');
  double.deleteUser('bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb');
  await post('phone');
  const summary = double.webhookDeliveries.map((delivery) => [delivery.webhookId, delivery.processed, delivery.remote]);
  assert.deepEqual(summary, [
    ['plain', true, '127.0.0.1'],
    ['unknown', false, '127.0.0.1'],
    ['local', false, '203.0.113.3'],
    ['local', true, '192.168.3.3'],
    ['phone', true, '127.0.0.1'],
    ['plain', true, '127.0.0.1'],
    ['phone', false, '127.0.0.1'],
  ]);
});

test('§7.2 mobile_app registration: Bearer only, a 400 for a body the schema refuses, 201 with the webhook the app then calls, registered to that user', async (t) => {
  const double = await withDouble(t);
  const registration = { app_id: 'io.homeassistant.companion.android', app_name: 'Home Assistant', app_version: '2026.1', device_name: 'Pixel', manufacturer: 'Google', model: 'Pixel 9', os_name: 'Android', supports_encryption: false };
  assert.equal((await postJson(double, '/api/mobile_app/registrations', registration)).status, 401);
  const { access_token: token } = await loginTokens(double);
  const headers = { authorization: `Bearer ${token}` };
  const incomplete = await postJson(double, '/api/mobile_app/registrations', { app_id: 'x' }, headers);
  assert.equal(incomplete.status, 400);
  assert.match(incomplete.json().message, /^Message format incorrect: required key not provided/);
  const created = await postJson(double, '/api/mobile_app/registrations', registration, headers);
  assert.equal(created.status, 201);
  const reply = created.json();
  assert.deepEqual(Object.keys(reply).sort(), ['cloudhook_url', 'remote_ui_url', 'secret', 'webhook_id']);
  assert.match(reply.webhook_id, /^[0-9a-f]{64}$/);
  assert.deepEqual([reply.cloudhook_url, reply.remote_ui_url, reply.secret], [null, null, null]);
  const owner = double.users().find((user) => user.username === 'owner');
  const ping = () => request(double, { method: 'POST', path: `/api/webhook/${reply.webhook_id}`, headers: { 'content-type': 'application/json' }, body: '{"type":"get_config"}' });
  assert.equal((await ping()).status, 200);
  assert.equal(double.webhookDeliveries.at(-1).processed, true);
  assert.equal(double.webhooks.get(reply.webhook_id).userId, owner.id);
});

test('suspend() is an HA outage: connections dropped, nothing listens, state kept; resume() serves on the same port', async (t) => {
  const double = await withDouble(t);
  const tokens = await loginTokens(double);
  const socket = await authenticatedSocket(double, tokens.access_token);
  const port = double.port;
  await double.suspend();
  await socket.closed;
  await assert.rejects(request(double, { path: '/api/' }), /ECONNREFUSED/);
  await double.resume();
  assert.equal(double.port, port);
  const again = await authenticatedSocket(double, tokens.access_token);
  t.after(() => again.close());
  const refreshed = await postForm(double, '/auth/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: clientIdOf(double) });
  assert.equal(refreshed.status, 200, 'the session from before the outage is still there');
});
