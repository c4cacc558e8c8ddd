// Third-party clients whose redirect_uri is on another site (issue 11): HA accepts such a pair when the
// client_id page lists the redirect_uri in <link rel="redirect_uri"> (contract §1.8 step 4, IndieAuth),
// and so does Gatehouse, before anyone is sent to the IdP — after the consent page, like every
// third-party client — without becoming a way to make it fetch from the home network: private addresses
// only when configured (client_discovery.networks), no redirects followed, at most 10 KiB.
// Real parts: the IdP (oidc-provider) and a client page served over HTTP; the HA double fetches the
// same page itself when the login flow completes, as HA does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { TEST_GUARD } from './lib/harness.mjs';
import { startSsoStack, CookieJar, pageText } from './lib/sso-stack.mjs';

// The client's own site: its page lists where it wants people sent back (another origin: its app's port).
async function startClientSite(t) {
  const fetched = [];
  const server = http.createServer((req, res) => {
    fetched.push(req.url);
    const page = (links) => `<!doctype html><html><head><title>Music</title>${links}</head><body>A music app</body></html>`;
    const { port } = server.address();
    const callback = `http://127.0.0.1:${port + 1}/auth/callback`;
    switch (req.url) {
    case '/app':
      // HA's parser: an exact rel, entities decoded, a link inside a comment does not count.
      res.writeHead(200, { 'content-type': 'text/html' }).end(page(
        `<!-- <link rel="redirect_uri" href="http://127.0.0.1:1/commented"> --><LINK REL="redirect_uri" HREF="${callback}?a=1&amp;b=2"><link rel="me redirect_uri" href="http://127.0.0.1:2/not-exact">`));
      return;
    case '/big':
      res.writeHead(200, { 'content-type': 'text/html' }).end(page(`<link rel="redirect_uri" href="${callback}">${'<p>filler</p>'.repeat(1000)}`));
      return;
    case '/moved':
      res.writeHead(302, { location: '/app' }).end();
      return;
    default:
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  const base = `http://127.0.0.1:${server.address().port}`;
  return { base, callback: `http://127.0.0.1:${server.address().port + 1}/auth/callback?a=1&b=2`, fetched };
}

test('a client whose page lists its redirect_uri signs in through the consent page; unlisted, oversized and moved pages are refused', TEST_GUARD, async (t) => {
  const site = await startClientSite(t);
  const stack = await startSsoStack(t, {
    gatehouseConfig: { client_discovery: { networks: ['127.0.0.1/32'] }, limits: { audited_refusals_per_address: 20 } },
  });
  const client = { clientId: `${site.base}/app`, redirectUri: site.callback };

  await t.test('listed: the consent page names the client; allowed, the code reaches it and works', async () => {
    const jar = new CookieJar();
    const page = await stack.login({ ...client, state: 'music', username: 'alice', jar });
    assert.equal(page.kind, 'page', pageText(page.body ?? ''));
    const consentId = stack.consentIdOf(page.body);
    assert.ok(consentId, pageText(page.body));
    assert.match(pageText(page.body), new RegExp(site.base.replace(/[.]/g, '\\.')));
    const allowed = await stack.answerConsent(consentId, 'allow', { jar });
    assert.equal(allowed.status, 302, pageText(allowed.body) + JSON.stringify(allowed.headers));
    const back = new URL(allowed.headers.location);
    assert.equal(`${back.origin}${back.pathname}`, client.redirectUri.split('?')[0]);
    assert.equal(back.searchParams.get('a'), '1');
    assert.equal(back.searchParams.get('state'), 'music');
    const code = back.searchParams.get('code');
    stack.rememberSecret(code, 'HA code (discovered client)');
    const tokens = await stack.postToken({ grant_type: 'authorization_code', code, client_id: client.clientId });
    assert.equal(tokens.status, 200, tokens.text());
  });

  await t.test('the page is read once for a while, not at every sign-in', async () => {
    const before = site.fetched.filter((url) => url === '/app').length;
    const page = await stack.login({ ...client, state: 'again', username: 'alice', jar: new CookieJar() });
    assert.ok(stack.consentIdOf(page.body), pageText(page.body));
    assert.equal(site.fetched.filter((url) => url === '/app').length, before, 'answered from the cache');
  });

  const refused = async (clientId, redirectUri, why) => {
    const result = await stack.login({ clientId, redirectUri, state: 'x', jar: new CookieJar() });
    assert.equal(result.kind, 'page');
    assert.equal(result.status, 400, pageText(result.body));
    assert.match(pageText(result.body), why);
    assert.equal(result.history.length, 1, 'refused by /auth/authorize itself: the IdP never saw it');
  };
  await t.test('a redirect_uri the page does not list, a commented-out one, a not-exact rel: refused, saying why', async () => {
    await refused(client.clientId, `${site.base.replace(/:\d+$/, ':3')}/steal`, /lists other addresses/);
    await refused(client.clientId, 'http://127.0.0.1:1/commented', /lists other addresses/);
    await refused(client.clientId, 'http://127.0.0.1:2/not-exact', /lists other addresses/);
  });
  await t.test('a page over 10 KiB, a redirect, a page that is not there: refused; the page says little, the audit why', async () => {
    await refused(`${site.base}/big`, client.redirectUri, /larger than 10 KiB/);
    await refused(`${site.base}/moved`, client.redirectUri, /its page could not be read/);
    await refused(`${site.base}/gone`, client.redirectUri, /its page could not be read/);
    const why = (await stack.audit()).filter((entry) => entry.kind === 'login_refused' && entry.reason === 'redirect_uri_not_listed')
      .map((entry) => entry.raw.detail.why);
    for (const detail of ['larger than 10 KiB', 'HTTP 302 (Gatehouse follows no redirects here)', 'HTTP 404', 'lists other addresses'])
      assert.ok(why.some((text) => text.includes(detail)), `audited: ${detail} in ${JSON.stringify(why)}`);
  });
  stack.assertHygiene();
});

test('without client_discovery.networks, a client page on a private address is never fetched', TEST_GUARD, async (t) => {
  const site = await startClientSite(t);
  const stack = await startSsoStack(t);
  const result = await stack.login({ clientId: `${site.base}/app`, redirectUri: site.callback, state: 'x', jar: new CookieJar() });
  assert.equal(result.status, 400, pageText(result.body));
  assert.match(pageText(result.body), /its page could not be fetched/);
  assert.ok(!pageText(result.body).includes('127.0.0.1:'), 'the page does not say what the address was');
  assert.deepEqual(site.fetched, [], 'Gatehouse never connected to it');
  const why = (await stack.audit()).find((entry) => entry.kind === 'login_refused' && entry.reason === 'redirect_uri_not_listed')?.raw.detail.why;
  assert.match(why ?? '', /resolves only to addresses Gatehouse may not reach/);
  stack.assertHygiene();
});

// MCP-style clients publish a Client ID Metadata Document (JSON) at their https client_id instead of an
// HTML page; HA reads it from 2026.8 (core PR #176286), and so does Gatehouse, for the same clients.
test('a client whose https client_id is a metadata document signs in through the consent page; another client_id or an unlisted redirect is refused', TEST_GUARD, async (t) => {
  const https = await import('node:https');
  const { makeTlsMaterial } = await import('../idp/tls.mjs');
  const tls = await makeTlsMaterial();
  t.after(() => tls.cleanup());
  const callback = 'http://127.0.0.1:9/agent/callback'; // another origin than the document's
  let base;
  const fetched = [];
  const site = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    fetched.push(req.url);
    const json = (document) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(document));
    if (req.url === '/oauth/client.json') return json({ client_id: `${base}/oauth/client.json`, client_name: 'Agent', redirect_uris: [callback] });
    if (req.url === '/oauth/impostor.json') return json({ client_id: `${base}/oauth/client.json`, redirect_uris: [callback] });
    res.writeHead(404).end();
  });
  await new Promise((resolve) => site.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => site.close(resolve)));
  base = `https://127.0.0.1:${site.address().port}`;
  const stack = await startSsoStack(t, {
    haOptions: { version: '2026.8.0', trustedCa: tls.ca },
    gatehouseConfig: { client_discovery: { networks: ['127.0.0.1/32'], ca_file: tls.caFile }, limits: { audited_refusals_per_address: 20 } },
  });
  const clientId = `${base}/oauth/client.json`;

  const jar = new CookieJar();
  const page = await stack.login({ clientId, redirectUri: callback, state: 'agent', username: 'alice', jar });
  const consentId = stack.consentIdOf(page.body ?? '');
  assert.ok(consentId, pageText(page.body ?? ''));
  assert.ok(pageText(page.body).includes(base), 'the consent page names the document\'s site');
  const allowed = await stack.answerConsent(consentId, 'allow', { jar });
  assert.equal(allowed.status, 302, pageText(allowed.body));
  const back = new URL(allowed.headers.location);
  assert.equal(`${back.origin}${back.pathname}`, callback);
  assert.equal(back.searchParams.get('state'), 'agent');
  stack.rememberSecret(back.searchParams.get('code'), 'HA code (metadata document client)');
  const tokens = await stack.postToken({ grant_type: 'authorization_code', code: back.searchParams.get('code'), client_id: clientId });
  assert.equal(tokens.status, 200, tokens.text());

  const refused = async (id, redirectUri, why) => {
    const result = await stack.login({ clientId: id, redirectUri, state: 'x', jar: new CookieJar() });
    assert.equal(result.status, 400, pageText(result.body));
    assert.match(pageText(result.body), why);
    assert.equal(result.history.length, 1, 'refused by /auth/authorize itself: the IdP never saw it');
  };
  await refused(clientId, 'http://127.0.0.1:9/elsewhere', /lists other addresses/);
  await refused(`${base}/oauth/impostor.json`, callback, /names another client_id/);
  assert.ok(fetched.includes('/oauth/impostor.json'));
  stack.assertHygiene();

  // An HA older than 2026.8 would refuse the client after the person signed in: Gatehouse says so first.
  const older = await startSsoStack(t, {
    haOptions: { version: '2026.7.0', trustedCa: tls.ca },
    gatehouseConfig: { client_discovery: { networks: ['127.0.0.1/32'], ca_file: tls.caFile } },
  });
  const result = await older.login({ clientId, redirectUri: callback, state: 'x', jar: new CookieJar() });
  assert.equal(result.status, 400, pageText(result.body));
  assert.match(pageText(result.body), /Home Assistant 2026\.7\.0 does not read client metadata documents/);
  older.assertHygiene();
});
