// Tests of the double's login surface: well-known metadata, providers, login flows,
// client_id/redirect_uri rules and failed-login accounting (contract §1.2-§1.8, §1.12).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { withDouble, request, postJson, loginFlow, loginCode, clientIdOf } from './helpers.mjs';

const FORM_FIELDS = [
  { type: 'string', name: 'username', required: true },
  { type: 'string', name: 'password', required: true },
];

async function startFlow(double, body, headers) {
  return postJson(double, '/auth/login_flow', { client_id: clientIdOf(double), handler: ['homeassistant', null], redirect_uri: `${double.url}/cb`, ...body }, headers);
}

test('§1.2 well-known metadata has relative endpoints and no PKCE', async (t) => {
  const double = await withDouble(t);
  const response = await request(double, { path: '/.well-known/oauth-authorization-server' });
  assert.equal(response.status, 200);
  assert.deepEqual(response.json(), {
    authorization_endpoint: '/auth/authorize',
    token_endpoint: '/auth/token',
    revocation_endpoint: '/auth/revoke',
    response_types_supported: ['code'],
    service_documentation: 'https://developers.home-assistant.io/docs/auth_api',
  });
});

test('§1.4 providers: object shape on 2025.5, bare list on 2023.9, onboarding_required before onboarding', async (t) => {
  const modern = await withDouble(t);
  assert.deepEqual((await request(modern, { path: '/auth/providers' })).json(), {
    providers: [{ name: 'Home Assistant Local', id: null, type: 'homeassistant' }],
    preselect_remember_me: true,
  });
  const old = await withDouble(t, { version: '2023.9.3' });
  assert.deepEqual((await request(old, { path: '/auth/providers' })).json(), [{ name: 'Home Assistant Local', id: null, type: 'homeassistant' }]);
  const forced = await withDouble(t, { version: '2023.9.3', providersShape: 'object' });
  assert.ok(Array.isArray((await request(forced, { path: '/auth/providers' })).json().providers));
  const fresh = await withDouble(t, { onboarded: false });
  const response = await request(fresh, { path: '/auth/providers' });
  assert.equal(response.status, 400);
  assert.deepEqual(response.json(), { message: 'Onboarding not finished', code: 'onboarding_required' });
});

test('§1.4 trusted_networks is listed only when the client may use it; preselect_remember_me follows is_local', async (t) => {
  const double = await withDouble(t, {
    useXForwardedFor: true,
    trustedProxies: ['127.0.0.1'],
    authProviders: [{ type: 'homeassistant' }, { type: 'trusted_networks', trustedNetworks: ['127.0.0.0/8', '192.168.0.0/16'] }],
  });
  // Direct from the proxy address: refused by trusted_networks (§3.4), so hidden.
  const direct = (await request(double, { path: '/auth/providers' })).json();
  assert.deepEqual(direct.providers.map((provider) => provider.type), ['homeassistant']);
  const viaProxy = (await request(double, { path: '/auth/providers', headers: { 'x-forwarded-for': '192.168.1.20' } })).json();
  assert.deepEqual(viaProxy.providers.map((provider) => provider.type), ['homeassistant', 'trusted_networks']);
  assert.equal(viaProxy.providers[1].name, 'Trusted Networks');
  assert.equal(viaProxy.preselect_remember_me, true);
  const remote = (await request(double, { path: '/auth/providers', headers: { 'x-forwarded-for': '203.0.113.9' } })).json();
  assert.deepEqual(remote.providers.map((provider) => provider.type), ['homeassistant']);
  assert.equal(remote.preselect_remember_me, false);
});

test('§1.5-§1.7 homeassistant flow: form, invalid_auth (counted), create_entry with a 32-hex code', async (t) => {
  const double = await withDouble(t);
  const created = await startFlow(double, {});
  assert.equal(created.status, 200);
  const form = created.json();
  assert.match(form.flow_id, /^[0-9a-f]{32}$/);
  assert.deepEqual(form, { type: 'form', flow_id: form.flow_id, handler: ['homeassistant', null], step_id: 'init', data_schema: FORM_FIELDS, errors: {}, description_placeholders: null, last_step: null, preview: null });

  const failed = once(double.events, 'failed-login');
  const wrong = await postJson(double, `/auth/login_flow/${form.flow_id}`, { client_id: clientIdOf(double), username: 'owner', password: 'nope' });
  assert.equal(wrong.status, 200);
  assert.deepEqual(wrong.json().errors, { base: 'invalid_auth' });
  const [event] = await failed;
  assert.equal(event.ip, '127.0.0.1');
  assert.equal(event.path, `/auth/login_flow/${form.flow_id}`);

  const unknownUser = await postJson(double, `/auth/login_flow/${form.flow_id}`, { client_id: clientIdOf(double), username: 'nobody', password: 'owner-password' });
  assert.deepEqual(unknownUser.json().errors, { base: 'invalid_auth' });

  const done = await postJson(double, `/auth/login_flow/${form.flow_id}`, { client_id: clientIdOf(double), username: 'owner', password: 'owner-password' });
  assert.equal(done.status, 200);
  const entry = done.json();
  assert.equal(entry.type, 'create_entry');
  assert.match(entry.result, /^[0-9a-f]{32}$/);
  assert.equal(entry.flow_id, form.flow_id);
  assert.deepEqual(entry.handler, ['homeassistant', null]);
  assert.ok(!('data' in entry) && !('context' in entry) && !('title' in entry));

  // A finished flow is gone (§0.1).
  const again = await postJson(double, `/auth/login_flow/${form.flow_id}`, { client_id: clientIdOf(double), username: 'owner', password: 'owner-password' });
  assert.equal(again.status, 404);
  assert.deepEqual(again.json(), { message: 'Invalid flow specified' });
  assert.equal(double.failedLogins.length, 3); // two invalid_auth forms + the 404
});

test('§1.1/§1.5 request validation: invalid JSON, extra keys, missing keys (not counted), bad client id (counted)', async (t) => {
  const double = await withDouble(t);
  const invalidJson = await request(double, { method: 'POST', path: '/auth/login_flow', body: '{not json' });
  assert.equal(invalidJson.status, 400);
  assert.deepEqual(invalidJson.json(), { message: 'Invalid JSON.' });
  const extra = await startFlow(double, { code_challenge: 'abc' });
  assert.equal(extra.status, 400);
  assert.equal(extra.json().message, "Message format incorrect: extra keys not allowed @ data['code_challenge']");
  const missing = await postJson(double, '/auth/login_flow', { client_id: clientIdOf(double), handler: ['homeassistant', null] });
  assert.deepEqual(missing.json(), { message: "Message format incorrect: required key not provided @ data['redirect_uri']" });
  const shortHandler = await startFlow(double, { handler: ['homeassistant'] });
  assert.equal(shortHandler.status, 400);
  assert.match(shortHandler.json().message, /^Message format incorrect: /);
  const bareString = await startFlow(double, { handler: 'homeassistant' });
  assert.equal(bareString.status, 400);
  assert.equal(double.failedLogins.length, 0, 'schema rejections are not failed logins');

  const badClient = await startFlow(double, { client_id: 'ftp://example.com/' });
  assert.equal(badClient.status, 400);
  assert.deepEqual(badClient.json(), { message: 'Invalid client id' });
  assert.equal(double.failedLogins.length, 1);
});

test('§1.1 JSON bodies nested past 1024 levels are invalid JSON to HA (orjson); nothing deeper is walked', async (t) => {
  const double = await withDouble(t);
  const nested = (depth) => '['.repeat(depth) + ']'.repeat(depth);
  const tooDeep = await request(double, { method: 'POST', path: '/auth/login_flow', body: `{"client_id":${nested(1024)}}` });
  assert.deepEqual([tooDeep.status, tooDeep.json()], [400, { message: 'Invalid JSON.' }]);
  const huge = await request(double, { method: 'POST', path: '/auth/login_flow', body: `{"client_id":${nested(1_000_000)}}` });
  assert.deepEqual(huge.json(), { message: 'Invalid JSON.' });
  const deepest = await request(double, { method: 'POST', path: '/auth/login_flow', body: `{"client_id":${nested(1023)},"handler":["homeassistant",null],"redirect_uri":"x"}` });
  assert.deepEqual(deepest.json(), { message: "Message format incorrect: expected str for dictionary value @ data['client_id']" });
  assert.equal(double.failedLogins.length, 0, 'early rejections are not counted');
  const { token } = double.createLongLivedToken(double.state.ownerId);
  const service = await request(double, { method: 'POST', path: '/api/services/light/turn_on', headers: { authorization: `Bearer ${token}` }, body: `{"entity_id":${nested(1024)}}` });
  assert.deepEqual([service.status, service.json()], [400, { message: 'Data should be valid JSON.' }]);
  const control = await request(double, { method: 'POST', path: '/__double/events', body: `{"type":"x","data":${nested(1024)}}` });
  assert.equal(control.status, 400);
});

test('§1.5 unknown handler is HTTP 500; 2023.9 accepts a bare-string handler in the schema (then 500)', async (t) => {
  const double = await withDouble(t);
  const unknown = await startFlow(double, { handler: ['command_line', null] });
  assert.equal(unknown.status, 500);
  const old = await withDouble(t, { version: '2023.9.3' });
  const bare = await startFlow(old, { handler: 'homeassistant' });
  assert.equal(bare.status, 500);
  const list = await startFlow(old, {});
  assert.equal(list.status, 200);
});

test('§0.2/§1.5/§1.6 GET /auth/login_flow is an empty 405, GET on a flow is a bare 500, DELETE aborts without auth', async (t) => {
  const double = await withDouble(t);
  const listGet = await request(double, { path: '/auth/login_flow' });
  assert.equal(listGet.status, 405);
  assert.equal(listGet.text, '');
  assert.equal(listGet.headers.allow, undefined, 'the view answers itself: no Allow');
  assert.equal(listGet.headers['x-content-type-options'], 'nosniff', 'a view answer passes the headers middleware');
  const listPut = await request(double, { method: 'PUT', path: '/auth/login_flow' });
  assert.deepEqual([listPut.status, listPut.headers.allow, listPut.text], [405, 'GET,OPTIONS,POST', '405: Method Not Allowed']);
  const flowId = (await startFlow(double, {})).json().flow_id;
  for (const id of [flowId, 'no-such-flow']) {
    const get = await request(double, { path: `/auth/login_flow/${id}` });
    assert.equal(get.status, 500);
    assert.equal(get.text, '500 Internal Server Error\n\nServer got itself in trouble');
    assert.equal(get.headers.connection, 'close');
    assert.equal(get.headers.server, 'Python/3.13 aiohttp/3.11.16', 'aiohttp\'s own Server header (2025.x)');
    for (const header of ['x-content-type-options', 'referrer-policy', 'x-frame-options']) assert.equal(get.headers[header], undefined, header);
  }
  const html = await request(double, { path: `/auth/login_flow/${flowId}`, headers: { accept: 'text/html,*/*' } });
  assert.equal(html.status, 500);
  assert.match(html.text, /^<html><head><title>500 Internal Server Error<\/title>/);
  assert.equal(double.failedLogins.length, 0, 'neither answer is a failed login');
  const deleted = await request(double, { method: 'DELETE', path: `/auth/login_flow/${flowId}` });
  assert.equal(deleted.status, 200);
  assert.deepEqual(deleted.json(), { message: 'Flow aborted' });
  const deletedAgain = await request(double, { method: 'DELETE', path: `/auth/login_flow/${flowId}` });
  assert.equal(deletedAgain.status, 404);
  const afterAbort = await postJson(double, `/auth/login_flow/${flowId}`, { client_id: clientIdOf(double), username: 'owner', password: 'owner-password' });
  assert.equal(afterAbort.status, 404);
  const old = await withDouble(t, { version: '2023.9.3' });
  assert.equal((await request(old, { path: '/auth/login_flow/x' })).headers.server, 'Python/3.11 aiohttp/3.8.4');
});

test('§1.6 step validation: missing client_id is a schema error, extra or missing step fields are "User input malformed"', async (t) => {
  const double = await withDouble(t);
  const flowId = (await startFlow(double, {})).json().flow_id;
  const noClient = await postJson(double, `/auth/login_flow/${flowId}`, { username: 'owner', password: 'owner-password' });
  assert.deepEqual(noClient.json(), { message: "Message format incorrect: required key not provided @ data['client_id']" });
  const noPassword = await postJson(double, `/auth/login_flow/${flowId}`, { client_id: clientIdOf(double), username: 'owner' });
  assert.equal(noPassword.status, 400);
  assert.deepEqual(noPassword.json(), { message: 'User input malformed' });
  const extra = await postJson(double, `/auth/login_flow/${flowId}`, { client_id: clientIdOf(double), username: 'owner', password: 'owner-password', remember: true });
  assert.deepEqual(extra.json(), { message: 'User input malformed' });
  const badClient = await postJson(double, `/auth/login_flow/${flowId}`, { client_id: 'http://8.8.8.8/', username: 'owner', password: 'owner-password' });
  assert.deepEqual(badClient.json(), { message: 'Invalid client id' });
  // The flow survived the malformed input.
  const ok = await postJson(double, `/auth/login_flow/${flowId}`, { client_id: clientIdOf(double), username: 'owner', password: 'owner-password' });
  assert.equal(ok.json().type, 'create_entry');
  assert.deepEqual(double.failedLogins.map((entry) => entry.reason), ['login flow 400', 'login flow 400', 'login flow 400']);
});

test('§1.6 IP pinning with X-Forwarded-For (as observed on 2023.9, §0.1)', async (t) => {
  const double = await withDouble(t, { useXForwardedFor: true, trustedProxies: ['127.0.0.1'] });
  const flowId = (await startFlow(double, {}, { 'x-forwarded-for': '192.168.7.7' })).json().flow_id;
  const moved = await postJson(double, `/auth/login_flow/${flowId}`, { client_id: clientIdOf(double), username: 'owner', password: 'owner-password' }, { 'x-forwarded-for': '192.168.7.8' });
  assert.equal(moved.status, 400);
  assert.deepEqual(moved.json(), { message: 'IP address changed' });
  assert.equal(double.failedLogins.at(-1).ip, '192.168.7.8');
  const same = await postJson(double, `/auth/login_flow/${flowId}`, { client_id: clientIdOf(double), username: 'owner', password: 'owner-password' }, { 'x-forwarded-for': '192.168.7.7' });
  assert.equal(same.json().type, 'create_entry');
});

test('§1.6/§1.8 late redirect check: a mismatched redirect_uri is refused only after correct credentials', async (t) => {
  const double = await withDouble(t);
  const port = double.port;
  const otherPort = await loginFlow(double, { redirectUri: `http://127.0.0.1:${port + 1}/cb` });
  assert.equal(otherPort.status, 403);
  assert.deepEqual(otherPort.json(), { message: 'Invalid redirect URI' });
  const otherHost = await loginFlow(double, { clientId: 'https://app.example/', redirectUri: 'https://evil.example/cb' });
  assert.equal(otherHost.status, 403);
  const explicitDefaultPort = await loginFlow(double, { clientId: 'https://x.example:443/', redirectUri: 'https://x.example/cb' });
  assert.equal(explicitDefaultPort.status, 403, 'an explicit default port does not match (§1.8)');
  const sameOrigin = await loginFlow(double, { clientId: 'https://x.example/', redirectUri: 'https://X.EXAMPLE/any/path?x=1' });
  assert.equal(sameOrigin.json().type, 'create_entry');
  // A flow whose final step names another client_id gets the same 403 (§0.1).
  const switched = await loginFlow(double, { clientId: 'https://x.example/', redirectUri: 'https://x.example/cb', finalClientId: 'https://y.example/' });
  assert.equal(switched.status, 403);
  assert.equal(double.failedLogins.filter((entry) => entry.reason === 'login flow 403').length, 4);
});

test('§1.8 companion app special cases, including Wear OS', async (t) => {
  const double = await withDouble(t);
  const cases = [
    ['https://home-assistant.io/iOS', 'homeassistant://auth-callback', 200],
    ['https://home-assistant.io/android', 'homeassistant://auth-callback', 200],
    ['https://home-assistant.io/android', 'https://wear.googleapis.com/3p_auth/io.homeassistant.companion.android', 200],
    ['https://home-assistant.io/android', 'https://wear.googleapis-cn.com/3p_auth/io.homeassistant.companion.android', 200],
    ['https://home-assistant.io/iOS', 'https://wear.googleapis.com/3p_auth/io.homeassistant.companion.android', 403],
    ['https://home-assistant.io/iOS/', 'homeassistant://auth-callback', 403],
    // The iOS debug build needs HA to fetch its client_id page; with no network it fails closed.
    ['https://home-assistant.io/iOS/dev-auth', 'homeassistant-dev://auth-callback', 403],
  ];
  for (const [clientId, redirectUri, status] of cases) {
    const response = await loginFlow(double, { clientId, redirectUri });
    assert.equal(response.status, status, `${clientId} -> ${redirectUri}`);
  }
});

test('§1.8 discovery: a loopback client_id page with <link rel="redirect_uri"> is fetched', async (t) => {
  const { createServer } = await import('node:http');
  let pageFetches = 0;
  const clientSite = createServer((req, res) => {
    pageFetches += 1;
    res.writeHead(200, { 'content-type': 'text/html', link: '<linkheader://cb>; rel="redirect_uri"' });
    res.end('<html><head><link rel="redirect_uri" href="myapp://callback"><link rel="other redirect_uri" href="other://cb">' +
      '<!-- <link rel="redirect_uri" href="commented://cb"> --><LINK REL=redirect_uri href="x://cb?a=1&amp;b=2" href="y://cb"></head></html>');
  });
  await new Promise((resolve) => clientSite.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => clientSite.close(resolve)));
  const double = await withDouble(t);
  const clientId = `http://127.0.0.1:${clientSite.address().port}/`;
  const discovered = await loginFlow(double, { clientId, redirectUri: 'myapp://callback' });
  assert.equal(discovered.json().type, 'create_entry');
  const relNotExact = await loginFlow(double, { clientId, redirectUri: 'other://cb' });
  assert.equal(relNotExact.status, 403, 'rel must be exactly redirect_uri');
  const linkHeader = await loginFlow(double, { clientId, redirectUri: 'linkheader://cb' });
  assert.equal(linkHeader.status, 403, 'HTTP Link headers are not supported');
  // HTMLParser: a comment holds no tags; tag and attribute names have no case; values are unescaped;
  // dict(attrs) keeps the last of a repeated attribute.
  assert.equal((await loginFlow(double, { clientId, redirectUri: 'commented://cb' })).status, 403, 'a commented-out link');
  assert.equal((await loginFlow(double, { clientId, redirectUri: 'y://cb' })).json().type, 'create_entry', 'the last href');
  assert.equal((await loginFlow(double, { clientId, redirectUri: 'x://cb?a=1&b=2' })).status, 403, 'not the first href');
  assert.equal(pageFetches, 6, 'the page is fetched at each completion, never at flow creation');
});

test('§1.8 discovery from 2026.8 (core PR #176286): a Client ID Metadata Document lists redirect_uris; older versions read only <link> tags', async (t) => {
  const https = await import('node:https');
  const { makeTlsMaterial } = await import('../idp/tls.mjs');
  const tls = await makeTlsMaterial();
  t.after(() => tls.cleanup());
  let base;
  const documents = {
    '/client.json': () => ({ client_id: `${base}/client.json`, client_name: 'Agent', redirect_uris: ['https://agent.example/callback', 'app:/cb'] }),
    '/other.json': () => ({ client_id: 'https://agent.example/client.json', redirect_uris: ['https://agent.example/callback'] }),
    '/fragment.json': () => ({ client_id: `${base}/fragment.json`, redirect_uris: ['https://agent.example/callback', 'https://agent.example/x#'] }),
    '/port.json': () => ({ client_id: `${base}/port.json`, redirect_uris: ['https://agent.example/callback', 'https://agent.example:99999/x'] }),
    '/big.json': () => ({ client_id: `${base}/big.json`, redirect_uris: ['https://agent.example/callback'], padding: 'x'.repeat(10 * 1024) }),
  };
  const site = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    if (req.url === '/moved.json') return res.writeHead(302, { location: '/client.json' }).end();
    if (req.url === '/gone.json') return res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify(documents['/client.json']()));
    const document = documents[req.url];
    if (!document) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(document()));
  });
  await new Promise((resolve) => site.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => site.close(resolve)));
  base = `https://127.0.0.1:${site.address().port}`;
  const callback = 'https://agent.example/callback';
  const current = await withDouble(t, { version: '2026.8.0', trustedCa: tls.ca });
  assert.equal((await loginFlow(current, { clientId: `${base}/client.json`, redirectUri: callback })).json().type, 'create_entry');
  assert.equal((await loginFlow(current, { clientId: `${base}/client.json`, redirectUri: 'app:/cb' })).json().type, 'create_entry');
  assert.equal((await loginFlow(current, { clientId: `${base}/client.json`, redirectUri: 'https://agent.example/other' })).status, 403, 'not listed');
  assert.equal((await loginFlow(current, { clientId: `${base}/other.json`, redirectUri: callback })).status, 403, 'another client_id');
  assert.equal((await loginFlow(current, { clientId: `${base}/fragment.json`, redirectUri: callback })).status, 403, 'an entry with a fragment');
  assert.equal((await loginFlow(current, { clientId: `${base}/port.json`, redirectUri: callback })).status, 403, 'an entry whose port urlparse cannot read');
  assert.equal((await loginFlow(current, { clientId: `${base}/big.json`, redirectUri: callback })).status, 403, 'a document that fills the 10 KiB read');
  assert.equal((await loginFlow(current, { clientId: `${base}/moved.json`, redirectUri: callback })).status, 403, 'reached by a redirect');
  assert.equal((await loginFlow(current, { clientId: `${base}/gone.json`, redirectUri: callback })).status, 403, 'not a 200');
  const older = await withDouble(t, { version: '2026.7.0', trustedCa: tls.ca });
  assert.equal((await loginFlow(older, { clientId: `${base}/client.json`, redirectUri: callback })).status, 403, 'before 2026.8: <link> tags only');
});

test('§1.8 verify_client_id quirks through /auth/login_flow', async (t) => {
  const double = await withDouble(t);
  const status = async (clientId) => (await startFlow(double, { client_id: clientId })).status;
  assert.equal(await status('http://8.8.8.8/'), 400, 'public IP without port');
  assert.equal(await status('http://8.8.8.8:8123/'), 200, 'IP with port passes as a name');
  assert.equal(await status('http://192.168.1.5/'), 200, 'local IP');
  assert.equal(await status('http://[::1]/'), 200);
  assert.equal(await status('http://any-domain.example/'), 200);
  assert.equal(await status('http://x.example/#frag'), 400);
  assert.equal(await status('http://user@x.example/'), 400);
  assert.equal(await status('http://x.example/a/../b'), 400);
  assert.equal(await status('http://x.example:port/'), 400);
  assert.equal(await status('javascript:alert(1)'), 400);
  assert.equal(await status('http:///x'), 500, 'empty netloc raises IndexError');
});

test('§1.6 the code is bound to the FINAL step client_id, exactly as sent', async (t) => {
  const double = await withDouble(t);
  const base = double.url; // no trailing slash
  const response = await loginFlow(double, { clientId: `${base}/`, redirectUri: `${base}/cb`, finalClientId: base });
  assert.equal(response.json().type, 'create_entry');
  const code = response.json().result;
  const withSlash = await request(double, { method: 'POST', path: '/auth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'authorization_code', client_id: `${base}/`, code }).toString() });
  assert.equal(withSlash.status, 400);
  const exact = await request(double, { method: 'POST', path: '/auth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'authorization_code', client_id: base, code }).toString() });
  assert.equal(exact.status, 200);
});

test('§1.6/§5/§6.4 user checks at flow completion: inactive and local_only users', async (t) => {
  const double = await withDouble(t, {
    useXForwardedFor: true,
    trustedProxies: ['127.0.0.1'],
    users: [
      { name: 'Owner', username: 'owner', password: 'pw', isOwner: true, groups: ['system-admin'] },
      { name: 'Sleepy', username: 'sleepy', password: 'pw', isActive: false },
      { name: 'Homebody', username: 'homebody', password: 'pw', localOnly: true },
    ],
  });
  const inactive = await loginFlow(double, { username: 'sleepy', password: 'pw' });
  assert.equal(inactive.status, 403);
  assert.deepEqual(inactive.json(), { message: 'Login blocked: User is not active' });
  const wrongPasswordInactive = await loginFlow(double, { username: 'sleepy', password: 'bad' });
  assert.deepEqual(wrongPasswordInactive.json().errors, { base: 'invalid_auth' }, 'credentials are checked first');
  const remote = await loginFlow(double, { username: 'homebody', password: 'pw', headers: { 'x-forwarded-for': '203.0.113.5' } });
  assert.equal(remote.status, 403);
  assert.deepEqual(remote.json(), { message: 'Login blocked: User cannot authenticate remotely' });
  const local = await loginFlow(double, { username: 'homebody', password: 'pw', headers: { 'x-forwarded-for': '10.1.2.3' } });
  assert.equal(local.json().type, 'create_entry');
  assert.ok(double.failedLogins.some((entry) => entry.ip === '203.0.113.5'));
});

test('§1.7/§3.4 trusted_networks: user select, not_allowed abort, allow_bypass_login, trusted_users', async (t) => {
  const double = await withDouble(t, {
    useXForwardedFor: true,
    trustedProxies: ['127.0.0.1'],
    users: [
      { name: 'Owner', username: 'owner', password: 'pw', isOwner: true, groups: ['system-admin'] },
      { name: 'Kiosk', id: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', groups: ['system-read-only'] },
      { name: 'Retired', isActive: false },
    ],
    authProviders: [
      { type: 'trusted_networks', trustedNetworks: ['127.0.0.0/8', '192.168.0.0/16'], trustedUsers: { '192.168.50.0/24': ['aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'] }, allowBypassLogin: true },
    ],
  });
  const start = (xff) => postJson(double, '/auth/login_flow', { client_id: clientIdOf(double), handler: ['trusted_networks', null], redirect_uri: `${double.url}/` }, xff ? { 'x-forwarded-for': xff } : {});
  const fromProxy = (await start(null)).json();
  assert.deepEqual(fromProxy, { type: 'abort', flow_id: fromProxy.flow_id, handler: ['trusted_networks', null], reason: 'not_allowed', description_placeholders: null });
  const outside = (await start('203.0.113.1')).json();
  assert.equal(outside.reason, 'not_allowed');

  const form = (await start('127.0.0.5')).json();
  assert.equal(form.type, 'form');
  const [field] = form.data_schema;
  assert.equal(field.type, 'select');
  assert.equal(field.name, 'user');
  assert.deepEqual(field.options.map(([, name]) => name).sort(), ['Kiosk', 'Owner'], 'inactive users are not offered');
  const unknown = await postJson(double, `/auth/login_flow/${form.flow_id}`, { client_id: clientIdOf(double), user: 'ffffffffffffffffffffffffffffffff' }, { 'x-forwarded-for': '127.0.0.5' });
  assert.deepEqual(unknown.json(), { message: 'User input malformed' });
  const ownerId = double.state.ownerId;
  const chosen = await postJson(double, `/auth/login_flow/${form.flow_id}`, { client_id: clientIdOf(double), user: ownerId }, { 'x-forwarded-for': '127.0.0.5' });
  assert.equal(chosen.json().type, 'create_entry');

  // trusted_users narrows 192.168.50.0/24 to Kiosk alone; with bypass the flow finishes at once.
  const bypass = (await start('192.168.50.7')).json();
  assert.equal(bypass.type, 'create_entry');
  const token = await request(double, { method: 'POST', path: '/auth/token', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '192.168.50.7' }, body: new URLSearchParams({ grant_type: 'authorization_code', client_id: clientIdOf(double), code: bypass.result }).toString() });
  assert.equal(token.status, 200);
  assert.equal(token.json().ha_auth_provider, 'trusted_networks');
  const kiosk = double.users().find((user) => user.name === 'Kiosk');
  assert.deepEqual(kiosk.credentials.map((credential) => credential.type), ['trusted_networks']);
});

test('§1.12 login attempts threshold bans the effective client IP (403 everywhere)', async (t) => {
  const double = await withDouble(t, { loginAttemptsThreshold: 2 });
  await request(double, { path: '/api/', localAddress: '127.0.0.7' });
  await request(double, { path: '/api/', localAddress: '127.0.0.7' });
  const banned = await request(double, { path: '/auth/providers', localAddress: '127.0.0.7' });
  assert.equal(banned.status, 403);
  assert.equal(banned.text, '403: Forbidden');
  const other = await request(double, { path: '/auth/providers', localAddress: '127.0.0.8' });
  assert.equal(other.status, 200);
});

test('§1.3 /auth/authorize serves the same static login page for any query', async (t) => {
  const double = await withDouble(t);
  const page = await request(double, { path: '/auth/authorize?response_type=code&client_id=x' });
  assert.equal(page.status, 200);
  assert.match(page.headers['content-type'], /text\/html/);
  assert.match(page.text, /id="login-form"/);
  assert.match(page.text, /Keep me logged in/);
  const script = await request(double, { path: '/frontend_latest/authorize.js' });
  assert.equal(script.status, 200);
  assert.match(script.text, /\/auth\/login_flow/);
  const bare = await request(double, { path: '/auth/authorize' });
  assert.equal(bare.text, page.text);
});

test('§1.9 loginCode helper sanity: codes differ per login', async (t) => {
  const double = await withDouble(t);
  const first = await loginCode(double);
  const second = await loginCode(double);
  assert.notEqual(first, second);
});

test('§1.7 a user with TOTP enabled gets the mfa step after the password; the flow gives no code without it', async (t) => {
  const double = await withDouble(t, { users: [{ name: 'Owner', username: 'owner', password: 'pw', isOwner: true, groups: ['system-admin'] }, { name: 'Alice', username: 'alice', password: 'pw' }] });
  double.enableTotp(double.state.userIds.alice);
  const step = (await loginFlow(double, { username: 'alice', password: 'pw' })).json();
  assert.equal(step.type, 'form');
  assert.equal(step.step_id, 'mfa');
  assert.deepEqual(step.description_placeholders, { mfa_module_name: 'Authenticator app', mfa_module_id: 'totp' });
  assert.equal((await loginFlow(double, { username: 'owner', password: 'pw' })).json().type, 'create_entry', 'others are not asked');
});
