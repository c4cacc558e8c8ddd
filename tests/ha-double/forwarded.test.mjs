// Tests of the double's request pipeline: forwarded headers (§3.1, §3.2), is_local (§3.3),
// security filter and stopping (§9.6), response headers (§9.3).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withDouble, request, loginTokens, authenticatedSocket } from './helpers.mjs';
import { parseIp, isLocal } from './lib/ip.mjs';

// /api/ without a token answers 401 and records the effective client IP as a failed login,
// which makes the chosen IP observable.
async function effectiveIp(double, headers, localAddress) {
  const before = double.failedLogins.length;
  const response = await request(double, { path: '/api/', headers, localAddress });
  if (response.status !== 401) return { status: response.status, text: response.text };
  return { status: 401, ip: double.failedLogins.slice(before)[0].ip };
}

function rawRequest(double, lines) {
  return new Promise(async (resolve, reject) => {
    const { connect } = await import('node:net');
    const socket = connect(double.port, '127.0.0.1', () => socket.end(`${lines.join('\r\n')}\r\n\r\n`));
    let data = '';
    socket.on('data', (chunk) => { data += chunk; });
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
}

test('§3.1 use_x_forwarded_for and trusted_proxies must be set together', async () => {
  const { startDouble } = await import('./double.mjs');
  await assert.rejects(startDouble({ useXForwardedFor: true }), /together/);
  await assert.rejects(startDouble({ trustedProxies: ['127.0.0.1'] }), /together/);
  await assert.rejects(startDouble({ useXForwardedFor: true, trustedProxies: ['10.0.0.1/8'] }), /host bits/);
});

test('§3.2 rule 3: any X-Forwarded-For without proxy support is 400 on every route', async (t) => {
  const double = await withDouble(t);
  for (const path of ['/api/', '/auth/providers', '/', '/manifest.json']) {
    const response = await request(double, { path, headers: { 'x-forwarded-for': '192.168.1.1' } });
    assert.equal(response.status, 400, path);
    assert.equal(response.text, '400: Bad Request');
    assert.equal(response.headers['x-frame-options'], undefined, 'the forwarded middleware runs before the headers middleware');
  }
  assert.equal((await effectiveIp(double, {})).ip, '127.0.0.1', 'no XFF: the TCP peer');
});

test('§3.2 rules 4-6: untrusted peer, several header lines, bad elements, right-to-left walk', async (t) => {
  const double = await withDouble(t, { useXForwardedFor: true, trustedProxies: ['127.0.0.1', '10.0.0.0/8'] });
  assert.equal((await effectiveIp(double, { 'x-forwarded-for': '192.168.1.1' }, '127.0.0.2')).status, 400, 'peer not a trusted proxy');
  assert.equal((await effectiveIp(double, {}, '127.0.0.2')).ip, '127.0.0.2', 'untrusted peer without XFF passes');
  assert.equal((await effectiveIp(double, { 'x-forwarded-for': '192.168.1.1' })).ip, '192.168.1.1');
  assert.equal((await effectiveIp(double, { 'x-forwarded-for': ' 203.0.113.4 , 10.1.1.1,10.2.2.2' })).ip, '203.0.113.4');
  assert.equal((await effectiveIp(double, { 'x-forwarded-for': '198.51.100.1, 203.0.113.4, 10.2.2.2' })).ip, '203.0.113.4', 'first untrusted from the right');
  assert.equal((await effectiveIp(double, { 'x-forwarded-for': '10.9.9.9, 10.2.2.2' })).ip, '10.9.9.9', 'all trusted: the left-most');
  assert.equal((await effectiveIp(double, { 'x-forwarded-for': '2001:db8:0:0::1' })).ip, '2001:db8::1');
  for (const bad of ['192.168.1.1:8080', '[2001:db8::1]', 'unknown', '192.168.1.1,,10.0.0.1', '', '010.0.0.1']) {
    assert.equal((await effectiveIp(double, { 'x-forwarded-for': bad })).status, 400, `XFF ${JSON.stringify(bad)}`);
  }
  const twoLines = await rawRequest(double, ['GET /api/ HTTP/1.1', 'Host: x', 'X-Forwarded-For: 192.168.1.1', 'X-Forwarded-For: 192.168.1.2', 'Connection: close']);
  assert.match(twoLines, /^HTTP\/1\.1 400 /);
  const oneLine = await rawRequest(double, ['GET /api/ HTTP/1.1', 'Host: x', 'X-Forwarded-For: 192.168.1.1', 'Connection: close']);
  assert.match(oneLine, /^HTTP\/1\.1 401 /);
});

test('§3.2 rules 7-8: X-Forwarded-Proto and X-Forwarded-Host', async (t) => {
  const double = await withDouble(t, { useXForwardedFor: true, trustedProxies: ['127.0.0.1'] });
  const status = async (headers) => (await request(double, { path: '/api/', headers: { 'x-forwarded-for': '192.168.1.1', ...headers } })).status;
  assert.equal(await status({ 'x-forwarded-proto': 'https' }), 401);
  assert.equal(await status({ 'x-forwarded-proto': 'https,' }), 400, 'empty element');
  assert.equal(await status({ 'x-forwarded-proto': 'https, http' }), 400, 'count differs from XFF');
  assert.equal((await request(double, { path: '/api/', headers: { 'x-forwarded-for': '192.168.1.1, 127.0.0.1', 'x-forwarded-proto': 'https, http' } })).status, 401, 'equal counts');
  assert.equal(await status({ 'x-forwarded-host': 'ha.example.com' }), 401);
  assert.equal(await status({ 'x-forwarded-host': '  ' }), 400, 'empty host');
  const twoProto = await rawRequest(double, ['GET /api/ HTTP/1.1', 'Host: x', 'X-Forwarded-For: 192.168.1.1', 'X-Forwarded-Proto: https', 'X-Forwarded-Proto: http', 'Connection: close']);
  assert.match(twoProto, /^HTTP\/1\.1 400 /);
  const twoHost = await rawRequest(double, ['GET /api/ HTTP/1.1', 'Host: x', 'X-Forwarded-For: 192.168.1.1', 'X-Forwarded-Host: a', 'X-Forwarded-Host: b', 'Connection: close']);
  assert.match(twoHost, /^HTTP\/1\.1 400 /);
  // Forwarded and X-Real-IP are ignored (§3.2 rule 9).
  const before = double.failedLogins.length;
  await request(double, { path: '/api/', headers: { forwarded: 'for=192.0.2.60', 'x-real-ip': '192.0.2.61' } });
  assert.equal(double.failedLogins[before].ip, '127.0.0.1');
});

test('§3.2 websocket upgrades go through the same forwarded checks', async (t) => {
  const double = await withDouble(t);
  const response = await rawRequest(double, [
    'GET /api/websocket HTTP/1.1', 'Host: x', 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'X-Forwarded-For: 192.168.1.1',
  ]);
  assert.match(response, /^HTTP\/1\.1 400 /);
  assert.equal(double.websocketCounters.opened, 0);
});

test('§0.2 an IPv4-mapped X-Forwarded-For is recorded as Python prints it: ::ffff:a00:8 before 2025.2, ::ffff:10.0.0.8 from 2025.2', async (t) => {
  for (const [version, expected] of [['2023.9.3', '::ffff:a00:8'], ['2025.1.4', '::ffff:a00:8'], ['2025.2.0', '::ffff:10.0.0.8'], ['2025.5.0', '::ffff:10.0.0.8']]) {
    const double = await withDouble(t, { version, useXForwardedFor: true, trustedProxies: ['127.0.0.1'] });
    const headers = { 'x-forwarded-for': '::ffff:10.0.0.8' };
    const tokens = await loginTokens(double, { headers });
    const socket = await authenticatedSocket(double, tokens.access_token);
    const listed = (await socket.command({ type: 'auth/refresh_tokens' })).result.find((token) => token.is_current);
    socket.close();
    assert.equal(listed.last_used_ip, expected, version);
    assert.equal((await effectiveIp(double, headers)).ip, expected, `${version}: failed logins record the same string`);
  }
});

test('§3.3 is_local', () => {
  const local = ['127.0.0.1', '127.255.0.1', '::1', '::ffff:127.0.0.1', '10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.0.1', 'fd00::1', '169.254.1.1', 'fe80::1', '::ffff:192.168.1.1'];
  const remote = ['100.64.0.1', 'fc00::1', '172.32.0.1', '8.8.8.8', '2001:db8::1', '192.169.0.1'];
  for (const address of local) assert.equal(isLocal(parseIp(address)), true, address);
  for (const address of remote) assert.equal(isLocal(parseIp(address)), false, address);
});

test('§9.6 security filter: 400 before anything else, without HA headers', async (t) => {
  const double = await withDouble(t);
  const paths = [
    '/../etc/passwd', '/api/%2e%2e/%2e%2e/x', '/x?q=%3Cscript%3Ealert(1)%3C/script%3E', '/x?id=1 union select(1)'.replaceAll(' ', '%20'),
    '/x?a=concat(1', '/x%0aHeader', '/x?q=%0A', '/proc/self/environ',
  ];
  for (const path of paths) {
    const response = await request(double, { path });
    assert.equal(response.status, 400, path);
    assert.equal(response.text, '400: Bad Request');
  }
  assert.equal((await request(double, { path: '/manifest.json?v=1.2' })).status, 200);
  // Only one decoding round for the unsafe-byte check: an encoded "%0A" is just text.
  assert.equal((await request(double, { path: '/manifest.json?q=%250A' })).status, 200);
});

test('§9.3 response headers and aiohttp error bodies', async (t) => {
  const double = await withDouble(t);
  const response = await request(double, { path: '/manifest.json' });
  assert.equal(response.headers['referrer-policy'], 'no-referrer');
  assert.equal(response.headers['x-content-type-options'], 'nosniff');
  assert.equal(response.headers['x-frame-options'], 'SAMEORIGIN');
  assert.ok(response.rawHeaders.includes('Server'), 'an (empty) Server header is present');
  assert.equal(response.headers.server, '');
  const missing = await request(double, { path: '/api/does-not-exist' });
  assert.equal(missing.status, 404);
  assert.equal(missing.text, '404: Not Found');
  const noFrame = await withDouble(t, { useXFrameOptions: false });
  assert.equal((await request(noFrame, { path: '/manifest.json' })).headers['x-frame-options'], undefined);
});

test('§0.2 early 400s (security filter, forwarded headers) and ban 403s carry aiohttp\'s Server header and no HA headers', async (t) => {
  for (const [version, server] of [['2023.9.3', 'Python/3.11 aiohttp/3.8.4'], ['2025.5.0', 'Python/3.13 aiohttp/3.11.16']]) {
    const double = await withDouble(t, { version, useXForwardedFor: true, trustedProxies: ['10.0.0.0/8'], loginAttemptsThreshold: 1 });
    const cases = [
      [{ path: '/../etc/passwd' }, 400],
      [{ path: '/api/', headers: { 'x-forwarded-for': '192.168.1.1' } }, 400], // untrusted peer
    ];
    for (const [options, status] of cases) {
      const response = await request(double, options);
      assert.equal(response.status, status, JSON.stringify(options));
      assert.equal(response.headers.server, server, `${version} ${options.path}`);
      assert.equal(response.headers['x-content-type-options'], undefined);
      assert.equal(response.headers['x-frame-options'], undefined);
    }
    const fine = await request(double, { path: '/manifest.json' });
    assert.equal(fine.headers.server, '', 'answers through HA\'s headers middleware carry an empty Server');
    await request(double, { path: '/api/' }); // a 401: threshold 1 bans 127.0.0.1
    const banned = await request(double, { path: '/manifest.json' });
    assert.deepEqual([banned.status, banned.text, banned.headers.server], [403, '403: Forbidden', server]);
    const upgrade = await rawRequest(double, ['GET /api/websocket HTTP/1.1', 'Host: x', 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==']);
    assert.match(upgrade, /^HTTP\/1\.1 403 /);
    assert.ok(upgrade.includes(`\r\nServer: ${server}\r\n`), upgrade);
  }
});

test('§0.2 routes match the raw path: /api%2F is 404 with or without a token; captured values are decoded', async (t) => {
  const double = await withDouble(t);
  const { token } = double.createLongLivedToken(double.state.ownerId);
  const bearer = { authorization: `Bearer ${token}` };
  assert.equal((await request(double, { path: '/api/', headers: bearer })).status, 200);
  for (const headers of [{}, bearer]) {
    const encoded = await request(double, { path: '/api%2F', headers });
    assert.deepEqual([encoded.status, encoded.text], [404, '404: Not Found']);
  }
  assert.equal(double.failedLogins.length, 0, 'a 404 is not a failed login');
  assert.equal((await request(double, { method: 'POST', path: '/auth/%74oken', body: '' })).status, 404);
  // Variables are matched raw, then decoded.
  const state = await request(double, { path: '/api/states/light%2Ekitchen', headers: bearer });
  assert.deepEqual([state.status, state.json().entity_id], [200, 'light.kitchen']);
  assert.equal((await request(double, { path: '/api/states/light%2Fkitchen', headers: bearer })).json().message, 'Entity not found.');
  // The frontend's index resource splits the raw path before decoding its first segment.
  assert.equal((await request(double, { path: '/lovelace/0' })).status, 200);
  assert.equal((await request(double, { path: '/%6Covelace/0' })).status, 200);
  assert.equal((await request(double, { path: '/lovelace%2F0' })).status, 404);
  const upgrade = await rawRequest(double, ['GET /api%2Fwebsocket HTTP/1.1', 'Host: x', 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==']);
  assert.match(upgrade, /^HTTP\/1\.1 404 /);
});

test('§0.2 405 answers list the allowed methods with OPTIONS added; OPTIONS itself is the CORS preflight', async (t) => {
  const double = await withDouble(t);
  const cases = [
    ['PUT', '/auth/token', 'OPTIONS,POST'],
    ['POST', '/api/', 'GET,OPTIONS'],
    ['HEAD', '/api/', 'GET,OPTIONS'],
    ['POST', '/auth/authorize', 'GET,OPTIONS'],
    ['POST', '/frontend_latest/app.js', 'GET,HEAD,OPTIONS'],
    ['PATCH', '/auth/login_flow/abc', 'DELETE,GET,OPTIONS,POST'],
    ['POST', '/', 'GET'], // the index resource has no CORS
    ['OPTIONS', '/lovelace', 'GET'],
  ];
  for (const [method, path, allow] of cases) {
    const response = await request(double, { method, path });
    assert.equal(response.status, 405, `${method} ${path}`);
    assert.equal(response.headers.allow, allow, `${method} ${path}`);
    if (method !== 'HEAD') assert.equal(response.text, '405: Method Not Allowed');
    assert.equal(response.headers['x-content-type-options'], 'nosniff');
  }
  const noOrigin = await request(double, { method: 'OPTIONS', path: '/api/' });
  assert.deepEqual([noOrigin.status, noOrigin.text], [403, 'CORS preflight request failed: origin header is not specified in the request']);
  const noMethod = await request(double, { method: 'OPTIONS', path: '/auth/token', headers: { origin: 'https://example.com' } });
  assert.deepEqual([noMethod.status, noMethod.text], [403, "CORS preflight request failed: 'Access-Control-Request-Method' header is not specified"]);
  const preflight = await request(double, { method: 'OPTIONS', path: '/auth/token', headers: { origin: 'https://example.com', 'access-control-request-method': 'POST' } });
  assert.deepEqual([preflight.status, preflight.headers['access-control-allow-origin']], [200, 'https://example.com']);
  assert.equal((await request(double, { method: 'HEAD', path: '/frontend_latest/app.js' })).status, 200);
});

test('§9.6 while stopping every view answers 503; static files still load', async (t) => {
  const double = await withDouble(t);
  double.setStopping(true);
  assert.equal((await request(double, { path: '/auth/providers' })).status, 503);
  assert.equal((await request(double, { method: 'POST', path: '/auth/token', body: '' })).status, 503);
  assert.equal((await request(double, { path: '/api/' })).status, 503);
  assert.equal((await request(double, { path: '/auth/authorize' })).status, 200);
  double.setStopping(false);
  assert.equal((await request(double, { path: '/auth/providers' })).status, 200);
});

test('request counts are kept per path (query excluded)', async (t) => {
  const double = await withDouble(t);
  await request(double, { path: '/auth/providers?x=1' });
  await request(double, { path: '/auth/providers' });
  await request(double, { path: '/api/' });
  assert.deepEqual(double.requestCounts, { '/auth/providers': 2, '/api/': 1 });
  double.resetCounters();
  assert.deepEqual(double.requestCounts, {});
  assert.deepEqual(double.failedLogins, []);
});
