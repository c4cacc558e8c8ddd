// HTTPS to Home Assistant (issue 12): `home_assistant.url: https://…` with HA's certificate checked
// against the system store plus `home_assistant.ca_file`, for everything Gatehouse sends HA: the HTTP
// relay (bodies both ways, kept-alive TLS connections), relayed websockets, the admin connection, HA's
// login flow and token endpoint, and the token checks. A certificate Gatehouse cannot verify (unknown
// CA, another name) gets nothing sent to HA: clients get 502 / 1013 and the log says why, once.
// Real parts: Node's TLS servers with openssl-made certificates (tests/idp/tls.mjs), the HA double,
// the real OpenID provider, home-assistant-js-websocket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { getUser } from 'home-assistant-js-websocket';
import { TEST_GUARD, startGatehouse, runGatehouse, freshDirectory, baseConfig, mergeConfig, toYaml } from './lib/harness.mjs';
import { startUpstream } from './lib/upstream.mjs';
import { request } from './lib/http-client.mjs';
import { TestWebSocket, openWebSocket } from './lib/ws-client.mjs';
import { patternBlock, patternBlocks, patternSha256 } from './lib/pattern.mjs';
import { makeTlsMaterial } from '../idp/tls.mjs';
import { routeHawsThrough, signInAndConnect } from './lib/haws-node.mjs';
import { startSsoStack, toYamlDocument, CLIENT_ADDRESS } from './lib/sso-stack.mjs';

async function tlsUpstream(t, { host = 'localhost', subjectAltName } = {}) {
  const material = await makeTlsMaterial(undefined, subjectAltName ? { subjectAltName } : {});
  t.after(() => material.cleanup());
  const upstream = await startUpstream({ tls: { cert: material.cert, key: material.key, host } });
  t.after(() => upstream.stop());
  return { upstream, material };
}

test('HTTPS to HA: requests, bodies both ways and websockets relayed over verified TLS, connections kept alive', TEST_GUARD, async (t) => {
  const { upstream, material } = await tlsUpstream(t);
  assert.ok(upstream.url.startsWith('https://localhost:'), upstream.url);
  const gatehouse = await startGatehouse({ upstream, config: { home_assistant: { ca_file: material.caFile } } });
  t.after(() => gatehouse.stop());

  const echoed = await request(`${gatehouse.url}/api/states?x=1`, { headers: { accept: 'application/json' } });
  assert.equal(echoed.status, 200, echoed.text());
  assert.equal(echoed.json().url, '/api/states?x=1');
  const seen = upstream.requests.find((r) => r.url === '/api/states?x=1');
  assert.deepEqual(seen.headerValues('x-forwarded-for'), ['127.0.0.1']);

  const upload = 3 * 1024 * 1024 + 17;
  const posted = await request(`${gatehouse.url}/api/upload`, {
    method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': upload }, body: patternBlocks(upload),
  });
  assert.equal(posted.status, 200);
  const received = await upstream.waitForRequest((r) => r.url === '/api/upload');
  await received.settled;
  assert.equal(received.bodyBytes, upload);
  assert.equal(received.sha256, patternSha256(upload));

  for (const encoding of ['chunked', 'length']) {
    const bytes = 5 * 1024 * 1024 + 3;
    const download = await request(`${gatehouse.url}/test/download?bytes=${bytes}&encoding=${encoding}`, { keepBody: false });
    assert.equal(download.status, 200);
    assert.equal(download.bodyBytes, bytes, encoding);
    assert.equal(download.sha256, patternSha256(bytes), encoding);
  }

  // Kept-alive TLS connections to HA: 30 requests in a row open at most one per worker (2), not 30.
  const before = upstream.connectionsAccepted;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  for (let i = 0; i < 30; ++i) assert.equal((await request(`${gatehouse.url}/api/config?n=${i}`, { agent })).status, 200);
  assert.ok(upstream.connectionsAccepted - before <= 2, `${upstream.connectionsAccepted - before} TLS connections for 30 requests`);
  assert.ok(upstream.serverNames.length > 0 && upstream.serverNames.every((name) => name === 'localhost'), `SNI: ${upstream.serverNames}`);

  // HA restarts: the pooled TLS connections are dead; the next request goes over a fresh one.
  await upstream.stop();
  await upstream.start();
  const afterRestart = await request(`${gatehouse.url}/api/config?after=restart`, { agent });
  assert.equal(afterRestart.status, 200, afterRestart.text());
  assert.equal(afterRestart.json().url, '/api/config?after=restart');

  // A relayed websocket: messages both ways, HA's close reaches the client.
  const client = await openWebSocket(`${gatehouse.wsUrl}/api/websocket`);
  t.after(() => client.terminate());
  const haSide = await upstream.nextWebSocket();
  const binary = patternBlock(3, 70_000);
  await client.send('{"type":"auth","access_token":"x"}');
  await client.send(binary, { binary: true });
  const [text, echoedBinary] = await client.waitForMessages(2);
  assert.equal(text.data.toString(), '{"type":"auth","access_token":"x"}');
  assert.ok(echoedBinary.data.equals(binary));
  await haSide.send('from HA');
  assert.equal((await client.waitForMessages(3))[2].data.toString(), 'from HA');
  client.close(1000, 'done');
  assert.equal((await client.closed).code, 1000);

  const health = await request(`${gatehouse.url}/healthz`);
  assert.deepEqual(health.json(), { status: 'ok', home_assistant: { reachable: true } });
  assert.ok(!gatehouse.logs().some((entry) => entry.msg === 'TLS with Home Assistant failed'));
});

test('HTTPS to HA with a self-signed certificate: that certificate as home_assistant.ca_file is enough', TEST_GUARD, async (t) => {
  const directory = freshDirectory('ha-self-signed-');
  const [certFile, keyFile] = [join(directory, 'ha.pem'), join(directory, 'ha.key')];
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'ignore' });
  const upstream = await startUpstream({ tls: { cert: readFileSync(certFile), key: readFileSync(keyFile), host: 'localhost' } });
  t.after(() => upstream.stop());
  const gatehouse = await startGatehouse({ upstream, config: { home_assistant: { ca_file: certFile } } });
  t.after(() => gatehouse.stop());
  const answered = await request(`${gatehouse.url}/api/config`);
  assert.equal(answered.status, 200, answered.text());
  assert.equal(answered.json().url, '/api/config');
});

const refusals = [
  { label: 'a CA Gatehouse does not trust (no ca_file)', reason: /^unable to get local issuer certificate$/, fix: /home_assistant\.ca_file/ },
  { label: 'a certificate for another name', caFile: true, subjectAltName: 'DNS:ha.example.com', reason: /^hostname mismatch$/, fix: /valid now, for localhost/ },
  { label: 'an IP address the certificate does not name', caFile: true, host: '127.0.0.1', subjectAltName: 'DNS:localhost', reason: /^IP address mismatch$/, fix: /valid now, for 127\.0\.0\.1/ },
  { label: 'HA serving plain HTTP', plain: true, reason: /^the server does not speak TLS \(/, fix: /write home_assistant\.url as http:\/\// },
];
for (const setup of refusals) {
  test(`HTTPS to HA refused for ${setup.label}: 502 and 1013 to clients, nothing sent to HA, the reason logged once`, TEST_GUARD, async (t) => {
    let upstream;
    let config = {};
    if (setup.plain) {
      upstream = await startUpstream();
      t.after(() => upstream.stop());
      config = { home_assistant: { url: upstream.url.replace('http://', 'https://') } };
    } else {
      let material;
      ({ upstream, material } = await tlsUpstream(t, { host: setup.host, subjectAltName: setup.subjectAltName }));
      if (setup.caFile) config = { home_assistant: { ca_file: material.caFile } };
    }
    const gatehouse = await startGatehouse({ upstream, config });
    t.after(() => gatehouse.stop());

    for (let i = 0; i < 3; ++i) {
      const refused = await request(`${gatehouse.url}/api/states`, { headers: { accept: 'application/json' } });
      assert.equal(refused.status, 502);
      assert.equal(refused.json().code, 'upstream_unavailable');
    }
    const socket = new TestWebSocket(`${gatehouse.wsUrl}/api/websocket`);
    await socket.opened;
    assert.deepEqual(await socket.closed, { code: 1013, reason: 'Home Assistant unavailable' });
    const health = await request(`${gatehouse.url}/healthz`);
    assert.equal(health.status, 503);

    assert.deepEqual(upstream.requests, [], 'HA got no request from Gatehouse');
    if (!setup.plain) assert.equal(upstream.connectionsAccepted, 0, 'no TLS connection was completed');
    const failures = gatehouse.logs().filter((entry) => entry.msg === 'TLS with Home Assistant failed');
    assert.equal(failures.length, 1, 'said once, not at every request');
    assert.equal(failures[0].host, setup.host ?? (setup.plain ? '127.0.0.1' : 'localhost'));
    assert.match(failures[0].reason, setup.reason);
    assert.match(failures[0].fix, setup.fix);
  });
}

test('home_assistant.ca_file: refused with an http:// url; a file that holds no CA fails check-config and stops the start, with the reason', TEST_GUARD, async () => {
  const directory = freshDirectory('ha-ca-');
  const notPem = join(directory, 'not-a-ca.pem');
  writeFileSync(notPem, 'this is not a certificate\n');
  const plain = join(directory, 'plain.yaml');
  writeFileSync(plain, `${toYaml(mergeConfig(baseConfig(directory, 'http://127.0.0.1:8124'), { home_assistant: { ca_file: notPem } }))}\n`);
  const checked = await runGatehouse(['check-config', '-c', plain]);
  assert.equal(checked.code, 1);
  assert.match(checked.stderr, /^home_assistant\.ca_file \(line \d+\): a CA is only used for HTTPS, and url is http:\/\/127\.0\.0\.1:8124: write url as https:\/\/\.\.\. if HA serves TLS, or remove ca_file$/m);

  const secure = join(directory, 'secure.yaml');
  writeFileSync(secure, `${toYaml(mergeConfig(baseConfig(directory, 'https://127.0.0.1:8124'), { home_assistant: { ca_file: notPem } }))}\n`);
  const secureChecked = await runGatehouse(['check-config', '-c', secure]);
  assert.equal(secureChecked.code, 1);
  assert.match(secureChecked.stderr, new RegExp(`^home_assistant\\.ca_file: cannot load CA bundle ${notPem.replaceAll('.', '\\.')}: .+; name a PEM file of CA certificates$`, 'm'));
  assert.doesNotMatch(secureChecked.stdout, /configuration OK/);
  const started = await runGatehouse(['serve', '-c', secure]);
  assert.equal(started.code, 1);
  assert.match(started.stderr, new RegExp(`cannot start: cannot load CA bundle ${notPem.replaceAll('.', '\\.')}`));
});

test('HTTPS to the HA double: sign-in (admin connection, login flow, token endpoint), the websocket API and a token check, and the doctor', TEST_GUARD, async (t) => {
  const material = await makeTlsMaterial();
  t.after(() => material.cleanup());
  const stack = await startSsoStack(t, {
    haOptions: { tls: { cert: material.cert, key: material.key } },
    gatehouseConfig: { home_assistant: { ca_file: material.caFile } },
  });
  const double = stack.double;
  assert.ok(double.url.startsWith('https://127.0.0.1:'), double.url);
  routeHawsThrough(stack.externalUrl, CLIENT_ADDRESS);

  const { connection } = await signInAndConnect(t, stack, 'alice');
  const user = stack.newUsers().find((candidate) => candidate.username === 'alice');
  assert.ok(user, 'the admin connection created the HA user over TLS');
  assert.equal((await getUser(connection)).id, user.id);

  // A token Gatehouse never saw issued: the shield asks HA about it over TLS, then lets it through.
  const longLived = stack.rememberSecret(double.createLongLivedToken(user.id, { clientName: 'script' }).token, 'long-lived token');
  const checked = await request(`${stack.gatehouse.url}/api/`, { headers: { authorization: `Bearer ${longLived}` }, localAddress: CLIENT_ADDRESS });
  assert.equal(checked.status, 200, checked.text());
  assert.deepEqual(checked.json(), { message: 'API running.' });

  const configPath = join(stack.directory, 'doctor.yaml');
  writeFileSync(configPath, `${toYamlDocument(stack.config)}\n`);
  const doctor = await runGatehouse(['doctor', '-c', configPath], { timeoutMs: 60_000 });
  assert.equal(doctor.code, 0, doctor.stdout + doctor.stderr);
  assert.match(doctor.stdout, new RegExp(`^ok {4}Home Assistant answers at ${double.url.replaceAll('.', '\\.')} `, 'm'));
  assert.match(doctor.stdout, /^ok {4}the token in home_assistant\.token_file is valid and belongs to an admin/m);

  // The same doctor without the CA: HA's certificate is the problem, and the fix says where the CA goes.
  const withoutCa = join(stack.directory, 'doctor-no-ca.yaml');
  writeFileSync(withoutCa, `${toYamlDocument(mergeConfig(stack.config, { home_assistant: { ca_file: null } }))}\n`);
  const refused = await runGatehouse(['doctor', '-c', withoutCa], { timeoutMs: 60_000 });
  assert.equal(refused.code, 1);
  assert.match(refused.stdout, /^FAIL {2}Home Assistant cannot be reached at https:\/\/127\.0\.0\.1:\d+: TLS with 127\.0\.0\.1 failed: unable to get local issuer certificate$/m);
  assert.match(refused.stdout, /home_assistant\.ca_file/);
  stack.assertHygiene();
});
