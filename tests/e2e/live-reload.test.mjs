// A reload on SIGHUP (config/current) applies the keys that can change under a running Gatehouse to the
// requests that follow — here the users block (roles), trusted_devices and local_login — without a
// restart, while a key that needs one is named as waiting and keeps its running value; the providers
// change for the next sign-in (a sign-in begun before finishes); people already signed in and their
// websockets go on through it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { mergeConfig, TEST_GUARD } from './lib/harness.mjs';
import { request } from './lib/http-client.mjs';
import { routeHawsThrough, signInAndConnect } from './lib/haws-node.mjs';
import { CookieJar, frontendState, linksOf, pageText, startSsoStack, toYamlDocument, ROLE_GROUPS } from './lib/sso-stack.mjs';

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

test('SIGHUP applies users, trusted_devices and local_login to the next request, names what waits for a restart; sessions and websockets go on', TEST_GUARD, async (t) => {
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

  // A key that needs a restart (workers) beside a live one: the roles apply, workers waits.
  rewrite({ users: { roles: { ...adminsToo.roles, admin: ['ha-admins'], user: ['ha-users'] } }, trusted_devices: [KITCHEN_DEVICE],
    local_login: 'allowed', workers: 1 });
  gatehouse.proc.kill('SIGHUP');
  const second = await gatehouse.waitForLog(nthReload(2));
  assert.deepEqual([second.applied, second.waiting_for_restart], ['users', 1]);
  const waiting = await gatehouse.waitForLog((entry) => entry.msg?.startsWith('configuration changed: restart Gatehouse'));
  assert.equal(waiting.keys, 'workers');
  await signIn(stack, 'bob');
  assert.deepEqual(groupsOf(stack, 'bob.builder'), [ROLE_GROUPS.user], 'back to the roles of the file');

  // Alice's websocket, opened before the reload, still talks to HA on the same connection.
  await alice.connection.ping();
  assert.equal(disconnects, 0, 'never dropped');
  assert.equal(gatehouse.proc.exitCode, null);
  stack.assertHygiene({ clientChecks: false }); // the kitchen panel signed in from its own address
});

test('SIGHUP changes the providers for the next sign-in: renamed, removed; a sign-in begun before the change finishes', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t, { providers: [{ id: 'corp', name: 'Corporate SSO' }, { id: 'partners', name: 'Partner Login' }] });
  const { gatehouse } = stack;
  const [corp, partners] = stack.config.providers;
  const nthReload = (n) => { let seen = 0; return (entry) => entry.msg === 'configuration reloaded' && ++seen === n; };
  const reloadWith = async (providers, n) => {
    writeFileSync(gatehouse.configPath, `${toYamlDocument(mergeConfig(stack.config, { providers }))}\n`);
    gatehouse.proc.kill('SIGHUP');
    return gatehouse.waitForLog(nthReload(n));
  };
  const state = frontendState(stack.externalUrl, stack.frontendClientId);
  const chooser = async () => {
    const page = await stack.login({ state });
    assert.equal(page.kind, 'page');
    return page;
  };
  assert.match(pageText((await chooser()).body), /Corporate SSO[\s\S]*Partner Login/);

  // Bob begins a sign-in through partners and is at the IdP when the file changes.
  const jar = new CookieJar();
  const partnersLink = new URL(linksOf((await chooser()).body).find((link) => link.href.includes('/sso/login/partners')).href, stack.externalUrl);
  const halfway = await stack.resume(partnersLink.href, { username: 'bob', jar, stopBeforeCallback: true });
  assert.equal(halfway.kind, 'callback');

  // Renamed: the chooser says the new name; bob's sign-in finishes through the provider's new setup.
  const renamed = await reloadWith([corp, { ...partners, name: 'Partner Portal' }], 1);
  assert.deepEqual([renamed.applied, renamed.waiting_for_restart], ['providers', 0]);
  assert.match(pageText((await chooser()).body), /Corporate SSO[\s\S]*Partner Portal/);
  const finished = await stack.resume(halfway.callbackUrl, { jar });
  assert.ok(finished.code, 'bob\'s sign-in finished');
  stack.rememberSecret(finished.code, 'HA code for bob');
  assert.ok(stack.double.users().some((user) => user.username === 'bob.builder'));

  // Removed: one provider left, so /auth/authorize goes straight to it; the removed one's link is gone.
  const removed = await reloadWith([corp], 2);
  assert.deepEqual([removed.applied, removed.waiting_for_restart], ['providers', 0]);
  const direct = await stack.login({ state, username: 'alice' });
  assert.ok(direct.code, 'alice signed in without a chooser');
  stack.rememberSecret(direct.code, 'HA code for alice');
  assert.ok(direct.history.some((url) => url.startsWith(`${stack.idps[0].issuer}/`)), 'through the remaining IdP');
  const gone = await request(`${stack.externalUrl}/sso/login/partners?${new URL(halfway.history[0] ?? partnersLink).searchParams}`,
    { headers: { accept: 'text/html' }, localAddress: stack.clientAddress });
  assert.equal(gone.status, 404);
  assert.match(pageText(gone.text()), /does not exist/);
  assert.equal(gatehouse.proc.exitCode, null);
  stack.assertHygiene();
});
