// Single sign-on through Gatehouse, the successful paths (notes/sso-spec.md): a person signs in at a real
// OpenID Provider (tests/idp/oidc-idp.mjs, over verified TLS) and lands back at the HA client that sent
// them, with HA's own authorization code, as if HA's login page had been used.
// - HA's frontend: for each ID-token algorithm (RS256, PS256, ES256, EdDSA), the walk ends at
//   <gatehouse>/?auth_callback=1 with code, the original state and storeToken=true; then HA's own
//   library (home-assistant-js-websocket) exchanges the code, refreshes and opens the websocket through
//   Gatehouse, and HA shows the user Gatehouse created (name from the IdP, clean username, role group).
// - Claims only in userinfo; key rotation at the IdP; two providers (chooser page, identity = issuer+sub);
//   group changes (promotion, demotion, same HA user); username collision; deny_without_role: false;
//   link_existing: username; the HA password derived from master.key; the audit of all that.
// - Linking never takes over privileged HA users (users/link_rule): the owner and admins only by
//   link_existing: claim for an IdP admin, Gatehouse's own service user never; a refused link is a page
//   and an audit entry, never a second user.
// - The client's state comes back readable by HA's frontend (decodeURIComponent) and by form decoders
//   (RFC 6749 §4.1.2), whatever characters it has.
// - The companion apps and voice assistants (ha-auth-contract.md §7.1): each ends at exactly its own
//   redirect_uri with code and state, and HA accepts the code for that client_id.
// - Three logins in parallel in one browser, finished in reverse order; a login survives a restart.
// - Always: HA never records a failed login under Gatehouse's address, HA's login flow sees the client's
//   address (the tests' clients connect from 127.0.0.2, Gatehouse from 127.0.0.1), and no secret reaches
//   Gatehouse's logs.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createHmac } from 'node:crypto';
import { getUser, getStates } from 'home-assistant-js-websocket';
import { TEST_GUARD } from './lib/harness.mjs';
import { request } from './lib/http-client.mjs';
import { newSecret } from './lib/secrets.mjs';
import { routeHawsThrough, hawsSignIn, hawsCalls } from './lib/haws-node.mjs';
import {
  startSsoStack, frontendState, trickyState, linksOf, pageText, isRedirectTo, CookieJar,
  APPS, ROLE_GROUPS, CLIENT_ADDRESS, DEFAULT_IDP_USERS, assertRefusalPage,
} from './lib/sso-stack.mjs';
import { decodeJwt } from '../idp/jws.mjs';
import { send } from '../idp/drive-login.mjs';

const OTHER_CLIENT_ADDRESS = '127.0.0.3'; // direct checks against the double, never through Gatehouse
const HA_CODE = /^[0-9a-f]{32}$/; // HA's authorization codes are uuid4 hex (ha-auth-contract.md §1.9)

// ---- helpers ---------------------------------------------------------------------------------------

function describeWalk(result) {
  return `${result.kind} ${result.status ?? ''} ${result.location ?? result.url}\n  ${(result.history ?? []).join('\n  -> ')}\n${result.kind === 'page' ? pageText(result.body).slice(0, 500) : ''}`;
}

// The end of a login by HA's own frontend: <external_url>/?auth_callback=1&code=..&state=..&storeToken=true.
function assertFrontendRedirect(stack, result, state) {
  assert.equal(result.kind, 'redirect', describeWalk(result));
  assert.ok(result.location.startsWith(`${stack.frontendRedirectUri}&`), `appended with & to the redirect_uri's own query: ${result.location}`);
  assert.deepEqual([...result.paramNames].sort(), ['code', 'state', 'storeToken']);
  assert.match(result.code, HA_CODE);
  assert.equal(result.state, state, 'the client\'s state comes back unchanged');
  assert.equal(result.storeToken, 'true', 'storeToken=true for this instance\'s own frontend');
}

// The end of a login by any other client: exactly redirect_uri?code=..&state=.. (no storeToken).
function assertAppRedirect(result, { redirectUri, state }) {
  assert.equal(result.kind, 'redirect', describeWalk(result));
  assert.ok(isRedirectTo(result.location, redirectUri), result.location);
  assert.ok(result.location.startsWith(`${redirectUri}${redirectUri.includes('?') ? '&' : '?'}`), result.location);
  assert.deepEqual([...result.paramNames].sort(), ['code', 'state'], `only code and state are added: ${result.location}`);
  assert.match(result.code, HA_CODE);
  assert.equal(result.state, state);
}

// A code exchange as the apps do it (url-encoded, through Gatehouse); returns the tokens and HA's refresh-token record.
async function exchange(stack, { clientId, code }) {
  const response = await stack.postToken({ grant_type: 'authorization_code', code, client_id: clientId });
  assert.equal(response.status, 200, `HA accepts the code for ${clientId}: ${response.text()}`);
  const tokens = response.json();
  assert.equal(tokens.token_type, 'Bearer');
  const refreshTokenId = decodeJwt(tokens.access_token).payload.iss;
  const record = stack.double.refreshTokens().find((token) => token.id === refreshTokenId);
  assert.ok(record, 'HA has the refresh token');
  return { tokens, record };
}

function onlyNewUser(stack, predicate, label) {
  const matching = stack.newUsers().filter(predicate);
  assert.equal(matching.length, 1, `exactly one HA user for ${label}: ${JSON.stringify(stack.newUsers().map(({ id, name, username, groupIds }) => ({ id, name, username, groupIds })))}`);
  return matching[0];
}

const byUsername = (username) => (user) => user.username === username;

// HA's login flow straight at the double (not through Gatehouse), from another address: does this
// username/password pair work in HA? Resolves true/false.
async function haPasswordWorks(stack, username, password) {
  const double = stack.double;
  const clientId = `${double.url}/`;
  const post = (path, value) => request(`${double.url}${path}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(value), localAddress: OTHER_CLIENT_ADDRESS,
  });
  const flow = (await post('/auth/login_flow', { client_id: clientId, handler: ['homeassistant', null], redirect_uri: clientId })).json();
  const step = await post(`/auth/login_flow/${flow.flow_id}`, { client_id: clientId, username, password });
  const ok = step.status === 200 && step.json().type === 'create_entry';
  if (ok) stack.rememberSecret(step.json().result, 'HA code from a direct password check');
  return ok;
}

// ---- 1. HA's frontend, one stack per signing algorithm ---------------------------------------------

describe('HA frontend login through Gatehouse, for each ID-token signing algorithm', () => {
  for (const alg of ['RS256', 'PS256', 'ES256', 'EdDSA']) {
    // ES256 also exercises client_secret_post; the others Gatehouse's default, client_secret_basic.
    const clientAuth = alg === 'ES256' ? 'client_secret_post' : undefined;
    test(`${alg}${clientAuth ? ` (${clientAuth})` : ''}: IdP sign-in -> frontend with HA's code, state, storeToken; home-assistant-js-websocket exchanges, refreshes, connects`, TEST_GUARD, async (t) => {
      const stack = await startSsoStack(t, { providers: [{ alg, clientAuth }] });
      const { double } = stack;
      routeHawsThrough(stack.externalUrl, CLIENT_ADDRESS);
      const state = frontendState(stack.externalUrl, stack.frontendClientId);

      const result = await stack.login({ state, username: 'alice' });
      assertFrontendRedirect(stack, result, state);
      assert.ok(result.history.some((url) => url.startsWith(`${stack.idp.issuer}/`)), 'the browser went through the IdP');
      assert.ok(result.callbackUrl, 'and came back through /sso/callback');
      assert.equal(decodeJwt(stack.idps[0].idTokens.at(-1)).header.alg, alg, `the IdP signed the ID token with ${alg}`);

      // HA now has the user: name from the IdP, clean username, the role's group, not owner.
      const user = onlyNewUser(stack, byUsername('alice'), 'alice');
      assert.equal(user.name, 'Alice Liddell');
      assert.deepEqual(user.groupIds, [ROLE_GROUPS.admin], 'ha-admins -> system-admin');
      assert.equal(user.isOwner, false);
      assert.equal(user.isActive, true);
      assert.equal(stack.newUsers().length, 1, 'one user created, nobody else');

      // home-assistant-js-websocket, as the frontend does it after coming back: code exchange (multipart)...
      const issued = once(double.events, 'token-issued');
      const { auth, saved, connect } = await hawsSignIn({
        hassUrl: stack.externalUrl, clientId: stack.frontendClientId, code: result.code,
        onTokens: (tokens) => {
          stack.rememberSecret(tokens.access_token, 'HA access token (haws)');
          stack.rememberSecret(tokens.refresh_token, 'HA refresh token (haws)');
        },
      });
      const [issuedEvent] = await issued;
      assert.deepEqual([issuedEvent.grant, issuedEvent.clientId, issuedEvent.userId], ['authorization_code', stack.frontendClientId, user.id]);
      assert.equal(saved.length, 1);
      assert.match(saved[0].refresh_token, /^[0-9a-f]{128}$/);

      // ...a refresh...
      await auth.refreshAccessToken();
      assert.equal(hawsCalls.at(-1).path, '/auth/token');
      assert.equal(hawsCalls.at(-1).status, 200, 'refresh accepted');
      assert.equal(saved.length, 2);
      assert.ok(saved[1].access_token);

      // ...the websocket through Gatehouse: states and the current user.
      const authenticated = new Promise((resolve) => {
        const listener = (event) => {
          if (event.userId !== user.id) return;
          double.events.off('ws-authenticated', listener);
          resolve(event);
        };
        double.events.on('ws-authenticated', listener);
      });
      const connection = await connect();
      t.after(() => connection.close());
      assert.ok(connection.socket.url.startsWith(`${stack.gatehouse.wsUrl}/api/websocket`), connection.socket.url);
      assert.equal((await authenticated).remote, CLIENT_ADDRESS, 'HA saw the websocket come from the client');
      const currentUser = await getUser(connection);
      assert.equal(currentUser.id, user.id);
      assert.equal(currentUser.name, 'Alice Liddell');
      assert.equal(currentUser.is_admin, true);
      assert.equal(currentUser.is_owner, false);
      const states = await getStates(connection);
      assert.ok(states.length > 0);
      assert.deepEqual(states.map((entity) => entity.entity_id).sort(), [...double.home.states.keys()].sort());

      // HA's refresh token is the frontend's and was last used from the client's address.
      const sessions = double.refreshTokens().filter((token) => token.userId === user.id && token.type === 'normal');
      assert.equal(sessions.length, 1);
      assert.equal(sessions[0].clientId, stack.frontendClientId);
      assert.equal(sessions[0].lastUsedIp, CLIENT_ADDRESS);
      assert.ok(stack.loginFlowRequests().length >= 2, 'Gatehouse ran HA\'s login flow (create + step)');
      stack.assertHygiene();
    });
  }
});

// ---- 2. One RS256 provider shared by the tests below ----------------------------------------------

describe('one provider, shared by the tests of this group', () => {
  let stack;
  before(async () => {
    stack = await startSsoStack(null, { providers: [{ alg: 'RS256' }] });
  });
  after(() => stack?.stop());

  test('/auth/authorize: 302 to the IdP (code flow, PKCE S256, state, nonce, /sso/callback) and a login cookie bound to the browser', TEST_GUARD, async () => {
    const authorize = await stack.get(stack.authorizeUrl({ clientId: stack.frontendClientId, redirectUri: stack.frontendRedirectUri, state: 'xyz' }));
    assert.equal(authorize.status, 302, authorize.body);
    const target = new URL(authorize.headers.location);
    const discovery = JSON.parse((await send(`${stack.idp.issuer}/.well-known/openid-configuration`, { ca: stack.idps[0].ca })).body);
    assert.equal(`${target.origin}${target.pathname}`, discovery.authorization_endpoint);
    const query = target.searchParams;
    assert.equal(query.get('response_type'), 'code');
    assert.equal(query.get('client_id'), stack.idps[0].clientId);
    assert.equal(query.get('redirect_uri'), stack.callbackUrl);
    assert.equal(query.get('code_challenge_method'), 'S256');
    assert.match(query.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/, 'a SHA-256 challenge, base64url');
    assert.ok((query.get('state') ?? '').length >= 16, 'an unguessable state');
    assert.ok((query.get('nonce') ?? '').length >= 16, 'an unguessable nonce');
    assert.notEqual(query.get('state'), 'xyz', 'the client\'s state is not sent to the IdP');
    assert.ok((query.get('scope') ?? '').split(' ').includes('openid'));

    const cookies = [authorize.headers['set-cookie'] ?? []].flat().filter((line) => line.startsWith('gatehouse_login_'));
    assert.equal(cookies.length, 1, JSON.stringify(authorize.headers['set-cookie']));
    const [pair, ...attributes] = cookies[0].split(';').map((part) => part.trim());
    assert.match(pair, /^gatehouse_login_[^=;]{8}=[^;]+$/);
    stack.rememberSecret(pair.split('=').slice(1).join('='), 'login binding cookie value');
    const lower = attributes.map((attribute) => attribute.toLowerCase());
    assert.ok(lower.includes('httponly'), cookies[0]);
    assert.ok(lower.includes('samesite=lax'), cookies[0]);
    assert.ok(lower.includes('path=/sso/'), cookies[0]);
    assert.ok(lower.includes('max-age=600'), cookies[0]);
    assert.ok(!lower.includes('secure'), 'not Secure: external_url is http');
    assert.equal(stack.loginFlowRequestCount(), 0, 'nothing reaches HA before the IdP answered');
  });

  test('HA users follow the IdP: name, clean username, role group per users.roles', TEST_GUARD, async () => {
    const cases = [
      { sub: 'bob', username: /^bob\.builder$/, name: 'Bob the Builder', group: ROLE_GROUPS.user },
      { sub: 'gus', username: /^gus$/, name: 'Gus Guest', group: ROLE_GROUPS.read_only },
      // "  Eve Example! ": trimmed, lowercased, other characters dropped or replaced by '-'.
      { sub: 'eve', username: /^eve-?example-?$/, name: 'Eve Example', group: ROLE_GROUPS.user },
    ];
    for (const { sub, username, name, group } of cases) {
      const state = trickyState(sub);
      const result = await stack.login({ state, username: sub });
      assertFrontendRedirect(stack, result, state);
      const user = onlyNewUser(stack, (candidate) => candidate.name === name, sub);
      assert.match(user.username ?? '', /^[a-z0-9._-]+$/, `a clean username: ${user.username}`);
      assert.match(user.username, username);
      assert.deepEqual(user.groupIds, [group]);
      await exchange(stack, { clientId: stack.frontendClientId, code: result.code });
    }
    stack.assertHygiene();
  });

  test('a group change at the IdP promotes, then demotes, the same HA user', TEST_GUARD, async () => {
    const loginDora = async () => {
      const state = trickyState('dora');
      const result = await stack.login({ state, username: 'dora' });
      assertFrontendRedirect(stack, result, state);
      await exchange(stack, { clientId: stack.frontendClientId, code: result.code });
      return onlyNewUser(stack, (user) => user.name === 'Dora Explorer', 'dora');
    };
    const first = await loginDora();
    assert.deepEqual(first.groupIds, [ROLE_GROUPS.user]);

    stack.idp.setUserGroups('dora', ['ha-admins']);
    const promoted = await loginDora();
    assert.equal(promoted.id, first.id, 'the same HA user');
    assert.equal(promoted.username, first.username);
    assert.deepEqual(promoted.groupIds, [ROLE_GROUPS.admin], 'promoted');

    stack.idp.setUserGroups('dora', ['ha-guests']);
    const demoted = await loginDora();
    assert.equal(demoted.id, first.id);
    assert.deepEqual(demoted.groupIds, [ROLE_GROUPS.read_only], 'demoted');
    stack.assertHygiene();
  });

  test('username collision: an existing HA user "carol" is left alone, the IdP\'s carol becomes carol-2, stable across logins', TEST_GUARD, async () => {
    const password = newSecret('existing HA user carol password');
    stack.rememberSecret(password, 'existing HA user carol password');
    const { id: existingId } = await stack.double.createUser({ name: 'Carol Existing', username: 'carol', password, groups: ['system-users'] });
    stack.excludeFromNewUsers(existingId);
    const before = stack.double.users().find((user) => user.id === existingId);

    const state = trickyState('carol');
    const result = await stack.login({ state, username: 'carol' });
    assertFrontendRedirect(stack, result, state);
    const created = onlyNewUser(stack, (user) => user.name === 'Carol from the IdP', 'the IdP\'s carol');
    assert.notEqual(created.id, existingId);
    assert.equal(created.username, 'carol-2');
    assert.deepEqual(created.groupIds, [ROLE_GROUPS.admin]);
    const { record } = await exchange(stack, { clientId: stack.frontendClientId, code: result.code });
    assert.equal(record.userId, created.id, 'the code is for the new user, not the existing carol');

    assert.deepEqual(stack.double.users().find((user) => user.id === existingId), before, 'the existing user is untouched');
    assert.equal(await haPasswordWorks(stack, 'carol', password), true, 'the existing carol still signs in with her password');

    const again = await stack.login({ state, username: 'carol' });
    assertFrontendRedirect(stack, again, state);
    const { record: second } = await exchange(stack, { clientId: stack.frontendClientId, code: again.code });
    assert.equal(second.userId, created.id, 'the second login is the same HA user');
    assert.equal(stack.double.users().find((user) => user.id === created.id).username, 'carol-2', 'the username is stable');
    stack.assertHygiene();
  });

  test('key rotation at the IdP between two logins: the second login still succeeds', TEST_GUARD, async () => {
    const first = await stack.login({ state: 'before rotation', username: 'alice' });
    assertFrontendRedirect(stack, first, 'before rotation');
    const oldKid = decodeJwt(stack.idps[0].idTokens.at(-1)).header.kid;

    const newKid = stack.rotateKeys();
    assert.notEqual(newKid, oldKid);
    const second = await stack.login({ state: 'after rotation', username: 'alice' });
    assertFrontendRedirect(stack, second, 'after rotation');
    assert.equal(decodeJwt(stack.idps[0].idTokens.at(-1)).header.kid, newKid, 'the second ID token was signed with the new key');
    const { record } = await exchange(stack, { clientId: stack.frontendClientId, code: second.code });
    assert.equal(record.userId, onlyNewUser(stack, byUsername('alice'), 'alice').id);
    stack.assertHygiene();
  });

  for (const app of APPS) {
    test(`${app.name} (${app.clientId} -> ${app.redirectUri}): ends at exactly its redirect_uri with code and state; HA accepts the code for that client_id`, TEST_GUARD, async () => {
      const state = trickyState(app.name);
      const result = await stack.login({ clientId: app.clientId, redirectUri: app.redirectUri, state, username: 'alice', consent: 'allow' });
      assertAppRedirect(result, { redirectUri: app.redirectUri, state });
      // The companion apps get their code at once; a voice assistant only after the person allowed it
      // on a page that names it and the HA user it will act as.
      assert.equal(Boolean(result.consentPage), Boolean(app.needsConsent), `consent page shown: ${Boolean(result.consentPage)}`);
      if (app.needsConsent) {
        const text = pageText(result.consentPage);
        assert.match(text, new RegExp(app.friendlyName));
        assert.match(text, new RegExp(new URL(app.clientId).host.replace(/\./g, '\\.')));
        assert.match(text, /Alice Liddell \(alice\)/);
      }
      assert.equal(result.storeToken, null, 'no storeToken for other clients');

      const { record } = await exchange(stack, { clientId: app.clientId, code: result.code });
      assert.equal(record.clientId, app.clientId);
      assert.equal(record.userId, onlyNewUser(stack, byUsername('alice'), 'alice').id);
      assert.equal(record.lastUsedIp, CLIENT_ADDRESS, 'HA recorded the client\'s address');
      const flow = stack.loginFlowRequests().filter((entry) => entry.path === '/auth/login_flow').at(-1);
      assert.equal(stack.addressHaSaw(flow), CLIENT_ADDRESS, 'HA\'s login flow ran for the client\'s address');
      stack.assertHygiene();
    });
  }

  test('the client\'s state comes back readable by any client: the same under decodeURIComponent (HA\'s frontend) and form decoding (RFC 6749 §4.1.2, Alexa/Google servers)', TEST_GUARD, async () => {
    // A state as HA's frontend makes them (base64: '+', '/', '=') and one with every troublesome character.
    const states = [Buffer.from('{"hassUrl":"http://x>>>?","clientId":"~~~?"}').toString('base64'), 'a b+c/d=e&f?g#h%20i;é'];
    assert.ok(states[0].includes('+') && states[0].includes('/'), states[0]);
    for (const client of [{ clientId: stack.frontendClientId, redirectUri: stack.frontendRedirectUri }, APPS[4]]) {
      for (const state of states) {
        const result = await stack.login({ ...client, state, username: 'alice', consent: 'allow' });
        assert.equal(result.kind, 'redirect', describeWalk(result));
        assert.equal(result.state, state, `decodeURIComponent reads the state back (query: ${result.rawQuery})`);
        assert.equal(result.formState, state, `a form decoder reads the state back: '+' must be sent as %2B (query: ${result.rawQuery})`);
        assert.equal(result.formParams.code, result.code);
      }
    }
  });

  test('three logins in one browser, all started before any finishes, finished in reverse order: each ends at its own client', TEST_GUARD, async () => {
    const jar = new CookieJar();
    const clients = [
      { clientId: stack.frontendClientId, redirectUri: stack.frontendRedirectUri, state: frontendState(stack.externalUrl, stack.frontendClientId) },
      { ...APPS[0], state: trickyState('parallel iOS') },
      // (The Android app's own pair is handed to the system browser: app-handoff.test.mjs.)
      { ...APPS[2], state: trickyState('parallel Wear OS') },
    ];
    const started = [];
    for (const client of clients) {
      const halfway = await stack.login({ ...client, username: 'gus', jar, stopBeforeCallback: true });
      assert.equal(halfway.kind, 'callback', describeWalk(halfway));
      started.push({ client, callbackUrl: halfway.callbackUrl });
    }
    assert.equal(new Set(started.map(({ callbackUrl }) => new URL(callbackUrl).searchParams.get('state'))).size, 3, 'three distinct pending logins');
    const cookies = jar.list('127.0.0.1').filter((cookie) => cookie.name.startsWith('gatehouse_login_'));
    assert.equal(new Set(cookies.map((cookie) => cookie.name)).size, 3, 'one login cookie per pending login');

    for (const { client, callbackUrl } of [...started].reverse()) {
      const result = await stack.resume(callbackUrl, { jar, redirectUri: client.redirectUri });
      if (client.clientId === stack.frontendClientId) assertFrontendRedirect(stack, result, client.state);
      else assertAppRedirect(result, client);
      const { record } = await exchange(stack, { clientId: client.clientId, code: result.code });
      assert.equal(record.userId, onlyNewUser(stack, (user) => user.name === 'Gus Guest', 'gus').id);
    }
    stack.assertHygiene();
  });

  test('a login started before a Gatehouse restart finishes after it (pending logins are kept)', TEST_GUARD, async () => {
    const jar = new CookieJar();
    const state = trickyState('restart');
    const halfway = await stack.login({ state, username: 'bob', jar, stopBeforeCallback: true });
    assert.equal(halfway.kind, 'callback', describeWalk(halfway));
    const stopped = await stack.restartGatehouse();
    assert.equal(stopped.forced, false);
    const result = await stack.resume(halfway.callbackUrl, { jar });
    assertFrontendRedirect(stack, result, state);
    await exchange(stack, { clientId: stack.frontendClientId, code: result.code });
    stack.assertHygiene();
  });

  test('HA password of an SSO user is HMAC-SHA256(master key, HA user id), base64url; master.key is 0600', TEST_GUARD, async () => {
    const alice = onlyNewUser(stack, byUsername('alice'), 'alice');
    const master = stack.readMasterKey();
    assert.ok(master, `${stack.masterKeyPath} exists`);
    assert.equal(master.mode, 0o600, `master.key mode ${master.mode.toString(8)}`);
    assert.ok(master.candidates.length > 0, `master.key holds 32 bytes (raw, hex or base64): ${master.bytes.length} bytes`);
    let works = false;
    for (const key of master.candidates) {
      const mac = createHmac('sha256', key).update(alice.id).digest();
      for (const password of [mac.toString('base64url'), `${mac.toString('base64url')}=`]) {
        stack.rememberSecret(password, 'derived HA password of an SSO user');
        if (!works && await haPasswordWorks(stack, alice.username, password)) works = true;
      }
    }
    assert.ok(works, 'the derived password signs alice in at HA');
  });

  test('gatehouse audit lists user_created, login_succeeded and role_changed; --user filters', TEST_GUARD, async () => {
    const entries = await stack.audit();
    const about = (kind, name) => entries.filter((entry) => entry.kind === kind && (entry.user === name || entry.text.includes(`"${name}"`)));
    for (const name of ['alice', 'gus', 'carol-2']) {
      assert.ok(about('user_created', name).length >= 1, `user_created for ${name}: ${entries.map((entry) => entry.text).join('\n')}`);
      assert.ok(about('login_succeeded', name).length >= 1, `login_succeeded for ${name}`);
    }
    assert.equal(about('user_created', 'alice').length, 1, 'alice was created once, however many logins');
    assert.ok(about('role_changed', 'dora').length >= 2, 'dora promoted and demoted');
    assert.equal(entries.filter((entry) => entry.kind === 'login_refused').length, 0, 'nothing refused in this group');

    const onlyAlice = await stack.audit(['--user', 'alice']);
    assert.ok(onlyAlice.length >= 2);
    assert.deepEqual(onlyAlice.filter((entry) => !entry.text.includes('alice')), [], '--user alice shows only alice');
  });

  // Contract §0.2: HA reads a POST /auth/token without Content-Type as no form at all. Gatehouse must
  // read it the same way: such a request redeems nothing in Gatehouse's record of the codes it handed
  // out, so the same code sent properly afterwards still tells Gatehouse whose token HA issued.
  test('POST /auth/token without Content-Type gets HA\'s 400 unsupported_grant_type and leaves the code\'s record: the proper redemption then needs no token check with HA', TEST_GUARD, async () => {
    const result = await stack.login({ username: 'alice', state: 'untyped-token-request' });
    assert.equal(result.kind, 'redirect', describeWalk(result));
    const form = new URLSearchParams({ grant_type: 'authorization_code', code: result.code, client_id: stack.frontendClientId }).toString();
    const untyped = await request(`${stack.externalUrl}/auth/token`, { method: 'POST', body: form, localAddress: CLIENT_ADDRESS });
    assert.equal(untyped.status, 400, untyped.text());
    assert.deepEqual(untyped.json(), { error: 'unsupported_grant_type' });

    const { tokens } = await exchange(stack, { clientId: stack.frontendClientId, code: result.code });
    const checksBefore = stack.double.websocketCounters.opened;
    const api = await request(`${stack.externalUrl}/api/`, {
      headers: { authorization: `Bearer ${tokens.access_token}` }, localAddress: CLIENT_ADDRESS,
    });
    assert.equal(api.status, 200, api.text());
    assert.equal(stack.double.websocketCounters.opened, checksBefore,
      'Gatehouse asked HA about a token it saw HA issue: the untyped request had used up its record of the code');
  });

  test('POST /auth/token whose form Gatehouse cannot read (over 64 fields) gets 400 from Gatehouse and never reaches HA: the code stays for the proper redemption, which Gatehouse records', TEST_GUARD, async () => {
    const result = await stack.login({ username: 'alice', state: 'padded-token-request' });
    assert.equal(result.kind, 'redirect', describeWalk(result));
    const fields = { grant_type: 'authorization_code', code: result.code, client_id: stack.frontendClientId };
    for (let i = 0; i < 64; i += 1) fields[`pad${i}`] = 'x';
    const tokenRequestsBefore = stack.haRequests.filter((entry) => entry.path === '/auth/token').length;
    const padded = await stack.postToken(fields);
    assert.equal(padded.status, 400, padded.text());
    assert.equal(padded.json().error, 'invalid_request');
    assert.equal(stack.haRequests.filter((entry) => entry.path === '/auth/token').length, tokenRequestsBefore, 'HA never got it');

    const { tokens } = await exchange(stack, { clientId: stack.frontendClientId, code: result.code });
    const checksBefore = stack.double.websocketCounters.opened;
    const api = await request(`${stack.externalUrl}/api/`, {
      headers: { authorization: `Bearer ${tokens.access_token}` }, localAddress: CLIENT_ADDRESS,
    });
    assert.equal(api.status, 200, api.text());
    assert.equal(stack.double.websocketCounters.opened, checksBefore, 'Gatehouse recorded the session it saw issued');
  });

  test('Gatehouse\'s own addresses answer a method they do not take with 405 and Allow (a page for browsers); other methods on HA\'s /auth/token go on to the shield', TEST_GUARD, async () => {
    const post = (path, headers = {}) => request(`${stack.externalUrl}${path}`, { method: 'POST', headers, body: '', localAddress: CLIENT_ADDRESS });
    const callback = await post('/sso/callback');
    assert.equal(callback.status, 405);
    assert.equal(callback.headers.allow, 'GET');
    assert.deepEqual(callback.json(), { message: 'Method not allowed', code: 'method_not_allowed' });
    const consent = await stack.get('/sso/consent', { headers: { accept: 'text/html' } });
    assert.equal(consent.status, 405);
    assert.equal(consent.headers.allow, 'POST');
    assert.match(consent.headers['content-type'], /^text\/html/);
    assert.equal(stack.double.requestCounts['/sso/callback'] ?? 0, 0, 'HA saw a Gatehouse address');

    // /auth/token is HA's address: a method Gatehouse does not take there goes on to the shield like any
    // request to HA (GET is not one of HA's public auth calls: 401 without HA).
    const haTokenRequests = stack.double.requestCounts['/auth/token'] ?? 0;
    const tokenGet = await stack.get('/auth/token');
    assert.equal(tokenGet.status, 401);
    assert.equal(stack.double.requestCounts['/auth/token'] ?? 0, haTokenRequests);
  });

  test('across this group: HA saw every SSO session from the client\'s address, never a failed login from Gatehouse\'s', TEST_GUARD, () => {
    const sessions = stack.double.refreshTokens().filter((token) => token.type === 'normal');
    assert.ok(sessions.length >= 10, `${sessions.length} sessions`);
    assert.deepEqual(sessions.filter((token) => token.lastUsedIp !== CLIENT_ADDRESS), [], 'every session (all made through Gatehouse) was last used from 127.0.0.2');
    assert.ok(stack.loginFlowRequests().length >= 20);
    const names = stack.newUsers().map((user) => user.name);
    assert.equal(new Set(names).size, names.length, `no duplicate users: ${names}`);
    stack.assertHygiene();
  });
});

// ---- 3. Claims only in userinfo ---------------------------------------------------------------------

test('claims only in userinfo (ID token carries sub only): name, username and role still right', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t, { providers: [{ alg: 'ES256', claimsInUserinfoOnly: true }] });
  for (const { sub, name, username, group } of [
    { sub: 'bob', name: 'Bob the Builder', username: 'bob.builder', group: ROLE_GROUPS.user },
    { sub: 'gus', name: 'Gus Guest', username: 'gus', group: ROLE_GROUPS.read_only },
  ]) {
    const state = trickyState(sub);
    const result = await stack.login({ state, username: sub });
    assertFrontendRedirect(stack, result, state);
    const idToken = decodeJwt(stack.idps[0].idTokens.at(-1)).payload;
    assert.equal(idToken.groups, undefined, 'the ID token really lacks the groups claim');
    assert.equal(idToken.name, undefined);
    const user = onlyNewUser(stack, byUsername(username), sub);
    assert.equal(user.name, name);
    assert.deepEqual(user.groupIds, [group]);
    await exchange(stack, { clientId: stack.frontendClientId, code: result.code });
  }
  stack.assertHygiene();
});

// ---- 4. Two providers ------------------------------------------------------------------------------

test('two providers: a chooser page links to both; signing in through the second works; the same sub at two issuers is two people', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t, {
    providers: [
      { id: 'corp', name: 'Corporate SSO', alg: 'RS256' },
      { id: 'partners', name: 'Partner Login', alg: 'EdDSA', secretVia: 'env' },
    ],
  });
  const state = frontendState(stack.externalUrl, stack.frontendClientId);
  const authorizeUrl = stack.authorizeUrl({ clientId: stack.frontendClientId, redirectUri: stack.frontendRedirectUri, state });
  const chooser = await stack.login({ state });
  assert.equal(chooser.kind, 'page', describeWalk(chooser));
  assert.equal(chooser.status, 200);
  assert.match(String(chooser.headers['content-type']), /^text\/html/);
  assert.equal(chooser.history.length, 1, 'the chooser is Gatehouse\'s answer to /auth/authorize itself');
  const text = pageText(chooser.body);
  assert.ok(text.includes('Corporate SSO') && text.includes('Partner Login'), text);

  const links = linksOf(chooser.body).map((link) => ({ ...link, url: new URL(link.href, authorizeUrl) }));
  const original = [...new URL(authorizeUrl).searchParams].sort();
  for (const id of ['corp', 'partners']) {
    const link = links.find((candidate) => candidate.url.pathname === `/sso/login/${id}`);
    assert.ok(link, `a link to /sso/login/${id}: ${JSON.stringify(links.map((l) => l.href))}`);
    assert.equal(link.url.origin, stack.externalUrl);
    assert.deepEqual([...link.url.searchParams].sort(), original, 'the link carries the same authorize query');
  }
  assert.equal(stack.idps[0].idTokens.length + stack.idps[1].idTokens.length, 0, 'no IdP involved yet');

  const partnersLink = links.find((candidate) => candidate.url.pathname === '/sso/login/partners');
  const viaPartners = await stack.resume(partnersLink.url.href, { username: 'bob' });
  assertFrontendRedirect(stack, viaPartners, state);
  assert.ok(viaPartners.history.some((url) => url.startsWith(`${stack.idps[1].issuer}/`)), 'went to the second IdP');
  assert.ok(!viaPartners.history.some((url) => url.startsWith(`${stack.idps[0].issuer}/`)), 'not to the first');
  const partnerBob = onlyNewUser(stack, (user) => user.name === 'Bob the Builder', 'bob');
  assert.equal(partnerBob.username, 'bob.builder');
  const { record } = await exchange(stack, { clientId: stack.frontendClientId, code: viaPartners.code });
  assert.equal(record.userId, partnerBob.id);

  // The first IdP's "bob" has the same sub but another issuer: another person, another HA user.
  const corpLink = links.find((candidate) => candidate.url.pathname === '/sso/login/corp');
  const viaCorp = await stack.resume(corpLink.url.href, { username: 'bob' });
  assertFrontendRedirect(stack, viaCorp, state);
  const bobs = stack.newUsers().filter((user) => user.name === 'Bob the Builder');
  assert.equal(bobs.length, 2, 'identity is (issuer, sub)');
  const corpBob = bobs.find((user) => user.id !== partnerBob.id);
  assert.equal(corpBob.username, 'bob.builder-2');
  stack.assertHygiene();
});

// ---- 5. deny_without_role: false --------------------------------------------------------------------

for (const { defaultRole, group } of [{ defaultRole: undefined, group: ROLE_GROUPS.read_only }, { defaultRole: 'user', group: ROLE_GROUPS.user }]) {
  test(`deny_without_role: false${defaultRole ? `, default_role: ${defaultRole}` : ''}: a user in no mapped group gets ${group}`, TEST_GUARD, async (t) => {
    const users = { deny_without_role: false };
    if (defaultRole) users.default_role = defaultRole;
    const stack = await startSsoStack(t, { users });
    const state = trickyState('nobody');
    const result = await stack.login({ state, username: 'nobody' });
    assertFrontendRedirect(stack, result, state);
    const user = onlyNewUser(stack, byUsername('nobody'), 'nobody');
    assert.deepEqual(user.groupIds, [group]);
    stack.assertHygiene();
  });
}

// ---- 6. link_existing: username ---------------------------------------------------------------------

test('link_existing: username: the IdP\'s carol takes over the existing HA user "carol" (no new user) and is brought in line', TEST_GUARD, async (t) => {
  const password = newSecret('existing HA user carol password (link)');
  const stack = await startSsoStack(t, {
    users: { link_existing: 'username' },
    haOptions: { users: [{ name: 'Carol Existing', username: 'carol', password, groups: ['system-users'] }] },
  });
  stack.rememberSecret(password, 'existing HA user carol password (link)');
  const existing = stack.userNamed('carol');
  assert.ok(existing);

  const state = trickyState('link');
  const result = await stack.login({ state, username: 'carol' });
  assertFrontendRedirect(stack, result, state);
  assert.deepEqual(stack.newUsers(), [], 'no new HA user');
  const linked = stack.userNamed('carol');
  assert.equal(linked.id, existing.id);
  assert.equal(linked.name, 'Carol from the IdP', 'name brought in line with the IdP');
  assert.deepEqual(linked.groupIds, [ROLE_GROUPS.admin], 'role brought in line with the IdP');
  const { record } = await exchange(stack, { clientId: stack.frontendClientId, code: result.code });
  assert.equal(record.userId, existing.id);

  const entries = await stack.audit();
  assert.ok(entries.some((entry) => entry.kind === 'user_linked' && (entry.user === 'carol' || entry.text.includes('"carol"'))), entries.map((entry) => entry.text).join('\n'));
  assert.equal(entries.filter((entry) => entry.kind === 'user_created').length, 0);
  stack.assertHygiene();
});

test('link_existing: username: a username claim that is not the HA username as it stands ("Carol." , "carol smith") links nobody: its own HA user, carol\'s untouched', TEST_GUARD, async (t) => {
  const password = newSecret('existing HA user carol password (no fold)');
  const users = {
    ...DEFAULT_IDP_USERS,
    mallory: { preferred_username: 'Carol.', name: 'Mallory', email: 'mallory@example.test', groups: ['ha-users'] },
    trudy: { preferred_username: 'carol smith', name: 'Trudy', email: 'trudy@example.test', groups: ['ha-users'] },
  };
  const stack = await startSsoStack(t, {
    users: { link_existing: 'username' },
    providers: [{ users }],
    haOptions: { users: [{ name: 'Carol Existing', username: 'carol', password, groups: ['system-users'] }] },
  });
  stack.rememberSecret(password, 'existing HA user carol password (no fold)');
  const before = JSON.stringify(stack.userNamed('carol'));

  for (const who of ['mallory', 'trudy']) {
    const state = trickyState(who);
    const result = await stack.login({ state, username: who });
    assertFrontendRedirect(stack, result, state);
    const { record } = await exchange(stack, { clientId: stack.frontendClientId, code: result.code });
    assert.notEqual(record.userId, stack.userNamed('carol').id, `${who} is not carol in HA`);
  }
  assert.equal(JSON.stringify(stack.userNamed('carol')), before, 'carol\'s HA user untouched: credential, name, groups');
  assert.equal(stack.newUsers().length, 2, 'each got an HA user of their own');
  const entries = await stack.audit();
  assert.equal(entries.filter((entry) => entry.kind === 'user_linked').length, 0);
  assert.equal(entries.filter((entry) => entry.kind === 'link_skipped').length, 2, entries.map((entry) => entry.text).join('\n'));
  stack.assertHygiene();
});

// ---- 7. linking never takes over privileged HA users ---------------------------------------------

// What must not change about an HA user nobody may take over: its credential (Gatehouse replaces it
// when linking), groups, name and ownership.
function privilegedSnapshot(user) {
  const { id, name, isOwner, isActive, groupIds, credentials } = user;
  return { id, name, isOwner, isActive, groupIds, credentials };
}
const userById = (stack, id) => stack.double.users().find((user) => user.id === id);

// A refused link: the refusal page (403, "ask your administrator"), and in the audit a link_refused
// entry for that HA user saying why, and the sign-in's login_refused with the page's reference.
async function assertLinkRefused(stack, result, { haUsername, why, by }) {
  const ref = assertRefusalPage(result, 403, { redirectUri: stack.frontendRedirectUri, mentions: /ask your administrator/i });
  const entries = await stack.audit();
  const all = entries.map((entry) => entry.text).join('\n');
  const refusedLink = entries.find((entry) => entry.kind === 'link_refused' && entry.user === haUsername);
  assert.ok(refusedLink, `a link_refused entry for ${haUsername}:\n${all}`);
  assert.equal(refusedLink.raw.detail.why, why, all);
  assert.equal(refusedLink.raw.detail.by, by, all);
  const refusedLogin = entries.find((entry) => entry.kind === 'login_refused' && entry.reason === 'link_conflict' && entry.text.includes(ref));
  assert.ok(refusedLogin, `a login_refused entry with reference ${ref}:\n${all}`);
  assert.match(refusedLogin.raw.detail.detail, new RegExp(`'${haUsername}'`), 'the audit says which HA user and why');
  assert.equal(entries.filter((entry) => entry.kind === 'user_linked' || entry.kind === 'user_created').length, 0, all);
}

test('link_existing: username: an IdP user "owner" in a read-only group is refused; the HA owner keeps its password, groups and name, and no user is created', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t, {
    users: { link_existing: 'username' },
    providers: [{ users: { owner: { preferred_username: 'owner', name: 'Someone named Owner', email: 'owner@example.test', groups: ['ha-guests'] } } }],
  });
  const before = privilegedSnapshot(userById(stack, stack.ownerId));
  assert.equal(before.isOwner, true);

  const result = await stack.login({ state: trickyState('owner'), username: 'owner' });
  await assertLinkRefused(stack, result, { haUsername: 'owner', why: 'privileged_by_username', by: 'username' });
  assert.deepEqual(privilegedSnapshot(userById(stack, stack.ownerId)), before, 'the HA owner is untouched');
  assert.equal(await haPasswordWorks(stack, 'owner', stack.owner.password), true, 'the owner\'s own password still works');
  assert.deepEqual(stack.newUsers(), [], 'no second user (no "owner-2")');
  stack.assertHygiene();
});

for (const { label, users, idpUser } of [
  { label: 'link_existing: username, IdP user "gatehouse-admin" in a user group', users: { link_existing: 'username' },
    idpUser: { preferred_username: 'gatehouse-admin', name: 'Gate Crasher', email: 'gc@example.test', groups: ['ha-users'] } },
  { label: 'link_existing: claim, hass_user: gatehouse-admin from an IdP admin', users: { link_existing: 'claim' },
    idpUser: { preferred_username: 'gc', name: 'Gate Crasher', email: 'gc@example.test', groups: ['ha-admins'], hass_user: 'gatehouse-admin' } },
]) {
  test(`${label}: refused; Gatehouse's service user keeps its credential and admin group, and the next person's first sign-in still works`, TEST_GUARD, async (t) => {
    const stack = await startSsoStack(t, {
      users,
      providers: [{ users: { gc: idpUser, dora: DEFAULT_IDP_USERS.dora }, idpOptions: { extraClaims: ['hass_user'] } }],
    });
    const before = privilegedSnapshot(userById(stack, stack.adminUserId));
    assert.equal(before.name, 'Gatehouse service');

    const result = await stack.login({ state: trickyState('gc'), username: 'gc' });
    await assertLinkRefused(stack, result, { haUsername: 'gatehouse-admin', why: 'service_user', by: users.link_existing });
    assert.deepEqual(privilegedSnapshot(userById(stack, stack.adminUserId)), before, 'the service user is untouched');
    assert.deepEqual(stack.newUsers(), [], 'no second user (no "gatehouse-admin-2")');

    // Gatehouse can still create users: someone else's first sign-in works end to end.
    const state = trickyState('dora');
    const dora = await stack.login({ state, username: 'dora' });
    assertFrontendRedirect(stack, dora, state);
    const created = onlyNewUser(stack, byUsername('dora'), 'dora');
    assert.deepEqual(created.groupIds, [ROLE_GROUPS.user]);
    const { record } = await exchange(stack, { clientId: stack.frontendClientId, code: dora.code });
    assert.equal(record.userId, created.id);
    stack.assertHygiene();
  });
}

test('link_existing: claim, hass_user: owner: refused for an IdP user-group member, linked for an IdP admin, refused again once the IdP demotes that admin', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t, {
    users: { link_existing: 'claim' },
    providers: [{
      users: {
        uma: { preferred_username: 'uma', name: 'Uma User', email: 'uma@example.test', groups: ['ha-users'], hass_user: 'owner' },
        ada: { preferred_username: 'ada', name: 'Ada Admin', email: 'ada@example.test', groups: ['ha-admins'], hass_user: 'owner' },
      },
      idpOptions: { extraClaims: ['hass_user'] },
    }],
  });
  const before = privilegedSnapshot(userById(stack, stack.ownerId));

  // A member of a user group names the owner: refused, the owner untouched.
  const refused = await stack.login({ state: trickyState('uma'), username: 'uma' });
  await assertLinkRefused(stack, refused, { haUsername: 'owner', why: 'privileged_without_admin_role', by: 'claim' });
  assert.deepEqual(privilegedSnapshot(userById(stack, stack.ownerId)), before, 'the HA owner is untouched');
  assert.equal(await haPasswordWorks(stack, 'owner', stack.owner.password), true, 'the owner\'s own password still works');
  assert.deepEqual(stack.newUsers(), [], 'no second user (no "owner-2", no "uma")');

  // An IdP admin names the owner explicitly: linked, and signs in as the owner.
  const state = trickyState('ada');
  const linked = await stack.login({ state, username: 'ada' });
  assertFrontendRedirect(stack, linked, state);
  const { record } = await exchange(stack, { clientId: stack.frontendClientId, code: linked.code });
  assert.equal(record.userId, stack.ownerId);
  const owner = userById(stack, stack.ownerId);
  assert.equal(owner.isOwner, true);
  assert.deepEqual(owner.groupIds, [ROLE_GROUPS.admin]);
  assert.equal(owner.name, 'Ada Admin');
  assert.deepEqual(stack.newUsers(), []);
  const entries = await stack.audit();
  assert.ok(entries.some((entry) => entry.kind === 'user_linked' && entry.user === 'owner' && entry.raw.detail.by === 'claim'),
    entries.map((entry) => entry.text).join('\n'));

  // The IdP moves Ada to a user group: HA cannot demote its owner, so Gatehouse refuses instead.
  stack.idp.setUserGroups('ada', ['ha-users']);
  const demoted = await stack.login({ state: trickyState('ada again'), username: 'ada' });
  assertRefusalPage(demoted, 403, { redirectUri: stack.frontendRedirectUri, mentions: /ask your administrator/i });
  const after = await stack.audit();
  assert.ok(after.some((entry) => entry.kind === 'link_refused' && entry.user === 'owner' && entry.raw.detail.by === 'earlier_link'
    && entry.raw.detail.why === 'privileged_without_admin_role'), after.map((entry) => entry.text).join('\n'));
  stack.assertHygiene();
});
