// bench/cut-off.mjs — how long `gatehouse cut-off` takes, from running the command to the last of the
// person's websockets closed, with N of their sockets open through Gatehouse (1, 10, 100 by default),
// several runs each: median and worst. Also the time until HA's own sessions of the person were ended
// (from the command's own report). No peer does this (HA leaves such sockets open: contract §5), so
// there is nothing to run beside it. It runs the test stack of tests/e2e (a real oidc-provider, the HA
// double) with the Gatehouse binary under test.
//
// With `--via scim` the cut-off is a SCIM PATCH of bob's User to `active: "False"` (as Entra ID sends it),
// timed from sending the PATCH; HA's side is then timed until the double shows his user deactivated.
//
//   node bench/cut-off.mjs                                  # build/gatehouse, 1/10/100 sockets × 5 runs
//   GATEHOUSE_BIN=build-release/gatehouse node bench/cut-off.mjs --sockets 1,10,100 --runs 5 [--via scim]
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { writeFileSync, chmodSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { freshDirectory, pollUntil, runGatehouse } from '../tests/e2e/lib/harness.mjs';
import { request } from '../tests/e2e/lib/http-client.mjs';
import { startSsoStack, frontendState, CLIENT_ADDRESS } from '../tests/e2e/lib/sso-stack.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'tests', 'package.json'));
const WebSocket = require('ws');

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 && process.argv[at + 1] ? process.argv[at + 1] : fallback;
}
const socketCounts = option('sockets', '1,10,100').split(',').map(Number);
const runs = Number(option('runs', '5'));
const via = option('via', 'console');
if (socketCounts.some((n) => !Number.isInteger(n) || n < 1) || !Number.isInteger(runs) || runs < 1 || !['console', 'scim'].includes(via)) {
  console.error('usage: node bench/cut-off.mjs [--sockets 1,10,100] [--runs 5] [--via console|scim]');
  process.exit(2);
}

// One authenticated websocket through Gatehouse; resolves once HA said auth_ok. `closed` resolves with
// the time the client saw it close.
function openSocket(stack, accessToken) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${stack.gatehouse.wsUrl}/api/websocket`, { localAddress: CLIENT_ADDRESS, perMessageDeflate: false });
    const socket = { ws, closed: new Promise((done) => ws.on('close', () => done(performance.now()))) };
    ws.on('error', reject);
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString());
      if (message.type === 'auth_required') ws.send(JSON.stringify({ type: 'auth', access_token: accessToken }));
      else if (message.type === 'auth_ok') resolve(socket);
      else if (message.type === 'auth_invalid') reject(new Error('auth_invalid'));
    });
  });
}

async function signIn(stack) {
  const login = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'bob' });
  if (login.kind !== 'redirect') throw new Error(`bob could not sign in (${login.kind} ${login.status})`);
  const tokens = await stack.postToken({ grant_type: 'authorization_code', code: login.code, client_id: stack.frontendClientId });
  if (tokens.status !== 200) throw new Error(`code exchange: HTTP ${tokens.status}`);
  return tokens.json().access_token;
}

const stat = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[Math.floor((sorted.length - 1) / 2)], worst: sorted.at(-1) };
};

const scimToken = randomBytes(32).toString('hex');
const scimTokenFile = `${freshDirectory('bench-cut-off-')}/scim-token`;
writeFileSync(scimTokenFile, scimToken);
chmodSync(scimTokenFile, 0o600);
const stack = await startSsoStack(undefined, { gatehouseConfig: { scim: { token_file: scimTokenFile } } });

async function scim(path, method, body) {
  const response = await request(`${stack.externalUrl}/scim/v2${path}`, { method, localAddress: CLIENT_ADDRESS,
    body: JSON.stringify(body), headers: { authorization: `Bearer ${scimToken}`, 'content-type': 'application/scim+json' } });
  if (response.status >= 300) throw new Error(`SCIM ${method} ${path}: HTTP ${response.status}`);
  return response.json();
}
const setActive = (id, value) => scim(`/Users/${id}`, 'PATCH', { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
  Operations: [{ op: 'Replace', path: 'active', value }] });

// The cut-off the chosen way; resolves with HA's side in ms when it is known.
async function cutOff(scimUser, count, sentAt) {
  if (via === 'scim') {
    await setActive(scimUser.id, 'False');
    const deactivated = await pollUntil(() => {
      const active = stack.userNamed('bob.builder')?.isActive;
      return { done: active === false, value: active === false ? performance.now() - sentAt : null };
    }, { timeoutMs: 30_000, intervalMs: 5 });
    return deactivated === null ? null : Math.round(deactivated);
  }
  const result = await runGatehouse(['cut-off', '-c', stack.configPath, 'bob.builder']);
  if (result.code !== 0) throw new Error(`gatehouse cut-off failed: ${result.stderr}`);
  const closedCount = Number(/(\d+) websocket\(s\) closed/.exec(result.stdout)?.[1]);
  if (closedCount !== count) throw new Error(`Gatehouse closed ${closedCount} websockets, ${count} were open`);
  const ha = /HA's own sessions of \S+ ended in (\d+) ms/.exec(result.stdout);
  return ha ? Number(ha[1]) : null;
}

async function lift(scimUser) {
  if (via === 'scim') {
    await setActive(scimUser.id, 'True');
    const back = await pollUntil(async () => {
      const login = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'bob' });
      return { done: login.kind === 'redirect', value: login.kind };
    }, { timeoutMs: 30_000, intervalMs: 50 });
    if (back !== 'redirect') throw new Error('the SCIM lift did not apply');
    return;
  }
  const lifted = await runGatehouse(['cut-off', '-c', stack.configPath, '--lift', 'bob.builder']);
  if (!/can sign in again/.test(lifted.stdout)) throw new Error(`the lift did not apply: ${lifted.stdout}`);
}

try {
  const scimUser = await scim('/Users', 'POST', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'bob.builder', active: true });
  const rows = [];
  for (const count of socketCounts) {
    const closedMs = [];
    const haMs = [];
    for (let run = 0; run < runs; run += 1) {
      const token = await signIn(stack);
      const sockets = [];
      for (let i = 0; i < count; i += 1) sockets.push(await openSocket(stack, token));
      const started = performance.now();
      const command = cutOff(scimUser, count, started);
      const lastClosed = Math.max(...(await Promise.all(sockets.map((socket) => socket.closed))));
      closedMs.push(lastClosed - started);
      const ha = await command;
      if (ha !== null) haMs.push(ha);
      await lift(scimUser);
    }
    const closed = stat(closedMs);
    const ha = haMs.length === runs ? stat(haMs) : null;
    rows.push({ count, closed, ha });
    console.error(`[cut-off] ${count} socket(s): last closed after median ${closed.median.toFixed(0)} ms, worst ${closed.worst.toFixed(0)} ms`);
  }
  console.log(`| sockets of the person | last socket closed, median | worst | HA's sessions ended + user deactivated, median | worst |`);
  console.log('|---:|---:|---:|---:|---:|');
  for (const { count, closed, ha } of rows) {
    console.log(`| ${count} | ${closed.median.toFixed(0)} ms | ${closed.worst.toFixed(0)} ms | ${ha ? `${ha.median} ms` : 'n/a'} | ${ha ? `${ha.worst} ms` : 'n/a'} |`);
  }
  console.log(via === 'scim'
    ? `\n${runs} runs each; times from sending the SCIM PATCH (active "False") to the client seeing the close.`
    : `\n${runs} runs each; times from starting \`gatehouse cut-off\` (a new process) to the client seeing the close.`);
} finally {
  await stack.stop();
}
