// Prometheus /metrics (issue 12): a real Prometheus (Debian's) scrapes Gatehouse while people sign in,
// are refused and use HA through it, and the series are queried back through Prometheus's own API.
// Only metrics.networks may read /metrics: anyone else gets a 403 that says how to be let in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { TEST_GUARD, freePort, freshDirectory } from './lib/harness.mjs';
import { startSsoStack, CookieJar, pageText } from './lib/sso-stack.mjs';

const PROMETHEUS = process.env.PROMETHEUS_PATH ?? '/usr/bin/prometheus';

// GET from a chosen source address (the stack's own requests leave from the client address).
function get(url, { localAddress = '127.0.0.1', headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    http.get(url, { localAddress, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    }).on('error', reject);
  });
}

async function startPrometheus(t, target) {
  const directory = freshDirectory('gatehouse-prometheus-');
  const port = await freePort();
  writeFileSync(join(directory, 'prometheus.yml'), [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    'scrape_configs:',
    '  - job_name: gatehouse',
    '    metrics_path: /metrics',
    '    static_configs:',
    `      - targets: ['${target}']`,
    '',
  ].join('\n'));
  const child = spawn(PROMETHEUS, [
    `--config.file=${join(directory, 'prometheus.yml')}`, `--storage.tsdb.path=${join(directory, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (chunk) => { log += chunk; });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.after(() => { child.kill('SIGTERM'); });
  const api = `http://127.0.0.1:${port}/api/v1`;
  // Waits for what Prometheus's API answers to satisfy `done` (its scrapes come every second).
  const until = async (query, done, what) => {
    const deadline = Date.now() + 30_000;
    let last;
    while (Date.now() < deadline) {
      try {
        last = JSON.parse((await get(`${api}/query?query=${encodeURIComponent(query)}`)).body);
        if (last.status === 'success' && done(last.data.result)) return last.data.result;
      } catch { /* not listening yet */ }
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 250))]);
      if (child.exitCode !== null) throw new Error(`prometheus exited: ${log}`);
    }
    throw new Error(`${what}: Prometheus never answered ${query} as expected; last ${JSON.stringify(last)}; log ${log}`);
  };
  return { api, until };
}

test('a real Prometheus scrapes /metrics: sign-ins, refusals, requests, relayed bytes and HA\'s admin connection come back from its API', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t, { gatehouseConfig: { metrics: { networks: ['127.0.0.1/32'] } } });
  const target = new URL(stack.externalUrl).host;

  // The stack's client address is not in metrics.networks: refused, saying how to be let in.
  const refused = await get(`${stack.externalUrl}/metrics`, { localAddress: '127.0.0.2', headers: { accept: 'application/json' } });
  assert.equal(refused.status, 403);
  assert.equal(JSON.parse(refused.body).code, 'metrics_not_allowed');
  assert.match(JSON.parse(refused.body).message, /metrics\.networks/);
  // From this machine, but through a proxy Gatehouse was not told of (a tunnel on the same host):
  // anyone on the internet would arrive so. Refused.
  const tunnelled = await get(`${stack.externalUrl}/metrics`, { headers: { 'x-forwarded-for': '203.0.113.9', accept: 'application/json' } });
  assert.equal(tunnelled.status, 403);
  assert.equal(JSON.parse(tunnelled.body).code, 'metrics_not_allowed');

  // What Prometheus will count: a sign-in, a refused one, a request without a token, an API call.
  const signedIn = await stack.login({ state: 'metrics', username: 'alice', jar: new CookieJar() });
  assert.equal(signedIn.kind, 'redirect', pageText(signedIn.body ?? ''));
  const code = new URL(signedIn.location).searchParams.get('code');
  stack.rememberSecret(code, 'HA code (metrics)');
  const tokens = (await stack.postToken({ grant_type: 'authorization_code', code, client_id: stack.frontendClientId })).json();
  stack.rememberSecret(tokens.access_token, 'HA access token (metrics)');
  const deniedByIdp = await stack.login({ state: 'no', username: 'alice', deny: true, jar: new CookieJar() });
  assert.equal(deniedByIdp.status, 400, pageText(deniedByIdp.body ?? ''));
  assert.equal((await get(`${stack.externalUrl}/api/states`, { localAddress: '127.0.0.2', headers: { accept: 'application/json' } })).status, 401);
  const api = await get(`${stack.externalUrl}/api/states`, { localAddress: '127.0.0.2', headers: { authorization: `Bearer ${tokens.access_token}` } });
  assert.equal(api.status, 200);
  // A token Gatehouse never saw issued: asked of HA.
  const longLived = stack.rememberSecret(stack.double.createLongLivedToken(stack.double.state.ownerId, { clientName: 'metrics' }).token, 'HA long-lived token (metrics)');
  const asked = await get(`${stack.externalUrl}/api/states`, { localAddress: '127.0.0.2', headers: { authorization: `Bearer ${longLived}` } });
  assert.equal(asked.status, 200);

  // The exposition as Prometheus reads it: text format 0.0.4, each metric typed once.
  const scraped = await get(`${stack.externalUrl}/metrics`);
  assert.equal(scraped.status, 200);
  assert.match(scraped.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  for (const [name, type] of [['gatehouse_http_requests_total', 'counter'], ['gatehouse_sign_in_duration_seconds', 'histogram'],
    ['gatehouse_open_connections', 'gauge'], ['gatehouse_relayed_websockets', 'gauge'], ['gatehouse_cut_offs_total', 'counter'],
    ['gatehouse_scim_operations_total', 'counter'], ['gatehouse_ha_token_checks_total', 'counter']])
    assert.equal(scraped.body.split('\n').filter((line) => line === `# TYPE ${name} ${type}`).length, 1, name);
  assert.ok(!scraped.body.includes(tokens.access_token), 'no secret in the metrics');

  const prometheus = await startPrometheus(t, target);
  const value = (result) => Number(result[0]?.value?.[1]);
  await prometheus.until('up{job="gatehouse"}', (result) => value(result) === 1, 'the target is up');
  await prometheus.until('gatehouse_sign_ins_total{provider="idp1",outcome="succeeded"}', (result) => value(result) >= 1, 'a sign-in');
  await prometheus.until('gatehouse_sign_ins_total{provider="idp1",outcome="refused"}', (result) => value(result) >= 1, 'a refused sign-in');
  await prometheus.until('gatehouse_sign_in_duration_seconds_count{provider="idp1"}', (result) => value(result) >= 1, 'the verified sign-in\'s duration');
  await prometheus.until('gatehouse_refusals_total{class="unauthenticated"}', (result) => value(result) >= 1, 'a request without a token');
  await prometheus.until('gatehouse_ha_token_checks_total{result="valid"}', (result) => value(result) >= 1, 'a token asked of HA');
  await prometheus.until('gatehouse_http_requests_total{route="protected",status="200"}', (result) => value(result) >= 2, 'a forwarded request');
  await prometheus.until('gatehouse_relayed_bytes_total{direction="to_client"}', (result) => value(result) >= api.body.length, 'bytes to clients');
  await prometheus.until('gatehouse_ha_admin_connection_ready', (result) => value(result) === 1, 'HA\'s admin connection');
  await prometheus.until('gatehouse_open_connections', (result) => value(result) >= 1, 'the scrape\'s own connection');
  stack.assertHygiene();
});
