// A full client round trip through the real home-assistant-js-websocket library in Node:
// login flow -> code exchange (multipart) -> websocket -> entities -> refresh -> revoke,
// after which the library's reconnect fails with invalid auth (contract §1.10, §1.11, §4, §7.4).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import WebSocket from 'ws';
import { getAuth, createConnection, subscribeEntities, getUser, callService, ERR_INVALID_AUTH } from 'home-assistant-js-websocket';
import { withDouble, loginCode, clientIdOf, decodeJwt } from './helpers.mjs';

// Node 20 has no global WebSocket; the library needs one with addEventListener.
globalThis.WebSocket ??= class NodeWebSocket extends WebSocket {};

test('home-assistant-js-websocket: login, token, websocket, refresh, revoke', async (t) => {
  const double = await withDouble(t);
  const clientId = clientIdOf(double);
  const saved = [];
  const code = await loginCode(double, { clientId, redirectUri: `${double.url}/?auth_callback=1` });

  const tokenIssued = once(double.events, 'token-issued');
  const auth = await getAuth({ hassUrl: double.url, clientId, authCode: code, saveTokens: (tokens) => saved.push(tokens) });
  assert.equal((await tokenIssued)[0].grant, 'authorization_code');
  assert.equal(saved.length, 1);
  assert.equal(saved[0].clientId, clientId);
  assert.match(saved[0].refresh_token, /^[0-9a-f]{128}$/);

  const connection = await createConnection({ auth });
  t.after(() => connection.close());
  assert.equal(connection.haVersion, '2025.5.0');
  const user = await getUser(connection);
  assert.equal(user.name, 'Owner');
  assert.equal(user.is_admin, true);

  const entityUpdates = [];
  let notifyUpdate = () => {};
  const unsubscribe = subscribeEntities(connection, (entities) => {
    entityUpdates.push(entities);
    notifyUpdate();
  });
  const nextUpdate = () => new Promise((resolve) => { notifyUpdate = resolve; });
  await nextUpdate();
  assert.equal(entityUpdates.at(-1)['light.kitchen'].state, 'on');
  const changed = nextUpdate();
  await callService(connection, 'light', 'turn_off', { entity_id: 'light.kitchen' });
  await changed;
  assert.equal(entityUpdates.at(-1)['light.kitchen'].state, 'off');
  unsubscribe();

  const issuer = decodeJwt(auth.accessToken).payload.iss;
  double.advance(60 * 1000); // a later iat, so the new access token differs
  await auth.refreshAccessToken();
  assert.equal(saved.length, 2);
  assert.notEqual(saved[1].access_token, saved[0].access_token);
  assert.equal(saved[1].refresh_token, saved[0].refresh_token, 'no rotation');
  assert.equal(decodeJwt(auth.accessToken).payload.iss, issuer);

  // Revoking closes the socket (close 1000); the library's reconnect then gets auth_invalid.
  const closed = once(double.events, 'ws-closed');
  const reconnectFailed = new Promise((resolve) => connection.addEventListener('reconnect-error', (_conn, error) => resolve(error)));
  await auth.revoke();
  assert.equal((await closed)[0].code, 1000);
  assert.equal(await reconnectFailed, ERR_INVALID_AUTH);
  assert.equal(saved.at(-1), null, 'revoke clears saved tokens');
  assert.equal(double.refreshTokens().filter((token) => token.type === 'normal').length, 0);
  await assert.rejects(auth.refreshAccessToken(), (error) => error === ERR_INVALID_AUTH);
});
