// Gatehouse as an operator runs it: --version, check-config telling exactly which key on which line is
// wrong, serve refusing a bad file, a graceful SIGTERM (requests in flight finish, websockets hear 1001,
// exit 0), and a TLS listener whose certificate SIGHUP replaces without a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  baseConfig, freePort, freshDirectory, mergeConfig, repoRoot, runGatehouse, startGatehouse, startStack, TEST_GUARD, toYaml, tryConnect,
} from './lib/harness.mjs';
import { startUpstream } from './lib/upstream.mjs';
import { request, RawConnection, rawHead } from './lib/http-client.mjs';
import { openWebSocket } from './lib/ws-client.mjs';
import { newSecret } from './lib/secrets.mjs';

function writeConfig(text) {
  const directory = freshDirectory('config-');
  const path = join(directory, 'gatehouse.yaml');
  writeFileSync(path, text.replaceAll('DATA_DIR', join(directory, 'data')));
  return path;
}

// A problem line as check-config prints it: "<key> (line N): <message>".
function problemLines(stderr) {
  return stderr.split('\n').filter((line) => line.trim() !== '');
}

test('--version prints the project version', TEST_GUARD, async () => {
  const projectVersion = /project\(gatehouse VERSION ([0-9.]+)/.exec(readFileSync(join(repoRoot, 'CMakeLists.txt'), 'utf8'))[1];
  const result = await runGatehouse(['--version']);
  assert.equal(result.code, 0);
  assert.match(result.stdout, new RegExp(`\\b${projectVersion.replaceAll('.', '\\.')}\\b`));
});

test('check-config accepts a valid file', TEST_GUARD, async () => {
  const directory = freshDirectory('config-');
  const path = join(directory, 'gatehouse.yaml');
  writeFileSync(path, `${toYaml(baseConfig(directory, 'http://127.0.0.1:8124'))}\n`);
  const result = await runGatehouse(['check-config', '-c', path]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /configuration OK/);
});

test('check-config names the key and line of every bad value, all in one run', TEST_GUARD, async () => {
  const path = writeConfig([
    'listen: 127.0.0.1:0', //                   1
    'external_url: http://127.0.0.1:8123', //   2
    'data_dir: DATA_DIR', //                    3
    'home_assistant:', //                       4
    '  url: http://127.0.0.1:8124', //          5
    'limits:', //                               6
    '  max_body_bytes: lots', //                7
    'timeouts:', //                             8
    '  header_read: soon', //                   9
    '',
  ].join('\n'));
  const result = await runGatehouse(['check-config', '-c', path]);
  assert.equal(result.code, 1);
  assert.doesNotMatch(result.stdout, /configuration OK/);
  const lines = problemLines(result.stderr);
  assert.ok(lines.some((line) => /^limits\.max_body_bytes \(line 7\): \S/.test(line)), result.stderr);
  assert.ok(lines.some((line) => /^timeouts\.header_read \(line 9\): \S/.test(line)), result.stderr);
});

test('check-config refuses unknown keys, at the top level and nested', TEST_GUARD, async () => {
  const path = writeConfig([
    'listen: 127.0.0.1:0', //                   1
    'external_url: http://127.0.0.1:8123', //   2
    'data_dir: DATA_DIR', //                    3
    'home_assistant:', //                       4
    '  url: http://127.0.0.1:8124', //          5
    'frobnicate: true', //                      6
    'limits:', //                               7
    '  max_bodybytes: 1MiB', //                 8
    '',
  ].join('\n'));
  const result = await runGatehouse(['check-config', '-c', path]);
  assert.equal(result.code, 1);
  const lines = problemLines(result.stderr);
  assert.ok(lines.some((line) => /^frobnicate \(line 6\): \S/.test(line)), result.stderr);
  assert.ok(lines.some((line) => /^limits\.max_bodybytes \(line 8\): \S/.test(line)), result.stderr);
});

test('check-config reports a missing external_url', TEST_GUARD, async () => {
  const path = writeConfig([
    'listen: 127.0.0.1:0',
    'data_dir: DATA_DIR',
    'home_assistant:',
    '  url: http://127.0.0.1:8124',
    '',
  ].join('\n'));
  const result = await runGatehouse(['check-config', '-c', path]);
  assert.equal(result.code, 1);
  assert.ok(problemLines(result.stderr).some((line) => /^external_url\b.*: \S/.test(line)), result.stderr);
});

test('check-config reports a file that does not exist', TEST_GUARD, async () => {
  const missing = join(freshDirectory('config-'), 'no-such-file.yaml');
  const result = await runGatehouse(['check-config', '-c', missing]);
  assert.equal(result.code, 1);
  assert.notEqual(result.stderr.trim(), '');
  assert.doesNotMatch(result.stdout, /configuration OK/);
});

test('serve refuses a bad config: exit 1, the problem on stderr, nothing listening', TEST_GUARD, async () => {
  const port = await freePort();
  const path = writeConfig([
    `listen: 127.0.0.1:${port}`,
    'external_url: http://127.0.0.1:8123',
    'data_dir: DATA_DIR',
    'home_assistant:',
    '  url: http://127.0.0.1:8124',
    'workers: many', //                         6
    '',
  ].join('\n'));
  const result = await runGatehouse(['serve', '-c', path], { timeoutMs: 10_000 });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /workers \(line 6\): \S/);
  assert.doesNotMatch(result.stderr, /"msg":"listening"/);
  await assert.rejects(tryConnect(port), { code: 'ECONNREFUSED' });
});

test('SIGTERM: the request in flight completes, websockets get 1001, new connections are refused, exit 0', TEST_GUARD, async (t) => {
  const { upstream, gatehouse } = await startStack(t, { config: { timeouts: { shutdown_grace: '10s' } } });
  const client = await openWebSocket(`${gatehouse.wsUrl}/api/websocket`);
  t.after(() => client.terminate());
  const upstreamSide = await upstream.nextWebSocket();
  const inFlight = request(`${gatehouse.url}/test/slow`);
  const slow = await upstream.nextSlow();

  gatehouse.proc.kill('SIGTERM');
  assert.deepEqual(await client.closed, { code: 1001, reason: 'Gatehouse is shutting down' });
  await upstreamSide.closed; // HA's side of the relay is closed too, not left dangling

  // Gatehouse has acted on the signal; a newcomer must not be served. If it merely sat in the accept
  // backlog it is settled when Gatehouse exits, hence it is awaited only after the release below.
  const newcomer = request(`${gatehouse.url}/api/after-sigterm`).then(
    (response) => ({ status: response.status }), (error) => ({ error: error.code }));

  slow.release({ body: JSON.stringify({ finished: 'during shutdown' }) });
  const response = await inFlight;
  assert.equal(response.status, 200);
  assert.deepEqual(response.json(), { finished: 'during shutdown' });

  const exit = await gatehouse.exited;
  assert.deepEqual(exit, { code: 0, signal: null });
  const outcome = await newcomer;
  assert.ok(outcome.error, `a connection made after SIGTERM was served with ${outcome.status}`);
  assert.deepEqual(upstream.requestsTo('/api/after-sigterm'), []);
});

test('SIGTERM with a relayed websocket whose client takes nothing: Gatehouse cuts it within seconds, not shutdown_grace', TEST_GUARD, async (t) => {
  const { upstream, gatehouse } = await startStack(t, { config: { timeouts: { shutdown_grace: '60s' } } });
  const client = await openWebSocket(`${gatehouse.wsUrl}/api/websocket`);
  t.after(() => client.terminate());
  const upstreamSide = await upstream.nextWebSocket();
  client.ws._socket.pause(); // reads nothing: Gatehouse's writes to it stall once the buffers are full
  // HA sends until Gatehouse stops taking its messages (its write to the client is stuck): no message is
  // then flushed for a while. How the sending ends (the socket cut) is of no interest.
  const message = Buffer.alloc(64 * 1024, 7);
  let sent = 0;
  (async () => {
    for (;;) {
      try { await upstreamSide.send(message, { binary: true }); } catch { return; }
      sent += 1;
    }
  })();
  await new Promise((resolve) => { // three quiet half-seconds in a row: a loaded machine may pause once
    let seen = -1;
    let quiet = 0;
    const check = setInterval(() => {
      quiet = sent === seen ? quiet + 1 : 0;
      seen = sent;
      if (quiet >= 3) { clearInterval(check); resolve(); }
    }, 500);
  });
  assert.ok(sent > 16, `HA's messages stopped after ${sent}: the buffers between HA and the client hold more`);
  const signalled = performance.now();
  gatehouse.proc.kill('SIGTERM');
  const exit = await gatehouse.exited;
  const waited = performance.now() - signalled;
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.ok(waited < 30_000, `Gatehouse took ${Math.round(waited)} ms to exit: it waited for a client that reads nothing`);
});

test('SIGTERM with a request that never finishes exits 0 once shutdown_grace is over', TEST_GUARD, async (t) => {
  const { upstream, gatehouse } = await startStack(t, { config: { timeouts: { shutdown_grace: '1s' } } });
  const inFlight = request(`${gatehouse.url}/test/slow`).then((r) => ({ status: r.status }), (error) => ({ error: error.code }));
  const slow = await upstream.nextSlow();
  const signalled = performance.now();
  gatehouse.proc.kill('SIGTERM');
  const exit = await gatehouse.exited;
  const waited = performance.now() - signalled;
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.ok(waited >= 900, `Gatehouse exited ${Math.round(waited)} ms after SIGTERM, before shutdown_grace`);
  assert.ok(waited < 8000, `Gatehouse took ${Math.round(waited)} ms to exit with a 1 s shutdown_grace`);
  const outcome = await inFlight;
  assert.notEqual(outcome.status, 200, 'the abandoned request was reported as a success');
  slow.release();
});

// After its last answer a TLS connection waits for the client's close_notify (and then for the client to
// stop sending); that wait counts as idle, so SIGTERM ends it at once instead of waiting it out.
test('SIGTERM while a TLS client that got its 413 holds on: Gatehouse exits without waiting for it', TEST_GUARD, async (t) => {
  const directory = freshDirectory('tls-linger-');
  const certificate = makeCertificate(directory, 'gatehouse-linger');
  const upstream = await startUpstream();
  t.after(() => upstream.stop());
  const gatehouse = await startGatehouse({ upstream, directory, config: {
    tls: { cert_file: certificate.certFile, key_file: certificate.keyFile },
    limits: { max_body_bytes: '64KiB' }, timeouts: { shutdown_grace: '1s' } } });
  t.after(() => gatehouse.stop());
  // allowHalfOpen: the client answers neither Gatehouse's close_notify nor its end.
  const socket = tls.connect({ port: gatehouse.port, host: '127.0.0.1', ca: certificate.pem, allowHalfOpen: true });
  t.after(() => socket.destroy());
  await once(socket, 'secureConnect');
  let answer = '';
  socket.setEncoding('latin1').on('data', (chunk) => { answer += chunk; });
  const ended = once(socket, 'end');
  socket.write('POST /api/too-big HTTP/1.1\r\nHost: ha.test\r\nContent-Length: 1048576\r\n\r\n');
  await ended; // Gatehouse's close_notify: its answer is all there
  assert.match(answer, /^HTTP\/1\.1 413 /);
  gatehouse.proc.kill('SIGTERM');
  assert.deepEqual(await gatehouse.exited, { code: 0, signal: null });
  assert.equal(gatehouse.logs().filter((entry) => entry.msg.startsWith('shutdown grace period over')).length, 0,
    'shutdown waited for the connection that got its 413');
});

function makeCertificate(directory, name) {
  const certFile = join(directory, `${name}.crt`);
  const keyFile = join(directory, `${name}.key`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ], { stdio: 'ignore' });
  const pem = readFileSync(certFile);
  return { certFile, keyFile, pem, fingerprint: new X509Certificate(pem).fingerprint256 };
}

test('TLS listener serves its certificate, forwards proto https, and SIGHUP switches to a new certificate', TEST_GUARD, async (t) => {
  const directory = freshDirectory('tls-');
  const first = makeCertificate(directory, 'gatehouse-first');
  const second = makeCertificate(directory, 'gatehouse-second');
  const certFile = join(directory, 'cert.pem');
  const keyFile = join(directory, 'key.pem');
  copyFileSync(first.certFile, certFile);
  copyFileSync(first.keyFile, keyFile);

  const upstream = await startUpstream();
  let gatehouse;
  t.after(async () => {
    await gatehouse?.stop();
    await upstream.stop();
  });
  gatehouse = await startGatehouse({ upstream, directory, config: { tls: { cert_file: certFile, key_file: keyFile } } });
  assert.match(gatehouse.url, /^https:/);
  assert.equal(gatehouse.logs().find((entry) => entry.msg === 'listening').tls, true);

  const before = await request(`${gatehouse.url}/api/over-tls`, { ca: first.pem });
  assert.equal(before.status, 200);
  assert.equal(before.peerCertificate.fingerprint256, first.fingerprint);
  const seen = upstream.requestsTo('/api/over-tls')[0];
  assert.deepEqual(seen.headerValues('x-forwarded-proto'), ['https']);

  const secure = await openWebSocket(`${gatehouse.wsUrl}/api/websocket`, { ca: first.pem });
  t.after(() => secure.terminate());
  assert.equal((await upstream.nextWebSocket()).request.headerValues('x-forwarded-proto')[0], 'https');
  await secure.send('over wss');
  assert.equal((await secure.waitForMessages(1))[0].data.toString(), 'over wss');

  copyFileSync(second.certFile, certFile);
  copyFileSync(second.keyFile, keyFile);
  gatehouse.proc.kill('SIGHUP');
  await gatehouse.waitForLog((entry) => entry.msg === 'tls certificate reloaded');

  const after = await request(`${gatehouse.url}/api/after-reload`, { ca: second.pem });
  assert.equal(after.status, 200);
  assert.equal(after.peerCertificate.fingerprint256, second.fingerprint);
  await assert.rejects(request(`${gatehouse.url}/api/old-ca`, { ca: first.pem }), 'the old certificate is still served');
  assert.equal(gatehouse.proc.exitCode, null, 'SIGHUP stopped Gatehouse');
});

test('SIGHUP with a file that has problems changes nothing and logs each one; a good file applies its live keys at once and names the keys waiting for a restart', TEST_GUARD, async (t) => {
  // A token file: its contents are part of the configuration too (not used here: no sign-in configured).
  const tokenFile = join(freshDirectory('reload-'), 'ha-token');
  writeFileSync(tokenFile, newSecret('HA token before the reload'), { mode: 0o600 });
  const { upstream, gatehouse } = await startStack(t, { config: { home_assistant: { token_file: tokenFile } } });
  const rewrite = (overrides) => writeFileSync(gatehouse.configPath, `${toYaml(mergeConfig(gatehouse.config, overrides))}\n`);
  const requestLine = (path) => (entry) => entry.msg === 'request' && entry.path === path;
  assert.equal((await request(`${gatehouse.url}/api/one`)).status, 200);
  await gatehouse.waitForLog(requestLine('/api/one'));
  // A websocket relayed before the reloads, still relayed after them.
  const socket = await openWebSocket(`${gatehouse.wsUrl}/api/websocket`);
  t.after(() => socket.terminate());
  await upstream.nextWebSocket();

  // Two problems: both logged as check-config says them, and the running configuration stays.
  rewrite({ limits: { max_body_bytes: 'lots' }, home_assistant: { url: 'ftp://ha.example' } });
  gatehouse.proc.kill('SIGHUP');
  const refused = await gatehouse.waitForLog((entry) => entry.msg === 'configuration reload refused: the running configuration stays');
  assert.equal(refused.problems, 2);
  const problems = gatehouse.logs().filter((entry) => entry.msg === 'configuration problem').map((entry) => entry.problem);
  assert.equal(problems.length, 2, problems.join('\n'));
  assert.ok(problems.some((problem) => /^home_assistant\.url \(line \d+\): expected an http:\/\/ or https:\/\/ URL/.test(problem)), problems.join('\n'));
  assert.ok(problems.some((problem) => /^limits\.max_body_bytes \(line \d+\): \S/.test(problem)), problems.join('\n'));
  assert.equal((await request(`${gatehouse.url}/api/two`)).status, 200);
  assert.equal(upstream.requestsTo('/api/two').length, 1, 'still relayed to the same HA');

  // A good file: logging and shield apply to the next request (warn: request lines stop; enforce: a
  // request without a token is refused), workers waits for a restart.
  rewrite({ logging: { level: 'warn' }, shield: { mode: 'enforce', public_paths: ['/api/open/*'] }, workers: 1 });
  gatehouse.proc.kill('SIGHUP');
  const nthReload = (n) => { let seen = 0; return (entry) => entry.msg === 'configuration reloaded' && ++seen === n; };
  const waiting = await gatehouse.waitForLog((entry) => entry.msg?.startsWith('configuration changed: restart Gatehouse'));
  assert.equal(waiting.keys, 'workers');
  const quieter = await gatehouse.waitForLog(nthReload(1)); // said although the new level is warn
  assert.deepEqual([quieter.applied, quieter.waiting_for_restart], ['logging, shield', 1]);
  assert.equal((await request(`${gatehouse.url}/api/three`)).status, 401, 'the shield enforces from the next request on');
  assert.equal(upstream.requestsTo('/api/three').length, 0);
  assert.equal((await request(`${gatehouse.url}/api/open/three`)).status, 200, 'the new public path is open');

  rewrite({ logging: { level: 'info' }, shield: { mode: 'enforce', public_paths: ['/api/open/*'] }, workers: 1 });
  gatehouse.proc.kill('SIGHUP');
  const reloaded = await gatehouse.waitForLog(nthReload(2)); // said although the running level was warn
  assert.equal(reloaded.applied, 'logging');
  assert.equal(reloaded.waiting_for_restart, 1);
  assert.equal((await request(`${gatehouse.url}/api/open/four`)).status, 200);
  await gatehouse.waitForLog(requestLine('/api/open/four'));
  assert.equal(gatehouse.logs().filter(requestLine('/api/three')).length, 0, 'not logged while the level was warn');

  // The token file's contents change, the file does not: named as waiting for a restart, never shown.
  writeFileSync(tokenFile, newSecret('HA token after the reload'), { mode: 0o600 });
  gatehouse.proc.kill('SIGHUP');
  const rotated = await gatehouse.waitForLog(nthReload(3));
  assert.equal(rotated.waiting_for_restart, 2);
  assert.equal(rotated.applied, 'nothing');
  const named = gatehouse.logs().filter((entry) => entry.msg?.startsWith('configuration changed: restart Gatehouse')).at(-1);
  assert.equal(named.keys, 'home_assistant.token_file (contents), workers');
  assert.equal(gatehouse.proc.exitCode, null);
  // The websocket relayed through every reload still carries messages both ways.
  await socket.send('still here');
  assert.equal((await socket.waitForMessages(1))[0].data.toString(), 'still here');
  socket.close(1000, 'done');
  assert.equal((await socket.closed).code, 1000);
});

test('SIGHUP applies limits, timeouts and trusted_proxies to the next connection and request; connections open before keep their place', TEST_GUARD, async (t) => {
  const { upstream, gatehouse } = await startStack(t, { config: { limits: { max_connections_per_address: 4, max_body_bytes: '1MiB' } } });
  const rewrite = (overrides) => writeFileSync(gatehouse.configPath, `${toYaml(mergeConfig(gatehouse.config, overrides))}\n`);
  const post = (path, bytes) => request(`${gatehouse.url}${path}`, { method: 'POST', body: Buffer.alloc(bytes, 0x61) });
  const forwardedFor = async (path) => {
    assert.equal((await request(`${gatehouse.url}${path}`, { headers: { 'x-forwarded-for': '203.0.113.9' } })).status, 200);
    return upstream.requestsTo(path)[0].headerValues('x-forwarded-for');
  };
  // Before: 512 KB goes through; a forwarding header from 127.0.0.1 is not believed.
  assert.equal((await post('/api/body-before', 512 * 1024)).status, 200);
  assert.deepEqual(await forwardedFor('/api/xff-before'), ['127.0.0.1']);
  // Three connections of another client address held open (each with half a head) before the reload.
  // Each is answered once first: a connect only says the kernel took it, the answer that Gatehouse
  // accepted (and counted) it before the reload.
  const CLIENT = '127.0.0.3';
  const held = [];
  t.after(() => held.forEach((connection) => connection.destroy()));
  for (let i = 0; i < 3; i++) {
    const connection = await RawConnection.connect({ port: gatehouse.port, localAddress: CLIENT });
    held.push(connection);
    await connection.write(rawHead('GET', `/api/held-${i}`, [['Host', 'ha.test']]));
    assert.equal((await connection.readResponse()).status, 200);
    await connection.write(`GET /api/held-${i}-next HTTP/1.1\r\nHost: ha.test\r\n`);
  }

  rewrite({ limits: { max_connections_per_address: 2, max_body_bytes: '256KiB' }, timeouts: { header_read: '1s' },
    trusted_proxies: ['127.0.0.1/32'] });
  gatehouse.proc.kill('SIGHUP');
  const reloaded = await gatehouse.waitForLog((entry) => entry.msg === 'configuration reloaded');
  assert.deepEqual([reloaded.applied, reloaded.waiting_for_restart], ['limits, timeouts, trusted_proxies', 0]);

  // The address holds 3 connections, over the new cap of 2: a new one is turned away, the held ones stay.
  const extra = await RawConnection.connect({ port: gatehouse.port, localAddress: CLIENT });
  t.after(() => extra.destroy());
  await extra.write(rawHead('GET', '/api/one-too-many', [['Host', 'ha.test']])).catch(() => {});
  const refused = await extra.readResponse();
  assert.equal(refused?.status, 503);
  assert.equal(refused.json().code, 'too_many_connections');
  await held[0].write('\r\n');
  assert.equal((await held[0].readResponse()).status, 200, 'a connection opened before the reload is served');
  // Its next request is read under the new header_read: half a head is answered 408 after about a second.
  await held[0].write('GET /api/slow-head HTTP/1.1\r\nHost: ha.test\r\n');
  const started = performance.now();
  assert.equal((await held[0].readResponse()).status, 408);
  assert.ok(performance.now() - started >= 900, 'header_read fired early');
  await held[0].waitForClose();
  for (const connection of held) connection.destroy();
  held.length = 0;

  // The new body limit and the newly trusted proxy apply to the next requests.
  const tooBig = await post('/api/body-after', 512 * 1024);
  assert.equal(tooBig.status, 413);
  assert.equal(upstream.requestsTo('/api/body-after').length, 0);
  assert.deepEqual(await forwardedFor('/api/xff-after'), ['203.0.113.9'], 'the client the trusted proxy names');
  assert.equal(gatehouse.proc.exitCode, null);
});

// systemd's notify protocol (Type=notify in the package's unit): what arrives on $NOTIFY_SOCKET, read by
// a datagram socket like systemd's own (Python's, since Node has no AF_UNIX datagram sockets).
test('under Type=notify: READY=1 once it listens, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 on SIGTERM', TEST_GUARD, async (t) => {
  const { spawn } = await import('node:child_process');
  const directory = freshDirectory('notify-');
  const socketPath = join(directory, 'notify.sock');
  const listener = spawn('python3', ['-u', '-c', [
    'import socket, sys',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    's.bind(sys.argv[1])',
    'print("bound")',
    'while True: print(s.recv(4096).decode().replace("\\n", " "))',
  ].join('\n'), socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => listener.kill());
  const heard = [];
  const waiters = [];
  let buffered = '';
  listener.stdout.setEncoding('utf8').on('data', (chunk) => {
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      heard.push(buffered.slice(0, newline).trim());
      buffered = buffered.slice(newline + 1);
      for (const waiter of [...waiters]) waiter();
    }
  });
  const hear = (message) => new Promise((resolve, reject) => {
    const check = () => {
      const at = heard.indexOf(message);
      if (at < 0) return false;
      heard.splice(0, at + 1);
      resolve();
      return true;
    };
    if (check()) return;
    const guard = setTimeout(() => reject(new Error(`no ${message} on NOTIFY_SOCKET; heard ${JSON.stringify(heard)}`)), 10_000);
    const waiter = () => { if (check()) { clearTimeout(guard); waiters.splice(waiters.indexOf(waiter), 1); } };
    waiters.push(waiter);
  });
  await hear('bound');
  const upstream = await startUpstream();
  t.after(() => upstream.stop());
  const gatehouse = await startGatehouse({ upstream, env: { NOTIFY_SOCKET: socketPath } });
  t.after(() => gatehouse.stop());
  await hear('READY=1');
  await tryConnect(gatehouse.port); // listening when READY=1 arrived
  gatehouse.proc.kill('SIGHUP');
  await hear('RELOADING=1');
  await hear('READY=1');
  const stopped = gatehouse.stop();
  await hear('STOPPING=1');
  assert.equal((await stopped).code, 0);
});

test('the audit log keeps logging.audit_keep_days: older entries are removed by the housekeeping (here, the one at shutdown)', TEST_GUARD, async (t) => {
  const { gatehouse } = await startStack(t, { config: { logging: { audit_keep_days: 30 } } });
  const database = join(gatehouse.config.data_dir, 'gatehouse.db');
  const day = 86_400_000;
  const now = Date.now();
  execFileSync('sqlite3', ['-cmd', '.timeout 5000', database,
    `INSERT INTO audit_log (at_unix_ms, event, subject) VALUES (${now - 31 * day}, 'older_than_kept', 'x'), (${now - 29 * day}, 'kept', 'x')`]);
  await gatehouse.stop();
  const left = execFileSync('sqlite3', ['-readonly', database,
    "SELECT event FROM audit_log WHERE event IN ('older_than_kept', 'kept')"]).toString().trim();
  assert.equal(left, 'kept');
});
