// A reload on SIGHUP (config/current) applies the keys that can change under a running Gatehouse to the
// requests that follow — here the users block (roles), trusted_devices and local_login — without a
// restart, while a changed provider (a key that needs one) is named as waiting and keeps its running
// value, and so do the roles changed with it (they are read against its claims); people already signed
// in and their websockets go on through it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { mergeConfig, TEST_GUARD } from './lib/harness.mjs';
import { request } from './lib/http-client.mjs';
import { routeHawsThrough, signInAndConnect } from './lib/haws-node.mjs';
import { frontendState, startSsoStack, toYamlDocument, ROLE_GROUPS } from './lib/sso-stack.mjs';

const KITCHEN = '127.0.0.5';
const KITCHEN_DEVICE = { name: 'kitchen-panel', networks: ['127.0.0.5/32'], user: 'kiosk-kitchen' };

function authorizeFrom(stack, address) {
  const query = new URLSearchParams({ response_type: 'code', client_id: stack.frontendClientId, redirect_uri: stack.frontendRedirectUri, state: 's' });
  return request(`${stack.externalUrl}/auth/authorize?${query}`, { localAddress: address });
}

function haProviders(stack) {
  return request(`${stack.externalUrl}/auth/providers`, { localAddress: stack.clientAddress });
}

async function signIn(stack, username) {
  const result = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username });
  assert.ok(result.code, `${username} got a code: ${result.status ?? ''} ${result.url ?? ''}`);
  return result;
}

function groupsOf(stack, username) {
  const user = stack.double.users().find((entry) => entry.username === username);
  assert.ok(user, `${username} is in HA`);
  return user.groupIds ?? user.groups;
}

test('SIGHUP applies users, trusted_devices and local_login to the next request; a changed provider waits for a restart, and the roles read against it with it; sessions and websockets go on', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t);
  const { gatehouse } = stack;

  // Before: ha-users are HA users; the kitchen's address goes to the IdP; HA's password login is closed
  // (local_login's default with providers).
  await signIn(stack, 'bob');
  assert.deepEqual(groupsOf(stack, 'bob.builder'), [ROLE_GROUPS.user]);
  const kitchenBefore = await authorizeFrom(stack, KITCHEN);
  assert.equal(kitchenBefore.status, 302);
  assert.ok(!kitchenBefore.headers.location.startsWith(stack.frontendRedirectUri), 'sent to the IdP');
  assert.equal((await haProviders(stack)).status, 403);
  // Alice's frontend (home-assistant-js-websocket), connected before the reload.
  routeHawsThrough(stack.externalUrl, stack.clientAddress);
  const alice = await signInAndConnect(t, stack, 'alice');
  let disconnects = 0;
  alice.connection.addEventListener('disconnected', () => { disconnects += 1; });

  // The file changes: ha-users become admins, the kitchen panel is a trusted device, local login opens.
  const rewrite = (overrides) => writeFileSync(gatehouse.configPath, `${toYamlDocument(mergeConfig(stack.config, overrides))}\n`);
  const nthReload = (n) => { let seen = 0; return (entry) => entry.msg === 'configuration reloaded' && ++seen === n; };
  const adminsToo = { roles: { admin: ['ha-admins', 'ha-users'], user: ['ha-staff'], read_only: ['ha-guests'] } };
  rewrite({ users: adminsToo, trusted_devices: [KITCHEN_DEVICE], local_login: 'allowed' });
  gatehouse.proc.kill('SIGHUP');
  const reloaded = await gatehouse.waitForLog(nthReload(1));
  assert.equal(reloaded.applied, 'local_login, trusted_devices, users');
  assert.equal(reloaded.waiting_for_restart, 0);

  // After: bob's next sign-in brings his HA user in line with the new roles; dora is made an admin.
  await signIn(stack, 'bob');
  assert.deepEqual(groupsOf(stack, 'bob.builder'), [ROLE_GROUPS.admin]);
  await signIn(stack, 'dora');
  assert.deepEqual(groupsOf(stack, 'dora'), [ROLE_GROUPS.admin]);
  // The kitchen panel signs in as its device user, without the IdP.
  const kitchen = await authorizeFrom(stack, KITCHEN);
  assert.equal(kitchen.status, 302, kitchen.text());
  assert.ok(kitchen.headers.location.startsWith(stack.frontendRedirectUri), kitchen.headers.location);
  stack.rememberSecret(new URL(kitchen.headers.location).searchParams.get('code'), 'HA code for the kitchen panel');
  assert.ok(stack.double.users().some((user) => user.username === 'kiosk-kitchen'), 'its user was made');
  // HA's own login is open.
  assert.equal((await haProviders(stack)).status, 200);

  // The provider changes (a restart key) and the roles with it: the roles are read against the provider's
  // claims, so they wait for the restart too, and bob stays an admin meanwhile.
  const provider = { ...stack.config.providers[0], name: 'Renamed IdP' };
  rewrite({ users: { roles: { ...adminsToo.roles, admin: ['ha-admins'], user: ['ha-users'] } }, trusted_devices: [KITCHEN_DEVICE],
    local_login: 'allowed', providers: [provider] });
  gatehouse.proc.kill('SIGHUP');
  const held = await gatehouse.waitForLog(nthReload(2));
  assert.deepEqual([held.applied, held.waiting_for_restart], ['nothing', 2]);
  const waiting = await gatehouse.waitForLog((entry) => entry.msg?.startsWith('configuration changed: restart Gatehouse'));
  assert.equal(waiting.keys, 'providers, users');
  await signIn(stack, 'bob');
  assert.deepEqual(groupsOf(stack, 'bob.builder'), [ROLE_GROUPS.admin], 'the running roles still apply');

  // Alice's websocket, opened before the reload, still talks to HA on the same connection.
  await alice.connection.ping();
  assert.equal(disconnects, 0, 'never dropped');
  assert.equal(gatehouse.proc.exitCode, null);
  stack.assertHygiene({ clientChecks: false }); // the kitchen panel signed in from its own address
});
