// Re-validation (providers[].revalidate) for IdPs without SCIM or back-channel logout: Gatehouse keeps
// each sign-in's IdP refresh token, sealed, and refreshes it when due. Real parts: the IdP (oidc-provider,
// issuing refresh tokens as Keycloak does), HA's own client library, the HA double.
// - A group change at the IdP reaches HA: bob made an admin there is an admin in HA (his socket stays).
// - Taken out of every group that gives access: all of bob's sessions end (sockets closed 1008 "Session
//   ended", tokens refused, refresh invalid_grant, gone in HA); alice keeps hers; signing in again is refused
//   (no role). His HA user stays active (the IdP decides whether he signs in again).
// - The account removed at the IdP (its refresh answers invalid_grant): carol's sessions end.
// - At rest the IdP's refresh tokens are sealed: the database file never holds one in clear; nor do logs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getStates } from 'home-assistant-js-websocket';
import { pollUntil, TEST_GUARD } from './lib/harness.mjs';
import { request } from './lib/http-client.mjs';
import { routeHawsThrough, signInAndConnect } from './lib/haws-node.mjs';
import { startSsoStack, frontendState, CLIENT_ADDRESS, ROLE_GROUPS } from './lib/sso-stack.mjs';

const apiStatus = async (stack, session) => (await request(`${stack.externalUrl}/api/states`, {
  headers: { authorization: `Bearer ${session.auth.accessToken}` }, localAddress: CLIENT_ADDRESS,
})).status;
// HA's groups of a user change beside the requests (no event announces them): polled, bounded.
const haGroupsBecome = (stack, username, group) => pollUntil(() => {
  const groups = stack.userNamed(username)?.groupIds ?? [];
  return { done: groups.includes(group), value: groups };
}, { timeoutMs: 15000 });

const revalidating = (t) => startSsoStack(t, { providers: [{ idpOptions: { refreshTokens: true }, config: { revalidate: '1s' } }] });

test('re-validation: a group change reaches HA; out of every group, all of the person\'s sessions end; others keep theirs', TEST_GUARD, async (t) => {
  const stack = await revalidating(t);
  routeHawsThrough(stack.externalUrl, CLIENT_ADDRESS);
  const laptop = await signInAndConnect(t, stack, 'bob');
  const phone = await signInAndConnect(t, stack, 'bob');
  const alice = await signInAndConnect(t, stack, 'alice');
  assert.ok(stack.userNamed('bob.builder').groupIds.includes(ROLE_GROUPS.user));

  // Promoted at the IdP: HA follows at the next re-validation, and his sockets stay open.
  stack.idp.setUserGroups('bob', ['ha-admins']);
  assert.ok((await haGroupsBecome(stack, 'bob.builder', ROLE_GROUPS.admin)).includes(ROLE_GROUPS.admin), 'bob is an admin in HA');
  assert.equal(laptop.connection.socket.readyState, 1);
  assert.ok((await getStates(phone.connection)).length > 0);

  // Out of every group that gives access: all of his sessions end within about one interval.
  const taken = performance.now();
  stack.idp.setUserGroups('bob', ['unrelated']);
  const [laptopClosed, phoneClosed] = await Promise.all([laptop.closed, phone.closed]);
  assert.deepEqual([laptopClosed.code, laptopClosed.reason], [1008, 'Session ended']);
  assert.equal(phoneClosed.code, 1008);
  t.diagnostic(`group removed at the IdP to the last socket closed: ${Math.round(Math.max(laptopClosed.at, phoneClosed.at) - taken)} ms (interval 1 s)`);
  laptop.connection.close();
  phone.connection.close();
  assert.equal(await apiStatus(stack, laptop), 401);
  assert.equal(await apiStatus(stack, phone), 401);
  const refresh = await stack.postToken({ grant_type: 'refresh_token', refresh_token: phone.saved[0].refresh_token, client_id: stack.frontendClientId });
  assert.equal(refresh.status, 400);
  assert.deepEqual(refresh.json(), { error: 'invalid_grant' });
  const bobId = stack.userNamed('bob.builder').id;
  const left = await pollUntil(() => {
    const tokens = stack.double.refreshTokens().filter((token) => token.userId === bobId);
    return { done: tokens.length === 0, value: tokens.length };
  }, { timeoutMs: 10000 });
  assert.equal(left, 0, 'none of his sessions is left in HA');
  assert.equal(stack.userNamed('bob.builder').isActive, true, 'his HA user is not deactivated: the IdP decides');

  // alice is untouched; bob signing in again is refused by his groups.
  assert.equal(await apiStatus(stack, alice), 200);
  assert.ok((await getStates(alice.connection)).length > 0);
  const again = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'bob' });
  assert.equal(again.status, 403);

  const audit = await stack.audit();
  const refused = audit.find((entry) => entry.kind === 'revalidation_refused');
  assert.ok(refused, audit.map((entry) => entry.kind).join(' '));
  assert.match(refused.raw.detail.reason, /no longer in a group/);
  assert.equal(refused.raw.detail.sessions, 2);
  assert.ok(audit.some((entry) => entry.kind === 'role_requested' && entry.raw.detail.source === 'revalidation'));
  assert.ok(audit.some((entry) => entry.kind === 'role_changed' && entry.raw.detail.source === 'revalidation'
    && entry.raw.detail.to === ROLE_GROUPS.admin), 'the change in HA says who asked for it');

  // Sealed at rest: no IdP refresh token in the database file (nor in any log).
  const database = readFileSync(join(stack.config.data_dir, 'gatehouse.db')).toString('latin1');
  const issued = stack.idps[0].refreshTokens;
  assert.ok(issued.length >= 3, `the IdP issued refresh tokens (${issued.length})`);
  for (const token of issued) assert.ok(!database.includes(token), 'an IdP refresh token is stored in clear');
  assert.deepEqual(stack.leakedSecrets(), []);
});

test('re-validation: the account removed at the IdP (invalid_grant) ends that person\'s sessions', TEST_GUARD, async (t) => {
  const stack = await revalidating(t);
  routeHawsThrough(stack.externalUrl, CLIENT_ADDRESS);
  const carol = await signInAndConnect(t, stack, 'carol');
  const alice = await signInAndConnect(t, stack, 'alice');
  stack.idp.removeUser('carol');
  const closed = await carol.closed;
  assert.deepEqual([closed.code, closed.reason], [1008, 'Session ended']);
  carol.connection.close();
  assert.equal(await apiStatus(stack, carol), 401);
  assert.equal(await apiStatus(stack, alice), 200);
  const refused = (await stack.audit()).find((entry) => entry.kind === 'revalidation_refused');
  assert.match(refused?.raw.detail.reason ?? '', /invalid_grant/);
});
