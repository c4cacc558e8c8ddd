// Header identity (issue 11): people who keep a forward-auth proxy in front (authentik's proxy outpost,
// the setup hass-auth-header served) sign in at /auth/authorize as the person the proxy's headers name —
// believed only from the configured proxy addresses, with the same HA user rules as an IdP sign-in (roles
// from the groups header, consent for clients that need it, audit). From anywhere else the headers are
// ignored and counted; they never reach HA.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startSsoStack, APPS, CookieJar, frontendState, pageText } from './lib/sso-stack.mjs';
import { send } from '../idp/drive-login.mjs';

const PROXY = '127.0.0.5'; // the forward-auth proxy's address (the tests' client is 127.0.0.2)
const HEADERS = { username: 'X-authentik-username', groups: 'X-authentik-groups', name: 'X-authentik-name' };

// One request from `localAddress` with the given headers (an array of [name, value] keeps repeats).
function requestFrom(localAddress, url, headerList = []) {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const req = http.request({ host: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, localAddress, agent: false, headers: headerList.concat([['accept', 'text/html']]).flat() }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

const identity = ({ username, groups, name }) => [
  ...(username !== undefined ? [[HEADERS.username, username]] : []),
  ...(groups !== undefined ? [[HEADERS.groups, groups]] : []),
  ...(name !== undefined ? [[HEADERS.name, name]] : []),
];

test('header identity: the proxy\'s person signs in with roles from the groups header; anyone else\'s headers are ignored, counted and never reach HA', { timeout: 90_000 }, async (t) => {
  const stack = await startSsoStack(t, {
    gatehouseConfig: {
      header_identity: { proxies: [`${PROXY}/32`], username_header: HEADERS.username, groups_header: HEADERS.groups, name_header: HEADERS.name },
    },
  });
  const seenByHa = [];
  stack.double.server.prependListener('request', (req) => {
    seenByHa.push({ path: req.url, headers: Object.keys(req.headers) });
  });
  const authorize = (state, client = { clientId: stack.frontendClientId, redirectUri: stack.frontendRedirectUri }) =>
    stack.authorizeUrl({ clientId: client.clientId, redirectUri: client.redirectUri, state });

  await t.test('from the proxy: signed in as the named person, a user from the groups (authentik\'s "|")', async () => {
    const state = frontendState(stack.externalUrl, stack.frontendClientId);
    const answer = await requestFrom(PROXY, authorize(state), identity({ username: 'carol', groups: 'other | ha-users', name: 'Carol Chen' }));
    assert.equal(answer.status, 302, pageText(answer.body));
    const back = new URL(answer.headers.location);
    assert.ok(answer.headers.location.startsWith(stack.frontendRedirectUri), answer.headers.location);
    assert.equal(back.searchParams.get('state'), state);
    stack.rememberSecret(back.searchParams.get('code'), 'HA code (header sign-in)');
    const tokens = await stack.postToken({ grant_type: 'authorization_code', code: back.searchParams.get('code'), client_id: stack.frontendClientId });
    assert.equal(tokens.status, 200, tokens.text());
    const carol = stack.newUsers().find((user) => user.username === 'carol');
    assert.ok(carol, 'carol\'s HA user was made');
    assert.equal(carol.name, 'Carol Chen');
    assert.deepEqual(carol.groupIds, ['system-users']);
  });

  await t.test('the username is the person without case: "Carol" is carol, not a second HA user', async () => {
    const again = await requestFrom(PROXY, authorize('k'), identity({ username: 'Carol', groups: 'ha-users' }));
    assert.equal(again.status, 302, pageText(again.body));
    stack.rememberSecret(new URL(again.headers.location).searchParams.get('code'), 'HA code (header sign-in)');
    assert.deepEqual(stack.newUsers().filter((user) => user.username.startsWith('carol')).map((user) => user.username), ['carol']);
  });

  await t.test('an admin group (Authelia\'s ","), and the role follows the groups at the next sign-in', async () => {
    const first = await requestFrom(PROXY, authorize('a'), identity({ username: 'dave', groups: 'ha-admins,family' }));
    assert.equal(first.status, 302, pageText(first.body));
    assert.deepEqual(stack.newUsers().find((user) => user.username === 'dave').groupIds, ['system-admin']);
    const again = await requestFrom(PROXY, authorize('b'), identity({ username: 'dave', groups: 'ha-guests' }));
    assert.equal(again.status, 302, pageText(again.body));
    assert.deepEqual(stack.newUsers().find((user) => user.username === 'dave').groupIds, ['system-read-only']);
  });

  await t.test('no group that gives access: the refusal page, no user', async () => {
    const refused = await requestFrom(PROXY, authorize('c'), identity({ username: 'eve', groups: 'family' }));
    assert.equal(refused.status, 403);
    assert.match(pageText(refused.body), /none of your groups gives access/);
    assert.ok(!stack.newUsers().some((user) => user.username === 'eve'));
  });

  await t.test('bad headers from the proxy: sent twice, too long, too many groups: 400 with a reference, nobody signed in', async () => {
    for (const headerList of [
      [[HEADERS.username, 'carol'], [HEADERS.username, 'dave']],
      identity({ username: 'x'.repeat(300), groups: 'ha-users' }),
      identity({ username: 'carol', groups: `ha-users|${'g,'.repeat(150)}` }),
    ]) {
      const refused = await requestFrom(PROXY, authorize('d'), headerList);
      assert.equal(refused.status, 400, pageText(refused.body));
      assert.match(pageText(refused.body), /identity Gatehouse cannot use/);
      assert.equal(refused.headers.location, undefined);
    }
  });

  await t.test('a client that needs consent is named on the consent page first', async () => {
    const alexa = APPS.find((app) => app.name === 'Alexa');
    const page = await requestFrom(PROXY, authorize('e', alexa), identity({ username: 'carol', groups: 'ha-users' }));
    assert.equal(page.status, 200);
    assert.ok(stack.consentIdOf(page.body), pageText(page.body));
    assert.match(pageText(page.body), /Amazon Alexa/);
  });

  await t.test('the same headers from anyone else: ignored (the IdP signs them in), and HA never sees them', async () => {
    const forged = await send(authorize('f'), { headers: { [HEADERS.username]: 'dave', [HEADERS.groups]: 'ha-admins' } });
    assert.equal(forged.status, 302);
    assert.ok(forged.headers.location.startsWith(stack.idps[0].issuer), `sent to the IdP, not signed in: ${forged.headers.location}`);
    seenByHa.length = 0;
    await send(`${stack.externalUrl}/manifest.json`, { headers: { [HEADERS.username]: 'dave' } });
    await requestFrom(PROXY, `${stack.externalUrl}/manifest.json`, identity({ username: 'dave', groups: 'ha-admins', name: 'D' }));
    const manifestRequests = seenByHa.filter((entry) => entry.path === '/manifest.json');
    assert.equal(manifestRequests.length, 2, JSON.stringify(seenByHa));
    for (const entry of manifestRequests)
      for (const name of Object.values(HEADERS)) assert.ok(!entry.headers.includes(name.toLowerCase()), `HA saw ${name}`);
  });

  // The ignored headers are counted in the shield's refusal counts, written at exit.
  await stack.restartGatehouse();
  const counted = (await stack.audit()).filter((entry) => entry.kind === 'shield_refusals');
  assert.ok(counted.some((entry) => JSON.stringify(entry.raw.detail).includes('identity_header_ignored')), JSON.stringify(counted.map((entry) => entry.raw.detail)));
  const signIns = (await stack.audit()).filter((entry) => entry.kind === 'login_succeeded');
  assert.ok(signIns.some((entry) => JSON.stringify(entry.raw.detail).includes(`"provider":"header:${HEADERS.username}"`)), 'header sign-ins are audited as such');
  stack.assertHygiene({ clientChecks: false }); // the proxy's requests come from 127.0.0.5
});

test('header identity without any IdP: the proxy\'s people sign in and answer consent pages; HA\'s own password login is closed', { timeout: 60_000 }, async (t) => {
  const stack = await startSsoStack(t, {
    providers: [],
    gatehouseConfig: { header_identity: { proxies: [`${PROXY}/32`], username_header: 'Remote-User', groups_header: 'Remote-Groups' } },
  });
  const frontend = { clientId: stack.frontendClientId, redirectUri: stack.frontendRedirectUri };
  const url = (client, state) => stack.authorizeUrl({ clientId: client.clientId, redirectUri: client.redirectUri, state });
  const signedIn = await requestFrom(PROXY, url(frontend, 's'), [['Remote-User', 'frank'], ['Remote-Groups', 'ha-users']]);
  assert.equal(signedIn.status, 302, pageText(signedIn.body));
  stack.rememberSecret(new URL(signedIn.headers.location).searchParams.get('code'), 'HA code (header sign-in)');
  assert.ok(stack.newUsers().some((user) => user.username === 'frank'));

  // A client that needs consent: the page, and its answer is Gatehouse's to take (not HA's).
  const alexa = APPS.find((app) => app.name === 'Alexa');
  const jar = new CookieJar();
  const page = await requestFrom(PROXY, url(alexa, 'c'), [['Remote-User', 'frank'], ['Remote-Groups', 'ha-users']]);
  assert.equal(page.status, 200, pageText(page.body));
  const consentId = stack.consentIdOf(page.body);
  assert.ok(consentId);
  jar.store(stack.externalUrl, page.headers['set-cookie']);
  const answered = await stack.answerConsent(consentId, 'allow', { jar });
  assert.equal(answered.status, 302, pageText(answered.body));
  assert.ok(answered.headers.location.startsWith(alexa.redirectUri), answered.headers.location);
  stack.rememberSecret(new URL(answered.headers.location).searchParams.get('code'), 'HA code (header sign-in, consent)');

  // Without the proxy there is no way in but the proxy: HA's own login page is closed.
  const elsewhere = await send(url(frontend, 'x'), { headers: { 'Remote-User': 'frank' } });
  assert.equal(elsewhere.status, 403, pageText(elsewhere.body));
  assert.match(pageText(elsewhere.body), /Local login is switched off/);
  stack.assertHygiene({ clientChecks: false });
});

// Signed assertions (Cloudflare Access's Cf-Access-Jwt-Assertion; Pomerium's X-Pomerium-Jwt-Assertion
// is the same mechanism): the proxy signs a JWT per request and publishes its keys; Gatehouse believes
// the person only once the signature, issuer, audience and expiry hold, and only from the proxy's address.
test('signed assertion: a token the proxy signed signs its person in; forged, expired, replayed elsewhere or for another app are refused', { timeout: 90_000 }, async (t) => {
  const { makeTlsMaterial } = await import('../idp/tls.mjs');
  const { generateSigningKey, signJws, b64url } = await import('../idp/jws.mjs');
  const https = await import('node:https');
  const tls = await makeTlsMaterial();
  t.after(() => tls.cleanup());
  // The proxy's published keys (Cloudflare: https://<team>.cloudflareaccess.com/cdn-cgi/access/certs).
  const first = generateSigningKey('RS256');
  const published = [first.publicJwk];
  const jwksRequests = [];
  let jwksFails = 1; // the first fetch meets an outage
  const jwks = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    jwksRequests.push(req.url);
    if (jwksFails > 0) {
      jwksFails -= 1;
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: published }));
  });
  await new Promise((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => jwks.close(resolve)));
  const HEADER = 'Cf-Access-Jwt-Assertion';
  const ISSUER = 'https://team.cloudflareaccess.com';
  const AUD = 'a1b2c3d4e5f6-aud-tag';
  const stack = await startSsoStack(t, {
    users: { username_claim: 'email' },
    gatehouseConfig: {
      header_identity: {
        proxies: [`${PROXY}/32`],
        assertion: { header: HEADER, issuer: ISSUER, audience: AUD, jwks_uri: `https://127.0.0.1:${jwks.address().port}/cdn-cgi/access/certs`, ca_file: tls.caFile },
      },
      limits: { audited_refusals_per_address: 20 }, // every refusal below gets its own entry
    },
  });
  const seenByHa = [];
  stack.double.server.prependListener('request', (req) => seenByHa.push(Object.keys(req.headers)));
  const now = () => Math.floor(Date.now() / 1000);
  // Cloudflare Access's claims (aud a list of AUD tags, no nonce), plus the groups a custom OIDC claim brings.
  const claims = (extra = {}) => ({ aud: [AUD], email: 'grace@example.com', name: 'Grace Hopper', groups: ['ha-users'], exp: now() + 300, iat: now(), nbf: now(), iss: ISSUER, sub: '7335d417-61da-459d-899c-0a01c76a2e94', type: 'app', identity_nonce: 'x', ...extra });
  const assertion = (extra = {}, key = first, header = {}) => {
    const token = signJws({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header }, claims(extra), key.privateKey);
    stack.rememberSecret(token, 'signed assertion');
    return token;
  };
  const authorize = (state) => stack.authorizeUrl({ clientId: stack.frontendClientId, redirectUri: stack.frontendRedirectUri, state });
  const grace = () => stack.newUsers().filter((user) => user.name === 'Grace Hopper');
  const refusedAs = async (token, why, headerList = [[HEADER, token]]) => {
    const refused = await requestFrom(PROXY, authorize('r'), headerList);
    assert.equal(refused.status, 403, `${why}: ${pageText(refused.body)}`);
    assert.match(pageText(refused.body), /token was not accepted/, why);
    assert.equal(refused.headers.location, undefined, why);
  };

  await t.test('the proxy\'s keys cannot be fetched: a 502 page that says so, nobody signed in', async () => {
    const answer = await requestFrom(PROXY, authorize('o'), [[HEADER, assertion()]]);
    assert.equal(answer.status, 502, pageText(answer.body));
    assert.match(pageText(answer.body), /could not fetch the keys/);
    assert.deepEqual(grace(), []);
  });

  await t.test('from the proxy: signed in as the token\'s person, the role from its groups claim', async () => {
    const answer = await requestFrom(PROXY, authorize('s'), [[HEADER, assertion()]]);
    assert.equal(answer.status, 302, pageText(answer.body));
    assert.ok(answer.headers.location.startsWith(stack.frontendRedirectUri), answer.headers.location);
    const code = new URL(answer.headers.location).searchParams.get('code');
    stack.rememberSecret(code, 'HA code (assertion sign-in)');
    const tokens = await stack.postToken({ grant_type: 'authorization_code', code, client_id: stack.frontendClientId });
    assert.equal(tokens.status, 200, tokens.text());
    assert.equal(grace().length, 1);
    assert.deepEqual(grace()[0].groupIds, ['system-users']);
  });

  await t.test('the person is the token\'s sub: a new email is the same HA user', async () => {
    const answer = await requestFrom(PROXY, authorize('e'), [[HEADER, assertion({ email: 'grace.hopper@example.com' })]]);
    assert.equal(answer.status, 302, pageText(answer.body));
    stack.rememberSecret(new URL(answer.headers.location).searchParams.get('code'), 'HA code (assertion sign-in)');
    assert.equal(grace().length, 1);
  });

  await t.test('the proxy rotates its key: the new kid makes Gatehouse fetch the keys again', async () => {
    const second = generateSigningKey('ES256');
    published.push(second.publicJwk);
    const fetchesBefore = jwksRequests.length;
    const answer = await requestFrom(PROXY, authorize('k'), [[HEADER, assertion({}, second)]]);
    assert.equal(answer.status, 302, pageText(answer.body));
    stack.rememberSecret(new URL(answer.headers.location).searchParams.get('code'), 'HA code (assertion sign-in)');
    assert.equal(jwksRequests.length, fetchesBefore + 1);
  });

  await t.test('forged, expired, not yet valid, for another app, from another issuer, unsigned, sent twice: 403, nobody signed in', async () => {
    const before = stack.newUsers().length;
    const forger = generateSigningKey('RS256', first.kid); // the published kid, another key
    await refusedAs(assertion({ email: 'mallory@example.com', sub: 'mallory', name: 'M' }, forger), 'forged');
    await refusedAs(assertion({ exp: now() - 120 }), 'expired');
    await refusedAs(assertion({ nbf: now() + 600 }), 'not yet valid');
    await refusedAs(assertion({ aud: ['another-application'] }), 'another app');
    await refusedAs(assertion({ iss: 'https://other.cloudflareaccess.com' }), 'another issuer');
    const unsigned = `${b64url(JSON.stringify({ alg: 'none' }))}.${b64url(JSON.stringify(claims()))}.`;
    await refusedAs(unsigned, 'alg none');
    const valid = assertion();
    await refusedAs(valid, 'sent twice', [[HEADER, valid], [HEADER, valid]]);
    assert.equal(stack.newUsers().length, before);
    const refusals = (await stack.audit()).filter((entry) => entry.kind === 'login_refused' && entry.reason === 'bad_assertion');
    const why = refusals.map((entry) => JSON.stringify(entry.raw.detail)).join('\n');
    for (const reason of ['expired', 'not valid yet (nbf)', 'aud does not name', 'iss is not', 'sent twice'])
      assert.ok(why.includes(reason), `audited why (${reason}):\n${why}`);
  });

  await t.test('a valid token from anyone but the proxy is not believed (the IdP signs them in) and never reaches HA', async () => {
    const token = assertion();
    const elsewhere = await send(authorize('x'), { headers: { [HEADER]: token } });
    assert.equal(elsewhere.status, 302);
    assert.ok(elsewhere.headers.location.startsWith(stack.idps[0].issuer), elsewhere.headers.location);
    seenByHa.length = 0;
    await requestFrom(PROXY, `${stack.externalUrl}/manifest.json`, [[HEADER, token]]);
    await send(`${stack.externalUrl}/manifest.json`, { headers: { [HEADER]: token } });
    assert.equal(seenByHa.length, 2);
    for (const names of seenByHa) assert.ok(!names.includes(HEADER.toLowerCase()), 'HA saw the assertion');
  });

  const signIns = (await stack.audit()).filter((entry) => entry.kind === 'login_succeeded');
  assert.ok(signIns.some((entry) => JSON.stringify(entry.raw.detail).includes(`"provider":"header:${HEADER}"`)), 'audited with the assertion header');
  stack.assertHygiene({ clientChecks: false });
});
