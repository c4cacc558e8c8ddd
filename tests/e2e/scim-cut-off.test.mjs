// SCIM tells Gatehouse who is out (scim/people, issue #10). Real parts: the IdP (oidc-provider), HA's own
// client library (home-assistant-js-websocket), the HA double.
// - bob's SCIM User (userName = his preferred_username, any case) is set `active: "False"` as Entra ID
//   sends it: his websocket is closed with 1008, his token refused at the door, his refresh gets HA's
//   invalid_grant, HA shows his user deactivated, signing in again is refused; alice keeps everything.
//   `active: true` lets him sign in again.
// - A User inactive before its first sign-in cannot sign in; a DELETE of a signed-in person's User cuts
//   them off; creating the User again lifts what SCIM asked for.
// - With scim.roles_from_groups, bob's SCIM Groups decide his HA group at sign-in (over his groups claim)
//   and at once when they change (authentik's PATCH add/remove members); in none of them he is cut off;
//   in one again he is let back in. alice, who has no SCIM User, keeps the role of her claim.
// - With it, a User with a role gets its HA user before its person signs in (so an admin can set it
//   up); the first sign-in takes that user over (no second one); a User without a role gets none until
//   a Group gives it one; a made user whose User turns inactive is deactivated before anyone signed in.
// - scim.on_deactivate: delete: the cut-off ends bob's sessions, then deletes his HA user (HA drops his
//   app's webhook with it); active again, he signs in to a new HA user.
// - SCIM follows the User, not its userName: bob's User renamed is still bob (its deactivation cuts him
//   off), and another User given his old name neither cuts him off nor turns his sign-in away.
// - A console cut-off of a person SCIM cut off holds on its own: SCIM's active=true does not end it, and
//   the HA user SCIM deleted does not let him in on a fresh one; the console's --lift does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { getStates } from 'home-assistant-js-websocket';
import { freshDirectory, pollUntil, runGatehouse, TEST_GUARD } from './lib/harness.mjs';
import { request } from './lib/http-client.mjs';
import { routeHawsThrough, signInAndConnect } from './lib/haws-node.mjs';
import { newSecret } from './lib/secrets.mjs';
import { startSsoStack, frontendState, CLIENT_ADDRESS, pageText, DEFAULT_IDP_USERS } from './lib/sso-stack.mjs';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

async function startScimStack(t, scimSettings = {}, stackOptions = {}) {
  const token = newSecret('scim bearer token');
  const tokenFile = join(freshDirectory('scim-token-'), 'scim-token');
  writeFileSync(tokenFile, token);
  chmodSync(tokenFile, 0o600);
  const stack = await startSsoStack(t, { ...stackOptions, gatehouseConfig: { scim: { token_file: tokenFile, ...scimSettings } } });
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
  // The SCIM writes themselves: what, on which User, from which address.
  const writes = entries.filter((entry) => entry.kind === 'scim_write').map((entry) => entry.raw.detail);
  assert.deepEqual(writes.map(({ operation, type, id, active }) => ({ operation, type, id, active })),
    [{ operation: 'create', type: 'User', id: created.json.id, active: true }, { operation: 'patch', type: 'User', id: created.json.id, active: false }]);

  const on = await stack.scim(`/Users/${created.json.id}`, { method: 'PATCH', body: {
    schemas: [PATCH], Operations: [{ op: 'replace', value: { active: true } }] } });
  assert.equal(on.status, 200);
  assert.equal(await haUserActive(stack, 'bob.builder', true), true, 'HA shows bob active again');
  const back = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'bob' });
  assert.equal(back.kind, 'redirect', 'bob signs in again');
});

test('HA down during a SCIM cut-off: the write is kept and answered, the door refuses at once, nothing in HA is half-done, and HA\'s side is done when HA is back', TEST_GUARD, async (t) => {
  const stack = await startScimStack(t);
  const created = await stack.scim('/Users', { method: 'POST', body: { schemas: [USER], userName: 'bob.builder', active: true } });
  const bob = await signInAndConnect(t, stack, 'bob');
  const bobId = stack.userNamed('bob.builder').id;
  const sessionsInHa = () => stack.double.refreshTokens().filter((token) => token.userId === bobId).length;
  assert.ok(sessionsInHa() > 0);

  await stack.double.suspend(); // HA's outage: nothing listens, its state is kept
  await bob.closed;
  bob.connection.close();
  const off = await stack.scim(`/Users/${created.json.id}`, { method: 'PATCH', body: {
    schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: false }] } });
  assert.equal(off.status, 200, 'the SCIM write is in the store and answered; HA\'s side waits for HA');
  assert.equal(off.json.active, false);
  // Once the cut-off is applied (within the watch's poll), the door refuses him without HA (it knows
  // whose session his token is); a sign-in is refused before HA is needed.
  await pollUntil(async () => {
    const entries = await stack.audit(['--user', 'bob.builder']);
    return { done: entries.some((entry) => entry.kind === 'cut_off_applied'), value: entries };
  }, { timeoutMs: 10_000 });
  const states = await request(`${stack.externalUrl}/api/states`, { headers: { authorization: `Bearer ${bob.auth.accessToken}` }, localAddress: CLIENT_ADDRESS });
  assert.equal(states.status, 401, 'refused, not "HA unreachable"');
  await signInRefused(stack, 'bob');
  // Nothing in HA was done by halves: he is still active there, his sessions all still there.
  assert.equal(stack.userNamed('bob.builder').isActive, true);
  assert.ok(sessionsInHa() > 0);
  const failed = await pollUntil(async () => {
    const entries = await stack.audit(['--user', 'bob.builder']);
    return { done: entries.some((entry) => entry.kind === 'cut_off_ha_sessions_failed'), value: entries };
  }, { timeoutMs: 10_000 });
  assert.ok(failed.some((entry) => entry.kind === 'cut_off_ha_sessions_failed'), 'the failed try is audited');

  await stack.double.resume();
  assert.equal(await haUserActive(stack, 'bob.builder', false), false, 'HA shows bob deactivated once it is back');
  assert.equal(sessionsInHa(), 0, 'and none of his sessions left');
  const refresh = await stack.postToken({ grant_type: 'refresh_token', refresh_token: bob.saved[0].refresh_token, client_id: stack.frontendClientId });
  assert.equal(refresh.status, 400);
  assert.deepEqual(refresh.json(), { error: 'invalid_grant' });
  const entries = await stack.audit(['--user', 'bob.builder']);
  assert.ok(entries.some((entry) => entry.kind === 'cut_off_ha_sessions_ended'), entries.map((entry) => entry.kind).join(' '));
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
  const states = await request(`${stack.externalUrl}/api/states`, { headers: { authorization: `Bearer ${bob.auth.accessToken}` }, localAddress: CLIENT_ADDRESS });
  assert.equal(states.status, 401);
  const refresh = await stack.postToken({ grant_type: 'refresh_token', refresh_token: bob.saved[0].refresh_token, client_id: stack.frontendClientId });
  assert.deepEqual({ status: refresh.status, body: refresh.json() }, { status: 400, body: { error: 'invalid_grant' } });
  assert.equal(await haUserActive(stack, 'bob.builder', false), false, 'HA shows bob deactivated');

  const again = await stack.scim('/Users', { method: 'POST', body: { schemas: [USER], userName: 'Bob.Builder', active: true } });
  assert.equal(again.status, 201);
  assert.equal(await haUserActive(stack, 'bob.builder', true), true);
  const back = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'bob' });
  assert.equal(back.kind, 'redirect', 'bob signs in again');
});

const haGroups = (stack, username, wanted) => pollUntil(() => {
  const groups = stack.userNamed(username)?.groupIds ?? null;
  return { done: JSON.stringify(groups) === JSON.stringify(wanted), value: groups };
}, { timeoutMs: 10_000 });

test('SCIM roles_from_groups: Groups decide the role at sign-in and at once after; in no Group the person is cut off, in one again let back in', TEST_GUARD, async (t) => {
  const stack = await startScimStack(t, { roles_from_groups: true });
  const bobUser = (await stack.scim('/Users', { method: 'POST', body: { schemas: [USER], userName: 'bob.builder' } })).json;
  const member = { value: bobUser.id };
  const guests = await stack.scim('/Groups', { method: 'POST', body: { schemas: [GROUP], displayName: 'ha-guests', members: [member] } });
  assert.equal(guests.status, 201);
  const bob = await signInAndConnect(t, stack, 'bob');
  assert.deepEqual(stack.userNamed('bob.builder').groupIds, ['system-read-only'], 'SCIM says guest; his claim\'s ha-users does not count');
  const alice = await signInAndConnect(t, stack, 'alice');
  assert.deepEqual(stack.userNamed('alice').groupIds, ['system-admin'], 'no SCIM User: her claim decides');

  // authentik: the Group first, then one PATCH per member.
  const admins = (await stack.scim('/Groups', { method: 'POST', body: { schemas: [GROUP], displayName: 'ha-admins' } })).json;
  const sent = performance.now();
  const added = await stack.scim(`/Groups/${admins.id}`, { method: 'PATCH', body: {
    schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: [member] }] } });
  assert.equal(added.status, 200);
  assert.deepEqual(await haGroups(stack, 'bob.builder', ['system-admin']), ['system-admin']);
  t.diagnostic(`HA shows bob as an administrator ${Math.round(performance.now() - sent)} ms after the PATCH was sent`);
  assert.equal(bob.connection.socket.readyState, 1, 'a role change keeps his socket');

  assert.equal((await stack.scim(`/Groups/${admins.id}`, { method: 'DELETE' })).status, 204);
  assert.deepEqual(await haGroups(stack, 'bob.builder', ['system-read-only']), ['system-read-only'], 'back to guest');

  const removed = await stack.scim(`/Groups/${guests.json.id}`, { method: 'PATCH', body: {
    schemas: [PATCH], Operations: [{ op: 'remove', path: `members[value eq "${bobUser.id}"]` }] } });
  assert.equal(removed.status, 200);
  const closed = await bob.closed;
  assert.deepEqual({ code: closed.code, reason: closed.reason }, { code: 1008, reason: 'Access removed' });
  assert.equal(await haUserActive(stack, 'bob.builder', false), false, 'HA shows bob deactivated');
  const states = await request(`${stack.externalUrl}/api/states`, { headers: { authorization: `Bearer ${bob.auth.accessToken}` }, localAddress: CLIENT_ADDRESS });
  assert.equal(states.status, 401, 'his access token is refused at the door');
  const refresh = await stack.postToken({ grant_type: 'refresh_token', refresh_token: bob.saved[0].refresh_token, client_id: stack.frontendClientId });
  assert.deepEqual({ status: refresh.status, body: refresh.json() }, { status: 400, body: { error: 'invalid_grant' } });
  const refused = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'bob' });
  assert.equal(refused.kind, 'page');
  assert.equal(refused.status, 403);
  assert.equal(alice.connection.socket.readyState, 1, 'alice keeps her socket');
  assert.deepEqual(stack.userNamed('alice').groupIds, ['system-admin']);

  const users = (await stack.scim('/Groups', { method: 'POST', body: { schemas: [GROUP], displayName: 'ha-users', members: [member] } }));
  assert.equal(users.status, 201);
  assert.equal(await haUserActive(stack, 'bob.builder', true), true, 'in a Group again: let back in');
  assert.deepEqual(await haGroups(stack, 'bob.builder', ['system-users']), ['system-users']);
  const back = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'bob' });
  assert.equal(back.kind, 'redirect', 'bob signs in again');
  assert.deepEqual(stack.userNamed('bob.builder').groupIds, ['system-users']);

  const entries = await stack.audit(['--user', 'bob.builder']);
  const kinds = entries.map((entry) => entry.kind);
  for (const kind of ['role_requested', 'role_set', 'role_changed', 'cut_off_requested', 'cut_off_lifted'])
    assert.ok(kinds.includes(kind), `audit has ${kind}: ${kinds.join(' ')}`);
  const cutOff = entries.find((entry) => entry.kind === 'cut_off_requested');
  assert.match(cutOff.raw.detail.reason, /none of the Groups under users\.roles/);
});

const haUser = (stack, username, wanted = (user) => user !== null) => pollUntil(() => {
  const user = stack.userNamed(username);
  return { done: wanted(user), value: user };
}, { timeoutMs: 10_000 });

test('SCIM makes the HA user of a User with a role before the first sign-in, and that sign-in takes it over', TEST_GUARD, async (t) => {
  const stack = await startScimStack(t, { roles_from_groups: true });
  const bobUser = (await stack.scim('/Users', { method: 'POST', body: { schemas: [USER], userName: 'Bob.Builder', displayName: 'Bob (SCIM)' } })).json;
  const carolUser = (await stack.scim('/Users', { method: 'POST', body: { schemas: [USER], userName: 'carol', name: { formatted: 'Carol Singer' } } })).json;
  const usersBefore = stack.newUsers().length;
  const group = await stack.scim('/Groups', { method: 'POST', body: { schemas: [GROUP], displayName: 'ha-users', members: [{ value: bobUser.id }] } });
  assert.equal(group.status, 201);

  const made = await haUser(stack, 'bob.builder');
  assert.ok(made, 'HA has bob\'s user before he signed in');
  assert.deepEqual({ name: made.name, groupIds: made.groupIds, isActive: made.isActive },
    { name: 'Bob (SCIM)', groupIds: ['system-users'], isActive: true });
  assert.equal(stack.userNamed('carol'), null, 'carol is in no Group: no HA user for her');

  const bob = await signInAndConnect(t, stack, 'bob');
  const after = stack.userNamed('bob.builder');
  assert.equal(after.id, made.id, 'his sign-in took over the user SCIM made');
  assert.equal(after.name, 'Bob the Builder', 'and brought its name in line with the IdP');
  assert.equal(stack.newUsers().length, usersBefore + 1, 'no second HA user for bob');
  assert.equal(bob.connection.socket.readyState, 1);

  // carol gets a role: her user is made; SCIM deactivates her before she ever signed in: HA shows it.
  const guests = await stack.scim('/Groups', { method: 'POST', body: { schemas: [GROUP], displayName: 'ha-guests', members: [{ value: carolUser.id }] } });
  assert.equal(guests.status, 201);
  const carol = await haUser(stack, 'carol');
  assert.deepEqual({ name: carol.name, groupIds: carol.groupIds }, { name: 'Carol Singer', groupIds: ['system-read-only'] });
  const off = await stack.scim(`/Users/${carolUser.id}`, { method: 'PATCH', body: { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: false }] } });
  assert.equal(off.status, 200);
  assert.equal(await haUserActive(stack, 'carol', false), false, 'HA shows carol deactivated');

  const bobEntries = (await stack.audit(['--user', 'bob.builder'])).map((entry) => entry.raw);
  const created = bobEntries.find((entry) => entry.event === 'user_created');
  assert.equal(created?.detail.provider, 'scim');
  const linked = bobEntries.find((entry) => entry.event === 'user_linked');
  assert.equal(linked?.detail.by, 'scim');
});

// A sign-in through one provider, as the chooser page's link to it starts it.
function signInThrough(stack, providerId, username) {
  const state = frontendState(stack.externalUrl, stack.frontendClientId);
  const url = new URL(stack.authorizeUrl({ clientId: stack.frontendClientId, redirectUri: stack.frontendRedirectUri, state }));
  url.pathname = `/sso/login/${providerId}`;
  return stack.resume(url.href, { username });
}

test('SCIM belongs to one provider (scim.provider): another provider\'s user of the same username gets neither the SCIM User\'s role, nor its HA user, nor its cut-off', TEST_GUARD, async (t) => {
  const stack = await startScimStack(t, { roles_from_groups: true, provider: 'corp' },
    { providers: [{ id: 'corp', name: 'Corporate SSO' }, { id: 'partners', name: 'Partner Login' }] });
  const bobUser = (await stack.scim('/Users', { method: 'POST', body: { schemas: [USER], userName: 'bob.builder' } })).json;
  const admins = await stack.scim('/Groups', { method: 'POST', body: { schemas: [GROUP], displayName: 'ha-admins', members: [{ value: bobUser.id }] } });
  assert.equal(admins.status, 201);
  const made = await haUser(stack, 'bob.builder');
  assert.deepEqual(made.groupIds, ['system-admin'], 'SCIM made the corporate bob an administrator');

  // The partner IdP's bob has the same preferred_username: his own claim decides, on his own HA user.
  const viaPartners = await signInThrough(stack, 'partners', 'bob');
  assert.equal(viaPartners.kind, 'redirect');
  const partnerBob = stack.newUsers().find((user) => user.id !== made.id && user.name === 'Bob the Builder');
  assert.ok(partnerBob, 'the partner\'s bob has an HA user of his own');
  assert.deepEqual(partnerBob.groupIds, ['system-users'], 'his claim (ha-users), not the SCIM User\'s Group');
  assert.deepEqual(stack.userNamed('bob.builder').groupIds, ['system-admin']);

  const viaCorp = await signInThrough(stack, 'corp', 'bob');
  assert.equal(viaCorp.kind, 'redirect');
  assert.equal(stack.newUsers().filter((user) => user.name === 'Bob the Builder').length, 2);

  // SCIM deactivates its User: the corporate bob is out, the partner's bob is not.
  const off = await stack.scim(`/Users/${bobUser.id}`, { method: 'PATCH', body: { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: false }] } });
  assert.equal(off.status, 200);
  assert.equal(await haUserActive(stack, 'bob.builder', false), false, 'HA shows the corporate bob deactivated');
  assert.equal(stack.double.users().find((user) => user.id === partnerBob.id).isActive, true);
  assert.equal((await signInThrough(stack, 'partners', 'bob')).kind, 'redirect', 'the partner\'s bob still signs in');
  const corpAgain = await signInThrough(stack, 'corp', 'bob');
  assert.equal(corpAgain.kind, 'page');
  assert.equal(corpAgain.status, 403);
});

test('SCIM matching on email: an address the IdP says is unverified signs nobody in, with a page that says why; a verified one does', TEST_GUARD, async (t) => {
  // mallory typed bob's address at the IdP without proving it.
  const users = { ...DEFAULT_IDP_USERS, mallory: { preferred_username: 'mallory', name: 'Mallory', email: 'bob@example.test', email_verified: false, groups: ['ha-users'] } };
  const stack = await startScimStack(t, { match_claim: 'email', roles_from_groups: true }, { providers: [{ users }] });
  const bobUser = (await stack.scim('/Users', { method: 'POST', body: { schemas: [USER], userName: 'bob@example.test' } })).json;
  assert.equal((await stack.scim('/Groups', { method: 'POST', body: { schemas: [GROUP], displayName: 'ha-admins', members: [{ value: bobUser.id }] } })).status, 201);
  const made = await pollUntil(() => {
    const users = stack.newUsers();
    return { done: users.length === 1, value: users[0] };
  }, { timeoutMs: 10_000 });
  assert.deepEqual(made.groupIds, ['system-admin'], 'SCIM made bob\'s HA user, an administrator');
  const usersBefore = stack.newUsers().length;

  const refused = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'mallory' });
  assert.equal(refused.kind, 'page');
  assert.equal(refused.status, 403);
  assert.match(pageText(refused.body), /email address is not verified/);
  assert.equal(stack.newUsers().length, usersBefore, 'no HA user for her, and none taken over');
  assert.equal(stack.double.users().find((user) => user.id === made.id).name, made.name, 'and bob\'s HA user is untouched');

  const bob = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'bob' });
  assert.equal(bob.kind, 'redirect', 'bob, whose address the IdP verified, signs in');
});

test('SCIM on_deactivate: delete: a User set inactive has its HA user deleted after its sessions end; active again, a new HA user', TEST_GUARD, async (t) => {
  const stack = await startScimStack(t, { on_deactivate: 'delete' });
  const created = await stack.scim('/Users', { method: 'POST', body: { schemas: [USER], userName: 'bob.builder' } });
  const bob = await signInAndConnect(t, stack, 'bob');
  const before = stack.userNamed('bob.builder');
  const app = await request(`${stack.externalUrl}/api/mobile_app/registrations`, {
    method: 'POST', localAddress: CLIENT_ADDRESS, headers: { 'content-type': 'application/json', authorization: `Bearer ${bob.auth.accessToken}` },
    body: JSON.stringify({ app_id: 'io.robbie.HomeAssistant', app_name: 'Home Assistant', app_version: '2026.1', device_name: 'iPhone', manufacturer: 'Apple', model: 'iPhone 16', os_name: 'iOS', supports_encryption: false }),
  });
  const hook = stack.rememberSecret(app.json().webhook_id, 'mobile_app webhook id');
  assert.ok(stack.double.webhooks.has(hook));

  const off = await stack.scim(`/Users/${created.json.id}`, { method: 'PATCH', body: { schemas: [PATCH], Operations: [{ op: 'replace', value: { active: false } }] } });
  assert.equal(off.status, 200);
  assert.equal((await bob.closed).code, 1008);
  const gone = await pollUntil(() => ({ done: stack.double.users().every((user) => user.id !== before.id), value: stack.double.users().some((user) => user.id === before.id) }), { timeoutMs: 10_000 });
  assert.equal(gone, false, 'HA has no user bob any more');
  assert.equal(stack.double.webhooks.has(hook), false, 'HA dropped his app\'s webhook with him');
  const refresh = await stack.postToken({ grant_type: 'refresh_token', refresh_token: bob.saved[0].refresh_token, client_id: stack.frontendClientId });
  assert.equal(refresh.status, 400);
  await signInRefused(stack, 'bob');
  const audit = (await stack.audit(['--user', 'bob.builder'])).map((entry) => entry.kind);
  assert.ok(audit.includes('user_deleted'), audit.join(' '));

  assert.equal((await stack.scim(`/Users/${created.json.id}`, { method: 'PATCH', body: { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: true }] } })).status, 200);
  const lifted = await pollUntil(async () => {
    const kinds = (await stack.audit(['--user', 'bob.builder'])).map((entry) => entry.kind);
    return { done: kinds.includes('cut_off_lifted'), value: kinds.includes('cut_off_lifted') };
  }, { timeoutMs: 10_000 });
  assert.ok(lifted, 'the lift is applied');
  const back = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'bob' });
  assert.equal(back.kind, 'redirect', 'bob signs in again');
  const after = stack.userNamed('bob.builder');
  assert.ok(after && after.id !== before.id && after.isActive, 'to a new HA user');
});

test('a console cut-off holds against SCIM: active=true does not lift it, and the HA user SCIM deleted does not let him in on a new one; --lift does', TEST_GUARD, async (t) => {
  const stack = await startScimStack(t, { on_deactivate: 'delete' });
  const created = await stack.scim('/Users', { method: 'POST', body: { schemas: [USER], userName: 'bob.builder' } });
  assert.equal((await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'bob' })).kind, 'redirect');
  const before = stack.userNamed('bob.builder');

  const off = await stack.scim(`/Users/${created.json.id}`, { method: 'PATCH', body: { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: false }] } });
  assert.equal(off.status, 200);
  await pollUntil(() => ({ done: stack.double.users().every((user) => user.id !== before.id), value: null }), { timeoutMs: 10_000 });
  const cut = await runGatehouse(['cut-off', '-c', stack.configPath, 'bob.builder']);
  assert.equal(cut.code, 0, cut.stderr);
  assert.match(cut.stdout, /already cut off \(by scim\); the console's cut-off holds them now too/);

  // The IdP lets him back: SCIM's own cut-off ends, the console's does not.
  assert.equal((await stack.scim(`/Users/${created.json.id}`, { method: 'PATCH', body: { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: true }] } })).status, 200);
  const released = await pollUntil(async () => {
    const entry = (await stack.audit(['--user', 'bob.builder'])).find((item) => item.kind === 'cut_off_released');
    return { done: Boolean(entry), value: entry };
  }, { timeoutMs: 10_000 });
  assert.deepEqual(released?.raw.detail.still_held_by, ['console']);
  await signInRefused(stack, 'bob');
  assert.equal(stack.userNamed('bob.builder'), null, 'no new HA user was made for him');
  const kinds = (await stack.audit(['--user', 'bob.builder'])).map((entry) => entry.kind);
  assert.ok(!kinds.includes('cut_off_lifted') && !kinds.includes('identity_reset'), kinds.join(' '));

  const lifted = await runGatehouse(['cut-off', '-c', stack.configPath, '--lift', 'bob.builder']);
  assert.equal(lifted.code, 0, lifted.stderr);
  assert.match(lifted.stdout, /Lifted the cut-off of bob.builder/);
  assert.equal((await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'bob' })).kind, 'redirect', 'bob signs in again');
  const after = stack.userNamed('bob.builder');
  assert.ok(after && after.id !== before.id && after.isActive, 'to a new HA user');
});

test('SCIM follows the User, not its name: a renamed User still cuts its person off, and a new User with the old name does not reach them', TEST_GUARD, async (t) => {
  const stack = await startScimStack(t);
  const bobUser = (await stack.scim('/Users', { method: 'POST', body: { schemas: [USER], userName: 'bob.builder' } })).json;
  const bob = await signInAndConnect(t, stack, 'bob');
  const cutOffsOfBob = async () => (await stack.audit(['--user', 'bob.builder'])).filter((entry) => entry.kind === 'cut_off_requested');

  // The IdP renames him, and gives his old name to someone else, whose User is then deactivated.
  const renamed = await stack.scim(`/Users/${bobUser.id}`, { method: 'PATCH', body: { schemas: [PATCH], Operations: [{ op: 'replace', path: 'userName', value: 'robert.builder' }] } });
  assert.equal(renamed.status, 200);
  const other = await stack.scim('/Users', { method: 'POST', body: { schemas: [USER], userName: 'bob.builder', active: true } });
  assert.equal(other.status, 201);
  const otherOff = await stack.scim(`/Users/${other.json.id}`, { method: 'PATCH', body: { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: false }] } });
  assert.equal(otherOff.status, 200);
  assert.deepEqual(await cutOffsOfBob(), [], 'the other User is not bob: SCIM asked for nothing (decided before it answered)');
  // His sign-in still carries the old name, which is now the other (inactive) User's: his own User decides.
  const again = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'bob' });
  assert.equal(again.kind, 'redirect', 'bob signs in as the User he is bound to');

  // bob's own User, under its new name, is deactivated: he is out.
  const off = await stack.scim(`/Users/${bobUser.id}`, { method: 'PATCH', body: { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: false }] } });
  assert.equal(off.status, 200);
  const requested = await cutOffsOfBob();
  assert.equal(requested.length, 1, 'his renamed User cut him off');
  assert.match(requested[0].raw.detail.reason, new RegExp(bobUser.id));
  const closed = await bob.closed;
  assert.deepEqual({ code: closed.code, reason: closed.reason }, { code: 1008, reason: 'Access removed' });
  assert.equal(await haUserActive(stack, 'bob.builder', false), false, 'HA shows bob deactivated');
});
