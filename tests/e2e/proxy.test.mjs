// What a Home Assistant user sees through Gatehouse as a plain reverse proxy: requests and bodies arrive
// intact, connections are reused, huge bodies stream without Gatehouse holding them, hop-by-hop headers
// stop at Gatehouse, and HA gets exactly one trustworthy X-Forwarded-For / -Proto / -Host.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { startGatehouse, PeakRss, TEST_GUARD } from './lib/harness.mjs';
import { startUpstream } from './lib/upstream.mjs';
import { request, RawConnection, rawHead, headerValues } from './lib/http-client.mjs';
import { patternBlocks, patternSha256 } from './lib/pattern.mjs';
import { newSecret } from './lib/secrets.mjs';

const HUNDRED_MB = 100 * 1024 * 1024;
// A streaming proxy holds a few buffers per connection; holding a 100 MB body would blow far past this.
const RSS_BOUND_BYTES = 64 * 1024 * 1024;
const SAMPLE_EVERY_BYTES = 2 * 1024 * 1024;

/** The request the upstream saw for a response echoed by it. */
function upstreamRequestFor(upstream, response) {
  const echo = response.json();
  return upstream.requests.find((r) => r.url === echo.url && r.connectionId === echo.connectionId && r.method === echo.method);
}

describe('relaying requests', () => {
  let upstream;
  let gatehouse;
  before(async () => {
    upstream = await startUpstream();
    gatehouse = await startGatehouse({ upstream });
  });
  after(async () => {
    await gatehouse?.stop();
    await upstream?.stop();
  });

  test('GET keeps method, path and query; the request is logged without the query or the credentials', TEST_GUARD, async () => {
    const token = newSecret('bearer token');
    const cookie = newSecret('session cookie');
    const signature = newSecret('authSig query value');
    const target = `/api/states/light.kitchen?authSig=${signature}&x=a%20b&empty=`;
    const response = await request(`${gatehouse.url}${target}`, {
      headers: { authorization: `Bearer ${token}`, cookie: `session=${cookie}`, accept: 'application/json' },
    });
    assert.equal(response.status, 200);
    const echo = response.json();
    assert.equal(echo.method, 'GET');
    assert.equal(echo.url, target);
    // Credentials are HA's business: Gatehouse must pass them on unchanged.
    assert.deepEqual(headerValues(echo.rawHeaders, 'authorization'), [`Bearer ${token}`]);
    assert.deepEqual(headerValues(echo.rawHeaders, 'cookie'), [`session=${cookie}`]);

    const line = await gatehouse.waitForLog((entry) => entry.msg === 'request' && entry.path === '/api/states/light.kitchen');
    assert.equal(line.level, 'info');
    assert.equal(line.method, 'GET');
    assert.equal(line.route, 'protected');
    assert.equal(line.status, 200);
    assert.equal(line.client, '127.0.0.1');
    assert.equal(typeof line.duration_ms, 'number');
    assert.ok(line.duration_ms >= 0);
    assert.equal(typeof line.ts, 'string');
  });

  test('POST, PUT, PATCH and DELETE bodies arrive byte for byte with their Content-Length', TEST_GUARD, async () => {
    const password = newSecret('password in a login_flow body');
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      const body = JSON.stringify({ method, username: 'anna', password, client_id: 'http://127.0.0.1:8123/', note: 'ünïcödé' });
      const response = await request(`${gatehouse.url}/api/services/light/turn_on?method=${method}`, {
        method, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, body,
      });
      assert.equal(response.status, 200, method);
      const seen = upstreamRequestFor(upstream, response);
      assert.equal(seen.method, method);
      assert.equal(seen.sha256, createHash('sha256').update(body).digest('hex'), method);
      assert.deepEqual(seen.headerValues('content-length'), [String(Buffer.byteLength(body))], method);
      assert.deepEqual(seen.headerValues('transfer-encoding'), [], method);
    }
  });

  test('HEAD gets the upstream head and no body', TEST_GUARD, async () => {
    const connection = await RawConnection.connect({ port: gatehouse.port });
    try {
      await connection.write(rawHead('HEAD', '/api/head-check', [['Host', 'ha.test']]));
      const response = await connection.readResponse({ method: 'HEAD' });
      assert.equal(response.status, 200);
      assert.equal(response.body.length, 0);
      // If Gatehouse sent a body after a HEAD response, it would show up as garbage before the next one.
      await connection.write(rawHead('GET', '/api/after-head', [['Host', 'ha.test']]));
      const next = await connection.readResponse();
      assert.equal(next.status, 200);
      assert.equal(next.json().url, '/api/after-head');
    } finally {
      connection.destroy();
    }
  });

  test('upstream status codes and error bodies reach the client unchanged', TEST_GUARD, async () => {
    for (const code of [201, 401, 404, 500]) {
      const response = await request(`${gatehouse.url}/test/status?code=${code}`);
      assert.equal(response.status, code);
      assert.deepEqual(response.json(), { status: code });
    }
  });

  test('200 requests on one client connection reuse one client socket and few upstream connections', TEST_GUARD, async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const before = upstream.connectionsAccepted;
      const clientSockets = new Set();
      for (let i = 0; i < 200; i++) {
        const response = await request(`${gatehouse.url}/api/keepalive?i=${i}`, { agent });
        assert.equal(response.status, 200);
        assert.equal(response.json().url, `/api/keepalive?i=${i}`);
        clientSockets.add(response.socket);
      }
      assert.equal(clientSockets.size, 1, 'Gatehouse closed the client keep-alive connection');
      const opened = upstream.connectionsAccepted - before;
      assert.ok(opened <= 4, `200 sequential requests opened ${opened} upstream connections`);
    } finally {
      agent.destroy();
    }
  });

  test('chunked request body reaches the upstream whole', TEST_GUARD, async () => {
    const parts = ['first part,', 'x'.repeat(100_000), ',last part'];
    async function* chunkedBody() {
      for (const part of parts) yield Buffer.from(part);
    }
    const response = await request(`${gatehouse.url}/api/chunked-upload`, { method: 'POST', body: chunkedBody() });
    assert.equal(response.status, 200);
    const seen = upstreamRequestFor(upstream, response);
    assert.equal(seen.complete, true);
    assert.equal(seen.bodyBytes, parts.join('').length);
    assert.equal(seen.sha256, createHash('sha256').update(parts.join('')).digest('hex'));
  });

  test('a length-framed answer HA sends in two parts reaches the client as it comes: the head and first part before HA sends the rest', TEST_GUARD, async () => {
    const first = Buffer.alloc(40_000, 'a');
    const rest = Buffer.alloc(60_000, 'b');
    const response = new Promise((resolve, reject) => {
      http.get(`${gatehouse.url}/test/slow?parts=2`, resolve).on('error', reject);
    });
    const slow = await upstream.nextSlow((s) => s.request.url === '/test/slow?parts=2');
    slow.begin({ length: first.length + rest.length, first });
    const res = await response;
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-length'], String(first.length + rest.length));
    // What HA sent so far arrives while HA still holds the rest back (Gatehouse waits for none of it).
    const received = [];
    let bytes = 0;
    await new Promise((resolve, reject) => {
      res.on('error', reject);
      res.on('data', (chunk) => {
        received.push(chunk);
        bytes += chunk.length;
        if (bytes === first.length) resolve();
      });
    });
    assert.deepEqual(Buffer.concat(received), first);
    const ended = new Promise((resolve) => res.on('end', resolve));
    slow.finish(rest);
    await ended;
    assert.deepEqual(Buffer.concat(received), Buffer.concat([first, rest]));
  });

  test('a streamed answer shows its head before any body byte, then each chunk as HA sends it, once, and counts its bytes', TEST_GUARD, async () => {
    const relayedToClient = async () => {
      const metrics = await request(`${gatehouse.url}/metrics`);
      assert.equal(metrics.status, 200);
      return Number(/^gatehouse_relayed_bytes_total\{direction="to_client"\} (\d+)$/m.exec(metrics.text())?.[1] ?? 0);
    };
    const before = await relayedToClient();
    const response = new Promise((resolve, reject) => {
      http.get(`${gatehouse.url}/test/slow?parts=stream`, resolve).on('error', reject);
    });
    const slow = await upstream.nextSlow((s) => s.request.url === '/test/slow?parts=stream');
    slow.begin({ headers: { 'content-type': 'text/event-stream' } }); // the head alone, chunked
    const res = await response;
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['transfer-encoding'], 'chunked');
    const received = [];
    let waiting = null;
    const errored = new Promise((resolve, reject) => res.on('error', reject));
    res.on('data', (chunk) => { received.push(chunk.toString()); waiting?.(); });
    const nextData = () => Promise.race([new Promise((resolve) => { waiting = resolve; }), errored]);
    const first = 'data: one\n\n';
    slow.write(first);
    await nextData();
    assert.equal(received.join(''), first, 'the first event arrived while HA held the rest');
    const ended = Promise.race([new Promise((resolve) => res.on('end', resolve)), errored]);
    slow.finish('data: two\n\n');
    await ended;
    assert.equal(received.join(''), `${first}data: two\n\n`);
    assert.equal(await relayedToClient() - before, Buffer.byteLength(`${first}data: two\n\n`));
  });

  test('chunked and length-delimited responses arrive whole; a length stays a length', TEST_GUARD, async () => {
    const bytes = 5 * 1024 * 1024 + 7;
    const chunked = await request(`${gatehouse.url}/test/download?bytes=${bytes}&encoding=chunked`, { keepBody: false });
    assert.equal(chunked.status, 200);
    assert.equal(chunked.bodyBytes, bytes);
    assert.equal(chunked.sha256, patternSha256(bytes));

    const withLength = await request(`${gatehouse.url}/test/download?bytes=${bytes}&encoding=length`, { keepBody: false });
    assert.equal(withLength.status, 200);
    assert.equal(withLength.headers['content-length'], String(bytes));
    assert.equal(withLength.bodyBytes, bytes);
    assert.equal(withLength.sha256, patternSha256(bytes));
  });

  test('a body HA ends by closing reaches an HTTP/1.1 client chunked and whole, on a connection that stays open', TEST_GUARD, async () => {
    const bytes = 1024 * 1024 + 3;
    const connection = await RawConnection.connect({ port: gatehouse.port });
    try {
      await connection.write(rawHead('GET', `/test/download?bytes=${bytes}&encoding=close`, [['Host', 'ha.test']]));
      const response = await connection.readResponse();
      assert.equal(response.status, 200);
      assert.deepEqual(response.header('transfer-encoding'), ['chunked']);
      assert.deepEqual(response.header('content-length'), []);
      assert.equal(response.body.length, bytes);
      assert.equal(createHash('sha256').update(response.body).digest('hex'), patternSha256(bytes));
      await connection.write(rawHead('GET', '/api/after-a-close-ended-body', [['Host', 'ha.test']]));
      const next = await connection.readResponse();
      assert.equal(next.status, 200);
      assert.equal(next.json().url, '/api/after-a-close-ended-body');
    } finally {
      connection.destroy();
    }
  });

  test('an HTTP/1.0 client gets a chunked answer as plain bytes that end when Gatehouse closes', TEST_GUARD, async () => {
    const bytes = 300 * 1024 + 5;
    const connection = await RawConnection.connect({ port: gatehouse.port });
    try {
      await connection.write(`GET /test/download?bytes=${bytes}&encoding=chunked HTTP/1.0\r\nHost: ha.test\r\nConnection: keep-alive\r\n\r\n`);
      const response = await connection.readResponse();
      assert.equal(response.status, 200);
      assert.deepEqual(response.header('transfer-encoding'), []);
      assert.deepEqual(response.header('content-length'), []);
      assert.deepEqual(response.header('connection'), [], 'an HTTP/1.0 connection that closes says nothing');
      assert.ok(connection.ended, 'the body ends when Gatehouse closes');
      assert.equal(response.body.length, bytes);
      assert.equal(createHash('sha256').update(response.body).digest('hex'), patternSha256(bytes));
    } finally {
      connection.destroy();
    }
  });

  test('a 100 MB upload streams through with a matching sha256 while Gatehouse stays small', TEST_GUARD, async (t) => {
    const rss = new PeakRss(gatehouse.pid);
    let nextSample = 0;
    const response = await request(`${gatehouse.url}/api/backup/upload`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'content-length': HUNDRED_MB },
      body: patternBlocks(HUNDRED_MB),
      onBodyProgress: (sent) => {
        if (sent >= nextSample) { rss.sample(); nextSample += SAMPLE_EVERY_BYTES; }
      },
    });
    rss.sample();
    assert.equal(response.status, 200);
    const seen = upstreamRequestFor(upstream, response);
    assert.equal(seen.bodyBytes, HUNDRED_MB);
    assert.equal(seen.sha256, patternSha256(HUNDRED_MB));
    assert.deepEqual(seen.headerValues('content-length'), [String(HUNDRED_MB)]);
    t.diagnostic(`Gatehouse peak RSS during the upload: ${rss.peakMiB} MiB over ${rss.samples} samples`);
    assert.ok(rss.samples >= 40, `only ${rss.samples} RSS samples`);
    assert.ok(rss.boundedBytes < RSS_BOUND_BYTES, `Gatehouse RSS peaked at ${rss.peakMiB} MiB during a 100 MB upload`);
  });

  test('a 100 MB download streams through with a matching sha256 while Gatehouse stays small', TEST_GUARD, async (t) => {
    const rss = new PeakRss(gatehouse.pid);
    let nextSample = 0;
    const response = await request(`${gatehouse.url}/test/download?bytes=${HUNDRED_MB}&encoding=length`, {
      keepBody: false,
      onResponseChunk: (chunk, received) => {
        if (received >= nextSample) { rss.sample(); nextSample += SAMPLE_EVERY_BYTES; }
      },
    });
    rss.sample();
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-length'], String(HUNDRED_MB));
    assert.equal(response.bodyBytes, HUNDRED_MB);
    assert.equal(response.sha256, patternSha256(HUNDRED_MB));
    t.diagnostic(`Gatehouse peak RSS during the download: ${rss.peakMiB} MiB over ${rss.samples} samples`);
    assert.ok(rss.samples >= 40, `only ${rss.samples} RSS samples`);
    assert.ok(rss.boundedBytes < RSS_BOUND_BYTES, `Gatehouse RSS peaked at ${rss.peakMiB} MiB during a 100 MB download`);
  });

  test('hop-by-hop request headers stop at Gatehouse, end-to-end ones pass', TEST_GUARD, async () => {
    const proxyCredentials = newSecret('proxy-authorization credentials');
    const connection = await RawConnection.connect({ port: gatehouse.port });
    try {
      await connection.write(rawHead('GET', '/api/hop-by-hop-request', [
        ['Host', 'ha.test'],
        ['Connection', 'keep-alive, X-Client-Hop'],
        ['X-Client-Hop', 'named-in-connection'],
        ['Keep-Alive', 'timeout=30'],
        ['Proxy-Connection', 'keep-alive'],
        ['Proxy-Authorization', `Basic ${proxyCredentials}`],
        ['TE', 'trailers'],
        ['Trailer', 'X-Client-Checksum'],
        ['X-End-To-End', 'kept'],
      ]));
      const response = await connection.readResponse();
      assert.equal(response.status, 200);
      const seen = upstreamRequestFor(upstream, response);
      for (const name of ['x-client-hop', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer']) {
        assert.deepEqual(seen.headerValues(name), [], `${name} reached the upstream`);
      }
      for (const value of seen.headerValues('connection')) {
        assert.doesNotMatch(value, /x-client-hop|upgrade/i, 'the client\'s Connection header reached the upstream');
      }
      assert.deepEqual(seen.headerValues('x-end-to-end'), ['kept']);
    } finally {
      connection.destroy();
    }
  });

  test('hop-by-hop response headers stop at Gatehouse, end-to-end ones pass', TEST_GUARD, async () => {
    const connection = await RawConnection.connect({ port: gatehouse.port });
    try {
      await connection.write(rawHead('GET', '/test/hop-by-hop', [['Host', 'ha.test']]));
      const response = await connection.readResponse();
      assert.equal(response.status, 200);
      assert.deepEqual(response.json(), { hopByHop: true });
      for (const name of ['x-upstream-hop', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'trailer', 'upgrade', 'te']) {
        assert.deepEqual(response.header(name), [], `${name} reached the client`);
      }
      for (const value of response.header('connection')) {
        assert.doesNotMatch(value, /x-upstream-hop/i, 'the upstream\'s Connection header reached the client');
      }
      assert.deepEqual(response.header('x-end-to-end'), ['kept']);
    } finally {
      connection.destroy();
    }
  });

  test('an answer of HA\'s that frames its body two ways is refused with 502, never passed on', TEST_GUARD, async () => {
    const response = await request(`${gatehouse.url}/test/two-framings`, { headers: { accept: 'application/json' } });
    assert.equal(response.status, 502);
    assert.doesNotMatch(response.text(), /hello/);
    const next = await request(`${gatehouse.url}/api/after-two-framings`);
    assert.equal(next.status, 200, 'HA\'s next answer is read on a sound connection');
    assert.equal(next.json().url, '/api/after-two-framings');
  });

  test('an answer of HA\'s that switches protocols on an ordinary request gets the client a 502; HA\'s connection is not reused', TEST_GUARD, async () => {
    const response = await request(`${gatehouse.url}/test/switch-protocols`, { headers: { accept: 'application/json' } });
    assert.equal(response.status, 502);
    for (let i = 0; i < 3; i += 1) { // pooled, the switched connection would answer these with junk or not at all
      const next = await request(`${gatehouse.url}/api/after-switch-${i}`);
      assert.equal(next.status, 200, 'HA\'s next answer is read on a sound connection');
      assert.equal(next.json().url, `/api/after-switch-${i}`);
    }
  });

  test('when HA drops a reused connection after the request went out, a GET is sent again and a POST is not (HA may have acted on it)', TEST_GUARD, async () => {
    const connection = await RawConnection.connect({ port: gatehouse.port });
    try {
      for (const method of ['GET', 'POST']) {
        // A request first, so the next one goes out on a pooled connection to HA.
        await connection.write(rawHead('GET', `/api/before-drop-${method}`, [['Host', 'ha.test']]));
        assert.equal((await connection.readResponse()).status, 200);
        const seen = upstream.requestsTo('/test/drop').length;
        await connection.write(rawHead(method, '/test/drop', [['Host', 'ha.test'], ['Accept', 'application/json'], ['Content-Length', '0']]));
        assert.equal((await connection.readResponse()).status, 502, method);
        assert.equal(upstream.requestsTo('/test/drop').length - seen, method === 'GET' ? 2 : 1, `times HA got the ${method}`);
      }
    } finally {
      connection.destroy();
    }
  });

  test('a Set-Cookie of Gatehouse\'s own cookies in HA\'s answer never reaches the browser; HA\'s other cookies do', TEST_GUARD, async () => {
    const response = await request(`${gatehouse.url}/test/own-cookie`);
    assert.equal(response.status, 200);
    assert.deepEqual(response.headers['set-cookie'], ['addon_pref=dark; Path=/']);
  });

  test('/healthz answers 200 itself when HA is up, probing only /manifest.json without credentials', TEST_GUARD, async () => {
    const probesBefore = upstream.requestsTo('/manifest.json').length;
    const response = await request(`${gatehouse.url}/healthz`);
    assert.equal(response.status, 200);
    assert.match(response.headers['content-type'], /application\/json/);
    assert.deepEqual(response.json(), { status: 'ok', home_assistant: { reachable: true } });
    assert.equal(upstream.requestsTo('/healthz').length, 0, '/healthz was relayed to HA');
    const probes = upstream.requestsTo('/manifest.json').slice(probesBefore);
    assert.ok(probes.length >= 1, 'no GET /manifest.json reached HA');
    for (const probe of probes) {
      assert.equal(probe.method, 'GET');
      assert.equal(probe.hasHeader('authorization'), false, 'health probe carried credentials');
    }
    const line = await gatehouse.waitForLog((entry) => entry.msg === 'request' && entry.path === '/healthz');
    assert.equal(line.route, 'gatehouse');
    assert.equal(line.status, 200);
  });
});

// A request with these headers shows whether Gatehouse believed what the client said about itself.
const SPOOFED_HEADERS = [
  ['Host', 'ha.example.com:8123'],
  ['X-Forwarded-For', '203.0.113.66'],
  ['X-Forwarded-For', '198.51.100.77'],
  ['X-Forwarded-Proto', 'https'],
  ['X-Forwarded-Host', 'evil.example'],
  ['Forwarded', 'for=192.0.2.1;proto=https;host=evil.example'],
  ['X-Real-IP', '192.0.2.2'],
];

async function relayedHeaders(gatehouse, upstream, { localAddress, headers, path }) {
  const connection = await RawConnection.connect({ port: gatehouse.port, localAddress });
  try {
    await connection.write(rawHead('GET', path, headers));
    const response = await connection.readResponse();
    assert.equal(response.status, 200);
    const seen = upstreamRequestFor(upstream, response);
    assert.ok(seen, 'upstream did not record the request');
    assert.equal(seen.remoteAddress, '127.0.0.1');
    return seen;
  } finally {
    connection.destroy();
  }
}

function assertForwarded(seen, { forFor, proto, host, hostHeader }) {
  assert.deepEqual(seen.headerValues('x-forwarded-for'), [forFor], 'X-Forwarded-For');
  assert.deepEqual(seen.headerValues('x-forwarded-proto'), [proto], 'X-Forwarded-Proto');
  assert.deepEqual(seen.headerValues('x-forwarded-host'), [host], 'X-Forwarded-Host');
  assert.deepEqual(seen.headerValues('host'), [hostHeader], 'Host');
  assert.deepEqual(seen.headerValues('forwarded'), [], 'Forwarded');
  assert.deepEqual(seen.headerValues('x-real-ip'), [], 'X-Real-IP');
}

describe('forwarded headers with no trusted proxies', () => {
  let upstream;
  let gatehouse;
  before(async () => {
    upstream = await startUpstream();
    gatehouse = await startGatehouse({ upstream, config: { trusted_proxies: [] } });
  });
  after(async () => {
    await gatehouse?.stop();
    await upstream?.stop();
  });

  test('a direct client is named by its TCP address, with proto http and its Host', TEST_GUARD, async () => {
    const seen = await relayedHeaders(gatehouse, upstream, {
      localAddress: '127.0.0.1', path: '/api/direct', headers: [['Host', 'ha.example.com:8123']],
    });
    assertForwarded(seen, { forFor: '127.0.0.1', proto: 'http', host: 'ha.example.com:8123', hostHeader: 'ha.example.com:8123' });
  });

  test('a client on another address that spoofs every forwarding header is named by its own address', TEST_GUARD, async () => {
    const seen = await relayedHeaders(gatehouse, upstream, {
      localAddress: '127.0.0.2', path: '/api/spoofed', headers: SPOOFED_HEADERS,
    });
    assertForwarded(seen, { forFor: '127.0.0.2', proto: 'http', host: 'ha.example.com:8123', hostHeader: 'ha.example.com:8123' });
    const line = await gatehouse.waitForLog((entry) => entry.msg === 'request' && entry.path === '/api/spoofed');
    assert.equal(line.client, '127.0.0.2');
  });
});

describe('forwarded headers behind trusted proxies', () => {
  let upstream;
  let gatehouse;
  before(async () => {
    upstream = await startUpstream();
    gatehouse = await startGatehouse({ upstream, config: { trusted_proxies: ['127.0.0.1', '10.0.0.0/8'] } });
  });
  after(async () => {
    await gatehouse?.stop();
    await upstream?.stop();
  });

  test('a trusted proxy\'s X-Forwarded-For, single X-Forwarded-Proto and X-Forwarded-Host are believed', TEST_GUARD, async () => {
    const seen = await relayedHeaders(gatehouse, upstream, {
      localAddress: '127.0.0.1', path: '/api/trusted', headers: [
        ['Host', 'gatehouse.internal:8123'],
        ['X-Forwarded-For', '203.0.113.9'],
        ['X-Forwarded-Proto', 'https'],
        ['X-Forwarded-Host', 'ha.example.com'],
        ['Forwarded', 'for=192.0.2.1'],
        ['X-Real-IP', '192.0.2.2'],
      ],
    });
    assertForwarded(seen, { forFor: '203.0.113.9', proto: 'https', host: 'ha.example.com', hostHeader: 'gatehouse.internal:8123' });
    const line = await gatehouse.waitForLog((entry) => entry.msg === 'request' && entry.path === '/api/trusted');
    assert.equal(line.client, '203.0.113.9');
  });

  test('in a chain the right-most untrusted address wins', TEST_GUARD, async () => {
    const seen = await relayedHeaders(gatehouse, upstream, {
      localAddress: '127.0.0.1', path: '/api/chain', headers: [
        ['Host', 'ha.example.com'],
        ['X-Forwarded-For', '198.51.100.7, 203.0.113.9, 10.1.2.3'],
      ],
    });
    assertForwarded(seen, { forFor: '203.0.113.9', proto: 'http', host: 'ha.example.com', hostHeader: 'ha.example.com' });
  });

  test('when every address in the chain is trusted the left-most wins', TEST_GUARD, async () => {
    const seen = await relayedHeaders(gatehouse, upstream, {
      localAddress: '127.0.0.1', path: '/api/all-trusted', headers: [
        ['Host', 'ha.example.com'],
        ['X-Forwarded-For', '10.0.0.1, 10.0.0.2'],
      ],
    });
    assert.deepEqual(seen.headerValues('x-forwarded-for'), ['10.0.0.1']);
  });

  test('a multi-valued X-Forwarded-Proto counts per X-Forwarded-For hop, as HA does (contract §3.2)', TEST_GUARD, async () => {
    const seen = await relayedHeaders(gatehouse, upstream, {
      localAddress: '127.0.0.1', path: '/api/multi-proto', headers: [
        ['Host', 'ha.example.com'],
        ['X-Forwarded-For', '203.0.113.9, 10.0.0.5'],
        ['X-Forwarded-Proto', 'https, http'],
      ],
    });
    assert.deepEqual(seen.headerValues('x-forwarded-for'), ['203.0.113.9']);
    assert.deepEqual(seen.headerValues('x-forwarded-proto'), ['https']);
  });

  test('an X-Forwarded-Proto list that does not match the hops is refused, never guessed', TEST_GUARD, async () => {
    const before = upstream.requests.length;
    const connection = await RawConnection.connect({ port: gatehouse.port, localAddress: '127.0.0.1' });
    try {
      await connection.write(rawHead('GET', '/api/proto-mismatch', [
        ['Host', 'ha.example.com'],
        ['X-Forwarded-For', '203.0.113.9'],
        ['X-Forwarded-Proto', 'https, http'],
      ]));
      const response = await connection.readResponse();
      assert.equal(response.status, 400);
      assert.equal(JSON.parse(response.body.toString()).code, 'bad_request');
    } finally {
      connection.destroy();
    }
    assert.equal(upstream.requests.length, before, 'the refused request reached the upstream');
  });

  test('a trusted proxy without X-Forwarded-For is named by its own address', TEST_GUARD, async () => {
    const seen = await relayedHeaders(gatehouse, upstream, {
      localAddress: '127.0.0.1', path: '/api/trusted-no-xff', headers: [['Host', 'ha.example.com']],
    });
    assertForwarded(seen, { forFor: '127.0.0.1', proto: 'http', host: 'ha.example.com', hostHeader: 'ha.example.com' });
  });

  test('a peer outside trusted_proxies is not believed even when its XFF names trusted addresses', TEST_GUARD, async () => {
    const seen = await relayedHeaders(gatehouse, upstream, {
      localAddress: '127.0.0.3', path: '/api/untrusted-peer', headers: SPOOFED_HEADERS,
    });
    assertForwarded(seen, { forFor: '127.0.0.3', proto: 'http', host: 'ha.example.com:8123', hostHeader: 'ha.example.com:8123' });
  });
});
