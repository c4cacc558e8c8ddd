// Trusted devices (PRODUCT.md §7): a client whose address is in a configured network signs in at
// /auth/authorize as that device's service user — created if missing (read_only by default), or an
// existing HA user of that name taken over — through HA's own login flow, without the IdP. The address
// is the socket's, or from X-Forwarded-For only when the peer is one of Gatehouse's trusted proxies.
// A device never takes over the HA owner, an admin or Gatehouse's own service user (users/link_rule).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TEST_GUARD } from './lib/harness.mjs';
import { request } from './lib/http-client.mjs';
import { newSecret } from './lib/secrets.mjs';
import { startSsoStack, ROLE_GROUPS } from './lib/sso-stack.mjs';

const KITCHEN = '127.0.0.5';
const HALL = '127.0.0.6';
const STRANGER = '127.0.0.7';

const DEVICES = [
  { name: 'kitchen-panel', networks: ['127.0.0.5/32'], user: 'kiosk-kitchen' },
  { name: 'hall-dashboard', networks: ['127.0.0.6/32'], user: 'kiosk-hall', role: 'user' },
];

function authorize(stack, from, { state = 'device-state', headers = {} } = {}) {
  const query = new URLSearchParams({ response_type: 'code', client_id: stack.frontendClientId, redirect_uri: stack.frontendRedirectUri, state });
  return request(`${stack.externalUrl}/auth/authorize?${query}`, { headers, localAddress: from });
}

function codeFrom(stack, response) {
  assert.equal(response.status, 302, response.text());
  const location = response.headers.location;
  assert.ok(location.startsWith(stack.frontendRedirectUri), location);
  const params = new URL(location).searchParams;
  stack.rememberSecret(params.get('code'), 'HA code for a trusted device');
  return params;
}

async function exchange(stack, code, from) {
  const answer = await request(`${stack.externalUrl}/auth/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, localAddress: from,
    body: new URLSearchParams({ grant_type: 'authorization_code', client_id: stack.frontendClientId, code }).toString(),
  });
  assert.equal(answer.status, 200, answer.text());
  stack.rememberSecret(answer.json().access_token, 'trusted device access token');
  stack.rememberSecret(answer.json().refresh_token, 'trusted device refresh token');
  return answer.json();
}

test('devices on their networks sign in as their service users, without the IdP', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t, {
    gatehouseConfig: { trusted_devices: DEVICES },
    haOptions: { users: [{ name: 'Hall', username: 'kiosk-hall', password: 'set-by-someone', groups: ['system-read-only'] }] },
  });
  const hallBefore = stack.userNamed('kiosk-hall');

  // Kitchen: a new read-only user, signed in through HA's own flow as the device (HA saw its address).
  const kitchen = codeFrom(stack, await authorize(stack, KITCHEN));
  assert.equal(kitchen.get('state'), 'device-state');
  assert.equal(kitchen.get('storeToken'), 'true');
  await exchange(stack, kitchen.get('code'), KITCHEN);
  const kitchenUser = stack.userNamed('kiosk-kitchen');
  assert.ok(kitchenUser, 'created');
  assert.deepEqual(kitchenUser.groups ?? kitchenUser.groupIds, [ROLE_GROUPS.read_only]);
  const flowSteps = stack.loginFlowRequests().filter((entry) => stack.addressHaSaw(entry) === KITCHEN);
  assert.ok(flowSteps.length >= 2, 'HA\'s login flow ran with the device\'s address');

  // Hall: the existing HA user of that name is taken over (not duplicated), with the configured role.
  const hall = codeFrom(stack, await authorize(stack, HALL));
  await exchange(stack, hall.get('code'), HALL);
  const hallAfter = stack.userNamed('kiosk-hall');
  assert.equal(hallAfter.id, hallBefore.id);
  assert.deepEqual(hallAfter.groups ?? hallAfter.groupIds, [ROLE_GROUPS.user]);

  // Again: the same users, no new ones.
  codeFrom(stack, await authorize(stack, KITCHEN));
  assert.equal(stack.newUsers().filter((user) => user.username?.startsWith('kiosk-')).length, 1, 'only kiosk-kitchen is new');

  // Anyone else goes to the IdP, even when claiming a device's address in X-Forwarded-For.
  for (const headers of [{}, { 'x-forwarded-for': KITCHEN }]) {
    const stranger = await authorize(stack, STRANGER, { headers });
    assert.equal(stranger.status, 302);
    assert.ok(!stranger.headers.location.startsWith(stack.frontendRedirectUri), 'sent to the IdP, not signed in');
    assert.ok(stranger.headers.location.startsWith(`${stack.idp.issuer}/`), stranger.headers.location);
  }

  const audit = await stack.audit();
  const deviceLogins = audit.filter((entry) => entry.kind === 'login_succeeded' && /trusted_device/.test(entry.text));
  assert.deepEqual([...new Set(deviceLogins.map((entry) => entry.user))].sort(), ['kiosk-hall', 'kiosk-kitchen']);
});

test('behind a trusted proxy, the device address comes from X-Forwarded-For', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t, {
    gatehouseConfig: { trusted_devices: DEVICES, trusted_proxies: ['127.0.0.9/32'] },
  });
  const proxied = codeFrom(stack, await authorize(stack, '127.0.0.9', { headers: { 'x-forwarded-for': KITCHEN } }));
  await exchange(stack, proxied.get('code'), KITCHEN);
  assert.ok(stack.userNamed('kiosk-kitchen'));
});

test('a device never takes over the HA owner, an admin or Gatehouse\'s service user: a refusal page, and they keep their credentials and groups', TEST_GUARD, async (t) => {
  const annaPassword = newSecret('existing HA admin anna password (device)');
  const devices = [
    { name: 'owner-panel', networks: ['127.0.0.5/32'], user: 'owner', role: 'user' },
    { name: 'service-panel', networks: ['127.0.0.6/32'], user: 'gatehouse-admin', role: 'user' },
    { name: 'admin-panel', networks: ['127.0.0.8/32'], user: 'anna' },
  ];
  const stack = await startSsoStack(t, {
    gatehouseConfig: { trusted_devices: devices },
    haOptions: { users: [{ name: 'Anna Admin', username: 'anna', password: annaPassword, groups: ['system-admin'] }] },
  });
  stack.rememberSecret(annaPassword, 'existing HA admin anna password (device)');
  const snapshot = (username) => {
    const { id, name, isOwner, groupIds, credentials } = stack.userNamed(username);
    return { id, name, isOwner, groupIds, credentials };
  };
  const expected = { owner: 'privileged_by_username', 'gatehouse-admin': 'service_user', anna: 'privileged_by_username' };
  const before = Object.fromEntries(Object.keys(expected).map((username) => [username, snapshot(username)]));

  for (const device of devices) {
    const answer = await authorize(stack, device.networks[0].split('/')[0]);
    assert.equal(answer.status, 403, `${device.name}: ${answer.text()}`);
    assert.match(String(answer.headers['content-type']), /^text\/html/);
    assert.equal(answer.headers.location, undefined, `${device.name}: never a redirect`);
    assert.match(answer.text(), /administrator/i);
    assert.deepEqual(snapshot(device.user), before[device.user], `${device.user} is untouched`);
  }
  assert.deepEqual(stack.newUsers(), [], 'no second user beside any of them');
  const audit = await stack.audit();
  for (const [username, why] of Object.entries(expected)) {
    assert.ok(audit.some((entry) => entry.kind === 'link_refused' && entry.user === username && entry.raw.detail.why === why),
      `link_refused for ${username} (${why}):\n${audit.map((entry) => entry.text).join('\n')}`);
  }
  stack.assertHygiene();
});
