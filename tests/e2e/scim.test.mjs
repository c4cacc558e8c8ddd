// The SCIM 2.0 server at /scim/v2 (issue #10), through the real Gatehouse binary over HTTP: the bearer
// token from scim.token_file, a provisioning client's whole round (discover, create, filter, patch,
// delete), what a restart keeps, size and rate limits, and that nothing of it ever reaches HA.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { freshDirectory, runGatehouse, startGatehouse, TEST_GUARD } from './lib/harness.mjs';
import { startUpstream } from './lib/upstream.mjs';
import { request, RawConnection, rawHead } from './lib/http-client.mjs';
import { newSecret } from './lib/secrets.mjs';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

async function startScim(t, { scim = {}, directory = freshDirectory('scim-'), upstream } = {}) {
  const token = scim.token ?? newSecret('scim bearer token');
  const tokenFile = join(directory, 'scim-token');
  writeFileSync(tokenFile, `${token}\n`);
  chmodSync(tokenFile, 0o600);
  const ownUpstream = !upstream;
  upstream ??= await startUpstream();
  const { token: _ignored, ...settings } = scim;
  const gatehouse = await startGatehouse({ upstream, directory, config: { scim: { token_file: tokenFile, ...settings } } });
  t.after(async () => {
    await gatehouse.stop();
    if (ownUpstream) await upstream.stop();
  });
  const call = async (path, { method = 'GET', body, auth = token, headers = {} } = {}) => {
    const sent = { ...headers };
    if (auth !== null) sent.authorization = `Bearer ${auth}`;
    if (body !== undefined) sent['content-type'] = 'application/scim+json';
    const response = await request(`${gatehouse.url}/scim/v2${path}`, {
      method, headers: sent, body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
    });
    const text = response.text();
    return { status: response.status, headers: response.headers, text, json: text ? JSON.parse(text) : null };
  };
  return { gatehouse, upstream, token, tokenFile, directory, call };
}

test('a provisioning round through Gatehouse: discover, create, filter, patch, delete; nothing reaches HA', TEST_GUARD, async (t) => {
  const { call, upstream, gatehouse } = await startScim(t);

  const config = await call('/ServiceProviderConfig');
  assert.equal(config.status, 200);
  assert.equal(config.headers['content-type'], 'application/scim+json');
  assert.equal(config.json.patch.supported, true);

  const bob = await call('/Users', { method: 'POST', body: {
    schemas: [USER], userName: 'bob@example.com', externalId: 'idp-bob', active: true,
    emails: [{ value: 'bob@example.com', type: 'work', primary: true }], password: 'Never-Stored-1',
  } });
  assert.equal(bob.status, 201, bob.text);
  assert.equal(bob.headers.location, `http://127.0.0.1:8123/scim/v2/Users/${bob.json.id}`);
  assert.equal(bob.headers.etag, 'W/"1"');
  assert.equal(bob.json.password, undefined);

  const duplicate = await call('/Users', { method: 'POST', body: { schemas: [USER], userName: 'BOB@example.com' } });
  assert.equal(duplicate.status, 409);
  assert.equal(duplicate.json.scimType, 'uniqueness');

  // Entra ID looks before it creates.
  const found = await call(`/Users?filter=${encodeURIComponent('userName eq "bob@example.com"')}`);
  assert.equal(found.json.totalResults, 1);
  assert.equal(found.json.Resources[0].id, bob.json.id);

  const group = await call('/Groups', { method: 'POST', body: { schemas: [GROUP], displayName: 'ha-users' } });
  assert.equal(group.status, 201, group.text);
  const added = await call(`/Groups/${group.json.id}`, { method: 'PATCH', body: {
    schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: bob.json.id }] }],
  } });
  assert.equal(added.status, 200, added.text);
  assert.equal(added.json.members[0].display, 'bob@example.com');

  const deactivated = await call(`/Users/${bob.json.id}`, { method: 'PATCH', body: {
    schemas: [PATCH], Operations: [{ op: 'Replace', path: 'active', value: 'False' }],
  } });
  assert.equal(deactivated.status, 200, deactivated.text);
  assert.equal(deactivated.json.active, false);
  assert.equal(deactivated.json.groups[0].value, group.json.id);

  const deleted = await call(`/Users/${bob.json.id}`, { method: 'DELETE' });
  assert.equal(deleted.status, 204);
  assert.equal((await call(`/Users/${bob.json.id}`)).status, 404);
  assert.equal((await call(`/Groups/${group.json.id}`)).json.members, undefined);

  assert.deepEqual(upstream.requests.filter((r) => r.path.startsWith('/scim')), [], 'no SCIM request reached HA');
  assert.ok(!gatehouse.logText().includes('Never-Stored-1'), 'the password never reaches the log');
});

test('SCIM refusals: no or wrong token 401 (before any body is read), bad JSON 400, oversized body 413, wrong method 405', TEST_GUARD, async (t) => {
  const { call, upstream, token, gatehouse } = await startScim(t);
  const missing = await call('/Users', { auth: null });
  assert.equal(missing.status, 401);
  assert.match(missing.headers['www-authenticate'], /^Bearer/);
  assert.equal(missing.json.schemas[0], 'urn:ietf:params:scim:api:messages:2.0:Error');
  const wrong = await call('/Users', { auth: `${token}x` });
  assert.equal(wrong.status, 401);
  assert.ok(!wrong.text.includes(token));

  const broken = await call('/Users', { method: 'POST', body: '{"schemas": [' });
  assert.equal(broken.status, 400);
  assert.equal(broken.json.scimType, 'invalidSyntax');

  // A body over the endpoint's limit is refused from its Content-Length, before it is read.
  const connection = await RawConnection.connect({ port: gatehouse.port });
  t.after(() => connection.destroy());
  await connection.write(rawHead('POST', '/scim/v2/Users', [
    ['Host', 'ha.test'], ['Authorization', `Bearer ${token}`], ['Content-Type', 'application/scim+json'],
    ['Content-Length', String(2 * 1024 * 1024)],
  ]));
  const huge = await connection.readResponse();
  assert.ok(huge, 'a 413 answer, not a closed connection');
  assert.equal(huge.status, 413);

  // Without the token nothing is read past the head: the 401 comes while the declared body is still unsent.
  const unread = await RawConnection.connect({ port: gatehouse.port });
  t.after(() => unread.destroy());
  await unread.write(rawHead('POST', '/scim/v2/Users', [
    ['Host', 'ha.test'], ['Authorization', `Bearer ${token}x`], ['Content-Type', 'application/scim+json'],
    ['Content-Length', String(1024 * 1024)],
  ]));
  const early = await unread.readResponse();
  assert.ok(early, 'a 401 answer, not a closed connection');
  assert.equal(early.status, 401);

  const wrongMethod = await call('/ServiceProviderConfig', { method: 'POST', body: {} });
  assert.equal(wrongMethod.status, 405);
  assert.equal(upstream.requests.length, 0, 'none of these reached HA');
});

test('SCIM keeps its resources across a restart; one address over its request budget gets 429', TEST_GUARD, async (t) => {
  const directory = freshDirectory('scim-restart-');
  const upstream = await startUpstream();
  t.after(() => upstream.stop());
  const token = newSecret('scim bearer token');
  const first = await startScim(t, { directory, upstream, scim: { token } });
  const alice = await first.call('/Users', { method: 'POST', body: { schemas: [USER], userName: 'alice' } });
  assert.equal(alice.status, 201);
  await first.gatehouse.stop();

  const second = await startScim(t, { directory, upstream, scim: { token, requests_per_minute: 60, burst: 3 } });
  const again = await second.call(`/Users/${alice.json.id}`);
  assert.equal(again.status, 200);
  assert.equal(again.json.userName, 'alice');
  assert.equal(again.json.meta.created, alice.json.meta.created);
  const answers = [];
  for (let i = 0; i < 3; i += 1) answers.push((await second.call('/Users')).status);
  assert.deepEqual(answers.slice(0, 2), [200, 200]);
  const over = await second.call('/Users');
  assert.equal(over.status, 429);
  assert.ok(Number(over.headers['retry-after']) >= 1);
});

test('check-config refuses a scim block without a usable token file, and says what to do', TEST_GUARD, async () => {
  const directory = freshDirectory('scim-config-');
  const short = join(directory, 'short-token');
  writeFileSync(short, 'too-short\n');
  chmodSync(short, 0o600);
  const write = (scim) => {
    const path = join(directory, `gatehouse-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(path, `external_url: "http://127.0.0.1:8123"\ndata_dir: "${join(directory, 'data')}"\n`
      + `home_assistant:\n  url: "http://127.0.0.1:9"\nscim:\n${scim}\n`);
    return path;
  };
  const noFile = await runGatehouse(['check-config', '-c', write('  requests_per_minute: 10')]);
  assert.equal(noFile.code, 1);
  assert.match(noFile.stderr + noFile.stdout, /scim\.token_file.*openssl rand -hex 32/s);
  const tooShort = await runGatehouse(['check-config', '-c', write(`  token_file: "${short}"`)]);
  assert.equal(tooShort.code, 1);
  assert.match(tooShort.stderr + tooShort.stdout, /at least 32 characters/);
  assert.ok(!(tooShort.stderr + tooShort.stdout).includes('too-short'), 'the token itself is never shown');
  const badMatch = await runGatehouse(['check-config', '-c', write(`  token_file: "${short}"\n  match_attribute: "email"`)]);
  assert.equal(badMatch.code, 1);
  assert.match(badMatch.stderr + badMatch.stdout, /scim\.match_attribute.*userName.*externalId/s);
  const noRoles = await runGatehouse(['check-config', '-c', write(`  token_file: "${short}"\n  roles_from_groups: true`)]);
  assert.equal(noRoles.code, 1);
  assert.match(noRoles.stderr + noRoles.stdout, /scim\.roles_from_groups.*need users\.roles/s);
  const badAction = await runGatehouse(['check-config', '-c', write(`  token_file: "${short}"\n  on_deactivate: "remove"`)]);
  assert.equal(badAction.code, 1);
  assert.match(badAction.stderr + badAction.stdout, /scim\.on_deactivate.*deactivate.*delete/s);
  const notBool = await runGatehouse(['check-config', '-c', write(`  token_file: "${short}"\n  roles_from_groups: "groups"`)]);
  assert.equal(notBool.code, 1);
  assert.match(notBool.stderr + notBool.stdout, /scim\.roles_from_groups/);
});
