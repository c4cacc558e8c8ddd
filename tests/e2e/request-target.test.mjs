// One strict reading of the request target before anything else (issue #4, first part): targets that
// a proxy and HA could read differently get 400 and never reach HA; ordinary ones still do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, TEST_GUARD } from './lib/harness.mjs';
import { RawConnection, rawHead } from './lib/http-client.mjs';

const AMBIGUOUS = [
  '/api%2Fhassio/app/index.html',     // encoded slash
  '/api/hassio%5c..%5capp',           // encoded backslash
  '/api/%2e%2e/auth/token',           // encoded dots
  '/auth/%74oken',                    // an encoded letter: HA on aiohttp ≥ 3.10.6 routes this to /auth/token
  '/api/mobile_app/%72egistrations',
  '/api/hassio/../../auth/providers', // dot segments
  '/./api/states',
  '/api\\hassio\\app',                // raw backslash
  '/api/states%00.js',                // encoded NUL
  '/api/%C0%AE%C0%AE/hassio',         // overlong UTF-8 dots
  '/api/%FF',                         // invalid UTF-8
  '/api/%zz',                         // malformed escape
  'http://evil.example/api/states',   // absolute form
  '*',
];

async function send(port, target) {
  const connection = await RawConnection.connect({ port });
  try {
    await connection.write(rawHead('GET', target, [['Host', 'ha.test'], ['Accept', 'application/json']]));
    const response = await connection.readResponse();
    await connection.waitForClose();
    return response;
  } finally {
    connection.destroy();
  }
}

test('ambiguous request targets get 400 and never reach HA; ordinary ones do', TEST_GUARD, async (t) => {
  const { upstream, gatehouse } = await startStack(t);
  for (const target of AMBIGUOUS) {
    const response = await send(gatehouse.port, target);
    assert.equal(response.status, 400, target);
    assert.equal(response.json().code, 'bad_request', target);
  }
  assert.equal(upstream.requests.length, 0, `reached HA: ${upstream.requests.map((r) => r.path).join(', ')}`);

  for (const target of ['/api/states', '/local/My%20Photos/a.jpg?v=1', '/media/%C3%A9t%C3%A9.mp3']) {
    const connection = await RawConnection.connect({ port: gatehouse.port });
    try {
      await connection.write(rawHead('GET', target, [['Host', 'ha.test']]));
      const response = await connection.readResponse();
      assert.equal(response.status, 200, target);
      assert.equal(response.json().url, target);
    } finally {
      connection.destroy();
    }
  }
  assert.equal(upstream.requests.length, 3);
});
