// A real OpenID Provider (npm oidc-provider, OpenID Certified) for the end-to-end tests, with a tiny
// login page instead of the library's dev interactions so a browser or drive-login.mjs can sign in.
// Import startIdp(), or run as a CLI (see the bottom of this file).

import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { makeTlsMaterial } from './tls.mjs';
import { generateSigningKey, signJws, SUPPORTED_ALGS } from './jws.mjs';

// oidc-provider prints notices (unsupported runtime on Node 20, default TTL functions, ...) through
// console.info/warn; drop exactly those lines, before the module is loaded (it warns at import).
function silenceProviderNotices() {
  for (const level of ['info', 'warn']) {
    const original = console[level];
    console[level] = (first, ...rest) => {
      if (typeof first === 'string' && first.replace(/\x1b\[[\d;]*m/g, '').startsWith('oidc-provider ')) return;
      original.call(console, first, ...rest);
    };
  }
}
silenceProviderNotices();
const { default: Provider } = await import('oidc-provider');
// The library's own in-memory adapter, created once per IdP so that rebuilding the provider on
// rotateKeys() keeps sessions, grants and tokens (the package has no "exports" map, so this path is public).
const { createMemoryAdapter } = await import('oidc-provider/lib/adapters/memory_adapter.js');

const CLAIMS = {
  openid: ['sub'],
  profile: ['preferred_username', 'name'],
  email: ['email', 'email_verified'],
  groups: ['groups'],
};

export async function startIdp(options = {}) {
  const { tls = false, port = 0, alg = 'RS256', dir } = options;
  if (!SUPPORTED_ALGS.includes(alg)) throw new Error(`alg must be one of ${SUPPORTED_ALGS.join(', ')}`);

  const material = tls ? await makeTlsMaterial(dir) : undefined;
  const state = {
    options,
    alg,
    users: structuredClone(options.users ?? {}),
    key: generateSigningKey(alg),
    adapter: createMemoryAdapter(),
    cookieKeys: [randomBytes(32).toString('base64url')],
    errors: [],
    backchannel: [], // { ok, clientId, sid, error } of each back-channel logout the IdP sent
  };

  // Bind first: the issuer has to carry the real port.
  let handle = (req, res) => { res.statusCode = 503; res.end(); };
  const onRequest = (req, res) => handle(req, res);
  const server = tls ? createHttpsServer({ key: material.key, cert: material.cert }, onRequest) : createHttpServer(onRequest);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const realPort = server.address().port;
  const issuer = options.issuer ?? `${tls ? 'https' : 'http'}://127.0.0.1:${realPort}`;

  let current = buildProvider(issuer, state);
  handle = dispatcher(() => current, state);

  return {
    issuer,
    port: realPort,
    url: issuer,
    caFile: material?.caFile,
    ca: material?.ca,
    get provider() { return current.provider; },
    get kid() { return state.key.kid; },
    get errors() { return state.errors; },
    get backchannelLogouts() { return state.backchannel; },
    // A JWS signed with the IdP's own current key (what its JWKS publishes), for tokens the library
    // would only send on its own schedule (a logout token to replay, one altered claim).
    sign(payload, header = {}) {
      return signJws({ alg, kid: state.key.kid, ...header }, payload, state.key.privateKey);
    },
    // New signing key with a new kid; the old one leaves the JWKS at once.
    rotateKeys() {
      state.key = generateSigningKey(alg);
      current = buildProvider(issuer, state);
      return state.key.kid;
    },
    setUserGroups(sub, groups) {
      if (!state.users[sub]) throw new Error(`unknown user ${sub}`);
      state.users[sub].groups = [...groups];
    },
    // The account is gone: its grants no longer refresh (invalid_grant) and it cannot sign in.
    removeUser(sub) {
      if (!state.users[sub]) throw new Error(`unknown user ${sub}`);
      delete state.users[sub];
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await material?.cleanup();
    },
  };
}

function buildProvider(issuer, state) {
  const { options, alg } = state;
  const provider = new Provider(issuer, {
    adapter: state.adapter,
    jwks: { keys: [state.key.jwk] },
    clients: (options.clients ?? []).map((client) => ({
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: alg,
      ...client,
    })),
    // extraClaims: more claim names (e.g. hass_user) released with the profile scope, taken from the user.
    claims: { ...CLAIMS, profile: [...CLAIMS.profile, ...(options.extraClaims ?? [])] },
    scopes: ['openid', 'profile', 'email', 'groups', 'offline_access'],
    // true: with an access token usable at userinfo, the ID token carries only sub and protocol claims.
    conformIdTokenClaims: Boolean(options.claimsInUserinfoOnly),
    responseTypes: ['code'],
    pkce: { required: () => true },
    // backchannelLogout: the IdP posts a logout token to each client's backchannel_logout_uri when a
    // session ends at its end_session endpoint (RP-initiated logout, on by default).
    features: { devInteractions: { enabled: false }, backchannelLogout: { enabled: Boolean(options.backchannelLogout) } },
    // refreshTokens: a refresh token with every code exchange (as Keycloak does), not only for offline_access.
    ...(options.refreshTokens ? { issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token') } : {}),
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    // Signed cookies; `secure` follows the request's scheme, so plain http works as well.
    cookies: { keys: state.cookieKeys },
    ttl: options.idTokenTtl ? { IdToken: options.idTokenTtl } : {},
    findAccount: (ctx, sub) => account(state.users, sub, options.extraClaims ?? []),
  });
  // A listener on 'error' also stops Koa from printing every failure; keep them for tests to inspect.
  const record = (err) => {
    state.errors.push(err);
    if (process.env.IDP_DEBUG) console.error('[oidc-idp]', err);
  };
  provider.on('error', record);
  provider.on('server_error', (ctx, err) => record(err));
  provider.on('backchannel.success', (ctx, client, accountId, sid) => state.backchannel.push({ ok: true, clientId: client.clientId, sid }));
  provider.on('backchannel.error', (ctx, err, client, accountId, sid) =>
    state.backchannel.push({ ok: false, clientId: client.clientId, sid, error: err.message }));
  return { provider, handler: provider.callback() };
}

function account(users, sub, extraClaims) {
  const user = users[sub];
  if (!user) return undefined;
  return {
    accountId: sub,
    // The provider filters these by the granted scopes/claims and by ID token vs userinfo.
    async claims() {
      return {
        sub,
        preferred_username: user.preferred_username,
        name: user.name,
        email: user.email,
        email_verified: user.email_verified ?? true,
        groups: [...(user.groups ?? [])],
        ...Object.fromEntries(extraClaims.filter((name) => user[name] !== undefined).map((name) => [name, user[name]])),
      };
    },
  };
}

// Accept either the sub or the preferred_username on the login form.
function lookupUser(users, username) {
  if (!username) return undefined;
  if (users[username]) return username;
  return Object.keys(users).find((sub) => users[sub].preferred_username === username);
}

function dispatcher(current, state) {
  return (req, res) => {
    const { provider, handler } = current();
    const { pathname } = new URL(req.url, 'http://x');
    const match = pathname.match(/^\/interaction\/([\w-]+)(?:\/(login|deny))?$/);
    if (!match) return handler(req, res);
    interaction(provider, state, req, res, match[2]).catch((err) => {
      if (err.name !== 'SessionNotFound') state.errors.push(err);
      sendHtml(res, err.name === 'SessionNotFound' ? 400 : 500, `<p id="error">${escapeHtml(err.message)}</p>`);
    });
  };
}

async function interaction(provider, state, req, res, action) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params } = details;

  if (!action) {
    if (req.method !== 'GET') return sendHtml(res, 405, 'method not allowed');
    // Already signed in, only consent missing (e.g. more scopes than last time): grant it silently.
    if (prompt.name === 'consent' && details.session?.accountId) {
      const grantId = await grantAll(provider, details, details.session.accountId, true);
      return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    }
    return sendHtml(res, 200, loginPage(uid, params.client_id));
  }

  if (req.method !== 'POST') return sendHtml(res, 405, 'method not allowed');
  if (action === 'deny') {
    return provider.interactionFinished(req, res,
      { error: 'access_denied', error_description: 'End-User denied the request' },
      { mergeWithLastSubmission: false });
  }

  const form = new URLSearchParams(await readBody(req));
  const sub = lookupUser(state.users, form.get('username'));
  if (!sub) return sendHtml(res, 401, loginPage(uid, params.client_id, 'Unknown user'));
  // Login and consent in one step: the grant carries every requested scope.
  const grantId = await grantAll(provider, details, sub, false);
  return provider.interactionFinished(req, res,
    { login: { accountId: sub }, consent: { grantId } },
    { mergeWithLastSubmission: false });
}

async function grantAll(provider, details, accountId, reuseExisting) {
  const { params, prompt } = details;
  const existing = reuseExisting && details.grantId ? await provider.Grant.find(details.grantId) : undefined;
  const grant = existing ?? new provider.Grant({ accountId, clientId: params.client_id });
  grant.addOIDCScope(params.scope || 'openid');
  if (prompt.details?.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  for (const [resource, scopes] of Object.entries(prompt.details?.missingResourceScopes ?? {})) {
    grant.addResourceScope(resource, scopes.join(' '));
  }
  return grant.save();
}

function loginPage(uid, clientId, error) {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Test IdP – Sign in</title></head>
<body>
<h1>Test IdP</h1>
<p>Sign in to continue to <b>${escapeHtml(clientId)}</b></p>
${error ? `<p id="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form id="login" method="post" action="/interaction/${uid}/login">
  <label for="username">Username</label>
  <input id="username" name="username" autocomplete="username" autofocus>
  <button id="signin" type="submit">Sign in</button>
  <button id="deny" type="submit" formaction="/interaction/${uid}/deny">Deny</button>
</form>
</body></html>
`;
}

function sendHtml(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

const escapeHtml = (text) => String(text ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

// CLI: node tests/idp/oidc-idp.mjs --port 9000 --alg RS256 --client id:secret:redirect_uri
//        --user sub:preferred_username:Name:group1,group2 [--tls] [--userinfo-only] [--post]
// Prints one JSON line {"issuer",...} when ready; stops on SIGINT/SIGTERM.
function parseCli(argv) {
  const options = { clients: [], users: {} };
  for (let i = 0; i < argv.length; i++) {
    const value = () => argv[++i];
    switch (argv[i]) {
      case '--port': options.port = Number(value()); break;
      case '--alg': options.alg = value(); break;
      case '--tls': options.tls = true; break;
      case '--userinfo-only': options.claimsInUserinfoOnly = true; break;
      case '--post': options.authMethod = 'client_secret_post'; break;
      case '--client': {
        const [clientId, secret, ...uri] = value().split(':');
        options.clients.push({ client_id: clientId, client_secret: secret, redirect_uris: [uri.join(':')] });
        break;
      }
      case '--user': {
        const [sub, username, name, groups = ''] = value().split(':');
        options.users[sub] = { preferred_username: username, name, email: `${username}@example.test`, groups: groups ? groups.split(',') : [] };
        break;
      }
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (options.authMethod) options.clients.forEach((c) => { c.token_endpoint_auth_method = options.authMethod; });
  return options;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const idp = await startIdp(parseCli(process.argv.slice(2)));
  console.log(JSON.stringify({ issuer: idp.issuer, port: idp.port, caFile: idp.caFile }));
  const stop = () => idp.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
