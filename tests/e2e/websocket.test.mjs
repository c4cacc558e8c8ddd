// The websocket relay as the HA frontend and apps experience it: messages arrive whole, in order, in both
// directions; pings are answered; close codes and reasons survive; a paused reader slows HA down instead
// of making Gatehouse hoard data; subprotocols and compression are negotiated; oversized messages and
// refused upgrades end the way HA itself would end them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, PeakRss, TEST_GUARD } from './lib/harness.mjs';
import { TestWebSocket, openWebSocket } from './lib/ws-client.mjs';
import { patternBlock } from './lib/pattern.mjs';
import { newSecret } from './lib/secrets.mjs';

// A relay keeps at most a message or two per direction in memory; 200 MB hoarded would blow far past this.
const RSS_BOUND_BYTES = 64 * 1024 * 1024;

test('text and binary messages are echoed through, to the same path and query, with forwarded headers', TEST_GUARD, async (t) => {
  const { upstream, gatehouse } = await startStack(t);
  const cookie = newSecret('websocket upgrade cookie');
  const accessToken = newSecret('websocket auth message access_token');
  const client = await openWebSocket(`${gatehouse.wsUrl}/api/websocket?latest=1`, {
    headers: { cookie: `session=${cookie}`, host: 'ha.example.com:8123' },
  });
  t.after(() => client.terminate());
  const upstreamSide = await upstream.nextWebSocket();
  const upgrade = upstreamSide.request;
  assert.equal(upgrade.url, '/api/websocket?latest=1');
  assert.deepEqual(upgrade.headerValues('x-forwarded-for'), ['127.0.0.1']);
  assert.deepEqual(upgrade.headerValues('x-forwarded-proto'), ['http']);
  assert.deepEqual(upgrade.headerValues('x-forwarded-host'), ['ha.example.com:8123']);
  assert.deepEqual(upgrade.headerValues('host'), ['ha.example.com:8123']);
  assert.deepEqual(upgrade.headerValues('cookie'), [`session=${cookie}`]);

  const authMessage = JSON.stringify({ type: 'auth', access_token: accessToken });
  const binary = Buffer.concat([Buffer.from([0x01]), patternBlock(7, 3000)]); // Assist audio: handler id + payload
  await client.send(authMessage);
  await client.send(binary, { binary: true });
  const [text, audio] = await client.waitForMessages(2);
  assert.equal(text.isBinary, false);
  assert.equal(text.data.toString(), authMessage);
  assert.equal(audio.isBinary, true);
  assert.ok(audio.data.equals(binary));
  assert.deepEqual(upstreamSide.received.map((m) => m.isBinary), [false, true]);

  // HA may send the client messages far above the client→HA limit (registry dumps of several MB).
  const bigFromHa = Buffer.alloc(8 * 1024 * 1024, 'x').toString();
  await upstreamSide.send(bigFromHa);
  const [, , big] = await client.waitForMessages(3);
  assert.equal(big.data.length, bigFromHa.length);
  assert.equal(big.data.toString(), bigFromHa);

  // A relayed websocket is one request, logged once it has ended (its duration is the socket's lifetime).
  client.close(1000, 'done');
  await client.closed;
  const line = await gatehouse.waitForLog((entry) => entry.msg === 'request' && entry.path === '/api/websocket');
  assert.equal(line.route, 'websocket');
  assert.equal(line.method, 'GET');
  assert.equal(line.status, 101);
  assert.equal(line.client, '127.0.0.1');
});

test('10,000 messages keep their order in both directions', TEST_GUARD, async (t) => {
  const { upstream, gatehouse } = await startStack(t);
  const client = await openWebSocket(`${gatehouse.wsUrl}/api/websocket`);
  t.after(() => client.terminate());
  const upstreamSide = await upstream.nextWebSocket();
  const count = 10_000;
  for (let i = 0; i < count; i++) client.ws.send(JSON.stringify({ id: i, type: 'call_service' }));
  const echoed = await client.waitForMessages(count);
  assert.equal(upstreamSide.received.length, count);
  upstreamSide.received.forEach((message, i) => assert.equal(JSON.parse(message.data).id, i, `HA got message ${i} out of order`));
  echoed.forEach((message, i) => assert.equal(JSON.parse(message.data).id, i, `client got message ${i} out of order`));
});

test('a message the client sends in fragments arrives whole', TEST_GUARD, async (t) => {
  const { upstream, gatehouse } = await startStack(t);
  const client = await openWebSocket(`${gatehouse.wsUrl}/api/websocket`);
  t.after(() => client.terminate());
  const upstreamSide = await upstream.nextWebSocket();

  const textParts = ['{"type":"subscribe_events",', '"event_type":"state_changed",', `"pad":"${'ü'.repeat(5000)}",`, '"id":1}'];
  for (const [i, part] of textParts.entries()) await client.send(part, { fin: i === textParts.length - 1 });
  const binaryParts = [patternBlock(1, 1000), patternBlock(2, 70_000), patternBlock(3, 10)];
  for (const [i, part] of binaryParts.entries()) await client.send(part, { binary: true, fin: i === binaryParts.length - 1 });

  const [text, binary] = await client.waitForMessages(2);
  assert.equal(text.isBinary, false);
  assert.equal(text.data.toString(), textParts.join(''));
  assert.equal(binary.isBinary, true);
  assert.ok(binary.data.equals(Buffer.concat(binaryParts)));
  assert.equal(upstreamSide.received.length, 2);
  assert.equal(upstreamSide.received[0].data.toString(), textParts.join(''));
  assert.ok(upstreamSide.received[1].data.equals(Buffer.concat(binaryParts)));
});

test('a client ping reaches HA and HA\'s pong reaches the client', TEST_GUARD, async (t) => {
  const { upstream, gatehouse } = await startStack(t);
  const client = await openWebSocket(`${gatehouse.wsUrl}/api/websocket`);
  t.after(() => client.terminate());
  const upstreamSide = await upstream.nextWebSocket();
  const pong = new Promise((resolve) => client.once('pong', resolve));
  client.ws.ping('are-you-there');
  assert.equal((await pong).toString(), 'are-you-there');
  assert.deepEqual(upstreamSide.pings.map(String), ['are-you-there']);
  await client.send('still relaying after the ping');
  assert.equal((await client.waitForMessages(1))[0].data.toString(), 'still relaying after the ping');
});

test('close code and reason pass through from the client to HA', TEST_GUARD, async (t) => {
  const { upstream, gatehouse } = await startStack(t);
  const client = await openWebSocket(`${gatehouse.wsUrl}/api/websocket`);
  t.after(() => client.terminate());
  const upstreamSide = await upstream.nextWebSocket();
  client.close(4000, 'bye');
  assert.deepEqual(await upstreamSide.closed, { code: 4000, reason: 'bye' });
  const clientClosed = await client.closed;
  assert.equal(clientClosed.code, 4000);
});

test('close code and reason pass through from HA to the client', TEST_GUARD, async (t) => {
  const { upstream, gatehouse } = await startStack(t);
  const client = await openWebSocket(`${gatehouse.wsUrl}/api/websocket`);
  t.after(() => client.terminate());
  const upstreamSide = await upstream.nextWebSocket();
  upstreamSide.close(4001, 'server bye');
  assert.deepEqual(await client.closed, { code: 4001, reason: 'server bye' });
  assert.equal((await upstreamSide.closed).code, 4001);
});

test('a paused client slows HA down: 200 MB burst, Gatehouse stays small, everything arrives in order', TEST_GUARD, async (t) => {
  const { upstream, gatehouse } = await startStack(t);
  const messageBytes = 64 * 1024;
  const count = 3200; // 200 MiB
  const client = await openWebSocket(`${gatehouse.wsUrl}/api/websocket?echo=0`, { keepMessages: false });
  t.after(() => client.terminate());
  const upstreamSide = await upstream.nextWebSocket();
  const rss = new PeakRss(gatehouse.pid);

  let received = 0;
  let firstMismatch = null;
  const allReceived = new Promise((resolve) => {
    client.on('message', (data, isBinary) => {
      if (firstMismatch === null && (!isBinary || !data.equals(patternBlock(received, messageBytes)))) firstMismatch = received;
      received += 1;
      if (received % 32 === 0) rss.sample();
      if (received === count) resolve();
    });
  });

  client.ws.pause();
  let burstFinished = false;
  const burst = upstreamSide.burst({ count, bytes: messageBytes }).then(() => { burstFinished = true; });

  // "HA is being held back" is the absence of progress, which no event announces: sample the sender's
  // progress and Gatehouse's RSS every 50 ms and call it stalled after a full second without progress.
  // If Gatehouse hoarded instead, the whole burst would finish while the client is still paused.
  const sentWhilePaused = await new Promise((resolve) => {
    let lastSent = -1;
    let quietSamples = 0;
    const sampler = setInterval(() => {
      rss.sample();
      quietSamples = upstreamSide.sentBytes === lastSent ? quietSamples + 1 : 0;
      lastSent = upstreamSide.sentBytes;
      if (quietSamples >= 20 || burstFinished) {
        clearInterval(sampler);
        resolve(upstreamSide.sentBytes);
      }
    }, 50);
  });
  t.diagnostic(`HA got ${(sentWhilePaused / 1048576).toFixed(1)} MiB out while the client was paused; Gatehouse peak RSS ${rss.peakMiB} MiB`);
  assert.equal(received, 0, 'the paused client received messages');
  assert.ok(sentWhilePaused < count * messageBytes,
    `HA sent all ${count} messages while the client was paused: Gatehouse buffered them`);
  assert.ok(rss.boundedBytes < RSS_BOUND_BYTES, `Gatehouse RSS reached ${rss.peakMiB} MiB holding a paused client's messages`);

  client.ws.resume();
  await burst;
  await allReceived;
  rss.sample();
  assert.equal(firstMismatch, null, `message ${firstMismatch} arrived out of order or corrupted`);
  assert.equal(received, count);
  t.diagnostic(`Gatehouse peak RSS over the whole 200 MB burst: ${rss.peakMiB} MiB`);
  assert.ok(rss.boundedBytes < RSS_BOUND_BYTES, `Gatehouse RSS reached ${rss.peakMiB} MiB relaying 200 MB`);
});

test('Sec-WebSocket-Protocol is offered to HA and HA\'s choice reaches the client', TEST_GUARD, async (t) => {
  const { upstream, gatehouse } = await startStack(t);
  const client = await openWebSocket(`${gatehouse.wsUrl}/api/websocket`, { protocols: ['homeassistant-v2', 'homeassistant-v1'] });
  t.after(() => client.terminate());
  const upstreamSide = await upstream.nextWebSocket();
  const offered = upstreamSide.request.headerValues('sec-websocket-protocol').join(',').split(',').map((p) => p.trim());
  assert.deepEqual(offered, ['homeassistant-v2', 'homeassistant-v1']);
  assert.equal(upstreamSide.protocol, 'homeassistant-v2');
  assert.equal(client.ws.protocol, 'homeassistant-v2');
});

test('a client message above max_websocket_message_bytes closes the client with 1009 and is not relayed', TEST_GUARD, async (t) => {
  const { upstream, gatehouse } = await startStack(t, { config: { limits: { max_websocket_message_bytes: '64KiB' } } });
  const client = await openWebSocket(`${gatehouse.wsUrl}/api/websocket`);
  t.after(() => client.terminate());
  const upstreamSide = await upstream.nextWebSocket();

  const justUnder = 'a'.repeat(60 * 1024);
  await client.send(justUnder);
  assert.equal((await client.waitForMessages(1))[0].data.length, justUnder.length);

  client.ws.send('b'.repeat(100 * 1024));
  const closed = await client.closed;
  assert.equal(closed.code, 1009);
  assert.equal(upstreamSide.received.length, 1, 'the oversized message reached HA');
  await upstreamSide.closed; // Gatehouse does not leave HA's side of the relay open
});

test('permessage-deflate offered by the client is negotiated and messages survive compression', TEST_GUARD, async (t) => {
  const { upstream, gatehouse } = await startStack(t);
  const client = await openWebSocket(`${gatehouse.wsUrl}/api/websocket`, { perMessageDeflate: true });
  t.after(() => client.terminate());
  const upstreamSide = await upstream.nextWebSocket();
  assert.match(client.ws.extensions, /permessage-deflate/);
  assert.match(upstreamSide.ws.extensions, /permessage-deflate/, 'HA, not Gatehouse, negotiated compression');

  const states = JSON.stringify(Array.from({ length: 20_000 }, (_, i) => ({ entity_id: `sensor.s${i}`, state: 'on' })));
  await client.send(states);
  await client.send(patternBlock(5, 50_000), { binary: true });
  const [text, binary] = await client.waitForMessages(2);
  assert.equal(text.data.toString(), states);
  assert.ok(binary.data.equals(patternBlock(5, 50_000)));
  assert.equal(upstreamSide.received[0].data.toString(), states);
  const fromHa = `${states}, sent by HA`;
  await upstreamSide.send(fromHa);
  assert.equal((await client.waitForMessages(3))[2].data.toString(), fromHa);
});

test('a websocket upgrade HA refuses with an HTTP error reaches the client with that status and body', TEST_GUARD, async (t) => {
  // A pass-through path (as for add-on ingress): the upgrade goes to HA, and HA's answer to the client.
  const { gatehouse } = await startStack(t, { config: { shield: { websocket_passthrough: ['/test/*'] } } });
  for (const code of [403, 404]) {
    const socket = new TestWebSocket(`${gatehouse.wsUrl}/test/ws-reject?code=${code}`);
    const refusal = await socket.opened.then(() => null, (error) => error);
    assert.ok(refusal, `the upgrade HA refused with ${code} was completed by Gatehouse`);
    assert.equal(refusal.status, code);
    assert.deepEqual(JSON.parse(refusal.body), { message: 'upgrade refused by test upstream', status: code });
  }
});
