// What users see while Home Assistant is down, and that Gatehouse recovers on its own when HA is back:
// browsers get an HTML page, API clients JSON, /healthz says unavailable, websockets close with 1013, and an
// open websocket whose HA side dies is closed with 1012 instead of hanging.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pollUntil, startStack, TEST_GUARD } from './lib/harness.mjs';
import { request } from './lib/http-client.mjs';
import { TestWebSocket, openWebSocket } from './lib/ws-client.mjs';

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

function assertUnavailableJson(response) {
  assert.equal(response.status, 502);
  assert.match(response.headers['content-type'], /application\/json/);
  assert.deepEqual(response.json(), { message: 'Home Assistant is unavailable', code: 'upstream_unavailable' });
}

test('HA stopped: 502 JSON for API clients, an HTML page for browsers, /healthz 503, websockets 1013; all recover when HA returns', TEST_GUARD, async (t) => {
  const { upstream, gatehouse } = await startStack(t);
  // A pooled upstream connection exists before HA goes away, as it would in real use.
  assert.equal((await request(`${gatehouse.url}/api/config`)).status, 200);

  await upstream.stop();

  assertUnavailableJson(await request(`${gatehouse.url}/api/states`, { headers: { accept: 'application/json' } }));
  assertUnavailableJson(await request(`${gatehouse.url}/api/states`));
  assertUnavailableJson(await request(`${gatehouse.url}/api/services/light/turn_on`, {
    method: 'POST', headers: { accept: 'application/json', 'content-type': 'application/json' }, body: '{"entity_id":"light.a"}',
  }));

  const page = await request(`${gatehouse.url}/lovelace/0`, { headers: { accept: BROWSER_ACCEPT } });
  assert.equal(page.status, 502);
  assert.match(page.headers['content-type'], /text\/html/);
  assert.match(page.text(), /<title>[^<]*Home Assistant is unavailable[^<]*<\/title>/i);

  const health = await request(`${gatehouse.url}/healthz`);
  assert.equal(health.status, 503);
  assert.deepEqual(health.json(), { status: 'unavailable', home_assistant: { reachable: false } });

  const socket = new TestWebSocket(`${gatehouse.wsUrl}/api/websocket`);
  await socket.opened;
  assert.deepEqual(await socket.closed, { code: 1013, reason: 'Home Assistant unavailable' });

  const logged = await gatehouse.waitForLog((entry) => entry.msg === 'request' && entry.path === '/lovelace/0');
  assert.equal(logged.status, 502);

  await upstream.start();

  const back = await request(`${gatehouse.url}/api/states?after=restart`, { headers: { accept: 'application/json' } });
  assert.equal(back.status, 200);
  assert.equal(back.json().url, '/api/states?after=restart');
  // Gatehouse may cache its HA probe for a moment (it must not hammer HA on every /healthz), and no event
  // announces the cache going stale, so this one check polls; it must turn healthy within a few seconds.
  const healthBack = await pollUntil(async () => {
    const response = await request(`${gatehouse.url}/healthz`);
    return { done: response.status === 200, value: response };
  });
  assert.equal(healthBack.status, 200);
  assert.deepEqual(healthBack.json(), { status: 'ok', home_assistant: { reachable: true } });
  const relayed = await openWebSocket(`${gatehouse.wsUrl}/api/websocket`);
  t.after(() => relayed.terminate());
  await relayed.send('{"type":"ping"}');
  assert.equal((await relayed.waitForMessages(1))[0].data.toString(), '{"type":"ping"}');

  assert.equal(gatehouse.proc.exitCode, null, 'Gatehouse exited while HA was down');
  assert.equal(gatehouse.proc.signalCode, null);
});

test('a relayed websocket whose HA side drops without a close frame is closed with 1012', TEST_GUARD, async (t) => {
  const { upstream, gatehouse } = await startStack(t);
  const client = await openWebSocket(`${gatehouse.wsUrl}/api/websocket`);
  t.after(() => client.terminate());
  const upstreamSide = await upstream.nextWebSocket();
  await client.send('before the drop');
  await client.waitForMessages(1);

  upstreamSide.destroySocket();
  const closed = await client.closed;
  assert.equal(closed.code, 1012);

  // Gatehouse itself carries on.
  assert.equal((await request(`${gatehouse.url}/api/after-drop`)).status, 200);
});
