// SSO-only mode and the console break-glass (PRODUCT.md §6): with providers configured, HA's own
// password login (its page, /auth/providers, /auth/login_flow) is closed to clients with a clear 403;
// `gatehouse breakglass` prints a one-time URL that opens it for the one browser that uses it, until it
// expires or `gatehouse breakglass --close` ends it — seen by the running Gatehouse without a restart.
// Every step is in the audit log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pollUntil, runGatehouse, TEST_GUARD } from './lib/harness.mjs';
import { request } from './lib/http-client.mjs';
import { startSsoStack, pageText } from './lib/sso-stack.mjs';

const LOGIN_FLOW_BODY = (stack) => JSON.stringify({
  client_id: stack.frontendClientId, handler: ['homeassistant', null], redirect_uri: stack.frontendRedirectUri,
});

// One HTTP call from the client address, with an explicit Cookie header (or none).
function call(stack, path, { method = 'GET', cookie, body, html = false } = {}) {
  const headers = {};
  if (cookie) headers.cookie = cookie;
  if (html) headers.accept = 'text/html,application/xhtml+xml';
  if (body) headers['content-type'] = 'application/json';
  return request(`${stack.externalUrl}${path}`, { method, headers, body, localAddress: stack.clientAddress });
}

async function breakglass(stack, ...args) {
  // The URL is shown to the operator on purpose: the console, not a log.
  const run = await runGatehouse(['breakglass', '-c', stack.configPath, ...args], { stdoutIsConsole: true });
  assert.equal(run.code, 0, run.stderr);
  return run.stdout;
}

function urlIn(output) {
  const url = /(https?:\/\/\S+\/sso\/breakglass\/\S+)/.exec(output)?.[1];
  assert.ok(url, `no break-glass URL in: ${output}`);
  return url;
}

async function openLink(stack, url) {
  const opened = await request(url, { headers: { accept: 'text/html' }, localAddress: stack.clientAddress });
  const setCookie = [opened.headers['set-cookie'] ?? []].flat();
  const cookie = setCookie.find((line) => line.startsWith('gatehouse_breakglass='));
  return { opened, cookie, pair: cookie?.split(';')[0] };
}

async function assertClosed(stack, cookie) {
  const providers = await call(stack, '/auth/providers', { cookie });
  assert.equal(providers.status, 403);
  assert.equal(providers.json().code, 'local_login_disabled');
  const flow = await call(stack, '/auth/login_flow', { method: 'POST', cookie, body: LOGIN_FLOW_BODY(stack) });
  assert.equal(flow.status, 403);
}

test('SSO-only: closed -> console URL -> local login in that browser only -> used once -> expires', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t);
  const loginFlowsBefore = stack.loginFlowRequestCount();

  // Closed: JSON for API clients, a page for browsers, and HA's login flow never reached.
  await assertClosed(stack);
  const page = await call(stack, '/auth/providers', { html: true });
  assert.equal(page.status, 403);
  assert.match(pageText(page.text()), /Local login is switched off/);
  assert.match(pageText(page.text()), /gatehouse breakglass/);
  assert.equal(stack.loginFlowRequestCount(), loginFlowsBefore);

  // The console prints a one-time URL; the running Gatehouse honours it without a restart.
  const output = await breakglass(stack, '--seconds', '6');
  const url = urlIn(output);
  stack.rememberSecret(url.split('/').pop(), 'break-glass URL token');
  const { opened, cookie, pair } = await openLink(stack, url);
  assert.equal(opened.status, 200);
  assert.match(pageText(opened.text()), /Local login is open in this browser/);
  assert.ok(cookie, 'the browser got its cookie');
  stack.rememberSecret(pair.split('=')[1], 'break-glass browser cookie');
  assert.match(cookie, /; Path=\/auth\//);
  assert.match(cookie, /; HttpOnly/);
  assert.match(cookie, /; SameSite=Strict/);

  // That browser: HA's own login page and a whole password login through HA's login flow.
  const authorize = await call(stack, `/auth/authorize?response_type=code&client_id=${encodeURIComponent(stack.frontendClientId)}&redirect_uri=${encodeURIComponent(stack.frontendRedirectUri)}`,
    { cookie: pair, html: true });
  assert.equal(authorize.status, 200);
  assert.ok(!/sso\/login|Sign in to Home Assistant/.test(authorize.text()), 'HA\'s own page, not Gatehouse\'s sign-in');
  const providers = await call(stack, '/auth/providers', { cookie: pair });
  assert.equal(providers.status, 200);
  const flow = await call(stack, '/auth/login_flow', { method: 'POST', cookie: pair, body: LOGIN_FLOW_BODY(stack) });
  assert.equal(flow.status, 200, flow.text());
  const step = await call(stack, `/auth/login_flow/${flow.json().flow_id}`, {
    method: 'POST', cookie: `other=1; ${pair}`,
    body: JSON.stringify({ client_id: stack.frontendClientId, username: stack.owner.username, password: stack.owner.password }),
  });
  assert.equal(step.status, 200, step.text());
  assert.equal(step.json().type, 'create_entry');
  stack.rememberSecret(step.json().result, 'HA code from a break-glass login');
  // HA never saw Gatehouse's cookie; other cookies pass.
  const cookiesHaSaw = stack.haRequests.filter((entry) => entry.path.startsWith('/auth/')).map((entry) => entry.cookie);
  assert.ok(cookiesHaSaw.every((value) => !value?.includes('gatehouse_breakglass')), JSON.stringify(cookiesHaSaw));
  assert.ok(cookiesHaSaw.includes('other=1'));

  // Another browser (no cookie, or a made-up one) is still shut out; the URL works only once.
  await assertClosed(stack);
  await assertClosed(stack, 'gatehouse_breakglass=made-up');
  const again = await openLink(stack, url);
  assert.equal(again.opened.status, 403);
  assert.equal(again.cookie, undefined);
  assert.match(pageText(again.opened.text()), /already used/);
  // The request log names the route, never the token in it.
  const logged = stack.gatehouse.logs().filter((entry) => entry.msg === 'request' && entry.path?.startsWith('/sso/breakglass/'));
  assert.deepEqual([...new Set(logged.map((entry) => entry.path))], ['/sso/breakglass/<redacted>']);

  // It expires on its own: the same cookie is refused once the grant's time is up.
  await pollUntil(async () => (await call(stack, '/auth/providers', { cookie: pair })).status === 403, { timeoutMs: 15_000, intervalMs: 250 });
  await assertClosed(stack, pair);

  const audit = await stack.audit();
  const kinds = audit.map((entry) => entry.kind);
  for (const kind of ['breakglass_created', 'breakglass_opened', 'breakglass_refused']) assert.ok(kinds.includes(kind), `${kind} in ${kinds}`);
});

test('gatehouse breakglass --close shuts an open break-glass at once', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t);
  const url = urlIn(await breakglass(stack, '--minutes', '15'));
  stack.rememberSecret(url.split('/').pop(), 'break-glass URL token');
  const { pair } = await openLink(stack, url);
  stack.rememberSecret(pair.split('=')[1], 'break-glass browser cookie');
  assert.equal((await call(stack, '/auth/providers', { cookie: pair })).status, 200);

  const output = await breakglass(stack, '--close');
  assert.match(output, /Closed 1 break-glass link/);
  await assertClosed(stack, pair);
  assert.ok((await stack.audit()).some((entry) => entry.kind === 'breakglass_closed'));
});

test('gatehouse breakglass refuses bad durations', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t);
  for (const args of [['--minutes', '0'], ['--seconds', '1'], ['--minutes', '5', '--seconds', '30']]) {
    const run = await runGatehouse(['breakglass', '-c', stack.configPath, ...args]);
    assert.notEqual(run.code, 0, args.join(' '));
  }
});
