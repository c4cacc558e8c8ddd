// Acceptance test of the pre-authentication shield (PRODUCT.md item 5, ha-auth-contract.md §8, §9.5):
// a corpus of several hundred crafted unauthenticated requests goes through Gatehouse (default config,
// so the shield enforces) to the HA test double. Afterwards the double's own request counts must show
// that nothing reached HA except the allowlisted requests, each exactly as often as it was sent, and
// every allowlisted request must have got HA's answer.
//
// The corpus is built from families (supervisor path tricks, malformed targets, encoded traversal,
// case/slash variants, ';' parameters, bad tokens, spoofed headers, smuggling, oversized heads,
// methods, onboarding, other non-public routes, authSig, and the allowlist itself), each family one
// test, so a failure names the family and lists every entry that went wrong, not just the first.
//
// Every request is written as raw bytes on its own TCP connection, from a client address of 127.0.0.2
// and up (one per family), so odd bytes go out exactly as written and HA can tell a client from
// Gatehouse (127.0.0.1). Requests carry "Connection: close" unless the entry is about what follows on
// the same connection (smuggling, pipelining).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createHmac, randomBytes } from 'node:crypto';
import { startDouble } from './lib/double.mjs';
import { startGatehouse, TEST_GUARD } from './lib/harness.mjs';
import { request } from './lib/http-client.mjs';
import { newSecret, recordSecret } from './lib/secrets.mjs';

const GATEHOUSE_ADDRESS = '127.0.0.1'; // where Gatehouse listens and connects to HA from
const HOST = 'gatehouse.example:8123';
const ACCEPT_JSON = 'application/json';
const ACCEPT_HTML = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'; // a browser navigation
const HEADER_READ = '3s'; // Gatehouse's head deadline here: a head that never completes is answered by it (408)
const RESPONSE_GUARD_MS = 10_000; // longer than HEADER_READ, so a stalled head still gets its answer
const MIN_CORPUS = 200;

// Paths Gatehouse may legitimately ask HA about on its own (health probe, onboarding state, HA's
// version from a websocket's auth_required, possibly just after our counter reset): for these the
// double may count more requests than the corpus sent, never fewer. No corpus entry targets
// /api/websocket; a token Gatehouse asked HA about shows up as a failed login instead (checked below).
const GATEHOUSE_OWN_QUERIES = new Set(['/manifest.json', '/api/onboarding', '/api/websocket']);

// The JSON "code" of Gatehouse's refusals that the spec names.
const REFUSAL_CODES = { 400: 'bad_request', 401: 'unauthorized' };

// ---- tokens -----------------------------------------------------------------------------------------

const nowSeconds = () => Math.floor(Date.now() / 1000);
const b64 = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

// A JWT signed with a key nobody else has: shaped like HA's tokens (§2.2), valid for nobody.
function jwt(payload, { alg = 'HS256' } = {}) {
  const head = `${b64({ alg, typ: 'JWT' })}.${b64(payload)}`;
  if (alg === 'none') return `${head}.`;
  const hash = { HS256: 'sha256', HS512: 'sha512' }[alg];
  return `${head}.${createHmac(hash, randomBytes(32)).update(head).digest('base64url')}`;
}

const refreshTokenId = () => randomBytes(16).toString('hex');
const claims = (lifetime) => ({ iss: refreshTokenId(), iat: nowSeconds() - 60, exp: nowSeconds() + lifetime });

// Every token is recorded so tests/check-logs.test.mjs proves Gatehouse never logged one.
// FORGED is well-formed and unexpired: only HA could reject it. It is used only where Gatehouse must
// refuse without asking HA (wrong scheme, query string, cookie); a separate test sends it properly.
const FORGED = recordSecret(jwt(claims(1800)), 'shield corpus: forged HS256 access token');
const EXPIRED = recordSecret(jwt({ iss: refreshTokenId(), iat: nowSeconds() - 7200, exp: nowSeconds() - 3600 }), 'shield corpus: expired access token');
const ALG_NONE = recordSecret(jwt(claims(1800), { alg: 'none' }), 'shield corpus: alg none token');
const HS512 = recordSecret(jwt(claims(1800), { alg: 'HS512' }), 'shield corpus: HS512 token');
const NO_EXP = recordSecret(jwt({ iss: refreshTokenId(), iat: nowSeconds() }), 'shield corpus: token without exp');
const TOO_LONG = recordSecret(jwt({ ...claims(1800), pad: 'x'.repeat(9000) }), 'shield corpus: token over 8192 characters');
const GARBAGE = newSecret('shield corpus garbage token');
assert.ok(TOO_LONG.length > 8192);

// authSig values (§9.5): JWT-shaped, signed with a key HA does not have, so HA answers 401 itself.
const signedPath = (path, lifetime) => jwt({ ...claims(lifetime), path, params: [] });

// ---- raw requests -------------------------------------------------------------------------------------

/** A request as latin1 bytes: every character of `target` and the headers goes out as one byte. */
function build({ method = 'GET', target, headers = [], body = '', accept = ACCEPT_JSON, host = HOST, close = true }) {
  const lines = [`${method} ${target} HTTP/1.1`];
  if (host !== null) lines.push(`Host: ${host}`);
  if (accept !== null) lines.push(`Accept: ${accept}`);
  for (const [name, value] of headers) lines.push(`${name}: ${value}`);
  const framed = headers.some(([name]) => /^(content-length|transfer-encoding)$/i.test(name));
  if (body !== '' && !framed) lines.push(`Content-Length: ${Buffer.byteLength(body, 'latin1')}`);
  if (close) lines.push('Connection: close');
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1');
}

// The key under which the double counts a request: its path, percent-decoded once when that works
// (double.mjs #countRequest with RequestContext.path).
function doubleKey(target) {
  const question = target.indexOf('?');
  const rawPath = question >= 0 ? target.slice(0, question) : target;
  try {
    return decodeURIComponent(rawPath);
  } catch {
    return rawPath;
  }
}

// Expectations for refused entries. `status` lists the acceptable ones (none: any 4xx); `orClose`
// also accepts a connection closed without any answer (malformed HTTP the spec lets Gatehouse drop).
const BAD = { status: [400] };
const UNAUTHORIZED = { status: [401] };
const BAD_OR_UNAUTHORIZED = { status: [400, 401] }; // where the spec leaves the choice open (both are safe)
const ANY_4XX = {};
const MALFORMED = { status: [400], orClose: true };
const MALFORMED_ANY = { orClose: true };

/** An entry Gatehouse must answer itself with a 4xx and never forward. */
function refuse(name, spec, expectation) {
  return {
    name, method: spec.method ?? 'GET', target: spec.target, bytes: build(spec), expect: 'refused',
    html: spec.accept === ACCEPT_HTML, ...expectation,
  };
}

/** A refused entry written byte by byte (smuggling, bad line endings). */
function refuseRaw(name, { method, target, text, hidden = [] }, expectation) {
  return {
    name, method, target, bytes: Buffer.from(text, 'latin1'), expect: 'refused', html: false, hidden,
    // A hidden second request only shows itself after the first answer: wait for the connection to end.
    waitForClose: hidden.length > 0, ...expectation,
  };
}

/** An entry that must reach HA (counted under `doublePath`) and come back with HA's `answer`. */
function allow(name, spec, answer, doublePath = doubleKey(spec.target)) {
  return { name, method: spec.method ?? 'GET', target: spec.target, bytes: spec.bytes ?? build(spec), expect: 'allowed', answer, doublePath };
}

// What the double answers (read from tests/ha-double/lib/*.mjs); each has a type or text that a
// Gatehouse refusal (JSON {"message","code"} or a Gatehouse page) cannot have.
const HA = {
  indexPage: { status: 200, type: /^text\/html/, includes: 'Home Assistant (test double)' },
  authorizePage: { status: 200, type: /^text\/html/, includes: 'Log in' },
  onboardingPage: { status: 200, type: /^text\/html/, includes: 'Onboarding' },
  script: { status: 200, type: /^text\/javascript/ },
  manifest: { status: 200, type: /^application\/manifest\+json/, includes: '"Home Assistant"' },
  robots: { status: 200, type: /^text\/plain/, includes: 'User-agent' },
  json: (status, includes) => ({ status, type: /^application\/json/, includes }),
  empty: (status) => ({ status, type: /^application\/octet-stream/ }),
  notFound: { status: 404, type: /^text\/plain/, includes: '404: Not Found' },
  methodNotAllowed: { status: 405, type: /^text\/plain/, includes: '405: Method Not Allowed' },
  methodNotAllowedHead: { status: 405, type: /^text\/plain/ }, // HEAD: no body to look at
  staticHead: { status: 200, type: /^text\/javascript/ }, // aiohttp's static directories answer HEAD
  serverError: { status: 500, type: /^text\/plain/, includes: '500 Internal Server Error' }, // §0.2: an HA bug, passed through
  unauthorized: { status: 401, type: /^text\/plain/, includes: '401: Unauthorized' }, // HA's own 401, not Gatehouse's
  securityFilter: { status: 400, type: /^text\/plain/, includes: '400: Bad Request' }, // HA's security_filter (§9.6)
};

// A request smuggled behind another; each has its own path so a leak names its entry.
let hiddenCounter = 0;
function hiddenRequest() {
  hiddenCounter += 1;
  const path = `/api/states/sensor.smuggled_${hiddenCounter}`;
  return { path, text: `GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n` };
}

const product = (...lists) => lists.reduce((acc, list) => acc.flatMap((prefix) => list.map((item) => [...prefix, item])), [[]]);

// ---- the families ---------------------------------------------------------------------------------

// HA's 2023 supervisor advisory: paths under /api/hassio that HA's own check and the router read
// differently. None of /api/hassio* is on Gatehouse's allowlist: ambiguous forms get 400, the rest 401.
function supervisorFamily() {
  const bases = ['/api/hassio/app/', '/api/hassio_ingress/ingresstoken/', '/api/hassio/store/addons/core_ssh/'];
  const tricks = [
    ['.%09./', BAD], ['..%2f..%2f', BAD], ['..%2F', BAD], ['%2e%2e/', BAD], ['%2E%2E/', BAD], ['.%2e/', BAD],
    ['../', BAD], ['..\\', BAD], ['..%5c', BAD], ['%c0%ae%c0%ae/', BAD], ['.%00./', BAD], ['%0d%0a/', BAD],
    // Double encoding decodes to a literal "%2e": not ambiguous to Gatehouse, and not public either.
    ['%252e%252e/', UNAUTHORIZED], ['..%252f', UNAUTHORIZED],
    ['..;/', UNAUTHORIZED], // Tomcat-style path parameter: ".." with ";" is not a dot segment, so 401
  ];
  const entries = product(bases, tricks).map(([base, [trick, expectation]]) =>
    refuse(`${base} + ${JSON.stringify(trick)}`, { target: `${base}${trick}supervisor/info` }, expectation));
  entries.push(
    refuse('the advisory\'s own example', { target: '/api/hassio/app/.%09./supervisor/info' }, BAD),
    refuse('ingress path ending in ..', { target: '/api/hassio_ingress/x/..' }, BAD),
    refuse('ingress path ending in encoded ..', { target: '/api/hassio_ingress/x/%2e%2e' }, BAD),
    refuse('raw tab dot segment', { target: '/api/hassio/app/.\t./supervisor/info' }, MALFORMED),
    refuse('plain supervisor API', { target: '/api/hassio/supervisor/info' }, UNAUTHORIZED),
    refuse('plain hassio app asset (not on the allowlist)', { target: '/api/hassio/app/entrypoint.js' }, UNAUTHORIZED),
    refuse('add-on logo (not on the allowlist)', { target: '/api/hassio/addons/core_ssh/logo' }, UNAUTHORIZED),
    refuse('ingress without a session', { target: '/api/hassio_ingress/ingresstoken/' }, UNAUTHORIZED),
    refuse('supervisor API with POST', { method: 'POST', target: '/api/hassio/supervisor/restart', body: '{}', headers: [['Content-Type', 'application/json']] }, UNAUTHORIZED),
  );
  return entries;
}

// Authelia CVE-2021-32637 style: targets a proxy and HA could read differently. All are 400.
function malformedTargetFamily() {
  const targets = [
    '/api/states%00', '/api/states%00.js', '/api/states?x=%0d%0a', '/api/states?x=%0D%0A', '/api/states?x=%00',
    '/api/states?x=%', '/api/states?x=%zz', '/api/states?x=%4', '/api/states%', '/api/states%2', '/api/%zzstates',
    '/api/states#fragment', '/frontend_latest/app.js#/../../api/states', '/manifest.json#',
    'http://evil.example/api/states', 'http://127.0.0.1:8123/api/config', 'https://evil.example/frontend_latest/app.js',
    'HTTP://evil.example/api/config', '*', 'evil.example:443', 'api/states', '?/api/states',
    '/api/\xff', '/api/st\x7fates', '/api/states?x=\x01',
  ];
  const entries = targets.map((target) => refuse(JSON.stringify(target), { target }, target.includes('\x7f') || target.includes('\x01') ? MALFORMED : BAD));
  // Raw spaces split the request line; an empty target leaves nothing to read.
  entries.push(
    refuseRaw('raw space inside the target', { method: 'GET', target: '/api/st ates', text: `GET /api/st ates HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n` }, MALFORMED),
    refuseRaw('raw space after a public path', { method: 'GET', target: '/frontend_latest/app.js /api/states', text: `GET /frontend_latest/app.js /api/states HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n` }, MALFORMED),
    refuseRaw('empty target', { method: 'GET', target: '', text: `GET  HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n` }, MALFORMED),
    refuseRaw('no HTTP version (HTTP/0.9 style)', { method: 'GET', target: '/api/states', text: 'GET /api/states\r\n\r\n' }, MALFORMED_ANY),
  );
  return entries;
}

// Encoded traversal out of public prefixes: every form is ambiguous (encoded '/', '\' or '.', raw
// backslash, overlong or invalid UTF-8, NUL, dot segments), so 400 even under a public prefix.
function traversalFamily() {
  const prefixes = ['/frontend_latest/', '/frontend_es5/', '/static/', '/local/', '/api/webhook/', '/auth/', '/api/onboarding/', '/.well-known/'];
  const tricks = [
    '..%2f..%2fapi/states', '%2e%2e/api/config', '%2E%2E%2Fapi%2Fconfig', '..%5capi/states', '..%5Capi%5Cstates',
    '..\\api\\states', '%c0%ae%c0%ae/api/states', '%e0%80%ae%e0%80%ae/api/states', '%ff/../api/states',
    '%ff%fe/api/states', '../api/states', './../../api/states', '..%00/api/states', '.%2e/api/config',
  ];
  return product(prefixes, tricks).map(([prefix, trick]) => refuse(`${prefix}${trick}`, { target: `${prefix}${trick}` }, BAD));
}

// Case matters (HA's router is case-sensitive, so is the allowlist); slashes and dots are no way round it.
function caseAndSlashFamily() {
  const unauthorized = [
    ['GET', '/API/states'], ['GET', '/Api/config'], ['GET', '/api/States'], ['GET', '/API/'], ['GET', '/api/CONFIG'],
    ['POST', '/API/webhook/corpus-hook'], ['POST', '/api/Webhook/corpus-hook'], ['GET', '/Frontend_latest/app.js'],
    ['GET', '/FRONTEND_LATEST/app.js'], ['GET', '/Manifest.json'], ['GET', '/ROBOTS.TXT'], ['POST', '/AUTH/token'],
    ['POST', '/Auth/revoke'], ['GET', '/api/Onboarding'], ['GET', '/AUTH/PROVIDERS'], ['GET', '/api/states/'],
    ['GET', '/api/config/'], ['GET', '/api/states/...'],
  ];
  const entries = unauthorized.map(([method, target]) => refuse(`${method} ${target}`, { method, target, ...(method === 'POST' ? { body: '{}' } : {}) }, UNAUTHORIZED));
  // Empty segments are not in the spec's list of ambiguous forms; refusing them as 400 is just as safe.
  for (const target of ['//api/config', '/api//states', '///api/states', '/api/states//', '//frontend_latest/app.js']) {
    entries.push(refuse(target, { target }, BAD_OR_UNAUTHORIZED));
  }
  for (const target of ['/./api/config', '/api/./config', '/api/states/.', '/api/states/..', '/.', '/..', '/frontend_latest/./../api/states']) {
    entries.push(refuse(target, { target }, BAD));
  }
  // Percent-encoded letters or reserved characters other than '/', '\', '.': the spec does not call them
  // ambiguous, but they are not public paths either; 400 is accepted as the stricter reading.
  for (const target of ['/%61pi/states', '/api/st%61tes', '/api/states%3Fx', '/api/states%23x', '/api/states%3bx', '/%41PI/config']) {
    entries.push(refuse(target, { target }, BAD_OR_UNAUTHORIZED));
  }
  return entries;
}

// ';' path parameters: not special to HA's router, so "/api/webhook;x" is not "/api/webhook".
function semicolonFamily() {
  return [
    refuse('/api/states;x', { target: '/api/states;x' }, UNAUTHORIZED),
    refuse('/api/states;jsessionid=1', { target: '/api/states;jsessionid=1' }, UNAUTHORIZED),
    refuse('/api;/states', { target: '/api;/states' }, UNAUTHORIZED),
    refuse('/api/config;.js', { target: '/api/config;.js' }, UNAUTHORIZED),
    refuse('GET /frontend_latest;/app.js', { target: '/frontend_latest;/app.js' }, UNAUTHORIZED),
    refuse('POST /api/webhook;x/corpus-hook', { method: 'POST', target: '/api/webhook;x/corpus-hook', body: '{}' }, UNAUTHORIZED),
    refuse('POST /auth/token;x', { method: 'POST', target: '/auth/token;x', body: 'grant_type=refresh_token', headers: [['Content-Type', 'application/x-www-form-urlencoded']] }, UNAUTHORIZED),
    refuse('/api/onboarding;x', { target: '/api/onboarding;x' }, UNAUTHORIZED),
    refuse('/manifest.json;x', { target: '/manifest.json;x' }, UNAUTHORIZED),
    refuse('/frontend_latest;/../api/states', { target: '/frontend_latest;/../api/states' }, BAD),
    refuse('/api/webhook;/../../api/states', { target: '/api/webhook;/../../api/states' }, BAD),
    refuse('/api/webhook;x/../states', { target: '/api/webhook;x/../states' }, BAD),
    refuse('/static;/../api/config', { target: '/static;/../api/config' }, BAD),
    refuse('/manifest.json;/../api/states', { target: '/manifest.json;/../api/states' }, BAD),
    refuse('/auth/authorize;/../../api/states', { target: '/auth/authorize;/../../api/states' }, BAD),
    refuse('/frontend_latest/..;/../api/states', { target: '/frontend_latest/..;/../api/states' }, BAD),
  ];
}

// Protected API paths with no token, or one Gatehouse can refuse on its own (§2.3: only "Bearer", at
// most 8192 characters, HS256 with iss/iat/exp, unexpired; HA reads no token from the query or cookies).
function tokenFamily() {
  const paths = [
    { method: 'GET', target: '/api/' },
    { method: 'GET', target: '/api/states' },
    { method: 'GET', target: '/api/config' },
    { method: 'DELETE', target: '/api/states/light.kitchen' },
    { method: 'POST', target: '/api/services/light/turn_on', body: '{"entity_id":"light.kitchen"}', headers: [['Content-Type', 'application/json']] },
    { method: 'GET', target: '/media/local/private.mp3' },
  ];
  const withQuery = (target, query) => `${target}${target.includes('?') ? '&' : '?'}${query}`;
  const variants = [
    ['no Authorization', (r) => r],
    ['garbage bearer token', (r) => ({ ...r, headers: [...(r.headers ?? []), ['Authorization', `Bearer ${GARBAGE}`]] })],
    ['empty bearer token', (r) => ({ ...r, headers: [...(r.headers ?? []), ['Authorization', 'Bearer ']] })],
    ['expired HS256 token', (r) => ({ ...r, headers: [...(r.headers ?? []), ['Authorization', `Bearer ${EXPIRED}`]] })],
    ['alg none token', (r) => ({ ...r, headers: [...(r.headers ?? []), ['Authorization', `Bearer ${ALG_NONE}`]] })],
    ['HS512 token', (r) => ({ ...r, headers: [...(r.headers ?? []), ['Authorization', `Bearer ${HS512}`]] })],
    ['token without exp', (r) => ({ ...r, headers: [...(r.headers ?? []), ['Authorization', `Bearer ${NO_EXP}`]] })],
    ['token over 8192 characters', (r) => ({ ...r, headers: [...(r.headers ?? []), ['Authorization', `Bearer ${TOO_LONG}`]] })],
    ['lowercase "bearer" scheme', (r) => ({ ...r, headers: [...(r.headers ?? []), ['Authorization', `bearer ${FORGED}`]] })],
    ['uppercase "BEARER" scheme', (r) => ({ ...r, headers: [...(r.headers ?? []), ['Authorization', `BEARER ${FORGED}`]] })],
    ['"Token" scheme', (r) => ({ ...r, headers: [...(r.headers ?? []), ['Authorization', `Token ${FORGED}`]] })],
    ['Basic credentials', (r) => ({ ...r, headers: [...(r.headers ?? []), ['Authorization', `Basic ${Buffer.from('owner:owner-password').toString('base64')}`]] })],
    ['two spaces after Bearer', (r) => ({ ...r, headers: [...(r.headers ?? []), ['Authorization', `Bearer  ${EXPIRED}`]] })],
    ['access_token in the query', (r) => ({ ...r, target: withQuery(r.target, `access_token=${FORGED}`) })],
    ['api_password in the query', (r) => ({ ...r, target: withQuery(r.target, 'api_password=owner-password') })],
    ['token in a cookie', (r) => ({ ...r, headers: [...(r.headers ?? []), ['Cookie', `hassTokens=${FORGED}; access_token=${FORGED}`]] })],
    ['X-HA-Access header (removed from HA)', (r) => ({ ...r, headers: [...(r.headers ?? []), ['X-HA-Access', 'owner-password']] })],
  ];
  const entries = product(paths, variants).map(([path, [label, apply]]) =>
    refuse(`${path.method} ${path.target}: ${label}`, apply(path), UNAUTHORIZED));
  // Two Authorization headers: the spec does not say; either refusal is safe.
  entries.push(refuse('GET /api/states: two Authorization headers', { target: '/api/states', headers: [['Authorization', `Bearer ${EXPIRED}`], ['Authorization', `Bearer ${GARBAGE}`]] }, BAD_OR_UNAUTHORIZED));
  // HEAD has no body to check, only the status.
  entries.push(refuse('HEAD /api/states: no Authorization', { method: 'HEAD', target: '/api/states' }, UNAUTHORIZED));
  // A browser (Accept prefers text/html) gets Gatehouse's 401 page instead of JSON.
  for (const [path, [label, apply]] of product(paths, [variants[0], variants[3]])) {
    entries.push(refuse(`${path.method} ${path.target}: ${label}, browser`, { ...apply(path), accept: ACCEPT_HTML }, UNAUTHORIZED));
  }
  return entries;
}

// Host and forwarding headers claiming a local or trusted origin: Gatehouse trusts no proxy here
// (trusted_proxies: []), and none of them is a token.
function spoofFamily() {
  const spoofs = [
    ['Host: localhost', { host: 'localhost' }],
    ['Host: 127.0.0.1:8123', { host: '127.0.0.1:8123' }],
    ['Host: homeassistant.local:8123', { host: 'homeassistant.local:8123' }],
    ['X-Forwarded-For: 127.0.0.1', { headers: [['X-Forwarded-For', '127.0.0.1']] }],
    ['X-Forwarded-For: 172.30.32.2 (Supervisor)', { headers: [['X-Forwarded-For', '172.30.32.2']] }],
    ['X-Forwarded-For: 127.0.0.1, 127.0.0.1', { headers: [['X-Forwarded-For', '127.0.0.1, 127.0.0.1']] }],
    ['X-Forwarded-For: not-an-ip', { headers: [['X-Forwarded-For', 'not-an-ip']] }],
    ['X-Forwarded-Host: evil', { headers: [['X-Forwarded-Host', 'evil.example']] }],
    ['X-Forwarded-Proto: https', { headers: [['X-Forwarded-Proto', 'https']] }],
    ['X-Real-IP: 127.0.0.1', { headers: [['X-Real-IP', '127.0.0.1']] }],
    ['Forwarded: for=127.0.0.1', { headers: [['Forwarded', 'for=127.0.0.1;proto=https;host=localhost']] }],
    ['X-Original-URL: /api/webhook/x', { headers: [['X-Original-URL', '/api/webhook/corpus-hook']] }],
    ['X-Rewrite-URL: /frontend_latest/app.js', { headers: [['X-Rewrite-URL', '/frontend_latest/app.js']] }],
    ['X-Hass-Source: core.ingress', { headers: [['X-Hass-Source', 'core.ingress'], ['X-Ingress-Path', '/api/hassio_ingress/x']] }],
    ['X-HTTP-Method-Override: GET', { headers: [['X-HTTP-Method-Override', 'GET']] }],
    ['Origin: https://cast.home-assistant.io', { headers: [['Origin', 'https://cast.home-assistant.io']] }],
  ];
  const paths = [
    { method: 'GET', target: '/api/states' },
    { method: 'GET', target: '/api/config' },
    { method: 'POST', target: '/api/services/light/turn_on', body: '{}', headers: [['Content-Type', 'application/json']] },
  ];
  const entries = product(paths, spoofs).map(([path, [label, spoof]]) =>
    refuse(`${path.method} ${path.target} with ${label}`, { ...path, ...spoof, headers: [...(path.headers ?? []), ...(spoof.headers ?? [])] }, UNAUTHORIZED));
  // Missing or doubled Host: the spec does not say 400 or 401; both are refusals.
  entries.push(
    refuse('GET /api/states without Host', { target: '/api/states', host: null }, BAD_OR_UNAUTHORIZED),
    refuse('GET /api/states with two Host headers', { target: '/api/states', headers: [['Host', 'localhost']] }, BAD_OR_UNAUTHORIZED),
    refuse('GET /api/states with XFF 127.0.0.1 and an expired token', { target: '/api/states', headers: [['X-Forwarded-For', '127.0.0.1'], ['Authorization', `Bearer ${EXPIRED}`]] }, UNAUTHORIZED),
  );
  return entries;
}

// Request smuggling: framing the two sides could read differently must be refused (400, or the
// connection dropped), and a request hidden in the body must never reach HA. Each hidden request has
// its own path, so the count check names the entry that leaked it.
function smugglingFamily(webhookId) {
  const hook = `/api/webhook/${webhookId}`;
  const entries = [];
  const smuggle = (name, { method = 'POST', target = hook, headers, body }, expectation = MALFORMED) => {
    const hidden = hiddenRequest();
    const text = `${method} ${target} HTTP/1.1\r\nHost: ${HOST}\r\n${headers.map((line) => `${line}\r\n`).join('')}\r\n${body(hidden.text)}`;
    entries.push(refuseRaw(name, { method, target, text, hidden: [hidden.path] }, expectation));
  };
  const chunkedEnd = (hidden) => `0\r\n\r\n${hidden}`;
  smuggle('Content-Length then Transfer-Encoding: chunked (CL.TE)', { headers: ['Content-Length: 5', 'Transfer-Encoding: chunked'], body: chunkedEnd });
  smuggle('Transfer-Encoding: chunked then Content-Length (TE.CL)', { headers: ['Transfer-Encoding: chunked', 'Content-Length: 3'], body: (hidden) => `${(hidden.length).toString(16)}\r\n${hidden}\r\n0\r\n\r\n` });
  smuggle('CL.TE on a public GET', { method: 'GET', target: '/static/smuggle-carrier.js', headers: ['Content-Length: 5', 'Transfer-Encoding: chunked'], body: chunkedEnd });
  smuggle('two different Content-Length headers', { headers: ['Content-Length: 0', 'Content-Length: 90'], body: (hidden) => hidden });
  smuggle('Content-Length list "0, 90"', { headers: ['Content-Length: 0, 90'], body: (hidden) => hidden });
  // Beast reads an equal repeat as one length; HA's parser refuses it: one reading only, at the door.
  smuggle('two equal Content-Length headers', { headers: ['Content-Length: 5', 'Content-Length: 5'], body: (hidden) => `a=b&c${hidden}` });
  smuggle('Content-Length list "5, 5"', { headers: ['Content-Length: 5, 5'], body: (hidden) => `a=b&c${hidden}` });
  // aiohttp takes CONNECT as a switch away from HTTP (on a public path, so the shield alone would pass it).
  smuggle('CONNECT to a webhook', { method: 'CONNECT', headers: ['Content-Length: 0'], body: (hidden) => hidden });
  smuggle('TRACE to a webhook', { method: 'TRACE', headers: ['Content-Length: 0'], body: (hidden) => hidden });
  smuggle('Content-Length with a sign', { headers: ['Content-Length: +0'], body: (hidden) => hidden });
  smuggle('negative Content-Length', { headers: ['Content-Length: -1'], body: (hidden) => hidden });
  smuggle('Content-Length in hex', { headers: ['Content-Length: 0x0'], body: (hidden) => hidden });
  smuggle('Transfer-Encoding: xchunked', { headers: ['Transfer-Encoding: xchunked'], body: chunkedEnd });
  smuggle('Transfer-Encoding: chunked, identity', { headers: ['Transfer-Encoding: chunked, identity'], body: chunkedEnd });
  smuggle('Transfer-Encoding: identity', { headers: ['Transfer-Encoding: identity'], body: (hidden) => hidden });
  smuggle('Transfer-Encoding: chunked, chunked', { headers: ['Transfer-Encoding: chunked, chunked'], body: chunkedEnd });
  smuggle('Transfer-Encoding: chunked on two lines', { headers: ['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], body: chunkedEnd });
  smuggle('space before the colon: "Transfer-Encoding : chunked"', { headers: ['Transfer-Encoding : chunked', 'Content-Length: 5'], body: chunkedEnd });
  smuggle('tab before the value and a CL: "Transfer-Encoding:\\tchunked"', { headers: ['Content-Length: 5', 'Transfer-Encoding:\tchunked'], body: chunkedEnd });
  smuggle('obs-fold (space) inside Transfer-Encoding', { headers: ['Transfer-Encoding: x', ' chunked'], body: chunkedEnd });
  smuggle('obs-fold (tab) inside Transfer-Encoding', { headers: ['Transfer-Encoding: x', '\tchunked'], body: chunkedEnd });
  smuggle('obs-fold (space) in an ordinary header', { headers: ['X-Note: a', ' folded', 'Content-Length: 0'], body: (hidden) => hidden });
  smuggle('obs-fold (tab) in an ordinary header', { headers: ['X-Note: a', '\tfolded', 'Content-Length: 0'], body: (hidden) => hidden });
  smuggle('NUL in a header value', { headers: ['X-Note: a\0b', 'Content-Length: 0'], body: (hidden) => hidden });
  smuggle('header line without a colon', { headers: ['X-Note', 'Content-Length: 0'], body: (hidden) => hidden });
  smuggle('bare LF ending one header line', { headers: ['X-Note: a\nContent-Length: 0'], body: (hidden) => hidden });
  // On a protected path: a public one could rightly be forwarded head first, before the bad chunk shows.
  smuggle('chunk size overflow', { target: '/api/services/light/turn_on', headers: ['Transfer-Encoding: chunked'], body: (hidden) => `ffffffffffffffffffff\r\n${hidden}\r\n0\r\n\r\n` }, MALFORMED_ANY);
  // Bare LF line endings throughout, on a public path (its own name, so a forward shows up by path).
  // RFC 9112 §2.2 lets a server accept or reject them; the spec names no status. A head that never
  // ends in CRLF CRLF may also just run into the head deadline (408): all that matters is no forward.
  entries.push(refuseRaw('bare LF line endings throughout', {
    method: 'GET', target: '/frontend_latest/bare-lf.js', text: `GET /frontend_latest/bare-lf.js HTTP/1.1\nHost: ${HOST}\nConnection: close\n\n`,
  }, { status: [400, 408], orClose: true }));
  // Obs-fold on a public GET, also under its own name.
  entries.push(refuseRaw('obs-fold on a public GET', {
    method: 'GET', target: '/frontend_latest/obs-fold.js', text: `GET /frontend_latest/obs-fold.js HTTP/1.1\r\nHost: ${HOST}\r\nX-Note: a\r\n b\r\nConnection: close\r\n\r\n`,
  }, MALFORMED));
  // A protected request pipelined after a public one (no Connection: close on the first): the second
  // is an ordinary request and gets 401; HA sees only the first.
  const pipelined = hiddenRequest();
  entries.push({
    ...allow('public GET with a protected GET pipelined after it', {
      target: '/frontend_latest/app.js',
      bytes: Buffer.from(`GET /frontend_latest/app.js HTTP/1.1\r\nHost: ${HOST}\r\n\r\n${pipelined.text}`, 'latin1'),
    }, HA.script),
    hidden: [pipelined.path], waitForClose: true, secondStatus: 401,
  });
  // Expect: 100-continue on a protected path: refused, the body never forwarded.
  entries.push(refuse('Expect: 100-continue on a protected POST', {
    method: 'POST', target: '/api/services/light/turn_on', body: '{}', headers: [['Content-Type', 'application/json'], ['Expect', '100-continue']],
  }, UNAUTHORIZED));
  // Protocol switches are not a way around the token.
  // Only a websocket on /api/websocket (or a listed pass-through path) is ever an upgrade: anything
  // else that asks to switch protocols is refused, whatever its path (never a tunnel).
  entries.push(refuse('h2c upgrade on a protected path', { target: '/api/states', headers: [['Upgrade', 'h2c'], ['HTTP2-Settings', 'AAMAAABkAAQAAP__'], ['Connection', 'Upgrade, HTTP2-Settings']] }, BAD));
  entries.push(refuse('h2c upgrade on a public path', { target: '/manifest.json', headers: [['Upgrade', 'h2c'], ['HTTP2-Settings', 'AAMAAABkAAQAAP__'], ['Connection', 'Upgrade, HTTP2-Settings']] }, BAD));
  entries.push(refuse('websocket upgrade with a second token on /api/websocket', { target: '/api/websocket', headers: [['Upgrade', 'websocket, x'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Version', '13'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ==']] }, BAD));
  entries.push(refuse('websocket upgrade on a public path', { target: '/manifest.json', headers: [['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Version', '13'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ==']] }, BAD));
  entries.push(refuse('websocket upgrade on an app page (navigation)', { target: '/lovelace/0', headers: [['Accept', 'text/html'], ['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Version', '13'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ==']] }, BAD));
  entries.push(refuse('websocket upgrade on a webhook', { target: '/api/webhook/upgrade-me', headers: [['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Version', '13'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ==']] }, BAD));
  entries.push(refuse('websocket upgrade on a protected path', {
    target: '/api/states', close: false,
    headers: [['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='], ['Sec-WebSocket-Version', '13']],
  }, ANY_4XX));
  entries.push(refuseRaw('HTTP/2.0 in the request line', { method: 'GET', target: '/api/states', text: `GET /api/states HTTP/2.0\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n` }, MALFORMED_ANY));
  entries.push(refuseRaw('HTTP/1.0 keep-alive with a hidden request', (() => {
    const hidden = hiddenRequest();
    return { method: 'GET', target: '/api/config', text: `GET /api/config HTTP/1.0\r\nHost: ${HOST}\r\nConnection: keep-alive\r\n\r\n${hidden.text}`, hidden: [hidden.path] };
  })(), UNAUTHORIZED));
  return entries;
}

// Heads over limits.max_header_bytes (64 KiB in the harness config) are refused whole with 431,
// even on public paths; big heads under the limit are just unauthenticated.
function oversizedFamily() {
  const manyHeaders = (count) => Array.from({ length: count }, (_, index) => [`X-Many-${index}`, 'v'.repeat(20)]);
  return [
    refuse('100 KB header line on a protected path', { target: '/api/states', headers: [['X-Padding', 'a'.repeat(100 * 1024)]] }, { status: [431] }),
    refuse('100 KB header line on a public path', { target: '/frontend_latest/oversized.js', headers: [['X-Padding', 'a'.repeat(100 * 1024)]] }, { status: [431] }),
    refuse('100 KB Authorization header', { target: '/api/config', headers: [['Authorization', `Bearer ${'a'.repeat(100 * 1024)}`]] }, { status: [431] }),
    refuse('3000 headers (about 100 KB)', { target: '/api/states', headers: manyHeaders(3000) }, { status: [431] }),
    refuse('3000 headers on a webhook', { method: 'POST', target: '/api/webhook/oversized-hook', headers: manyHeaders(3000), body: '{}' }, { status: [431] }),
    // The request line is part of the head; 414 would also be an honest answer.
    refuse('100 KB query string', { target: `/api/states?q=${'a'.repeat(100 * 1024)}`, headers: [] }, { status: [414, 431] }),
    refuse('300 small headers (under the limit)', { target: '/api/config', headers: manyHeaders(300) }, UNAUTHORIZED),
    refuse('50 KB cookie (under the limit)', { target: '/api/config', headers: [['Cookie', `c=${'a'.repeat(50 * 1024)}`]] }, UNAUTHORIZED),
  ];
}

// Methods: only GET/HEAD make static paths public; CONNECT and "*" are not origin-form targets.
function methodFamily() {
  const body = { body: '{}', headers: [['Content-Type', 'application/json']] };
  return [
    refuse('TRACE /api/states', { method: 'TRACE', target: '/api/states' }, ANY_4XX),
    refuse('TRACE /', { method: 'TRACE', target: '/' }, ANY_4XX),
    refuse('TRACE /frontend_latest/app.js', { method: 'TRACE', target: '/frontend_latest/app.js' }, ANY_4XX),
    refuse('CONNECT evil.example:443', { method: 'CONNECT', target: 'evil.example:443' }, BAD),
    refuse('CONNECT 127.0.0.1:8123', { method: 'CONNECT', target: '127.0.0.1:8123' }, BAD),
    refuse('OPTIONS *', { method: 'OPTIONS', target: '*' }, BAD),
    refuse('GET *', { method: 'GET', target: '*' }, BAD),
    refuse('OPTIONS /api/states (not a CORS preflight)', { method: 'OPTIONS', target: '/api/states', headers: [['Origin', 'https://cast.home-assistant.io']] }, UNAUTHORIZED),
    refuse('DELETE /api/states/light.kitchen', { method: 'DELETE', target: '/api/states/light.kitchen' }, UNAUTHORIZED),
    refuse('POST /api/services/light/turn_on', { method: 'POST', target: '/api/services/light/turn_on', ...body }, UNAUTHORIZED),
    refuse('POST /api/services/homeassistant/restart', { method: 'POST', target: '/api/services/homeassistant/restart', ...body }, UNAUTHORIZED),
    refuse('PUT /api/states/light.kitchen', { method: 'PUT', target: '/api/states/light.kitchen', ...body }, UNAUTHORIZED),
    refuse('PATCH /api/config', { method: 'PATCH', target: '/api/config', ...body }, UNAUTHORIZED),
    refuse('POST /api/events/shield_corpus', { method: 'POST', target: '/api/events/shield_corpus', ...body }, UNAUTHORIZED),
    refuse('POST /frontend_latest/app.js', { method: 'POST', target: '/frontend_latest/app.js', ...body }, UNAUTHORIZED),
    refuse('PUT /static/x.js', { method: 'PUT', target: '/static/x.js', ...body }, UNAUTHORIZED),
    refuse('DELETE /manifest.json', { method: 'DELETE', target: '/manifest.json' }, UNAUTHORIZED),
    refuse('POST /robots.txt', { method: 'POST', target: '/robots.txt', ...body }, UNAUTHORIZED),
    refuse('POST /auth/authorize', { method: 'POST', target: '/auth/authorize', ...body }, UNAUTHORIZED),
    refuse('POST /onboarding.html', { method: 'POST', target: '/onboarding.html', ...body }, UNAUTHORIZED),
    refuse('POST /.well-known/oauth-authorization-server', { method: 'POST', target: '/.well-known/oauth-authorization-server', ...body }, UNAUTHORIZED),
    refuse('POST /api/onboarding', { method: 'POST', target: '/api/onboarding', ...body }, UNAUTHORIZED),
    refuse('GET /auth/token', { method: 'GET', target: '/auth/token' }, UNAUTHORIZED),
    refuse('PUT /auth/token', { method: 'PUT', target: '/auth/token', ...body }, UNAUTHORIZED),
    refuse('GET /auth/revoke', { method: 'GET', target: '/auth/revoke' }, UNAUTHORIZED),
    refuse('PROPFIND /', { method: 'PROPFIND', target: '/' }, ANY_4XX),
    refuse('lowercase method "get /api/states"', { method: 'get', target: '/api/states' }, ANY_4XX),
  ];
}

// Onboarding is finished (the double's default): only GET /api/onboarding stays public (§8.3).
function onboardingFamily() {
  const json = (value) => ({ body: JSON.stringify(value), headers: [['Content-Type', 'application/json']] });
  return [
    refuse('POST /api/onboarding/users', { method: 'POST', target: '/api/onboarding/users', ...json({ client_id: 'http://gatehouse.example:8123/', name: 'Mallory', username: 'mallory', password: 'mallory-password', language: 'en' }) }, UNAUTHORIZED),
    refuse('GET /api/onboarding/installation_type', { target: '/api/onboarding/installation_type' }, UNAUTHORIZED),
    refuse('POST /api/onboarding/core_config', { method: 'POST', target: '/api/onboarding/core_config', ...json({}) }, UNAUTHORIZED),
    refuse('POST /api/onboarding/analytics', { method: 'POST', target: '/api/onboarding/analytics', ...json({}) }, UNAUTHORIZED),
    refuse('POST /api/onboarding/integration', { method: 'POST', target: '/api/onboarding/integration', ...json({ client_id: 'x', redirect_uri: 'x' }) }, UNAUTHORIZED),
    refuse('GET /api/onboarding/backup/info', { target: '/api/onboarding/backup/info' }, UNAUTHORIZED),
    refuse('POST /api/onboarding/backup/restore', { method: 'POST', target: '/api/onboarding/backup/restore', ...json({}) }, UNAUTHORIZED),
    refuse('POST /api/onboarding/cloud/login', { method: 'POST', target: '/api/onboarding/cloud/login', ...json({}) }, UNAUTHORIZED),
    refuse('GET /api/onboarding/ (trailing slash)', { target: '/api/onboarding/' }, UNAUTHORIZED),
    refuse('GET /api/onboarding/users', { target: '/api/onboarding/users' }, UNAUTHORIZED),
    refuse('POST /api/onboarding/users, browser', { method: 'POST', target: '/api/onboarding/users', accept: ACCEPT_HTML, ...json({}) }, UNAUTHORIZED),
  ];
}

// Everything not on the allowlist: /local/* (local_files is off by default), token-in-URL media routes
// (not public by default), other integration routes, and page-like requests that are not navigations.
function notPublicFamily() {
  return [
    refuse('GET /local/secret.txt', { target: '/local/secret.txt' }, UNAUTHORIZED),
    refuse('GET /local/secret.txt, browser', { target: '/local/secret.txt', accept: ACCEPT_HTML }, UNAUTHORIZED),
    refuse('GET /local/', { target: '/local/' }, UNAUTHORIZED),
    refuse('GET /local/cam/snapshot.jpg', { target: '/local/cam/snapshot.jpg' }, UNAUTHORIZED),
    refuse('GET /hacsfiles/card.js', { target: '/hacsfiles/card.js' }, UNAUTHORIZED),
    refuse('GET /api/camera_proxy/camera.door?token=x', { target: '/api/camera_proxy/camera.door?token=abc' }, UNAUTHORIZED),
    refuse('GET /api/image_proxy/image.x?token=x', { target: '/api/image_proxy/image.x?token=abc' }, UNAUTHORIZED),
    refuse('GET /api/tts_proxy/abc.mp3', { target: '/api/tts_proxy/abc.mp3' }, UNAUTHORIZED),
    refuse('GET /api/hls/abc/master_playlist.m3u8', { target: '/api/hls/abc/master_playlist.m3u8' }, UNAUTHORIZED),
    refuse('GET /api/image/serve/abc/512x512', { target: '/api/image/serve/abc/512x512' }, UNAUTHORIZED),
    refuse('GET /api/alexa/flash_briefings/x', { target: '/api/alexa/flash_briefings/x' }, UNAUTHORIZED),
    refuse('GET /auth/external/callback', { target: '/auth/external/callback?code=x&state=y' }, UNAUTHORIZED),
    refuse('POST /auth/link_user', { method: 'POST', target: '/auth/link_user', body: '{}', headers: [['Content-Type', 'application/json']] }, UNAUTHORIZED),
    refuse('GET /api/error_log', { target: '/api/error_log' }, UNAUTHORIZED),
    refuse('GET /api/stream', { target: '/api/stream' }, UNAUTHORIZED),
    refuse('GET /api/backup/download/x.tar (no authSig)', { target: '/api/backup/download/x.tar' }, UNAUTHORIZED),
    // Panel-shaped paths that are not browser navigations.
    refuse('GET /lovelace/0 without Accept: text/html', { target: '/lovelace/0' }, UNAUTHORIZED),
    refuse('GET /profile as an API client', { target: '/profile' }, UNAUTHORIZED),
    refuse('GET /lovelace/0, browser with a garbage token', { target: '/lovelace/0', accept: ACCEPT_HTML, headers: [['Authorization', `Bearer ${GARBAGE}`]] }, UNAUTHORIZED),
    refuse('POST /lovelace/0, browser', { method: 'POST', target: '/lovelace/0', accept: ACCEPT_HTML, body: 'a=b', headers: [['Content-Type', 'application/x-www-form-urlencoded']] }, UNAUTHORIZED),
    refuse('GET /lovelace/x.js, browser (a dot is not a panel path)', { target: '/lovelace/x.js', accept: ACCEPT_HTML }, UNAUTHORIZED),
    refuse('GET /api/states, browser', { target: '/api/states', accept: ACCEPT_HTML }, UNAUTHORIZED),
    refuse('GET /api, browser (first segment "api")', { target: '/api', accept: ACCEPT_HTML }, UNAUTHORIZED),
    refuse('GET /auth/link_user, browser (first segment "auth")', { target: '/auth/link_user', accept: ACCEPT_HTML }, UNAUTHORIZED),
  ];
}

// authSig (§9.5): only a GET whose query carries authSig=<JWT-shaped, unexpired> is passed to HA,
// which checks the signature itself. Everything else that merely mentions authSig is refused.
function authSigFamily() {
  const expired = recordSecret(jwt({ iss: refreshTokenId(), path: '/media/local/signed.mp3', params: [], iat: nowSeconds() - 600, exp: nowSeconds() - 60 }), 'shield corpus: expired authSig');
  const valid = recordSecret(signedPath('/media/local/signed.mp3', 3600), 'shield corpus: forged authSig');
  return [
    refuse('HEAD with authSig (HA checks GET only)', { method: 'HEAD', target: `/media/local/signed.mp3?authSig=${valid}` }, UNAUTHORIZED),
    refuse('POST with authSig', { method: 'POST', target: `/media/local/signed.mp3?authSig=${valid}`, body: '{}' }, UNAUTHORIZED),
    refuse('expired authSig', { target: `/media/local/signed.mp3?authSig=${expired}` }, UNAUTHORIZED),
    refuse('authSig that is not a JWT', { target: '/media/local/signed.mp3?authSig=garbage' }, UNAUTHORIZED),
    refuse('empty authSig', { target: '/media/local/signed.mp3?authSig=' }, UNAUTHORIZED),
    refuse('lowercase authsig', { target: `/media/local/signed.mp3?authsig=${valid}` }, UNAUTHORIZED),
    refuse('authSig as part of another parameter name', { target: `/media/local/signed.mp3?xauthSig=${valid}` }, UNAUTHORIZED),
    // Gatehouse logs paths (queries never): this look-alike is not recorded as a secret, since only a
    // client that puts it in the path could make it appear there.
    refuse('authSig in the path, not the query', { target: `/media/local/authSig=${signedPath('/media/local/signed.mp3', 3600)}` }, UNAUTHORIZED),
    refuse('authSig on a traversal', { target: `/media/local/..%2f..%2fapi/states?authSig=${valid}` }, BAD),
  ];
}

// The allowlist itself: each must reach HA and come back with HA's own answer. Onboarding is done, so
// panel navigations get the shell, which Gatehouse asks HA for as "GET /".
function allowlistFamily(webhookIds, spoofedAddress) {
  const [postHook, putHook, getHook, headHook, deleteHook, bodyHook, chunkedHook] = webhookIds;
  const clientId = 'http://gatehouse.example:8123/';
  const form = { headers: [['Content-Type', 'application/x-www-form-urlencoded']] };
  const jsonBody = (value) => ({ body: JSON.stringify(value), headers: [['Content-Type', 'application/json']] });
  const smuggledText = hiddenRequest();
  const smuggledChunk = hiddenRequest();
  const signedMedia = recordSecret(signedPath('/media/local/shield-corpus.mp3', 3600), 'shield corpus: authSig (media)');
  const signedWidth = recordSecret(signedPath('/media/local/shield-corpus-width.mp3', 3600), 'shield corpus: authSig (width)');
  const signedBackup = recordSecret(signedPath('/api/backup/download/shield-corpus.tar', 3600), 'shield corpus: authSig (backup)');
  const navigation = (target) => allow(`browser navigation to ${target}`, { target, accept: ACCEPT_HTML }, HA.indexPage, '/');
  const chunkedBody = `${smuggledChunk.text.length.toString(16)}\r\n${smuggledChunk.text}\r\n0\r\n\r\n`;
  return [
    allow('GET /frontend_latest/app.js', { target: '/frontend_latest/app.js' }, HA.script),
    allow('GET /frontend_latest/haws.umd.js, browser', { target: '/frontend_latest/haws.umd.js', accept: ACCEPT_HTML }, HA.script),
    allow('GET /frontend_latest/ missing file', { target: '/frontend_latest/missing-1234.js' }, HA.notFound),
    allow('HEAD /frontend_latest/authorize.js', { method: 'HEAD', target: '/frontend_latest/authorize.js' }, HA.staticHead),
    allow('GET /frontend_es5/app.js', { target: '/frontend_es5/app.js' }, HA.notFound),
    allow('GET /static/icons/favicon.ico', { target: '/static/icons/favicon.ico' }, HA.notFound),
    allow('GET /static/translations/en.json', { target: '/static/translations/en.json?v=1' }, HA.notFound),
    allow('GET /manifest.json', { target: '/manifest.json' }, HA.manifest),
    allow('HEAD /manifest.json', { method: 'HEAD', target: '/manifest.json' }, HA.methodNotAllowedHead),
    allow('GET /service_worker.js', { target: '/service_worker.js' }, HA.notFound),
    allow('GET /sw-modern.js', { target: '/sw-modern.js' }, HA.notFound),
    allow('GET /sw-legacy.js', { target: '/sw-legacy.js' }, HA.notFound),
    allow('GET /robots.txt', { target: '/robots.txt' }, HA.robots),
    allow('GET /onboarding.html', { target: '/onboarding.html', accept: ACCEPT_HTML }, HA.onboardingPage),
    allow('GET /auth/authorize with the app\'s parameters', {
      target: `/auth/authorize?response_type=code&client_id=${encodeURIComponent('https://home-assistant.io/iOS')}&redirect_uri=${encodeURIComponent('homeassistant://auth-callback')}&state=abc`,
      accept: ACCEPT_HTML,
    }, HA.authorizePage),
    allow('GET /auth/authorize bare', { target: '/auth/authorize' }, HA.authorizePage),
    allow('GET /.well-known/oauth-authorization-server', { target: '/.well-known/oauth-authorization-server' }, HA.json(200, '"token_endpoint"')),
    // Webhooks: any method; HA answers 200 for unknown ids and 405 for methods no webhook takes.
    allow('POST /api/webhook/<id>', { method: 'POST', target: `/api/webhook/${postHook}`, ...jsonBody({ type: 'update_location' }) }, HA.empty(200)),
    allow('PUT /api/webhook/<id>', { method: 'PUT', target: `/api/webhook/${putHook}`, ...jsonBody({}) }, HA.empty(200)),
    allow('GET /api/webhook/<id>', { target: `/api/webhook/${getHook}` }, HA.empty(200)),
    allow('HEAD /api/webhook/<id>', { method: 'HEAD', target: `/api/webhook/${headHook}` }, HA.empty(200)),
    allow('DELETE /api/webhook/<id>', { method: 'DELETE', target: `/api/webhook/${deleteHook}` }, HA.methodNotAllowed),
    // A body that looks like a request is only a body: HA gets it whole (checked at the end).
    { ...allow('POST /api/webhook/<id> whose Content-Length body is a request', { method: 'POST', target: `/api/webhook/${bodyHook}`, body: smuggledText.text, headers: [['Content-Type', 'text/plain'], ['Content-Length', String(smuggledText.text.length)]] }, HA.empty(200)), hidden: [smuggledText.path], webhookBody: { id: bodyHook, body: smuggledText.text } },
    { ...allow('POST /api/webhook/<id> whose chunked body is a request', { method: 'POST', target: `/api/webhook/${chunkedHook}`, body: chunkedBody, headers: [['Content-Type', 'text/plain'], ['Transfer-Encoding', 'chunked']] }, HA.empty(200)), hidden: [smuggledChunk.path], webhookBody: { id: chunkedHook, body: smuggledChunk.text } },
    // Auth endpoints. The failed code exchange is a failed login in HA's eyes; with a spoofed
    // X-Forwarded-For it must still be recorded under the client's address (checked at the end).
    allow('POST /auth/token with a bogus code and a spoofed X-Forwarded-For', {
      method: 'POST', target: '/auth/token', body: `grant_type=authorization_code&client_id=${encodeURIComponent(clientId)}&code=bogus`,
      headers: [...form.headers, ['X-Forwarded-For', GATEHOUSE_ADDRESS]],
    }, HA.json(400, 'invalid_request')),
    allow('POST /auth/revoke', { method: 'POST', target: '/auth/revoke', body: 'token=bogus', ...form }, HA.empty(200)),
    allow('GET /auth/providers', { target: '/auth/providers' }, HA.json(200, '"providers"')),
    allow('POST /auth/login_flow', { method: 'POST', target: '/auth/login_flow', ...jsonBody({ client_id: clientId, handler: ['homeassistant', null], redirect_uri: `${clientId}?auth_callback=1` }) }, HA.json(200, '"flow_id"')),
    allow('GET /auth/login_flow/<id>', { target: '/auth/login_flow/0123456789abcdef0123456789abcdef' }, HA.serverError),
    allow('POST /auth/login_flow/<id>', { method: 'POST', target: '/auth/login_flow/fedcba9876543210fedcba9876543210', ...jsonBody({ client_id: clientId, username: 'owner', password: 'wrong' }) }, HA.json(404, 'Invalid flow specified')),
    allow('DELETE /auth/login_flow/<id>', { method: 'DELETE', target: '/auth/login_flow/00000000000000000000000000000000' }, HA.json(404, 'Invalid flow specified')),
    // Onboarding status is always public.
    allow('GET /api/onboarding', { target: '/api/onboarding' }, HA.json(200, '"step"')),
    allow('GET /api/onboarding?lang=en', { target: '/api/onboarding?lang=en' }, HA.json(200, '"step"')),
    // authSig GETs reach HA, which rejects these forged signatures itself (its 401 or 404, not Gatehouse's).
    allow('GET /media/... with authSig', { target: `/media/local/shield-corpus.mp3?authSig=${signedMedia}` }, HA.unauthorized),
    allow('GET /media/... with width and authSig', { target: `/media/local/shield-corpus-width.mp3?width=100&authSig=${signedWidth}` }, HA.unauthorized),
    allow('GET /api/backup/download/... with authSig', { target: `/api/backup/download/shield-corpus.tar?authSig=${signedBackup}` }, HA.notFound),
    // A CORS preflight can never carry a token (browsers send none), so HA's CORS layer must answer
    // it, or cross-origin clients with a bearer token (the Cast receiver) break. Not in the spec's
    // list; HA answers it without running the view.
    allow('CORS preflight OPTIONS /api/states from the Cast origin', {
      method: 'OPTIONS', target: '/api/states',
      headers: [['Origin', 'https://cast.home-assistant.io'], ['Access-Control-Request-Method', 'GET'], ['Access-Control-Request-Headers', 'authorization']],
    }, { status: 200, header: ['access-control-allow-origin', 'https://cast.home-assistant.io'] }),
    // Double encoding under a public prefix is a literal '%' to Gatehouse, so public; HA's own
    // security filter then refuses it.
    allow('double-encoded traversal under /frontend_latest/', { target: '/frontend_latest/..%252f..%252fapi/states' }, HA.securityFilter),
    allow('double-encoded traversal under /static/', { target: '/static/%252e%252e/api/config' }, HA.securityFilter),
    // Browser navigations: HA's shell, asked for as "/" (the double never sees the panel path).
    navigation('/lovelace/0'),
    navigation('/config/dashboard'),
    navigation('/dashboard-kitchen'),
    navigation('/dashboard-kitchen/lights'),
    navigation('/history'),
    navigation('/developer-tools/state'),
    navigation('/energy'),
    navigation('/hassio/dashboard'),
    navigation('/profile/general'),
    navigation('/my_custom_panel'),
    { ...navigation('/map'), name: 'browser navigation to /map with a spoofed X-Forwarded-For', bytes: build({ target: '/map', accept: ACCEPT_HTML, headers: [['X-Forwarded-For', spoofedAddress]] }) },
  ];
}

// ---- sending -------------------------------------------------------------------------------------

// Parses the complete responses in `data` (1xx interim answers skipped). The first answers `method`;
// any later one answers a pipelined GET. A response whose body runs to the close is complete only
// once `closed`.
function parseResponses(data, method, closed) {
  const responses = [];
  let offset = 0;
  let currentMethod = method;
  while (offset < data.length) {
    const headEnd = data.indexOf('\r\n\r\n', offset);
    if (headEnd < 0) break;
    const [statusLine, ...lines] = data.subarray(offset, headEnd).toString('latin1').split('\r\n');
    const match = /^HTTP\/\d\.\d (\d{3})/.exec(statusLine);
    if (!match) break;
    const status = Number(match[1]);
    const headers = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const bodyStart = headEnd + 4;
    if (status >= 100 && status < 200) {
      offset = bodyStart;
      continue;
    }
    let body;
    let end;
    if (currentMethod === 'HEAD' || status === 204 || status === 304) {
      body = Buffer.alloc(0);
      end = bodyStart;
    } else if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) {
      const decoded = decodeChunked(data, bodyStart);
      if (!decoded) break;
      ({ body, end } = decoded);
    } else if (headers['content-length'] !== undefined) {
      end = bodyStart + Number(headers['content-length']);
      if (data.length < end) break;
      body = data.subarray(bodyStart, end);
    } else {
      if (!closed) break;
      body = data.subarray(bodyStart);
      end = data.length;
    }
    responses.push({ status, headers, body });
    offset = end;
    currentMethod = 'GET';
  }
  return responses;
}

function decodeChunked(data, start) {
  const parts = [];
  let offset = start;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', offset);
    if (lineEnd < 0) return null;
    const size = parseInt(data.subarray(offset, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) return null;
    offset = lineEnd + 2;
    if (size === 0) {
      const trailerEnd = data.indexOf('\r\n', offset);
      if (trailerEnd < 0) return null;
      return { body: Buffer.concat(parts), end: trailerEnd + 2 };
    }
    if (data.length < offset + size + 2) return null;
    parts.push(data.subarray(offset, offset + size));
    offset += size + 2;
  }
}

/**
 * Sends one entry on a fresh connection from `from`. Resolves with the responses once the first is
 * complete (or, for entries that hide a second request, once the server closed), or when the
 * connection ended; `end` says which.
 */
function exchange(port, entry, from) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: GATEHOUSE_ADDRESS, localAddress: from });
    let data = Buffer.alloc(0);
    let settled = false;
    const finish = (end) => {
      if (settled) return;
      settled = true;
      clearTimeout(guard);
      socket.destroy();
      resolve({ end, responses: parseResponses(data, entry.method, end !== 'response'), bytesReceived: data.length });
    };
    // Only a hung exchange ever waits this long; it is then reported, never retried.
    const guard = setTimeout(() => finish('timeout'), RESPONSE_GUARD_MS);
    socket.on('connect', () => socket.write(entry.bytes, () => {}));
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      if (!entry.waitForClose && parseResponses(data, entry.method, false).length > 0) finish('response');
    });
    socket.on('end', () => finish('closed'));
    socket.on('close', () => finish('closed'));
    // A server that answers a huge head early and closes may reset our unread write; what arrived counts.
    socket.on('error', (error) => finish(`error ${error.code ?? error.message}`));
  });
}

// ---- judging ---------------------------------------------------------------------------------------

const preview = (text, max = 160) => {
  const shown = JSON.stringify(text);
  return shown.length > max ? `${shown.slice(0, max)}…" (${text.length} chars)` : shown;
};
const requestLine = (entry) => entry.bytes.subarray(0, Math.min(entry.bytes.length, 400)).toString('latin1').split(/\r?\n/)[0];

function describeResponse(response) {
  if (!response) return 'no response';
  const type = response.headers['content-type'] ?? '(no content-type)';
  return `${response.status} ${type} ${preview(response.body.toString('utf8'), 200)}`;
}

function describeExpectation(entry) {
  if (entry.expect === 'allowed') {
    const { status, type, includes } = entry.answer;
    return `forwarded to HA (as ${preview(entry.doublePath, 80)}) and HA's answer: ${status}${type ? ` ${type}` : ''}${includes ? ` containing ${preview(includes, 60)}` : ''}`;
  }
  const statuses = entry.status ? entry.status.join(' or ') : 'any 4xx';
  return `refused by Gatehouse with ${statuses}${entry.orClose ? ' (or the connection closed without an answer)' : ''}${entry.html ? ', as an HTML page' : ''}`;
}

// Why `result` does not meet the entry's expectation, or null when it does.
function problemWith(entry, result) {
  const [first, second] = result.responses;
  if (entry.expect === 'allowed') {
    if (!first) return `no response (${result.end})`;
    const { status, type, includes, header } = entry.answer;
    if (first.status !== status) return `status ${first.status}`;
    if (header && first.headers[header[0]] !== header[1]) return `${header[0]}: ${first.headers[header[0]]}`;
    if (type && !type.test(first.headers['content-type'] ?? '')) return `content-type ${first.headers['content-type']}`;
    if (includes && !first.body.toString('utf8').includes(includes)) return 'body is not HA\'s';
    if (entry.secondStatus && second && second.status !== entry.secondStatus) return `the pipelined request got ${second.status}, expected ${entry.secondStatus}`;
    return null;
  }
  if (!first) return entry.orClose && result.end !== 'timeout' ? null : `no response (${result.end})`;
  if (first.status < 400 || first.status > 499) return `status ${first.status} is not a 4xx refusal`;
  if (entry.status && !entry.status.includes(first.status)) return `status ${first.status}`;
  if (entry.method === 'HEAD') return null; // no body to look at
  const type = first.headers['content-type'] ?? '';
  if (entry.html) return /^text\/html/.test(type) ? null : `content-type ${type || '(none)'}, expected Gatehouse's HTML page`;
  // API clients get Gatehouse's JSON refusal; HA's own 4xx bodies are plain text, so this also tells
  // a refusal from a forwarded request.
  if (!/^application\/json/.test(type)) return `content-type ${type || '(none)'}, expected Gatehouse's JSON refusal`;
  let json;
  try {
    json = JSON.parse(first.body.toString('utf8'));
  } catch {
    return 'the body is not JSON';
  }
  if (typeof json?.code !== 'string') return 'the JSON refusal has no "code"';
  const code = REFUSAL_CODES[first.status];
  if (code && json.code !== code) return `code ${JSON.stringify(json.code)}, expected ${JSON.stringify(code)}`;
  return null;
}

// ---- the stack -------------------------------------------------------------------------------------

let double;
let gatehouse;

// Webhook ids are secrets (HA's mobile_app ids are); recorded so no log may show them.
const webhookIds = Array.from({ length: 8 }, (_, index) => newSecret(`shield corpus webhook ${index}`));

// Distinct client addresses per family: HA's and Gatehouse's records then name the family, and no
// per-address accounting in either can spill from one family into another.
const FAMILY_BUILDERS = [
  ['supervisor path tricks (HA 2023 hassio advisory)', supervisorFamily],
  ['malformed targets (Authelia CVE-2021-32637 style)', malformedTargetFamily],
  ['encoded traversal out of public prefixes', traversalFamily],
  ['case and slash variants', caseAndSlashFamily],
  ['";" path parameters', semicolonFamily],
  ['protected paths without a usable token', tokenFamily],
  ['Host and forwarding header spoofing', spoofFamily],
  ['request smuggling and malformed framing', () => smugglingFamily(webhookIds[7])],
  ['oversized heads', oversizedFamily],
  ['methods', methodFamily],
  ['onboarding routes after onboarding', onboardingFamily],
  ['routes that are not public', notPublicFamily],
  ['authSig look-alikes', authSigFamily],
  ['the allowlist still works', () => allowlistFamily(webhookIds, GATEHOUSE_ADDRESS)],
];


const families = FAMILY_BUILDERS.map(([title, builder], index) => {
  const from = `127.0.0.${2 + index}`;
  const entries = builder().map((entry, position) => ({ ...entry, id: `${index + 1}.${position + 1}`, family: title, from }));
  return { title, from, entries };
});
const corpus = families.flatMap((family) => family.entries);
const results = new Map(); // entry -> result
const clientAddresses = new Set(families.map((family) => family.from));

before(async () => {
  double = await startDouble({ useXForwardedFor: true, trustedProxies: [GATEHOUSE_ADDRESS] });
  // Default shield settings (enforce); Gatehouse believes no client's forwarding headers.
  gatehouse = await startGatehouse({ upstream: double.url, config: { trusted_proxies: [], timeouts: { header_read: HEADER_READ } } });
  assert.equal(gatehouse.host, GATEHOUSE_ADDRESS);
  // Only what the corpus causes counts from here on.
  const reset = await request(`${double.url}/__double/reset-counters`, { method: 'POST' });
  assert.equal(reset.status, 200);
});

after(async () => {
  await gatehouse?.stop();
  await double?.close();
});

const doubleGet = async (path) => {
  const response = await request(`${double.url}/__double/${path}`);
  assert.equal(response.status, 200, `GET /__double/${path}: ${response.text()}`);
  return response.json();
};

test(`the corpus has at least ${MIN_CORPUS} requests`, TEST_GUARD, (t) => {
  for (const family of families) t.diagnostic(`${family.entries.length.toString().padStart(4)}  ${family.title} (from ${family.from})`);
  t.diagnostic(`${corpus.length.toString().padStart(4)}  in all`);
  assert.ok(corpus.length >= MIN_CORPUS, `only ${corpus.length} requests in the corpus`);
  const ids = new Set(corpus.map((entry) => entry.id));
  assert.equal(ids.size, corpus.length);
});

for (const family of families) {
  test(`${family.title}: ${family.entries.length} requests`, TEST_GUARD, async () => {
    const problems = [];
    // One at a time: the double's counts are read afterwards, and nothing here races another request.
    for (const entry of family.entries) {
      const result = await exchange(gatehouse.port, entry, family.from);
      const problem = problemWith(entry, result);
      results.set(entry, { ...result, problem });
      if (problem) {
        problems.push(`[${entry.id}] ${entry.name}\n      sent:     ${preview(requestLine(entry))}\n      expected: ${describeExpectation(entry)}\n      got:      ${problem}; ${describeResponse(result.responses[0])} (${result.end})`);
      }
    }
    assert.equal(problems.length, 0, `${problems.length} of ${family.entries.length} requests were not handled as the shield requires:\n${problems.join('\n')}`);
  });
}

test('HA saw exactly the allowlisted requests, each as often as it was sent, and nothing else', TEST_GUARD, async () => {
  assert.equal(results.size, corpus.length, 'every corpus request was sent');
  const counts = await doubleGet('request-counts');
  const expected = new Map();
  for (const entry of corpus) if (entry.expect === 'allowed') expected.set(entry.doublePath, (expected.get(entry.doublePath) ?? 0) + 1);

  // Which entries could have put `path` in HA's counts: their own target or HA path, or a request
  // they hid. Those whose own answer was wrong (likely HA's, not Gatehouse's) come first, marked "!".
  const failed = corpus.filter((entry) => results.get(entry)?.problem);
  const line = (entry) => `      ${results.get(entry)?.problem ? '!' : ' '} [${entry.id}] ${entry.family} / ${entry.name}: ${preview(requestLine(entry), 120)}`;
  const suspects = (path, wanted) => {
    // Allowlisted entries expected at this path are counted, not listed; a request hidden behind one is.
    const named = corpus.filter((entry) => (entry.expect === 'refused' && doubleKey(entry.target) === path) || entry.hidden?.includes(path));
    named.sort((a, b) => Boolean(results.get(b)?.problem) - Boolean(results.get(a)?.problem));
    const shown = named.slice(0, 12).map(line);
    if (named.length > 12) shown.push(`        … and ${named.length - 12} more`);
    if (wanted > 0) shown.push(`        (${wanted} allowlisted request(s) expected here)`);
    if (!named.some((entry) => results.get(entry)?.problem) && failed.length > 0) {
      // A rewritten target (a navigation answered with "/") names no path of its own.
      shown.push(`        entries answered wrongly elsewhere: ${failed.map((entry) => entry.id).join(', ')}`);
    }
    return shown.length ? shown.join('\n') : '        (no corpus entry names this path: a request Gatehouse made itself)';
  };

  const leaked = [];
  for (const [path, seen] of Object.entries(counts)) {
    const wanted = expected.get(path) ?? 0;
    if (seen <= wanted || GATEHOUSE_OWN_QUERIES.has(path)) continue;
    leaked.push(`  ${preview(path, 100)} reached HA ${seen} time(s), ${wanted} expected; sent by:\n${suspects(path, wanted)}`);
  }
  const missing = [];
  for (const [path, wanted] of expected) {
    const seen = counts[path] ?? 0;
    if (seen < wanted) missing.push(`  ${preview(path, 100)} reached HA ${seen} time(s), ${wanted} expected`);
  }
  assert.equal(leaked.length, 0, `requests reached HA that the shield must have refused:\n${leaked.join('\n')}`);
  // Every token in the corpus is one Gatehouse can refuse on its own (wrong scheme, malformed, expired,
  // too long, or not in the Authorization header): had it asked HA about one, HA would have recorded a
  // failed websocket login, naming the client (so the family) it asked for.
  const familyOf = new Map(families.map((family) => [family.from, family.title]));
  const probes = (await doubleGet('failed-logins')).filter((entry) => entry.path === '/api/websocket');
  assert.deepEqual(probes.map((entry) => `${entry.reason} for ${entry.ip} (${familyOf.get(entry.ip) ?? 'not a corpus client'})`), [],
    'Gatehouse asked HA about a token it should have refused by itself');
  assert.equal((await doubleGet('websockets')).authenticated, 0, 'no websocket authenticated at HA during the corpus');
  assert.equal(missing.length, 0, `allowlisted requests did not all reach HA:\n${missing.join('\n')}`);

  // A body that looks like a request reached HA as that body, byte for byte.
  const deliveries = await doubleGet('webhook-deliveries');
  for (const entry of corpus.filter((item) => item.webhookBody)) {
    const delivered = deliveries.filter((delivery) => delivery.webhookId === entry.webhookBody.id);
    assert.deepEqual(delivered.map((delivery) => delivery.body), [entry.webhookBody.body], `[${entry.id}] ${entry.name}`);
  }
  // Webhooks came from the client's address, not Gatehouse's.
  assert.deepEqual(deliveries.filter((delivery) => !clientAddresses.has(delivery.remote)).map((delivery) => delivery.remote), []);
});

// A well-formed, unexpired token only HA can reject: Gatehouse may ask HA about it (with the client's
// address), but the request itself must never reach HA. Kept apart from the corpus because the
// check may add its own requests to HA's counts.
test('a forged but well-formed token is refused and its request never reaches HA', TEST_GUARD, async () => {
  const from = `127.0.0.${2 + families.length}`;
  clientAddresses.add(from);
  const countsBefore = await doubleGet('request-counts');
  const entries = [
    refuse('GET with a forged token', { target: '/api/states/sensor.forged_token_1', headers: [['Authorization', `Bearer ${FORGED}`]] }, UNAUTHORIZED),
    refuse('GET with a forged token, browser', { target: '/api/states/sensor.forged_token_2', accept: ACCEPT_HTML, headers: [['Authorization', `Bearer ${FORGED}`]] }, UNAUTHORIZED),
    refuse('POST with a forged token', { method: 'POST', target: '/api/services/light/forged_token_3', body: '{}', headers: [['Content-Type', 'application/json'], ['Authorization', `Bearer ${FORGED}`]] }, UNAUTHORIZED),
    refuse('GET with a forged token and a spoofed X-Forwarded-For', { target: '/api/states/sensor.forged_token_4', headers: [['Authorization', `Bearer ${FORGED}`], ['X-Forwarded-For', GATEHOUSE_ADDRESS]] }, UNAUTHORIZED),
  ];
  const problems = [];
  for (const entry of entries) {
    const result = await exchange(gatehouse.port, entry, from);
    const problem = problemWith(entry, result);
    if (problem) problems.push(`${entry.name}: ${problem}; ${describeResponse(result.responses[0])} (${result.end})`);
  }
  assert.deepEqual(problems, []);
  const counts = await doubleGet('request-counts');
  const reached = entries.map((entry) => doubleKey(entry.target)).filter((path) => (counts[path] ?? 0) > (countsBefore[path] ?? 0));
  assert.deepEqual(reached, [], 'requests with a forged token reached HA');
});

// Runs last: every failed login HA recorded during this file (the allowlisted authSig GETs and the
// bogus code exchange are failed logins to HA, §1.12) names a client, never Gatehouse, whose address
// HA could otherwise end up banning.
test('HA recorded no failed login under Gatehouse\'s own address', TEST_GUARD, async () => {
  const failed = await doubleGet('failed-logins');
  assert.ok(failed.length > 0, 'the corpus caused failed logins at HA (authSig, /auth/token), so this check is not vacuous');
  assert.deepEqual(failed.filter((entry) => entry.ip === GATEHOUSE_ADDRESS), [], 'failed logins recorded under Gatehouse\'s address');
  assert.deepEqual(failed.filter((entry) => !clientAddresses.has(entry.ip)), [], 'failed logins recorded under an address that is no client of this test');
  // The spoofed X-Forwarded-For on /auth/token did not move HA's record off the client.
  const tokenFailure = failed.find((entry) => entry.path === '/auth/token');
  assert.ok(tokenFailure, `the bogus code exchange is a failed login: ${JSON.stringify(failed)}`);
  assert.equal(tokenFailure.ip, families.at(-1).from);
});
