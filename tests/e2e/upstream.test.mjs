// Checks the test upstream and the raw client on their own, without Gatehouse, so that when a proxy test
// fails the fault is known to lie in Gatehouse and not in the instruments measuring it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startUpstream } from './lib/upstream.mjs';
import { TEST_GUARD } from './lib/harness.mjs';
import { request, RawConnection, rawHead, headerValues } from './lib/http-client.mjs';
import { patternBlock, patternBlocks, patternSha256 } from './lib/pattern.mjs';

test('upstream echoes method, url, raw headers and body hash', TEST_GUARD, async (t) => {
  const upstream = await startUpstream();
  t.after(() => upstream.stop());
  const response = await request(`${upstream.url}/api/states?a=1&b=two`, {
    method: 'POST', headers: { 'content-type': 'text/plain', 'x-twice': ['one', 'two'] }, body: 'hello',
  });
  assert.equal(response.status, 200);
  const echo = response.json();
  assert.equal(echo.method, 'POST');
  assert.equal(echo.url, '/api/states?a=1&b=two');
  assert.deepEqual(headerValues(echo.rawHeaders, 'x-twice'), ['one', 'two']);
  assert.equal(echo.bodyBytes, 5);
  assert.equal(upstream.requests.at(-1).sha256, '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
});

test('upstream streams downloads with and without a length, matching the pattern hash', TEST_GUARD, async (t) => {
  const upstream = await startUpstream();
  t.after(() => upstream.stop());
  const bytes = 3 * 65536 + 123;
  const withLength = await request(`${upstream.url}/test/download?bytes=${bytes}&encoding=length`);
  assert.equal(withLength.headers['content-length'], String(bytes));
  assert.equal(withLength.sha256, patternSha256(bytes));
  const chunked = await request(`${upstream.url}/test/download?bytes=${bytes}&encoding=chunked`);
  assert.equal(chunked.headers['transfer-encoding'], 'chunked');
  assert.equal(chunked.sha256, patternSha256(bytes));
  assert.notEqual(patternSha256(bytes), patternSha256(bytes - 1));
});

test('upstream withholds /test/slow until released and counts connections', TEST_GUARD, async (t) => {
  const upstream = await startUpstream();
  t.after(() => upstream.stop());
  const pending = request(`${upstream.url}/test/slow`);
  const slow = await upstream.nextSlow();
  assert.equal(slow.request.path, '/test/slow');
  slow.release({ status: 201, body: '{"late":true}' });
  const response = await pending;
  assert.equal(response.status, 201);
  assert.deepEqual(response.json(), { late: true });
  assert.equal(upstream.connectionsAccepted, 1);
});

test('raw connection parses chunked and length responses on one socket and sees hop-by-hop headers', TEST_GUARD, async (t) => {
  const upstream = await startUpstream();
  t.after(() => upstream.stop());
  const connection = await RawConnection.connect({ port: upstream.port });
  t.after(() => connection.destroy());
  await connection.write(rawHead('GET', '/test/download?bytes=70000&encoding=chunked', [['Host', 'x']]));
  const chunked = await connection.readResponse();
  assert.equal(chunked.body.length, 70000);
  await connection.write(rawHead('GET', '/test/hop-by-hop', [['Host', 'x']]));
  const hop = await connection.readResponse();
  assert.deepEqual(hop.header('x-upstream-hop'), ['named-in-connection']);
  assert.deepEqual(hop.header('x-end-to-end'), ['kept']);
  assert.equal(upstream.connectionsAccepted, 1);
});

test('upstream records an aborted chunked body as incomplete', TEST_GUARD, async (t) => {
  const upstream = await startUpstream();
  t.after(() => upstream.stop());
  const connection = await RawConnection.connect({ port: upstream.port });
  await connection.write(rawHead('POST', '/cut', [['Host', 'x'], ['Transfer-Encoding', 'chunked']]) + '5\r\nhello\r\n');
  const recorded = await upstream.waitForRequest((r) => r.path === '/cut');
  connection.destroy();
  await recorded.settled;
  assert.equal(recorded.complete, false);
  assert.equal(recorded.aborted, true);
});

test('upstream websocket echoes, bursts in order, closes with a code, and can be stopped and restarted', TEST_GUARD, async (t) => {
  const upstream = await startUpstream();
  t.after(() => upstream.stop());
  const client = new WebSocket(`ws://127.0.0.1:${upstream.port}/api/websocket`, ['proto-a', 'proto-b']);
  await new Promise((resolve, reject) => { client.once('open', resolve); client.once('error', reject); });
  const handle = await upstream.nextWebSocket();
  assert.equal(handle.protocol, 'proto-a');
  const echoed = new Promise((resolve) => client.once('message', (data, isBinary) => resolve({ data, isBinary })));
  client.send('hi');
  assert.equal((await echoed).data.toString(), 'hi');

  handle.echo = false;
  const received = [];
  const allReceived = new Promise((resolve) => client.on('message', (data) => {
    received.push(data);
    if (received.length === 20) resolve();
  }));
  await handle.burst({ count: 20, bytes: 1000 });
  await allReceived;
  received.forEach((data, index) => assert.ok(data.equals(patternBlock(index, 1000)), `message ${index}`));

  const closed = new Promise((resolve) => client.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  handle.close(4001, 'server bye');
  assert.deepEqual(await closed, { code: 4001, reason: 'server bye' });

  const port = upstream.port;
  await upstream.stop();
  await assert.rejects(request(`http://127.0.0.1:${port}/x`), { code: 'ECONNREFUSED' });
  await upstream.start();
  assert.equal(upstream.port, port);
  assert.equal((await request(`http://127.0.0.1:${port}/x`)).status, 200);
});

test('pattern blocks differ by index so reordering changes the hash', TEST_GUARD, () => {
  assert.ok(!patternBlock(0).equals(patternBlock(1)));
  const blocks = [...patternBlocks(3 * 65536)];
  assert.equal(blocks.length, 3);
});
