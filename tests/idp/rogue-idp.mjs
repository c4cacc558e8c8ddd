// A hand-written, minimal OpenID Provider that mints BAD ID tokens on purpose, for the gateway's
// refusal tests. Everything but the one thing a mode targets (the ID token, userinfo's sub, the token
// response's token_type, or the issuer its discovery document names) is correct, so a refusal can only
// come from the check that mode targets. Switch modes between logins: `idp.mode = 'expired'`.

import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { makeTlsMaterial } from './tls.mjs';
import { b64url, generateSigningKey, signHs256, signJws } from './jws.mjs';

export const MODES = [
  'good', 'nonce_mismatch', 'wrong_aud', 'wrong_iss', 'expired', 'iat_future', 'nbf_future', 'alg_none',
  'hs256_public_key', 'unknown_kid', 'bad_signature', 'azp_missing_multi_aud', 'error', 'userinfo_sub_mismatch',
  'token_type_dpop', 'token_type_missing', 'discovery_other_issuer',
];

// The issuer the discovery document names in mode discovery_other_issuer: another realm on another
// host, as an IdP behind a proxy announces its internal name.
export const OTHER_ISSUER = 'https://idp.elsewhere.invalid/realms/home';

const DEFAULT_USER = { sub: 'rogue-user', preferred_username: 'rogue', name: 'Rogue User', email: 'rogue@example.test', groups: ['users'] };
const DEFAULT_CLIENT = { client_id: 'gatehouse', client_secret: 'rogue-secret' };
const random = () => randomBytes(16).toString('base64url');

/**
 * Options: mode ('good'), tls, dir (for the TLS files), port (0), clients ([{client_id, client_secret,
 * redirect_uris?, token_endpoint_auth_method?}]; no redirect_uris = any accepted), user ({sub,
 * preferred_username, name, email, groups}), idTokenTtl (300 s).
 */
export async function startRogueIdp(options = {}) {
  const { tls = false, port = 0, dir, idTokenTtl = 300 } = options;
  const material = tls ? await makeTlsMaterial(dir) : undefined;
  const state = {
    mode: checkMode(options.mode ?? 'good'),
    clients: options.clients ?? [DEFAULT_CLIENT],
    user: { ...DEFAULT_USER, ...options.user },
    idTokenTtl,
    key: generateSigningKey('RS256', 'rogue-good'),
    // Signs unknown_kid tokens; never published.
    strayKey: generateSigningKey('RS256', `stray-${random()}`),
    codes: new Map(),
    accessTokens: new Map(),
    counts: { discovery: 0, jwks: 0, authorize: 0, token: 0, userinfo: 0 },
    authorizations: [],
    idTokens: [],
  };

  const onRequest = (req, res) => route(state, req, res).catch((err) => sendJson(res, 500, { error: 'server_error', error_description: err.message }));
  const server = tls ? createHttpsServer({ key: material.key, cert: material.cert }, onRequest) : createHttpServer(onRequest);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  state.issuer = `${tls ? 'https' : 'http'}://127.0.0.1:${server.address().port}`;

  return {
    issuer: state.issuer,
    url: state.issuer,
    port: server.address().port,
    caFile: material?.caFile,
    ca: material?.ca,
    get mode() { return state.mode; },
    set mode(value) { state.mode = checkMode(value); },
    counts: state.counts,
    resetCounts() { for (const key of Object.keys(state.counts)) state.counts[key] = 0; },
    // Every /authorize request's parameters, and every ID token minted, oldest first.
    authorizations: state.authorizations,
    idTokens: state.idTokens,
    jwks: () => publicJwks(state),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await material?.cleanup();
    },
  };
}

function checkMode(mode) {
  if (!MODES.includes(mode)) throw new Error(`unknown rogue IdP mode ${mode}`);
  return mode;
}

const publicJwks = (state) => ({ keys: [state.key.publicJwk] });

async function route(state, req, res) {
  const url = new URL(req.url, state.issuer);
  switch (`${req.method} ${url.pathname}`) {
    case 'GET /.well-known/openid-configuration':
      state.counts.discovery++;
      return sendJson(res, 200, { ...discovery(state.issuer), ...(state.mode === 'discovery_other_issuer' && { issuer: OTHER_ISSUER }) });
    case 'GET /jwks': state.counts.jwks++; return sendJson(res, 200, publicJwks(state));
    case 'GET /authorize': state.counts.authorize++; return authorize(state, url.searchParams, res);
    case 'POST /token': state.counts.token++; return token(state, req, res);
    case 'GET /userinfo':
    case 'POST /userinfo': state.counts.userinfo++; return userinfo(state, req, res);
    default: return sendJson(res, 404, { error: 'not_found' });
  }
}

function discovery(issuer) {
  return {
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    userinfo_endpoint: `${issuer}/userinfo`,
    jwks_uri: `${issuer}/jwks`,
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    grant_types_supported: ['authorization_code'],
    id_token_signing_alg_values_supported: ['RS256'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    scopes_supported: ['openid', 'profile', 'email', 'groups'],
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nonce', 'preferred_username', 'name', 'email', 'email_verified', 'groups'],
    authorization_response_iss_parameter_supported: true,
  };
}

function authorize(state, params, res) {
  const request = Object.fromEntries(params);
  state.authorizations.push(request);
  const client = state.clients.find((c) => c.client_id === request.client_id);
  const redirectUri = request.redirect_uri;
  // Without a valid client and redirect_uri there is nowhere safe to send an error to.
  if (!client || !redirectUri || (client.redirect_uris && !client.redirect_uris.includes(redirectUri))) {
    return sendJson(res, 400, { error: 'invalid_request', error_description: 'unknown client_id or redirect_uri' });
  }
  const back = (fields) => {
    const target = new URL(redirectUri);
    for (const [k, v] of Object.entries({ ...fields, state: request.state, iss: state.issuer })) if (v !== undefined) target.searchParams.set(k, v);
    res.writeHead(302, { location: target.href, 'cache-control': 'no-store' }).end();
  };
  if (state.mode === 'error') return back({ error: 'access_denied', error_description: 'The rogue IdP denies everything in mode error' });
  if (request.response_type !== 'code') return back({ error: 'unsupported_response_type' });
  if (request.code_challenge && request.code_challenge_method !== 'S256') return back({ error: 'invalid_request', error_description: 'only S256' });

  const code = random();
  state.codes.set(code, {
    clientId: client.client_id,
    redirectUri,
    nonce: request.nonce,
    codeChallenge: request.code_challenge,
    scope: request.scope,
  });
  return back({ code });
}

async function token(state, req, res) {
  const form = new URLSearchParams(await readBody(req));
  const client = authenticateClient(state, req.headers.authorization, form);
  if (!client) {
    res.setHeader('www-authenticate', 'Basic realm="rogue"');
    return sendJson(res, 401, { error: 'invalid_client' });
  }
  if (form.get('grant_type') !== 'authorization_code') return sendJson(res, 400, { error: 'unsupported_grant_type' });
  const grant = state.codes.get(form.get('code'));
  state.codes.delete(form.get('code'));
  const invalid = (why) => sendJson(res, 400, { error: 'invalid_grant', error_description: why });
  if (!grant || grant.clientId !== client.client_id) return invalid('unknown code');
  if (form.get('redirect_uri') !== grant.redirectUri) return invalid('redirect_uri mismatch');
  const verifier = form.get('code_verifier');
  if (grant.codeChallenge || verifier) {
    // RFC 7636 §4.1: 43..128 unreserved characters, as strict IdPs (oidc-provider) check.
    if (!/^[\w.~-]{43,128}$/.test(verifier ?? '')) return invalid('code_verifier must be 43..128 unreserved characters');
    if (createHash('sha256').update(verifier).digest('base64url') !== grant.codeChallenge) return invalid('PKCE verification failed');
  }

  const accessToken = random();
  state.accessTokens.set(accessToken, { clientId: client.client_id });
  const idToken = mintIdToken(state, client, grant);
  state.idTokens.push(idToken);
  res.setHeader('cache-control', 'no-store');
  // undefined leaves token_type out of the JSON.
  const tokenType = state.mode === 'token_type_dpop' ? 'DPoP' : state.mode === 'token_type_missing' ? undefined : 'Bearer';
  return sendJson(res, 200, { access_token: accessToken, token_type: tokenType, expires_in: 300, id_token: idToken, scope: grant.scope });
}

// client_secret_basic (credentials form-urlencoded inside Basic, RFC 6749 §2.3.1) or client_secret_post;
// a client that registered one method may use only that one.
function authenticateClient(state, authorization, form) {
  let id; let secret; let method;
  if (authorization?.startsWith('Basic ')) {
    const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const unform = (s) => decodeURIComponent(s.replace(/\+/g, ' '));
    try { [id, secret] = [unform(decoded.slice(0, colon)), unform(decoded.slice(colon + 1))]; } catch { return undefined; }
    method = 'client_secret_basic';
    if (form.has('client_secret')) return undefined; // two methods at once is an error
  } else {
    [id, secret, method] = [form.get('client_id'), form.get('client_secret'), 'client_secret_post'];
  }
  const client = state.clients.find((c) => c.client_id === id);
  if (!client || secret == null || !sameText(secret, client.client_secret)) return undefined;
  if (client.token_endpoint_auth_method && client.token_endpoint_auth_method !== method) return undefined;
  return client;
}

const sameText = (a, b) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

function userClaims(user) {
  const { sub, preferred_username, name, email, groups } = user;
  return { sub, preferred_username, name, email, email_verified: true, groups: [...groups] };
}

// The ID token for the current mode: one defect per mode, everything else valid.
function mintIdToken(state, client, grant) {
  const now = Math.floor(Date.now() / 1000);
  const payload = {
    iss: state.issuer,
    aud: client.client_id,
    exp: now + state.idTokenTtl,
    iat: now,
    auth_time: now,
    ...(grant.nonce !== undefined && { nonce: grant.nonce }),
    ...userClaims(state.user),
  };
  const header = { alg: 'RS256', typ: 'JWT', kid: state.key.kid };
  const signed = (h = header, p = payload) => signJws(h, p, state.key.privateKey);

  switch (state.mode) {
    case 'nonce_mismatch': return signed(header, { ...payload, nonce: `not-${grant.nonce ?? 'sent'}-${random()}` });
    case 'wrong_aud': return signed(header, { ...payload, aud: 'someone-else' });
    case 'wrong_iss': return signed(header, { ...payload, iss: 'https://evil.invalid' });
    case 'expired': return signed(header, { ...payload, iat: now - 7200, auth_time: now - 7200, exp: now - 3600 });
    case 'iat_future': return signed(header, { ...payload, iat: now + 3600, auth_time: now + 3600, exp: now + 7200 });
    case 'nbf_future': return signed(header, { ...payload, nbf: now + 3600, exp: now + 7200 });
    case 'alg_none': return `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64url(JSON.stringify(payload))}.`;
    // The classic key-confusion attack: the public key's PEM text used as an HMAC secret.
    case 'hs256_public_key': return signHs256(header, payload, state.key.publicKey.export({ type: 'spki', format: 'pem' }));
    case 'unknown_kid': return signJws({ ...header, kid: state.strayKey.kid }, payload, state.strayKey.privateKey);
    case 'bad_signature': {
      const [h, , s] = signed().split('.');
      const altered = { ...payload, sub: 'mallory', preferred_username: 'mallory', groups: ['admins'] };
      return `${h}.${b64url(JSON.stringify(altered))}.${s}`;
    }
    case 'azp_missing_multi_aud': return signed(header, { ...payload, aud: [client.client_id, 'other'] });
    default: return signed(); // good, error (never reaches /token), userinfo_sub_mismatch, token_type_*, discovery_other_issuer
  }
}

async function userinfo(state, req, res) {
  const bearer = req.headers.authorization?.match(/^Bearer\s+(\S+)$/i)?.[1];
  if (!bearer || !state.accessTokens.has(bearer)) {
    res.setHeader('www-authenticate', 'Bearer error="invalid_token"');
    return sendJson(res, 401, { error: 'invalid_token' });
  }
  const claims = userClaims(state.user);
  if (state.mode === 'userinfo_sub_mismatch') claims.sub = `${claims.sub}-someone-else`;
  return sendJson(res, 200, claims);
}

function sendJson(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}
