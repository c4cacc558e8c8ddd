// The single-sign-on stack of the e2e tests (notes/sso-spec.md): the HA test double, one or more identity
// providers (tests/idp: the real oidc-provider, or the rogue one that mints bad ID tokens on purpose), and
// the real Gatehouse binary configured with `providers:` and `users:` in front of the double. Plus what a
// test needs to play a browser or an app through it: login() walks /auth/authorize -> IdP sign-in ->
// /sso/callback -> the client's redirect_uri over plain HTTP (tests/idp/drive-login.mjs), from a client
// address other than Gatehouse's own.
//
//   const stack = await startSsoStack(t, { providers: [{ alg: 'ES256' }], users: { deny_without_role: true } });
//   const result = await stack.login({ clientId: stack.frontendClientId, redirectUri: stack.frontendRedirectUri, state, username: 'alice' });
//   result.kind === 'redirect'; result.code, result.state, result.storeToken
//
// Everything secret the stack creates or sees (client secrets, HA's admin token, IdP and HA codes, ID and
// access tokens) is recorded for tests/check-logs.test.mjs, and stack.leakedSecrets() checks this
// stack's own Gatehouse logs for them at once.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startDouble } from './double.mjs';
import { startIdp } from '../../idp/oidc-idp.mjs';
import { startRogueIdp } from '../../idp/rogue-idp.mjs';
import { driveLogin, send, CookieJar } from '../../idp/drive-login.mjs';
import { baseConfig, freePort, freshDirectory, mergeConfig, runGatehouse, startGatehouse } from './harness.mjs';
import { bindClientAddress } from './client-address.mjs';
import { request } from './http-client.mjs';
import { newSecret, recordSecret } from './secrets.mjs';

export { CookieJar } from '../../idp/drive-login.mjs';

export const GATEHOUSE_ADDRESS = '127.0.0.1'; // where Gatehouse listens, and connects to HA and the IdPs from
export const CLIENT_ADDRESS = '127.0.0.2'; // where the tests' browser and apps connect from

// users.roles used unless a test gives its own: IdP group -> HA role.
export const DEFAULT_ROLES = { admin: ['ha-admins'], user: ['ha-users'], read_only: ['ha-guests'] };
// HA role -> HA group (sso-spec "users.roles").
export const ROLE_GROUPS = { admin: 'system-admin', user: 'system-users', read_only: 'system-read-only' };

// The people at the default IdP (sub -> claims). Names and usernames are what HA should end up with.
export const DEFAULT_IDP_USERS = {
  alice: { preferred_username: 'alice', name: 'Alice Liddell', email: 'alice@example.test', groups: ['ha-admins'] },
  bob: { preferred_username: 'Bob.Builder', name: 'Bob the Builder', email: 'bob@example.test', groups: ['ha-users'] },
  gus: { preferred_username: 'gus', name: 'Gus Guest', email: 'gus@example.test', groups: ['ha-guests'] },
  dora: { preferred_username: 'dora', name: 'Dora Explorer', email: 'dora@example.test', groups: ['ha-users'] },
  carol: { preferred_username: 'carol', name: 'Carol from the IdP', email: 'carol@example.test', groups: ['ha-admins'] },
  eve: { preferred_username: '  Eve Example! ', name: 'Eve Example', email: 'eve@example.test', groups: ['ha-users'] },
  nobody: { preferred_username: 'nobody', name: 'No Body', email: 'nobody@example.test', groups: ['unrelated'] },
};

// The HA clients of ha-auth-contract.md §7.1, with the exact client_id/redirect_uri pairs they use.
export const APPS = [
  { name: 'iOS app', clientId: 'https://home-assistant.io/iOS', redirectUri: 'homeassistant://auth-callback' },
  { name: 'Android app', clientId: 'https://home-assistant.io/android', redirectUri: 'homeassistant://auth-callback' },
  { name: 'Wear OS app', clientId: 'https://home-assistant.io/android', redirectUri: 'https://wear.googleapis.com/3p_auth/io.homeassistant.companion.android' },
  // Voice assistants are named on a consent page the person must allow (sso/client_trust).
  { name: 'Alexa', clientId: 'https://pitangui.amazon.com/', redirectUri: 'https://pitangui.amazon.com/api/skill/link/M2XXXXX', needsConsent: true, friendlyName: 'Amazon Alexa' },
  { name: 'Google Assistant', clientId: 'https://oauth-redirect.googleusercontent.com/', redirectUri: 'https://oauth-redirect.googleusercontent.com/r/project-x', needsConsent: true, friendlyName: 'Google Assistant' },
];

const HA_OWNER = { name: 'Owner', username: 'owner', isOwner: true, groups: ['system-admin'] };
const HA_ADMIN = { name: 'Gatehouse service', username: 'gatehouse-admin', isOwner: false, groups: ['system-admin'] };

function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function yamlScalar(value) {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new Error(`cannot write ${JSON.stringify(value)} as a YAML scalar`);
}

/**
 * Block-style YAML like harness.mjs's toYaml, plus lists of maps (`providers:`), written as block
 * sequences. Keys whose value is undefined are left out.
 */
export function toYamlDocument(value, indent = '') {
  const lines = [];
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined) continue;
    if (isPlainObject(item)) {
      if (Object.keys(item).length === 0) lines.push(`${indent}${key}: {}`);
      else lines.push(`${indent}${key}:`, toYamlDocument(item, `${indent}  `));
    } else if (Array.isArray(item)) {
      if (item.length === 0) {
        lines.push(`${indent}${key}: []`);
      } else if (item.every(isPlainObject)) {
        lines.push(`${indent}${key}:`);
        for (const entry of item) {
          const block = toYamlDocument(entry, `${indent}    `).split('\n');
          block[0] = `${indent}  - ${block[0].trimStart()}`;
          lines.push(...block);
        }
      } else if (item.some((entry) => typeof entry === 'object' && entry !== null)) {
        throw new Error(`cannot write a list mixing maps and scalars under ${key}`);
      } else {
        lines.push(`${indent}${key}: [${item.map(yamlScalar).join(', ')}]`);
      }
    } else {
      lines.push(`${indent}${key}: ${yamlScalar(item)}`);
    }
  }
  return lines.join('\n');
}

function writeCaCopy(path, pem) {
  writeFileSync(path, pem);
  return path;
}

function writeSecretFile(path, value) {
  writeFileSync(path, `${value}\n`, { mode: 0o600 }); // with a newline, as `echo ... > file` writes it
  chmodSync(path, 0o600); // whatever the umask
  return path;
}

// The forms in which a secret could end up in a log line (as tests/check-logs.test.mjs checks them).
function spellings(value) {
  return [...new Set([value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1), Buffer.from(value).toString('base64')])];
}

/** The HA frontend's OAuth state: base64 of {"hassUrl","clientId"} (ha-auth-contract.md §7.4). */
export function frontendState(hassUrl, clientId) {
  return Buffer.from(JSON.stringify({ hassUrl, clientId })).toString('base64');
}

/** A state string with characters that need encoding, plus randomness so every login's differs. */
export function trickyState(label = 'state') {
  return `${label} ${randomBytes(6).toString('base64')}/+=&?#é%20;`;
}

const stripTags = (html) => html.replace(/<script[\s\S]*?<\/script>/gi, ' ').replace(/<style[\s\S]*?<\/style>/gi, ' ')
  .replace(/<[^>]+>/g, ' ').replace(/&nbsp;/g, ' ').replace(/&amp;/g, '&').replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)))
  .replace(/\s+/g, ' ');

/** The visible text of an HTML page, tags removed and whitespace collapsed. */
export function pageText(html) {
  return stripTags(html ?? '').trim();
}

/**
 * The correlation id a refusal page shows: the first token of 6+ letters/digits containing a digit after
 * "ref", "reference", "correlation id", "request id", "error id", "incident" or "support code"; or null.
 */
export function correlationIdOf(html) {
  const text = pageText(html);
  const pattern = /\b(?:ref(?:erence)?|correlation(?:[ -]?id)?|request[ -]?id|error[ -]?id|incident(?:[ -]?id)?|support[ -]?code)\b[^A-Za-z0-9]{0,4}([A-Za-z0-9][A-Za-z0-9_-]{5,})/gi;
  for (const match of text.matchAll(pattern)) if (/\d/.test(match[1])) return match[1];
  return null;
}

/** The links of an HTML page: [{href (entities decoded), text}]. */
export function linksOf(html) {
  return [...(html ?? '').matchAll(/<a\b[^>]*\bhref\s*=\s*(?:"([^"]*)"|'([^']*)')[^>]*>([\s\S]*?)<\/a>/gi)].map((match) => ({
    href: (match[1] ?? match[2]).replace(/&amp;/g, '&').replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n))).replace(/&quot;/g, '"'),
    text: pageText(match[3]),
  }));
}

/** The code a page shows large (an app hand-off's waiting page, its consent page), or null. */
export function shownCodeOf(html) {
  return (html ?? '').match(/<p class="code">([^<]*)<\/p>/)?.[1] ?? null;
}

/** A query string decoded like HA's frontend does (split on & and =, decodeURIComponent): [[name, value]]. */
export function decodeQuery(query) {
  const decode = (text) => {
    try { return decodeURIComponent(text); } catch { return text; }
  };
  return query.split('&').filter((part) => part !== '').map((part) => {
    const eq = part.indexOf('=');
    return eq < 0 ? [decode(part), ''] : [decode(part.slice(0, eq)), decode(part.slice(eq + 1))];
  });
}

/** Whether `location` is `redirectUri` with a query appended (`?` or `&`), or exactly it. */
export function isRedirectTo(location, redirectUri) {
  if (!location || !location.startsWith(redirectUri)) return false;
  const next = location[redirectUri.length];
  return next === undefined || next === '?' || next === '&' || next === '#';
}

const isLoopbackHost = (hostname) => ['127.0.0.1', 'localhost', '[::1]'].includes(hostname) || /^127\./.test(hostname);

// A `gatehouse audit --json` line, with the fields this suite reads under stable names.
function normalizeAuditEntry(raw) {
  let detail = raw.detail;
  if (typeof detail === 'string') {
    try { detail = JSON.parse(detail); } catch { /* kept as text */ }
  }
  const pick = (...values) => values.find((value) => typeof value === 'string' && value !== '') ?? null;
  return {
    kind: pick(raw.kind, raw.event, raw.type, raw.action),
    reason: pick(raw.reason, isPlainObject(detail) ? detail.reason : undefined),
    user: pick(raw.user, raw.username, raw.subject, isPlainObject(detail) ? detail.username : undefined),
    text: JSON.stringify(raw),
    raw,
  };
}

/**
 * Starts the SSO stack; stopped when test context `t` ends (pass null and call stop() yourself, e.g.
 * from a describe's after hook).
 *
 * providers: one entry per IdP, each {
 *   id ('idp1', 'idp2', ...), name, kind ('oidc' | 'rogue'), tls (true), alg ('RS256'), claimsInUserinfoOnly,
 *   users (oidc: sub -> claims, default DEFAULT_IDP_USERS), user (rogue: its one user), mode (rogue),
 *   clientAuth ('client_secret_basic' | 'client_secret_post'; unset = Gatehouse's default, basic),
 *   secretVia ('file' | 'env'), caFile (false to leave ca_file out), config (extra keys of that providers[] entry) }
 * users: Gatehouse's `users:` section, merged over { roles: DEFAULT_ROLES }.
 * haOptions: startDouble options; `users` are added after the owner and the admin Gatehouse uses.
 * gatehouseConfig: overrides of the Gatehouse config (merged as harness.mjs does).
 */
export async function startSsoStack(t, { providers = [{}], users = {}, haOptions = {}, gatehouseConfig = {}, clientAddress = CLIENT_ADDRESS } = {}) {
  const stack = {};
  const cleanups = [];
  const secrets = [];
  const gatehouses = [];
  let stopped = false;
  stack.stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const cleanup of cleanups.reverse()) await cleanup();
  };
  t?.after(() => stack.stop());

  const remember = (value, label) => {
    if (typeof value !== 'string' || value === '') return value;
    if (!secrets.some((secret) => secret.value === value)) {
      secrets.push({ label, value });
      recordSecret(value, label);
    }
    return value;
  };
  const fresh = (label) => {
    const value = newSecret(label);
    secrets.push({ label, value });
    return value;
  };

  try {
    const directory = freshDirectory('gatehouse-sso-');
    const port = await freePort();
    const externalUrl = `http://${GATEHOUSE_ADDRESS}:${port}`;
    const callbackUrl = `${externalUrl}/sso/callback`;

    // ---- Home Assistant (the double) with an owner and the admin user whose token Gatehouse uses ----
    const { users: extraHaUsers = [], ...otherHaOptions } = haOptions;
    const owner = { ...HA_OWNER, password: fresh('HA owner password') };
    const admin = { ...HA_ADMIN, password: fresh('HA admin password') };
    const double = await startDouble({ useXForwardedFor: true, trustedProxies: [GATEHOUSE_ADDRESS], ...otherHaOptions, users: [owner, admin, ...extraHaUsers] });
    cleanups.push(() => double.close());
    const adminUserId = double.state.userIds[admin.username];
    const adminToken = remember(double.createLongLivedToken(adminUserId, { clientName: 'Gatehouse' }).token, 'HA admin long-lived token (token_file)');
    const tokenFile = writeSecretFile(join(directory, 'ha-token'), adminToken);

    // What reaches HA's login flow and token endpoint, as sent (peer address and X-Forwarded-For); the
    // double's own request handling is not touched.
    const haRequests = [];
    double.server.prependListener('request', (req) => {
      const path = req.url.split('?')[0];
      if (path.startsWith('/auth/')) {
        haRequests.push({ method: req.method, path, peer: req.socket.remoteAddress, forwardedFor: req.headers['x-forwarded-for'] ?? null, cookie: req.headers.cookie ?? null });
      }
    });

    // ---- identity providers ----
    const idps = [];
    const env = {};
    for (const [index, options] of providers.entries()) {
      const id = options.id ?? `idp${index + 1}`;
      const kind = options.kind ?? 'oidc';
      const tls = options.tls ?? true;
      const clientId = `gatehouse-${id}`;
      const clientSecret = fresh(`client secret of provider ${id}`);
      const client = {
        client_id: clientId, client_secret: clientSecret, redirect_uris: [callbackUrl],
        post_logout_redirect_uris: [`${externalUrl}/sso/signed-out`], // providers[].logout: idp
      };
      if (options.clientAuth) client.token_endpoint_auth_method = options.clientAuth;
      if (options.backchannelLogout) {
        client.backchannel_logout_uri = `${externalUrl}/sso/backchannel-logout`;
        client.backchannel_logout_session_required = options.backchannelLogout !== 'sub';
      }
      let idp;
      if (kind === 'rogue') {
        idp = await startRogueIdp({ tls, mode: options.mode, clients: [client], user: options.user ?? { groups: ['ha-users'] } });
      } else {
        idp = await startIdp({
          tls, alg: options.alg ?? 'RS256', claimsInUserinfoOnly: Boolean(options.claimsInUserinfoOnly),
          clients: [client], users: options.users ?? DEFAULT_IDP_USERS, backchannelLogout: Boolean(options.backchannelLogout),
          ...options.idpOptions,
        });
      }
      cleanups.push(() => idp.close());
      const entry = { id, name: options.name ?? `Test IdP ${index + 1}`, kind, idp, issuer: idp.issuer, clientId, clientSecret, ca: idp.ca };
      entry.idTokens = kind === 'rogue' ? idp.idTokens : []; // every ID token the IdP issued, oldest first
      entry.refreshTokens = []; // every refresh token the (real) IdP issued, oldest first
      if (kind === 'rogue') {
        entry.idTokensSeen = 0;
      } else {
        watchOidcTokens(entry, remember);
      }
      const providerConfig = { id, name: entry.name, issuer: idp.issuer, client_id: clientId };
      if ((options.secretVia ?? 'file') === 'env') {
        env[`GATEHOUSE_PROVIDER_${id.toUpperCase().replace(/-/g, '_')}_CLIENT_SECRET`] = clientSecret;
      } else {
        providerConfig.client_secret_file = writeSecretFile(join(directory, `client-secret-${id}`), clientSecret);
      }
      if (options.clientAuth) providerConfig.client_auth = options.clientAuth;
      // A copy: the IdP removes its own files when it closes, and `gatehouse audit` still reads the config.
      if (tls && options.caFile !== false) providerConfig.ca_file = writeCaCopy(join(directory, `ca-${id}.pem`), idp.ca);
      Object.assign(providerConfig, options.config);
      entry.config = providerConfig;
      idps.push(entry);
    }

    // ---- Gatehouse ----
    const overrides = mergeConfig({
      listen: `${GATEHOUSE_ADDRESS}:${port}`,
      external_url: externalUrl,
      trusted_proxies: [],
      home_assistant: { url: double.url, token_file: tokenFile },
      providers: idps.map((entry) => entry.config),
      users: mergeConfig({ roles: DEFAULT_ROLES }, users),
    }, gatehouseConfig);
    const effective = mergeConfig(baseConfig(directory, double.url), overrides);
    const configText = `${toYamlDocument(effective)}\n`;
    const startOne = async () => {
      const instance = await startGatehouse({ directory, upstream: double.url, config: overrides, configText, env });
      gatehouses.push(instance);
      return instance;
    };
    let gatehouse;
    cleanups.push(async () => { await gatehouse?.stop(); }); // runs before the IdPs and HA are closed
    gatehouse = await startOne();
    const unbind = bindClientAddress(GATEHOUSE_ADDRESS, port, clientAddress);
    cleanups.push(unbind);
    const trust = idps.map((entry) => entry.ca).filter(Boolean);
    const preexistingUserIds = new Set(double.users().map((user) => user.id));

    Object.assign(stack, {
      double, idps, idp: idps[0]?.idp, directory, port, externalUrl, callbackUrl, clientAddress, tokenFile,
      adminUserId, ownerId: double.state.ownerId, owner: { username: owner.username, password: owner.password }, adminToken, haRequests, secrets,
      get gatehouse() { return gatehouse; },
      gatehouses,
      frontendClientId: `${externalUrl}/`,
      frontendRedirectUri: `${externalUrl}/?auth_callback=1`,
      configPath: join(directory, 'gatehouse.yaml'),
      config: effective,
      masterKeyPath: join(effective.data_dir, 'master.key'),
      rememberSecret: remember,
    });

    /** Stops Gatehouse and starts it again on the same port, config and data_dir. */
    stack.restartGatehouse = async () => {
      const result = await gatehouse.stop();
      gatehouse = await startOne();
      return result;
    };

    /** The /auth/authorize URL a client opens. Parameters left undefined are not sent. */
    stack.authorizeUrl = ({ clientId, redirectUri, state, responseType = 'code', path = '/auth/authorize' } = {}) => {
      const query = new URLSearchParams();
      if (responseType !== undefined) query.set('response_type', responseType);
      if (clientId !== undefined) query.set('client_id', clientId);
      if (redirectUri !== undefined) query.set('redirect_uri', redirectUri);
      if (state !== undefined) query.set('state', state);
      return `${externalUrl}${path}?${query}`;
    };

    /**
     * Walks a login like a browser from `startUrl` (default: /auth/authorize with the given client), and
     * stops at the redirect to redirectUri. With stopBeforeCallback it stops at the IdP's redirect to
     * /sso/callback instead (result.kind 'callback', result.callbackUrl): finish it with resume().
     * Returns { kind: 'redirect' | 'callback' | 'elsewhere' | 'page', location, params, code, state,
     * storeToken, status, headers, body, url, history, callbackUrl, correlationId }.
     * An Android app sign-in is handed to the browser (oidc/app_handoff): the walk plays both, the app's
     * web view in `jar` and the person's browser in a jar of its own (`browserJar`), which signs in, checks
     * the code matches and answers the consent page (`consent`, default allow); then the web view loads
     * its waiting page again. result.handoff = { waitUrl, code, consentPage, browserPage, browserJar }.
     */
    stack.login = async ({ clientId = stack.frontendClientId, redirectUri = stack.frontendRedirectUri, state, username, deny = false,
      jar = new CookieJar(), stopBeforeCallback = false, startUrl, consent, signOut = false, browserJar, headers } = {}) => {
      const start = startUrl ?? stack.authorizeUrl({ clientId, redirectUri, state });
      return walk(start, { redirectUri, username, deny, jar, stopBeforeCallback, consent, signOut, browserJar, headers });
    };

    /** The consent id of a consent page (the hidden field of its forms), or null. */
    stack.consentIdOf = (body) => (body ?? '').match(/name="consent" value="([^"]+)"/)?.[1] ?? null;

    /** Answers a consent page: POST /sso/consent from the client address, with the browser's jar. */
    stack.answerConsent = (consentId, answer, { jar, headers = {} } = {}) => send(`${externalUrl}/sso/consent`, {
      method: 'POST', jar, body: new URLSearchParams({ consent: consentId, answer }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    });

    /** Continues a login from a URL (a /sso/callback URL, or a chooser link) in the same browser jar. */
    stack.resume = (url, { redirectUri = stack.frontendRedirectUri, jar, username, deny = false, stopBeforeCallback = false, signOut = false } = {}) =>
      walk(new URL(url, externalUrl).href, { redirectUri, username, deny, jar: jar ?? new CookieJar(), stopBeforeCallback, signOut });

    // `headers`: sent on every hop of the walk (a browser's Sec-Fetch-Site, say).
    const walk = async (startUrl, { redirectUri, username, deny, jar, stopBeforeCallback, consent, signOut = false, browserJar, headers }) => {
      const stopWhen = (url, res) => {
        if (!res.location) return false;
        if (isRedirectTo(res.location, redirectUri)) return true;
        if (stopBeforeCallback && res.location.startsWith(`${callbackUrl}?`)) return true;
        const target = new URL(res.location);
        return !/^https?:$/.test(target.protocol) || !isLoopbackHost(target.hostname);
      };
      let walked = await driveLogin(startUrl, { username, deny, signOut, jar, stopWhen, headers, ca: trust.length ? trust : undefined });
      let handoff = null;
      if (!walked.location && walked.status === 200 && new URL(walked.url).pathname.startsWith('/sso/handoff/') && !stopBeforeCallback) {
        // The app's web view waits here; the person's browser signs in from the page's link.
        handoff = { waitUrl: walked.url, code: shownCodeOf(walked.body), browserJar: browserJar ?? new CookieJar() };
        const idpLink = linksOf(walked.body).find((link) => link.text === 'Open the sign-in page');
        assert.ok(idpLink, `the waiting page links to the IdP: ${pageText(walked.body)}`);
        const inBrowser = await driveLogin(idpLink.href, { username, deny, signOut, jar: handoff.browserJar, stopWhen, ca: trust.length ? trust : undefined });
        handoff.browserHistory = inBrowser.history;
        const callbackVisit = [...inBrowser.history, inBrowser.location ?? ''].find((url) => url.startsWith(`${callbackUrl}?`));
        if (callbackVisit) remember(new URL(callbackVisit).searchParams.get('code'), 'IdP authorization code (hand-off)');
        handoff.browserPage = inBrowser.body;
        const consentId = inBrowser.status === 200 ? stack.consentIdOf(inBrowser.body) : null;
        if (consentId) {
          handoff.consentPage = inBrowser.body;
          assert.equal(shownCodeOf(inBrowser.body), handoff.code, 'the browser shows the code the app shows');
          const answered = await stack.answerConsent(consentId, consent ?? 'allow', { jar: handoff.browserJar });
          handoff.browserPage = answered.body;
          handoff.browserStatus = answered.status;
        }
        walked = await driveLogin(handoff.waitUrl, { jar, stopWhen, ca: trust.length ? trust : undefined });
      }
      // A client that is not trusted to get codes silently: the person answers the consent page.
      let consentPage = null;
      const consentId = !walked.location && walked.status === 200 ? stack.consentIdOf(walked.body) : null;
      if (consentId && consent) {
        consentPage = walked.body;
        const consentUrl = `${externalUrl}/sso/consent`;
        const answered = await stack.answerConsent(consentId, consent, { jar });
        const location = answered.headers.location ? new URL(answered.headers.location, consentUrl).href : undefined;
        walked = { ...answered, url: consentUrl, location, history: [...walked.history, consentUrl] };
      }
      const result = {
        consentPage, handoff,
        status: walked.status, headers: walked.headers, body: walked.body, url: walked.url, history: walked.history,
        location: walked.location ?? null, jar,
      };
      const callbackVisit = [...walked.history, walked.location ?? ''].find((url) => url.startsWith(`${callbackUrl}?`));
      if (callbackVisit) {
        result.callbackUrl = callbackVisit;
        remember(new URL(callbackVisit).searchParams.get('code'), 'IdP authorization code');
      }
      if (walked.location && isRedirectTo(walked.location, redirectUri)) {
        result.kind = 'redirect';
        const query = walked.location.slice(redirectUri.length).replace(/^[?&]/, '').split('#')[0];
        // Read the way HA's frontend and home-assistant-js-websocket read it (decodeURIComponent, '+' is
        // a plus), and also the way form decoders read it (URLSearchParams, RFC 6749 §4.1.2: '+' is a space).
        const params = decodeQuery(query);
        const formParams = new URLSearchParams(query);
        result.params = Object.fromEntries(params);
        result.formParams = Object.fromEntries(formParams);
        result.paramNames = params.map(([name]) => name);
        result.rawQuery = query;
        result.code = result.params.code ?? null;
        result.state = result.params.state ?? null;
        result.formState = formParams.get('state');
        result.storeToken = result.params.storeToken ?? null;
        remember(result.code, 'HA authorization code from an SSO login');
      } else if (stopBeforeCallback && walked.location?.startsWith(`${callbackUrl}?`)) {
        result.kind = 'callback';
        result.callbackUrl = walked.location;
        remember(new URL(walked.location).searchParams.get('code'), 'IdP authorization code');
      } else if (walked.location) {
        result.kind = 'elsewhere';
      } else {
        result.kind = 'page';
        result.correlationId = correlationIdOf(walked.body);
      }
      for (const entry of idps) if (entry.kind === 'rogue') rememberRogueTokens(entry, remember);
      return result;
    };

    /**
     * Signs the person of a browser's IdP session out at the IdP (RP-initiated logout: the end_session
     * page, then its confirm form), in that browser's jar. With backchannelLogout, the IdP posts its
     * logout token to Gatehouse before this returns. Resolves the IdP's back-channel outcomes of it.
     */
    stack.logoutAtIdp = async (jar, entry = idps[0]) => {
      const before = entry.idp.backchannelLogouts.length;
      const ca = trust.length ? trust : undefined;
      const page = await send(`${entry.issuer}/session/end?client_id=${encodeURIComponent(entry.clientId)}`, { jar, ca });
      assert.equal(page.status, 200, 'the IdP shows its logout page');
      const xsrf = page.body.match(/name="xsrf" value="([^"]+)"/)?.[1];
      assert.ok(xsrf, 'the logout page has its form');
      const confirm = await send(`${entry.issuer}/session/end/confirm`, {
        method: 'POST', jar, ca, body: new URLSearchParams({ xsrf, logout: 'yes' }).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      assert.ok([302, 303].includes(confirm.status), `the IdP ends the session (${confirm.status})`);
      return entry.idp.backchannelLogouts.slice(before);
    };

    /** A plain GET to Gatehouse from the client address, no redirects followed. */
    stack.get = (pathOrUrl, { jar, headers = {} } = {}) => send(new URL(pathOrUrl, externalUrl).href, { jar, headers });

    /** POST /auth/token through Gatehouse (url-encoded, as the apps send it), from the client address. */
    stack.postToken = async (fields) => {
      const response = await request(`${externalUrl}/auth/token`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString(), localAddress: clientAddress,
      });
      if (response.status === 200) {
        const tokens = response.json();
        remember(tokens.access_token, 'HA access token (SSO)');
        remember(tokens.refresh_token, 'HA refresh token (SSO)');
      }
      return response;
    };

    /** HA users Gatehouse created (everyone who was not there when the stack started, or was added by a test). */
    stack.newUsers = () => double.users().filter((user) => !preexistingUserIds.has(user.id) && !user.systemGenerated);
    stack.userNamed = (username) => double.users().find((user) => user.username === username) ?? null;
    stack.excludeFromNewUsers = (userId) => preexistingUserIds.add(userId);

    /** Requests Gatehouse (connecting from its own address) made to HA's login flow (/auth/login_flow and its steps). */
    stack.loginFlowRequests = () => haRequests.filter((entry) => entry.path.startsWith('/auth/login_flow') && entry.peer === GATEHOUSE_ADDRESS);
    stack.loginFlowRequestCount = () => Object.entries(double.requestCounts)
      .filter(([path]) => path.startsWith('/auth/login_flow')).reduce((sum, [, count]) => sum + count, 0);

    /** The client address HA derives from a request Gatehouse sent: the right-most X-Forwarded-For hop that is not a trusted proxy. */
    stack.addressHaSaw = (entry) => {
      const hops = (entry.forwardedFor ?? '').split(',').map((hop) => hop.trim()).filter(Boolean);
      const untrusted = hops.filter((hop) => hop !== GATEHOUSE_ADDRESS);
      return untrusted.at(-1) ?? hops[0] ?? entry.peer;
    };

    /** `gatehouse audit -c <config> --json`, parsed: [{kind, reason, user, text, raw}]. */
    stack.audit = async (extraArgs = []) => {
      const run = await runGatehouse(['audit', '-c', stack.configPath, '--json', ...extraArgs]);
      assert.equal(run.code, 0, `gatehouse audit exited ${run.code}: ${run.stderr}`);
      const text = run.stdout.trim();
      if (text === '') return [];
      let rows;
      if (text.startsWith('[')) rows = JSON.parse(text);
      else rows = text.split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line));
      return rows.map(normalizeAuditEntry);
    };

    /** Secrets of this stack found in any of its Gatehouse logs: ["<log file>: <label>"]. */
    stack.leakedSecrets = () => {
      const leaks = [];
      for (const instance of gatehouses) {
        const text = instance.logText();
        for (const { label, value } of secrets) {
          if (spellings(value).some((form) => text.includes(form))) leaks.push(`${instance.logFile}: ${label}`);
        }
      }
      return leaks;
    };

    /**
     * What must hold after any test: no failed login in HA under Gatehouse's own address, every request
     * Gatehouse made to HA's login flow carried the client's address (unless clientChecks is false, as for
     * a browser that also connects from 127.0.0.1), and no secret of the stack in Gatehouse's logs.
     */
    stack.assertHygiene = ({ clientChecks = true } = {}) => {
      const own = double.failedLogins.filter((entry) => entry.ip === GATEHOUSE_ADDRESS);
      assert.deepEqual(own, [], 'HA recorded failed logins under Gatehouse\'s own address');
      if (clientChecks) {
        const wrong = stack.loginFlowRequests().filter((entry) => stack.addressHaSaw(entry) !== clientAddress);
        assert.deepEqual(wrong, [], `login-flow requests that did not carry the client address ${clientAddress}`);
      }
      assert.deepEqual(stack.leakedSecrets(), [], 'secrets found in Gatehouse\'s logs');
    };

    /** rotateKeys() of an oidc IdP, keeping the token watch on the rebuilt provider. */
    stack.rotateKeys = (index = 0) => {
      const entry = idps[index];
      const kid = entry.idp.rotateKeys();
      watchOidcTokens(entry, remember);
      return kid;
    };

    /** Reads <data_dir>/master.key: { mode, bytes, key } with key decoded if stored as hex or base64. */
    stack.readMasterKey = () => {
      if (!existsSync(stack.masterKeyPath)) return null;
      const bytes = readFileSync(stack.masterKeyPath);
      return { mode: statSync(stack.masterKeyPath).mode & 0o777, bytes, candidates: masterKeyCandidates(bytes) };
    };

    return stack;
  } catch (error) {
    await stack.stop();
    throw error;
  }
}

// The 32-byte key a master.key file may hold: raw, or written as hex / base64(url) text.
function masterKeyCandidates(bytes) {
  const candidates = [];
  if (bytes.length === 32) candidates.push(bytes);
  const text = bytes.toString('latin1').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) candidates.push(Buffer.from(text, 'hex'));
  for (const encoding of ['base64', 'base64url']) {
    const decoded = Buffer.from(text, encoding);
    if (decoded.length === 32) candidates.push(decoded);
  }
  return candidates;
}

// The real IdP's ID and access tokens, taken from its token responses as they leave (they never pass
// through the test otherwise); rotateKeys() builds a new provider, so this is called again after it.
function watchOidcTokens(entry, remember) {
  const provider = entry.idp.provider;
  if (provider.__gatehouseWatched) return;
  provider.__gatehouseWatched = true;
  provider.on('grant.success', (ctx) => {
    const body = ctx.body ?? {};
    if (body.id_token) entry.idTokens.push(body.id_token);
    if (body.refresh_token) entry.refreshTokens.push(body.refresh_token);
    remember(body.id_token, `ID token from provider ${entry.id}`);
    remember(body.access_token, `IdP access token from provider ${entry.id}`);
    remember(body.refresh_token, `IdP refresh token from provider ${entry.id}`);
  });
}

function rememberRogueTokens(entry, remember) {
  const tokens = entry.idp.idTokens;
  for (let i = entry.idTokensSeen; i < tokens.length; i++) remember(tokens[i], `ID token from rogue provider ${entry.id}`);
  entry.idTokensSeen = tokens.length;
}

/** Asserts a login ended on a Gatehouse refusal page: status, HTML, a correlation id, and no redirect to the client. */
export function assertRefusalPage(result, status, { redirectUri, mentions } = {}) {
  const where = `${result.kind} ${result.status} at ${result.url}\n${(result.history ?? []).join('\n -> ')}\n${pageText(result.body).slice(0, 600)}`;
  assert.equal(result.kind, 'page', `expected a refusal page, got ${where}`);
  assert.equal(result.status, status, `refusal status: ${where}`);
  assert.match(String(result.headers['content-type']), /^text\/html/i, 'a refusal is an HTML page');
  assert.equal(result.headers.location, undefined, 'a refusal is never a redirect');
  if (redirectUri) {
    assert.ok(!(result.history ?? []).some((url) => url.startsWith(redirectUri)), 'never sent to the client\'s redirect_uri');
  }
  assert.ok(result.correlationId, `no correlation id on the refusal page: ${pageText(result.body)}`);
  if (mentions) assert.match(pageText(result.body), mentions);
  return result.correlationId;
}
