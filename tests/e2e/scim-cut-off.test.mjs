// SCIM tells Gatehouse who is out (scim/people, issue #10). Real parts: the IdP (oidc-provider), HA's own
// client library (home-assistant-js-websocket), the HA double.
// - bob's SCIM User (userName = his preferred_username, any case) is set `active: "False"` as Entra ID
//   sends it: his websocket is closed with 1008, his token refused at the door, his refresh gets HA's
//   invalid_grant, HA shows his user deactivated, signing in again is refused; alice keeps everything.
//   `active: true` lets him sign in again.
// - A User inactive before its first sign-in cannot sign in; a DELETE of a signed-in person's User cuts
//   them off; creating the User again lifts what SCIM asked for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { getStates } from 'home-assistant-js-websocket';
import { freshDirectory, pollUntil, TEST_GUARD } from './lib/harness.mjs';
import { request } from './lib/http-client.mjs';
import { routeHawsThrough, signInAndConnect } from './lib/haws-node.mjs';
import { newSecret } from './lib/secrets.mjs';
import { startSsoStack, frontendState, CLIENT_ADDRESS, pageText } from './lib/sso-stack.mjs';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

async function startScimStack(t) {
  const token = newSecret('scim bearer token');
  const tokenFile = join(freshDirectory('scim-token-'), 'scim-token');
  writeFileSync(tokenFile, token);
  chmodSync(tokenFile, 0o600);
  const stack = await startSsoStack(t, { gatehouseConfig: { scim: { token_file: tokenFile } } });
  routeHawsThrough(stack.externalUrl, CLIENT_ADDRESS);
  stack.scim = async (path, { method = 'GET', body } = {}) => {
    const response = await request(`${stack.externalUrl}/scim/v2${path}`, {
      method, localAddress: CLIENT_ADDRESS, body: body === undefined ? undefined : JSON.stringify(body),
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/scim+json' }) },
    });
    return { status: response.status, json: response.body.length ? response.json() : null };
  };
  return stack;
}

async function signInRefused(stack, username) {
  const again = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username });
  assert.equal(again.kind, 'page');
  assert.equal(again.status, 403);
  assert.match(pageText(again.body), /access to Home Assistant was removed/);
}

const haUserActive = (stack, username, wanted) => pollUntil(() => {
  const active = stack.userNamed(username)?.isActive;
  return { done: active === wanted, value: active };
}, { timeoutMs: 10_000 });

test('SCIM active=false cuts the person off at once; active=true lets them sign in again; others keep theirs', TEST_GUARD, async (t) => {
  const stack = await startScimStack(t);
  const created = await stack.scim('/Users', { method: 'POST', body: { schemas: [USER], userName: 'bob.builder', active: true } });
  assert.equal(created.status, 201);
  const bob = await signInAndConnect(t, stack, 'bob');
  const alice = await signInAndConnect(t, stack, 'alice');
  await bob.connection.subscribeEvents(() => {}, 'state_changed');

  const sent = performance.now();
  const off = await stack.scim(`/Users/${created.json.id}`, { method: 'PATCH', body: {
    schemas: [PATCH], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] } });
  assert.equal(off.status, 200);
  const closed = await bob.closed;
  assert.deepEqual({ code: closed.code, reason: closed.reason }, { code: 1008, reason: 'Access removed' });
  t.diagnostic(`bob's socket closed ${Math.round(closed.at - sent)} ms after the SCIM PATCH was sent`);
  assert.equal(await haUserActive(stack, 'bob.builder', false), false, 'HA shows bob deactivated');

  const states = await request(`${stack.externalUrl}/api/states`, { headers: { authorization: `Bearer ${bob.auth.accessToken}` }, localAddress: CLIENT_ADDRESS });
  assert.equal(states.status, 401);
  const refresh = await stack.postToken({ grant_type: 'refresh_token', refresh_token: bob.saved[0].refresh_token, client_id: stack.frontendClientId });
  assert.equal(refresh.status, 400);
  assert.deepEqual(refresh.json(), { error: 'invalid_grant' });
  await signInRefused(stack, 'bob');

  assert.ok((await getStates(alice.connection)).length > 0, 'alice\'s socket answers');
  assert.equal(alice.connection.socket.readyState, 1);

  const entries = await stack.audit(['--user', 'bob.builder']);
  const requested = entries.find((entry) => entry.kind === 'cut_off_requested');
  assert.equal(requested?.raw.detail.source, 'scim', JSON.stringify(entries));

  const on = await stack.scim(`/Users/${created.json.id}`, { method: 'PATCH', body: {
    schemas: [PATCH], Operations: [{ op: 'replace', value: { active: true } }] } });
  assert.equal(on.status, 200);
  assert.equal(await haUserActive(stack, 'bob.builder', true), true, 'HA shows bob active again');
  const back = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'bob' });
  assert.equal(back.kind, 'redirect', 'bob signs in again');
});

test('SCIM: inactive before the first sign-in cannot sign in; DELETE cuts a signed-in person off; creating the User again lifts it', TEST_GUARD, async (t) => {
  const stack = await startScimStack(t);
  const alice = await stack.scim('/Users', { method: 'POST', body: { schemas: [USER], userName: 'ALICE', active: false } });
  assert.equal(alice.status, 201);
  await signInRefused(stack, 'alice');
  assert.equal(stack.userNamed('alice'), null, 'no HA user was made for her');

  const bobUser = await stack.scim('/Users', { method: 'POST', body: { schemas: [USER], userName: 'bob.builder' } });
  const bob = await signInAndConnect(t, stack, 'bob');
  assert.equal((await stack.scim(`/Users/${bobUser.json.id}`, { method: 'DELETE' })).status, 204);
  const closed = await bob.closed;
  assert.equal(closed.code, 1008);
  await signInRefused(stack, 'bob');

  const again = await stack.scim('/Users', { method: 'POST', body: { schemas: [USER], userName: 'Bob.Builder', active: true } });
  assert.equal(again.status, 201);
  assert.equal(await haUserActive(stack, 'bob.builder', true), true);
  const back = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'bob' });
  assert.equal(back.kind, 'redirect', 'bob signs in again');
});
