// Self-tests of the test IdPs: a tiny relying party here runs the code flow against oidc-idp.mjs
// and rogue-idp.mjs through drive-login.mjs, and checks what comes back independently (JWS
// verification by node:crypto against the published JWKS). No gateway involved.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, createPublicKey, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { startIdp } from './oidc-idp.mjs';
import { startRogueIdp, MODES, OTHER_ISSUER } from './rogue-idp.mjs';
import { driveLogin, send, CookieJar } from './drive-login.mjs';
import { decodeJwt, verifyJws, fromB64url } from './jws.mjs';

const REDIRECT = 'http://127.0.0.1:9/cb'; // never fetched: the walk stops at the redirect to it
const CLIENT = { client_id: 'gatehouse', client_secret: 'top-secret', redirect_uris: [REDIRECT] };
const USERS = {
  alice: { preferred_username: 'alice', name: 'Alice Liddell', email: 'alice@example.test', groups: ['admins', 'users'] },
  bob: { preferred_username: 'bobby', name: 'Bob', email: 'bob@example.test', groups: ['users'] },
};
const random = () => randomBytes(12).toString('base64url');

async function withIdp(t, options) {
  const idp = await startIdp({ clients: [CLIENT], users: USERS, ...options });
  t.after(async () => {
    await idp.close();
    assert.deepEqual(idp.errors, [], 'the provider reported no server errors');
  });
  return idp;
}

async function getJson(url, { ca, headers } = {}) {
  const res = await send(url, { ca, headers });
  assert.equal(res.status, 200, `${url}: ${res.body}`);
  return JSON.parse(res.body);
}

const stopAtRedirect = (_url, res) => Boolean(res.location?.startsWith(REDIRECT));

// The relying party's half of a code flow: authorize (walked by driveLogin), then the token request.
async function codeFlow(idp, { username = 'alice', deny, client = CLIENT, scope = 'openid profile email groups', ca, jar, pkce = true, authMethod = 'client_secret_basic' } = {}) {
  const config = await getJson(`${idp.issuer}/.well-known/openid-configuration`, { ca });
  const verifier = randomBytes(32).toString('base64url'); // RFC 7636: 43..128 characters
  const request = { state: random(), nonce: random(), verifier };
  const auth = new URL(config.authorization_endpoint);
  auth.search = new URLSearchParams({
    response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, scope, state: request.state, nonce: request.nonce,
    ...(pkce && { code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' }),
  }).toString();
  const walk = await driveLogin(auth.href, { username, deny, ca, jar, stopWhen: stopAtRedirect });
  const back = walk.location ? new URL(walk.location).searchParams : new URLSearchParams();
  const result = { config, request, walk, back: Object.fromEntries(back) };
  if (!back.get('code')) return result;

  const form = { grant_type: 'authorization_code', code: back.get('code'), redirect_uri: REDIRECT, code_verifier: verifier };
  const headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (authMethod === 'client_secret_basic') {
    headers.authorization = `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`;
  } else {
    Object.assign(form, { client_id: client.client_id, client_secret: client.client_secret });
  }
  const tokenRes = await send(config.token_endpoint, { method: 'POST', body: new URLSearchParams(form).toString(), headers, ca });
  result.tokenStatus = tokenRes.status;
  result.tokens = JSON.parse(tokenRes.body);
  return result;
}

async function userinfo(config, accessToken, ca) {
  return getJson(config.userinfo_endpoint, { ca, headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' } });
}

describe('oidc-idp (oidc-provider)', () => {
  for (const alg of ['RS256', 'PS256', 'ES256', 'EdDSA']) {
    test(`code flow with PKCE, ID token signed ${alg}`, async (t) => {
      const authMethod = alg === 'ES256' ? 'client_secret_post' : 'client_secret_basic';
      const idp = await withIdp(t, { alg, clients: [{ ...CLIENT, token_endpoint_auth_method: authMethod }] });
      const { config, request, back, tokens, tokenStatus } = await codeFlow(idp, { authMethod });

      assert.deepEqual(config.id_token_signing_alg_values_supported, [alg]);
      assert.equal(back.state, request.state);
      assert.equal(back.iss, idp.issuer, 'RFC 9207 iss in the authorization response');
      assert.equal(tokenStatus, 200, JSON.stringify(tokens));
      const jwks = await getJson(config.jwks_uri);
      const { header, payload } = verifyJws(tokens.id_token, jwks);
      assert.equal(header.alg, alg);
      assert.equal(header.kid, idp.kid);
      assert.equal(payload.iss, idp.issuer);
      assert.equal(payload.aud, CLIENT.client_id);
      assert.equal(payload.sub, 'alice');
      assert.equal(payload.nonce, request.nonce);
      // conformIdTokenClaims false: the scope's claims are in the ID token too.
      assert.deepEqual(payload.groups, ['admins', 'users']);
      assert.equal(payload.email, 'alice@example.test');
      assert.equal(payload.preferred_username, 'alice');

      const tampered = tokens.id_token.replace(/\.[^.]+\./, `.${Buffer.from(JSON.stringify({ ...payload, sub: 'bob' })).toString('base64url')}.`);
      assert.throws(() => verifyJws(tampered, jwks), /bad signature/);
      assert.equal((await userinfo(config, tokens.access_token)).name, 'Alice Liddell');
    });
  }

  test('claimsInUserinfoOnly: ID token has sub only, userinfo has the claims; idTokenTtl', async (t) => {
    const idp = await withIdp(t, { claimsInUserinfoOnly: true, idTokenTtl: 120 });
    const { config, tokens } = await codeFlow(idp, { username: 'bobby' }); // by preferred_username
    const { payload } = decodeJwt(tokens.id_token);
    assert.equal(payload.sub, 'bob');
    assert.equal(payload.exp - payload.iat, 120);
    for (const claim of ['groups', 'email', 'name', 'preferred_username']) assert.equal(payload[claim], undefined, claim);
    assert.deepEqual(await userinfo(config, tokens.access_token), {
      sub: 'bob', preferred_username: 'bobby', name: 'Bob', email: 'bob@example.test', email_verified: true, groups: ['users'],
    });
  });

  test('rotateKeys: new kid, old key gone from the JWKS; sessions survive; setUserGroups', async (t) => {
    const idp = await withIdp(t, { alg: 'ES256' });
    const jar = new CookieJar();
    const first = await codeFlow(idp, { jar });
    const oldKid = decodeJwt(first.tokens.id_token).header.kid;

    const newKid = idp.rotateKeys();
    assert.notEqual(newKid, oldKid);
    const jwks = await getJson(first.config.jwks_uri);
    assert.deepEqual(jwks.keys.map((k) => k.kid), [newKid]);

    idp.setUserGroups('alice', ['guests']);
    // Same browser: the IdP session carries over, so no sign-in form this time.
    const second = await codeFlow(idp, { jar, username: undefined });
    assert.ok(!second.walk.history.some((u) => u.includes('/interaction/')), second.walk.history.join('\n'));
    const { header, payload } = verifyJws(second.tokens.id_token, jwks);
    assert.equal(header.kid, newKid);
    assert.deepEqual(payload.groups, ['guests']);
    assert.throws(() => verifyJws(first.tokens.id_token, jwks), /no key with kid/);
  });

  test('deny returns error=access_denied to the redirect_uri', async (t) => {
    const idp = await withIdp(t);
    const { back, walk } = await codeFlow(idp, { deny: true });
    assert.equal(back.error, 'access_denied', walk.location);
    assert.equal(back.code, undefined);
    assert.equal(back.iss, idp.issuer);
  });

  test('unknown user gets the form again with an error', async (t) => {
    const idp = await withIdp(t);
    const { walk } = await codeFlow(idp, { username: 'mallory' });
    assert.equal(walk.status, 401);
    assert.match(walk.body, /id="error"[^>]*>Unknown user/);
    assert.match(walk.body, /id="username"/);
    assert.match(walk.body, /id="signin"/);
    assert.match(walk.body, /id="deny"/);
  });

  test('PKCE is required', async (t) => {
    const idp = await withIdp(t);
    const { back } = await codeFlow(idp, { pkce: false });
    assert.equal(back.error, 'invalid_request');
    assert.match(back.error_description, /PKCE/);
  });

  test('TLS: the CA file makes it trusted, without it the client refuses', async (t) => {
    const idp = await withIdp(t, { tls: true, alg: 'PS256' });
    assert.match(idp.issuer, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(idp.caFile);
    const { tokens, config } = await codeFlow(idp, { ca: idp.ca });
    assert.equal(decodeJwt(tokens.id_token).header.alg, 'PS256');
    assert.equal((await userinfo(config, tokens.access_token, idp.ca)).sub, 'alice');
    // caFile, and the certificate's DNS name.
    const viaFile = await driveLogin(`https://localhost:${idp.port}/.well-known/openid-configuration`, { caFile: idp.caFile });
    assert.equal(viaFile.status, 200);
    await assert.rejects(send(`${idp.issuer}/.well-known/openid-configuration`), (err) => /self[- ]signed|unable to (get|verify)/i.test(err.message) || err.code === 'SELF_SIGNED_CERT_IN_CHAIN');
  });

  test('CLI prints one JSON line with the issuer when ready', async (t) => {
    const cli = fileURLToPath(new URL('./oidc-idp.mjs', import.meta.url));
    const child = spawn(process.execPath, [cli, '--port', '0', '--alg', 'RS256', '--client', `cli:secret:${REDIRECT}`, '--user', 'alice:alice:Alice:admins,users'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = once(child, 'exit');
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk) => { stderr += chunk; });
    t.after(async () => {
      // Stopped by SIGTERM (its graceful close), or killed: the file never waits on a stuck child.
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    });
    // The first line; or the CLI's exit without one, or 30 s of silence: then the test fails with
    // what the CLI wrote to stderr instead of waiting forever.
    const deadline = AbortSignal.timeout(30000);
    const line = await Promise.race([
      once(createInterface({ input: child.stdout }), 'line', { signal: deadline }).then(([first]) => first),
      exited.then(([code, signal]) => { throw new Error(`oidc-idp exited (${code ?? signal}) before printing its issuer: ${stderr}`); }),
    ]).catch((err) => {
      throw deadline.aborted ? new Error(`oidc-idp printed nothing in 30 s; stderr: ${stderr}`) : err;
    });
    const { issuer } = JSON.parse(line);
    assert.match(issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
    const config = await getJson(`${issuer}/.well-known/openid-configuration`);
    assert.equal(config.issuer, issuer);
    assert.ok(config.scopes_supported.includes('groups'));
    const { tokens } = await codeFlow({ issuer }, { client: { client_id: 'cli', client_secret: 'secret' } });
    assert.deepEqual(decodeJwt(tokens.id_token).payload.groups, ['admins', 'users']);
  });
});

describe('rogue-idp', () => {
  async function withRogue(t, options = {}) {
    const idp = await startRogueIdp({ clients: [CLIENT], user: { sub: 'rogue-1' }, ...options });
    t.after(() => idp.close());
    return idp;
  }

  test('good mode: a valid RS256 token, PKCE and client auth enforced', async (t) => {
    const idp = await withRogue(t);
    const { tokens, request, back, config } = await codeFlow(idp);
    assert.equal(back.state, request.state);
    const { header, payload } = verifyJws(tokens.id_token, await getJson(config.jwks_uri));
    assert.equal(header.alg, 'RS256');
    assert.equal(payload.iss, idp.issuer);
    assert.equal(payload.aud, CLIENT.client_id);
    assert.equal(payload.nonce, request.nonce);
    assert.equal(payload.sub, 'rogue-1');
    assert.ok(payload.exp > payload.iat);
    assert.equal((await userinfo(config, tokens.access_token)).sub, 'rogue-1');
    assert.equal(idp.authorizations.at(-1).code_challenge_method, 'S256');

    // Wrong PKCE verifier and wrong secret are refused.
    const wrongPkce = await tokenWith(idp, { code_verifier: 'x'.repeat(43) });
    assert.equal(wrongPkce.status, 400);
    assert.equal(JSON.parse(wrongPkce.body).error, 'invalid_grant');
    const wrongSecret = await tokenWith(idp, {}, 'nope');
    assert.equal(wrongSecret.status, 401);
  });

  // Authorizes, then sends a token request with the given overrides (to test refusals).
  async function tokenWith(idp, overrides, secret = CLIENT.client_secret) {
    const walk = await driveLogin(`${idp.issuer}/authorize?${new URLSearchParams({
      response_type: 'code', client_id: CLIENT.client_id, redirect_uri: REDIRECT, scope: 'openid', state: 's',
      code_challenge: createHash('sha256').update('v'.repeat(43)).digest('base64url'), code_challenge_method: 'S256',
    })}`, { stopWhen: stopAtRedirect });
    const code = new URL(walk.location).searchParams.get('code');
    const body = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: 'v'.repeat(43), ...overrides }).toString();
    return send(`${idp.issuer}/token`, {
      method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${CLIENT.client_id}:${secret}`).toString('base64')}` },
    });
  }

  test('every bad mode mints what it claims', async (t) => {
    const idp = await withRogue(t);
    const jwks = await getJson(`${idp.issuer}/jwks`);
    const now = Math.floor(Date.now() / 1000);
    const checks = {
      nonce_mismatch: ({ payload }, { request }) => assert.notEqual(payload.nonce, request.nonce),
      wrong_aud: ({ payload }) => assert.equal(payload.aud, 'someone-else'),
      wrong_iss: ({ payload }) => assert.notEqual(payload.iss, idp.issuer),
      expired: ({ payload }) => assert.ok(payload.exp <= now - 3500),
      iat_future: ({ payload }) => assert.ok(payload.iat >= now + 3500 && payload.exp > payload.iat),
      nbf_future: ({ payload }) => assert.ok(payload.nbf >= now + 3500 && payload.exp > payload.nbf && payload.iat <= now + 5),
      alg_none: ({ header, signature }) => { assert.equal(header.alg, 'none'); assert.equal(signature, ''); },
      hs256_public_key: ({ header, signature }, { tokens }) => {
        assert.equal(header.alg, 'HS256');
        const pem = createPublicKey({ key: jwks.keys[0], format: 'jwk' }).export({ type: 'spki', format: 'pem' });
        const input = tokens.id_token.split('.').slice(0, 2).join('.');
        assert.deepEqual(fromB64url(signature), createHmac('sha256', pem).update(input).digest());
      },
      unknown_kid: ({ header }) => {
        assert.equal(header.alg, 'RS256');
        assert.ok(!jwks.keys.some((k) => k.kid === header.kid));
      },
      bad_signature: ({ header, payload }, { tokens }) => {
        assert.equal(header.kid, jwks.keys[0].kid);
        assert.equal(payload.sub, 'mallory');
        assert.throws(() => verifyJws(tokens.id_token, jwks), /bad signature/);
      },
      azp_missing_multi_aud: ({ payload }) => {
        assert.deepEqual(payload.aud, [CLIENT.client_id, 'other']);
        assert.equal(payload.azp, undefined);
      },
      userinfo_sub_mismatch: async ({ payload }, { tokens, config }) => {
        verifyJws(tokens.id_token, jwks);
        assert.notEqual((await userinfo(config, tokens.access_token)).sub, payload.sub);
      },
      // The token response and discovery are the defects; the ID token is good (verified below).
      token_type_dpop: ({ payload }, { tokens }) => { assert.equal(tokens.token_type, 'DPoP'); assert.equal(payload.iss, idp.issuer); },
      token_type_missing: (_decoded, { tokens }) => { assert.ok(!('token_type' in tokens)); assert.ok(tokens.access_token); },
      discovery_other_issuer: ({ payload }, { config, tokens }) => {
        assert.equal(config.issuer, OTHER_ISSUER);
        assert.notEqual(config.issuer, idp.issuer);
        assert.equal(config.token_endpoint, `${idp.issuer}/token`, 'only the issuer is wrong');
        assert.equal(payload.iss, idp.issuer);
        assert.equal(tokens.token_type, 'Bearer');
      },
    };
    assert.deepEqual(Object.keys(checks).sort(), MODES.filter((m) => m !== 'good' && m !== 'error').sort());
    for (const [mode, check] of Object.entries(checks)) {
      idp.mode = mode;
      const flow = await codeFlow(idp);
      assert.equal(flow.tokenStatus, 200, mode);
      const decoded = decodeJwt(flow.tokens.id_token);
      if (mode !== 'userinfo_sub_mismatch' && mode !== 'bad_signature' && mode !== 'alg_none' && mode !== 'hs256_public_key' && mode !== 'unknown_kid') {
        verifyJws(flow.tokens.id_token, jwks); // the defect is in the claims, not the signature
      }
      await t.test(mode, () => check(decoded, flow));
    }
    // The JWKS never changed, however often it was fetched.
    assert.deepEqual(await getJson(`${idp.issuer}/jwks`), jwks);
  });

  test('error mode, counts and mode validation', async (t) => {
    const idp = await withRogue(t, { mode: 'error' });
    const { back } = await codeFlow(idp);
    assert.equal(back.error, 'access_denied');
    assert.ok(back.error_description);
    assert.ok(back.state);
    assert.deepEqual(idp.counts, { discovery: 1, jwks: 0, authorize: 1, token: 0, userinfo: 0 });
    await getJson(`${idp.issuer}/jwks`);
    assert.equal(idp.counts.jwks, 1);
    idp.resetCounts();
    assert.equal(idp.counts.discovery, 0);
    assert.throws(() => { idp.mode = 'nonsense'; }, /unknown rogue IdP mode/);
  });

  test('client_secret_post only client, over TLS', async (t) => {
    const client = { ...CLIENT, token_endpoint_auth_method: 'client_secret_post' };
    const idp = await withRogue(t, { tls: true, clients: [client] });
    const post = await codeFlow(idp, { ca: idp.ca, client, authMethod: 'client_secret_post' });
    assert.equal(post.tokenStatus, 200);
    const basic = await codeFlow(idp, { ca: idp.ca, client, authMethod: 'client_secret_basic' });
    assert.equal(basic.tokenStatus, 401);
    await assert.rejects(send(`${idp.issuer}/jwks`));
  });
});

describe('drive-login', () => {
  // A server whose every path answers with the given function.
  async function serve(t, handler) {
    const server = createServer(handler);
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => { server.closeAllConnections(); server.close(); });
    return `http://127.0.0.1:${server.address().port}`;
  }

  test('gives up after 20 hops', async (t) => {
    const base = await serve(t, (req, res) => res.writeHead(302, { location: '/loop' }).end());
    await assert.rejects(driveLogin(`${base}/loop`), /more than 20 hops/);
  });

  test('cookies by host and path, Secure ones kept off http; custom-scheme redirect ends the walk', async (t) => {
    const seen = {};
    const base = await serve(t, (req, res) => {
      const { pathname } = new URL(req.url, 'http://x');
      seen[pathname] = req.headers.cookie;
      const next = { '/a/start': ['/a/next', ['p=1; Path=/a', 'root=2; Path=/', 's=3; Secure', 'gone=4; Max-Age=0']], '/a/next': ['/b', []], '/b': ['homeassistant://auth-callback?code=xyz', []] }[pathname];
      res.writeHead(303, { location: next[0], 'set-cookie': next[1] }).end();
    });
    const result = await driveLogin(`${base}/a/start`);
    assert.equal(seen['/a/next'], 'p=1; root=2');
    assert.equal(seen['/b'], 'root=2');
    assert.equal(result.url, 'homeassistant://auth-callback?code=xyz');
    assert.equal(result.status, 303);
    assert.deepEqual(result.history.map((u) => u.replace(base, '')), ['/a/start', '/a/next', '/b', 'homeassistant://auth-callback?code=xyz']);
  });
});
