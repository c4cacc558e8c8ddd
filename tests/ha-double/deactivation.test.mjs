// Tests of the deactivation/deletion gap the gateway exists to close (contract §0.1, §5):
// open websockets survive both; only refresh-token removal closes them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withDouble, request, postForm, loginFlow, loginTokens, authenticatedSocket, TestSocket, clientIdOf } from './helpers.mjs';

const SEED = [
  { name: 'Owner', username: 'owner', password: 'pw', isOwner: true, groups: ['system-admin'] },
  { name: 'Admin', username: 'admin', password: 'pw', groups: ['system-admin'] },
  { name: 'Alice', username: 'alice', password: 'pw', groups: ['system-users'] },
];

const api = (double, token) => request(double, { path: '/api/', headers: { authorization: `Bearer ${token}` } });
const refresh = (double, tokens) => postForm(double, '/auth/token', { grant_type: 'refresh_token', client_id: clientIdOf(double), refresh_token: tokens.refresh_token });

test('§5 deactivation: tokens refused, open sockets stay open with non-admin commands, reactivation restores', async (t) => {
  const double = await withDouble(t, { users: SEED });
  const owner = await authenticatedSocket(double, double.createLongLivedToken(double.state.ownerId).token);
  const tokens = await loginTokens(double, { username: 'admin', password: 'pw' });
  const llat = double.createLongLivedToken(double.state.userIds.admin).token;
  const adminSocket = await authenticatedSocket(double, tokens.access_token);
  t.after(() => { owner.close(); adminSocket.close(); });
  const subscription = await adminSocket.command({ type: 'subscribe_events', event_type: 'state_changed' });
  assert.equal((await adminSocket.command({ type: 'config/auth/list' })).success, true);

  const update = await owner.command({ type: 'config/auth/update', user_id: double.state.userIds.admin, is_active: false });
  assert.equal(update.result.user.is_active, false);

  assert.equal((await api(double, tokens.access_token)).status, 401);
  assert.equal((await api(double, llat)).status, 401);
  const refused = await refresh(double, tokens);
  assert.equal(refused.status, 403);
  assert.deepEqual(refused.json(), { error: 'access_denied', error_description: 'User is not active' });
  const fresh = await TestSocket.open(double);
  assert.equal((await fresh.authenticate(tokens.access_token)).outcome.type, 'auth_invalid');
  const blocked = await loginFlow(double, { username: 'admin', password: 'pw' });
  assert.deepEqual(blocked.json(), { message: 'Login blocked: User is not active' });

  // The open socket: still open, ping/get_config/subscriptions work, admin and active-user
  // commands fail.
  assert.equal(adminSocket.ws.readyState, adminSocket.ws.OPEN);
  assert.equal((await adminSocket.command({ type: 'ping' })).type, 'pong');
  assert.equal((await adminSocket.command({ type: 'get_config' })).success, true);
  assert.equal((await adminSocket.command({ type: 'get_states' })).success, true);
  double.setState('switch.coffee_maker', 'on');
  const streamed = await adminSocket.receive((message) => message.type === 'event' && message.id === subscription.id);
  assert.equal(streamed.event.data.new_state.state, 'on');
  assert.deepEqual((await adminSocket.command({ type: 'config/auth/list' })).error, { code: 'unauthorized', message: 'Unauthorized' });
  const refusedId = adminSocket.nextId;
  assert.deepEqual((await adminSocket.command({ type: 'auth/current_user' })).error, { code: 'only_active_user', message: 'Only allowed as active user' });
  assert.equal((await adminSocket.command({ id: refusedId, type: 'ping' })).error.code, 'id_reuse', 'a refused command still uses up its id');
  assert.ok(double.refreshTokens().some((token) => token.userId === double.state.userIds.admin), 'nothing was revoked');

  await owner.command({ type: 'config/auth/update', user_id: double.state.userIds.admin, is_active: true });
  assert.equal((await api(double, tokens.access_token)).status, 200);
  assert.equal((await api(double, llat)).status, 200);
  assert.equal((await refresh(double, tokens)).status, 200);
  assert.equal((await adminSocket.command({ type: 'config/auth/list' })).success, true);
});

test('§5 deletion: tokens and login gone, the deleted admin\'s open socket keeps its old rights', async (t) => {
  const double = await withDouble(t, { users: SEED });
  const owner = await authenticatedSocket(double, double.createLongLivedToken(double.state.ownerId).token);
  const tokens = await loginTokens(double, { username: 'admin', password: 'pw' });
  const adminSocket = await authenticatedSocket(double, tokens.access_token);
  t.after(() => { owner.close(); adminSocket.close(); });
  const deletedId = double.state.userIds.admin;
  let closedByDelete = false;
  adminSocket.closed.then(() => { closedByDelete = true; });

  assert.equal((await owner.command({ type: 'config/auth/delete', user_id: deletedId })).result, null);

  assert.equal((await api(double, tokens.access_token)).status, 401);
  assert.deepEqual((await refresh(double, tokens)).json(), { error: 'invalid_grant' });
  assert.deepEqual((await loginFlow(double, { username: 'admin', password: 'pw' })).json().errors, { base: 'invalid_auth' });
  const fresh = await TestSocket.open(double);
  assert.equal((await fresh.authenticate(tokens.access_token)).outcome.type, 'auth_invalid');

  const list = await adminSocket.command({ type: 'config/auth/list' });
  assert.equal(list.success, true, 'a deleted admin can still list users');
  assert.ok(!list.result.some((user) => user.id === deletedId));
  const created = await adminSocket.command({ type: 'config/auth/create', name: 'Backdoor', group_ids: ['system-admin'] });
  assert.equal(created.success, true, 'and create users');
  assert.equal((await adminSocket.command({ type: 'auth/current_user' })).result.id, deletedId);
  assert.equal(closedByDelete, false);
  assert.equal(adminSocket.ws.readyState, adminSocket.ws.OPEN);
});

test('§0.2/§5 a deleted user\'s open socket: current_user has no credentials, refresh_tokens still lists the removed tokens', async (t) => {
  const double = await withDouble(t, { users: SEED });
  const owner = await authenticatedSocket(double, double.createLongLivedToken(double.state.ownerId).token);
  const tokens = await loginTokens(double, { username: 'alice', password: 'pw' });
  const llat = double.createLongLivedToken(double.state.userIds.alice, { clientName: 'kept' });
  const alice = await authenticatedSocket(double, tokens.access_token);
  const aliceByLlat = await authenticatedSocket(double, llat.token);
  t.after(() => { owner.close(); alice.close(); });
  const before = await alice.command({ type: 'auth/refresh_tokens' });
  assert.deepEqual((await alice.command({ type: 'auth/current_user' })).result.credentials, [{ auth_provider_type: 'homeassistant', auth_provider_id: null }]);

  await owner.command({ type: 'config/auth/delete', user_id: double.state.userIds.alice });
  assert.equal(double.refreshTokens().some((token) => token.userId === double.state.userIds.alice), false, 'gone from the store');

  const current = await alice.command({ type: 'auth/current_user' });
  assert.equal(current.success, true);
  assert.deepEqual(current.result.credentials, []);
  const after = await alice.command({ type: 'auth/refresh_tokens' });
  assert.deepEqual(after.result.map((token) => token.id).sort(), before.result.map((token) => token.id).sort());
  assert.ok(after.result.some((token) => token.client_name === 'kept'));
  // Deleting one of them still runs its revoke callbacks: the socket opened with it closes.
  const deleted = await alice.command({ type: 'auth/delete_refresh_token', refresh_token_id: llat.refreshTokenId });
  assert.deepEqual(deleted.result, {});
  assert.equal((await aliceByLlat.closed).code, 1000);
  assert.equal(alice.ws.readyState, alice.ws.OPEN);
});

test('§5 a code issued before deletion gives HTTP 500 at exchange; password changes revoke nothing', async (t) => {
  const double = await withDouble(t, { users: SEED });
  const code = (await loginFlow(double, { username: 'alice', password: 'pw' })).json().result;
  const tokens = await loginTokens(double, { username: 'alice', password: 'pw' });
  const owner = await authenticatedSocket(double, double.createLongLivedToken(double.state.ownerId).token);
  t.after(() => owner.close());
  await owner.command({ type: 'config/auth_provider/homeassistant/admin_change_password', user_id: double.state.userIds.alice, password: 'changed' });
  assert.equal((await api(double, tokens.access_token)).status, 200, 'password change keeps sessions');
  await owner.command({ type: 'config/auth/delete', user_id: double.state.userIds.alice });
  const exchange = await postForm(double, '/auth/token', { grant_type: 'authorization_code', client_id: clientIdOf(double), code });
  assert.equal(exchange.status, 500);
});
