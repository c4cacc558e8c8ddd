// The Home Assistant test double: one HTTP + websocket server that answers like HA's auth
// surface (ha-auth-contract.md), plus the control methods tests use. startDouble(options)
// is the only entry point; lib/ holds one concern per file.

import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { EventEmitter } from 'node:events';
import { DoubleClock } from './lib/clock.mjs';
import { parseNetwork } from './lib/ip.mjs';
import { versionFeatures } from './lib/versions.mjs';
import { AuthStore, TOKEN_TYPE_LLAT } from './lib/auth-store.mjs';
import { buildProviders, LoginFlowManager } from './lib/login-flows.mjs';
import { makeRedirectUriDiscovery, PythonIndexError } from './lib/indieauth.mjs';
import { EventBus, Home } from './lib/home.mjs';
import { WebsocketApi } from './lib/websocket-api.mjs';
import { buildRoutes, findRoute } from './lib/routes.mjs';
import { handleControlRequest, ControlError } from './lib/control-api.mjs';
import { UncaughtServerError } from './lib/errors.mjs';
import { RawHeadTap } from './lib/raw-heads.mjs';
import {
  RequestContext, HttpError, REASONS, splitTarget, failsSecurityFilter, applyForwardedHeaders,
  haResponseHeaders, corsOriginAllowed, preflightResponse,
} from './lib/http-pipeline.mjs';

const DEFAULT_OWNER = { name: 'Owner', username: 'owner', password: 'owner-password', groups: ['system-admin'], isOwner: true };
const ONBOARDING_STEPS = ['user', 'core_config', 'analytics', 'integration'];

function normalizeOptions(options) {
  const version = options.version ?? '2025.5.0';
  const features = versionFeatures(version);
  // §3.1: use_x_forwarded_for and trusted_proxies are inclusive, both or neither.
  const useXForwardedFor = Boolean(options.useXForwardedFor);
  const trustedProxies = (options.trustedProxies ?? []).map(parseNetwork);
  if (useXForwardedFor !== trustedProxies.length > 0) {
    throw new Error('useXForwardedFor and trustedProxies must be set together (contract §3.1)');
  }
  return {
    version,
    features,
    providersShape: options.providersShape ?? (features.providersObject ? 'object' : 'list'),
    useXForwardedFor,
    trustedProxies,
    authProviders: options.authProviders ?? [{ type: 'homeassistant' }],
    onboarded: options.onboarded ?? true,
    users: options.users,
    webhooks: options.webhooks ?? [],
    accessTokenLifetimeSeconds: options.accessTokenLifetimeSeconds ?? 1800,
    now: options.now,
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    corsAllowedOrigins: options.corsAllowedOrigins ?? ['https://cast.home-assistant.io'],
    useXFrameOptions: options.useXFrameOptions ?? true,
    loginAttemptsThreshold: options.loginAttemptsThreshold ?? -1,
    websocketAuthTimeoutMs: options.websocketAuthTimeoutMs ?? 10_000,
    websocketHeartbeatMs: options.websocketHeartbeatMs ?? 55_000,
    redirectUriDiscovery: options.redirectUriDiscovery ?? true,
    trustedCa: options.trustedCa, // PEM: the CA store of HA's host, for client pages with test certificates
    tls: options.tls ?? null, // {cert, key} PEM: HA serving HTTPS itself (http: ssl_certificate / ssl_key)
    logger: options.logger ?? null,
  };
}

function normalizeWebhook(entry) {
  const webhook = typeof entry === 'string' ? { id: entry } : entry;
  return { id: webhook.id, localOnly: Boolean(webhook.localOnly), allowedMethods: webhook.allowedMethods ?? ['POST', 'PUT'], userId: webhook.userId ?? null };
}

export class HaDouble {
  events = new EventEmitter();
  onboarding = {};
  stopping = false;
  #failedLogins = [];
  #requestCounts = new Map();
  #webhookDeliveries = [];
  #failuresPerIp = new Map();
  #rawHeadTaps = new WeakMap();
  bans = new Set();
  state = { ownerId: null, contentUserId: null, userIds: {}, version: null };

  constructor(rawOptions = {}) {
    this.options = normalizeOptions(rawOptions);
    this.features = this.options.features;
    this.state.version = this.options.version;
    this.events.setMaxListeners(100);
    this.clock = new DoubleClock(this.options.now ?? Date.now);
    this.bus = new EventBus(this.clock);
    this.home = new Home({ clock: this.clock, bus: this.bus, version: this.options.version, features: this.features });
    this.store = new AuthStore({
      clock: this.clock,
      features: this.features,
      accessTokenLifetimeSeconds: this.options.accessTokenLifetimeSeconds,
      fireEvent: (type, data) => this.bus.fire(type, data),
      findProvider: (credential) => this.providers.find((provider) => provider.type === credential.authProviderType && provider.id === credential.authProviderId) ?? null,
    });
    this.providers = buildProviders(this.options.authProviders, this.store, this.options.trustedProxies);
    this.flows = new LoginFlowManager(this.providers);
    this.discoverRedirectUris = makeRedirectUriDiscovery({
      enabled: this.options.redirectUriDiscovery,
      metadataDocuments: this.options.features.clientMetadataDocuments,
      trustedCa: this.options.trustedCa,
    });
    this.webhooks = new Map(this.options.webhooks.map(normalizeWebhook).map((webhook) => [webhook.id, webhook]));
    this.websocketApi = new WebsocketApi(this);
    this.routes = buildRoutes(this);
    for (const step of ONBOARDING_STEPS) this.onboarding[step] = this.options.onboarded;
    // §2.4: expired refresh tokens are swept (closing their sockets) whenever time moves.
    this.clock.listeners.add(() => this.store.removeExpiredRefreshTokens());
  }

  async seed() {
    // §6.3 / §9.5: the system user that signs content paths, read-only, with a system token.
    const content = this.store.createSystemUser('Home Assistant Content', ['system-read-only']);
    this.state.contentUserId = content.id;
    this.store.contentUserTokenId = this.store.userTokens(content)[0].id;
    const seedUsers = this.options.users ?? (this.options.onboarded ? [DEFAULT_OWNER] : []);
    for (const seed of seedUsers) await this.createUser(seed, { seeding: true });
    // §6.5: onboarding created a person for the owner.
    const owner = this.store.getUser(this.state.ownerId);
    if (owner) this.home.createPerson({ name: owner.name, user_id: owner.id });
  }

  // ---- HTTP ----

  async start() {
    await this.seed();
    // HTTPS when HA has ssl_certificate/ssl_key: the same app behind TLS (the scheme its requests see).
    const tls = this.options.tls;
    const listen = tls ? (options, handler) => createTlsServer({ ...options, cert: tls.cert, key: tls.key }, handler) : createServer;
    this.scheme = tls ? 'https' : 'http';
    this.server = listen({ maxHeaderSize: 64 * 1024 }, (req, res) => {
      this.#handleRequest(req, res).catch((error) => {
        this.logUnexpected(error);
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end();
      });
    });
    // §0.2: header values exactly as aiohttp sees them (trailing whitespace kept).
    this.server.on(tls ? 'secureConnection' : 'connection', (socket) => this.#rawHeadTaps.set(socket, new RawHeadTap(socket)));
    this.server.on('upgrade', (req, socket, head) => this.#handleUpgrade(req, socket, head));
    this.server.on('clientError', (error, socket) => socket.destroy());
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, resolve);
    });
    this.port = this.server.address().port;
    const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    this.url = `${this.scheme}://${host}:${this.port}`;
    return this;
  }

  logUnexpected(error) {
    this.options.logger?.(error);
    this.events.emit('unexpected-error', error);
  }

  #countRequest(path) {
    this.#requestCounts.set(path, (this.#requestCounts.get(path) ?? 0) + 1);
  }

  // Middleware order of §3.1. Returns the effective request attributes or throws HttpError.
  #frontMiddleware({ rawHeaders, peerIp, path, rawQuery, host }) {
    if (failsSecurityFilter(path, rawQuery)) throw new HttpError(400); // §9.6
    const forwarded = applyForwardedHeaders({ rawHeaders, peerIp, scheme: this.scheme, host }, this.options); // §3.2
    if (this.bans.has(forwarded.remote)) throw new HttpError(403); // §1.12 ban middleware
    return forwarded;
  }

  // The wire head of this request, if the tap kept in step with Node's parser.
  #takeRawHead(req) {
    const rawHead = this.#rawHeadTaps.get(req.socket)?.shift() ?? null;
    return rawHead && rawHead.requestLine.startsWith(`${req.method} ${req.url} `) ? rawHead : null;
  }

  async #handleRequest(req, res) {
    const rawHead = this.#takeRawHead(req);
    const ctx = new RequestContext(req, res, { peerIp: req.socket.remoteAddress, scheme: this.scheme, host: req.headers.host, rawHead });
    if (ctx.path.startsWith('/__double/')) return handleControlRequest(this, ctx);
    this.#countRequest(ctx.path);
    const serverHeader = this.features.aiohttpServerHeader;
    try {
      Object.assign(ctx, this.#frontMiddleware({ rawHeaders: req.rawHeaders, peerIp: ctx.peerIp, path: ctx.path, rawQuery: ctx.rawQuery, host: ctx.host }));
    } catch (error) {
      if (error instanceof HttpError) return ctx.earlyError(error, serverHeader);
      throw error;
    }
    ctx.extraHeaders = haResponseHeaders(this.options); // §9.3, inside the ban middleware
    try {
      this.#authenticate(ctx);
      // §0.2: routes match the raw path; 405 lists the allowed methods, OPTIONS included.
      const found = findRoute(this.routes, ctx.rawPath, ctx.method);
      if (!found) throw new HttpError(404);
      if (found.allowed) throw new HttpError(405, '405: Method Not Allowed', { Allow: found.allowed.join(',') });
      const { route, params } = found;
      const origin = req.headers.origin;
      // aiohttp_cors's preflight handler answers every OPTIONS on a CORS-enabled resource.
      if (found.preflight) return ctx.send(200, preflightResponse(ctx, route, this.options.corsAllowedOrigins), '');
      if (corsOriginAllowed(route, origin, this.options.corsAllowedOrigins)) ctx.extraHeaders['Access-Control-Allow-Origin'] = origin;
      const handler = route.methods[ctx.method];
      // §9.6: while stopping, every view answers 503.
      if (route.view && this.stopping) return ctx.send(503, { 'Content-Type': 'application/octet-stream' }, '');
      if (route.requiresAuth && !ctx.authenticated) throw new HttpError(401);
      await handler(ctx, ...params);
    } catch (error) {
      if (error instanceof HttpError) {
        // §1.12: every 401 passing the ban middleware is a failed login, missing token included.
        if (error.status === 401) this.recordFailedLogin(ctx, '401 Unauthorized');
        return ctx.error(error);
      }
      if (!(error instanceof UncaughtServerError || error instanceof PythonIndexError)) this.logUnexpected(error);
      // An exception HA does not catch (§0.2, §1.5, §1.8, §3.4): aiohttp's generic 500.
      return ctx.uncaughtError(serverHeader);
    }
    return undefined;
  }

  // §2.3 / §9.5 auth middleware: a valid `Bearer` token (exact scheme word, local_only
  // enforced), else a signed GET carrying authSig. The header value is aiohttp's: trailing
  // whitespace stays part of the token (§0.2).
  #authenticate(ctx) {
    const authorization = ctx.rawHead ? ctx.rawHead.get('authorization') : ctx.req.headers.authorization;
    if (authorization !== undefined) {
      const space = authorization.indexOf(' ');
      if (space > 0 && authorization.slice(0, space) === 'Bearer') {
        const refreshToken = this.store.validateAccessToken(authorization.slice(space + 1));
        const user = refreshToken && this.store.getUser(refreshToken.userId);
        if (user && !this.store.userNotAllowedReason(user, ctx.remote)) {
          Object.assign(ctx, { authenticated: true, user, refreshToken });
          return;
        }
      }
    }
    if (ctx.method === 'GET' && ctx.rawQuery.includes('authSig')) {
      const refreshToken = this.store.validateSignedRequest(ctx.path, ctx.queryPairs);
      if (refreshToken) Object.assign(ctx, { authenticated: true, user: this.store.getUser(refreshToken.userId), refreshToken });
    }
  }

  #handleUpgrade(req, socket, head) {
    this.#takeRawHead(req);
    this.#rawHeadTaps.get(socket)?.stop();
    socket.on('error', () => {});
    const { rawPath, rawQuery } = splitTarget(req.url);
    let path;
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      path = rawPath;
    }
    // Early errors carry aiohttp's Server header; later ones HA's §9.3 headers (§0.2).
    const refuse = (status, text, headers) => {
      const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
      socket.end(`HTTP/1.1 ${status} ${REASONS[status]}\r\nContent-Type: text/plain; charset=utf-8\r\n${lines}Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
    };
    this.#countRequest(path);
    let forwarded;
    try {
      forwarded = this.#frontMiddleware({ rawHeaders: req.rawHeaders, peerIp: req.socket.remoteAddress, path, rawQuery, host: req.headers.host });
    } catch (error) {
      if (error instanceof HttpError) return refuse(error.status, error.text, { Server: this.features.aiohttpServerHeader });
      throw error;
    }
    // §0.2: the route matches the raw path.
    if (rawPath !== '/api/websocket') return refuse(404, '404: Not Found', haResponseHeaders(this.options));
    if (this.stopping) return refuse(503, '', haResponseHeaders(this.options));
    // §4.1: HA does not check Origin.
    return this.websocketApi.handleUpgrade(req, socket, head, forwarded.remote);
  }

  // ---- accounting (§1.12) ----

  recordFailedLogin(ctx, reason) {
    const entry = { ip: ctx.remote, path: ctx.path, reason, at: this.clock.now() };
    this.#failedLogins.push(entry);
    const threshold = this.options.loginAttemptsThreshold;
    if (threshold >= 1) {
      const count = (this.#failuresPerIp.get(ctx.remote) ?? 0) + 1;
      this.#failuresPerIp.set(ctx.remote, count);
      if (count >= threshold) this.bans.add(ctx.remote);
    }
    this.events.emit('failed-login', entry);
  }

  recordSuccessfulLogin(remote) {
    this.#failuresPerIp.delete(remote);
  }

  recordWebhookDelivery(delivery) {
    this.#webhookDeliveries.push(delivery);
    this.events.emit('webhook', delivery);
  }

  // ---- shared operations with §5 semantics ----

  removeRefreshToken(refreshToken, reason) {
    this.store.removeRefreshToken(refreshToken);
    this.events.emit('refresh-token-removed', { id: refreshToken.id, userId: refreshToken.userId, reason });
  }

  removeUser(user) {
    this.store.removeUser(user);
    this.home.unlinkPersonsOf(user.id);
    // §5: mobile_app config entries (and their webhooks) go with the user.
    for (const [id, webhook] of this.webhooks) if (webhook.userId === user.id) this.webhooks.delete(id);
  }

  // ---- control API (also under /__double/) ----

  async createUser(spec, { seeding = false } = {}) {
    if (!spec || typeof spec.name !== 'string') throw new ControlError(400, 'name is required');
    const user = this.store.createUser({
      id: spec.id,
      name: spec.name,
      groupIds: spec.groups ?? spec.groupIds ?? ['system-users'],
      localOnly: spec.localOnly ?? false,
      isOwner: spec.isOwner,
      systemGenerated: spec.systemGenerated ?? false,
    });
    if (spec.systemGenerated) this.store.createRefreshToken(user, { tokenType: 'system' });
    if (spec.username !== undefined) {
      const stored = seeding ? spec.username : await this.store.addPasswordAuth(spec.username, spec.password ?? '');
      if (seeding) await this.store.seedPassword(spec.username, spec.password ?? '');
      this.store.linkCredential(user, this.store.getOrCreatePasswordCredential(stored));
    }
    if (spec.isActive === false) {
      if (user.isOwner) throw new ControlError(400, 'the owner cannot be deactivated (contract §6.3)');
      user.isActive = false;
    }
    if (user.isOwner) this.state.ownerId ??= user.id;
    this.state.userIds[spec.username ?? spec.name] = user.id;
    return { id: user.id };
  }

  #userOrThrow(userId) {
    const user = this.store.getUser(userId);
    if (!user) throw new ControlError(404, `no user ${userId}`);
    return user;
  }

  // Same effects as config/auth/update (§5): nothing is closed or revoked.
  updateUser(userId, changes) {
    const user = this.#userOrThrow(userId);
    this.store.updateUser(user, { name: changes.name, isActive: changes.isActive, groupIds: changes.groups ?? changes.groupIds, localOnly: changes.localOnly });
    return this.#describeUser(user);
  }

  // What the person finishing auth/setup_mfa for TOTP leaves behind (contract §4.4's auth/setup_mfa): their
  // login flow then asks for a code after the password (§1.7).
  enableTotp(userId) {
    const user = this.#userOrThrow(userId);
    user.totpEnabled = true;
    return this.#describeUser(user);
  }

  // Same effects as config/auth/delete (§5): tokens cleared without closing sockets.
  deleteUser(userId) {
    this.removeUser(this.#userOrThrow(userId));
    return {};
  }

  #describeUser(user) {
    return {
      id: user.id,
      name: user.name,
      username: user.credentials.find((credential) => credential.authProviderType === 'homeassistant')?.data.username ?? null,
      isOwner: user.isOwner,
      isActive: user.isActive,
      isAdmin: user.isAdmin,
      localOnly: user.localOnly,
      systemGenerated: user.systemGenerated,
      groupIds: [...user.groupIds],
      credentials: user.credentials.map((credential) => ({ type: credential.authProviderType, id: credential.id })),
      refreshTokenIds: this.store.userTokens(user).map((token) => token.id),
    };
  }

  users() {
    return [...this.store.users.values()].map((user) => this.#describeUser(user));
  }

  // A long-lived access token created directly (as ws auth/long_lived_access_token would).
  createLongLivedToken(userId, { clientName = `test-${Date.now()}-${Math.random().toString(16).slice(2)}`, lifespanDays = 3650, clientIcon = null } = {}) {
    const user = this.#userOrThrow(userId);
    const refreshToken = this.store.createRefreshToken(user, { clientName, clientIcon, tokenType: TOKEN_TYPE_LLAT, accessTokenExpirationSeconds: lifespanDays * 86400 });
    return { token: this.store.createAccessToken(refreshToken), refreshTokenId: refreshToken.id };
  }

  // Refresh-token metadata; the secret token strings and signing keys are not exposed.
  refreshTokens() {
    this.store.removeExpiredRefreshTokens();
    return [...this.store.refreshTokens.values()].map((token) => ({
      id: token.id,
      userId: token.userId,
      type: token.tokenType,
      clientId: token.clientId,
      clientName: token.clientName,
      authProviderType: token.credential?.authProviderType ?? null,
      createdAt: token.createdAt,
      lastUsedAt: token.lastUsedAt,
      lastUsedIp: token.lastUsedIp,
      expireAt: token.expireAt,
    }));
  }

  removeRefreshTokenById(refreshTokenId) {
    const token = this.store.refreshTokens.get(refreshTokenId);
    if (!token) throw new ControlError(404, `no refresh token ${refreshTokenId}`);
    this.removeRefreshToken(token, 'control');
    return {};
  }

  get failedLogins() {
    return this.#failedLogins.map((entry) => ({ ...entry }));
  }

  get requestCounts() {
    return Object.fromEntries(this.#requestCounts);
  }

  // Test control: the next websocket auth message HA accepts is answered (auth_ok) only once released,
  // as a slow HA would. Returns { reached: Promise (the auth message is waiting), release() }.
  holdNextWebsocketAuth() {
    let reach;
    let release;
    const reached = new Promise((resolve) => { reach = resolve; });
    const released = new Promise((resolve) => { release = resolve; });
    this.websocketApi.authHold = { reach, released };
    return { reached, release };
  }

  get websocketCounters() {
    const { opened, authenticated, open, binaryFrames } = this.websocketApi.counters;
    return { opened, authenticated, open, binaryFrames };
  }

  get webhookDeliveries() {
    return this.#webhookDeliveries.map((delivery) => ({ ...delivery }));
  }

  get serviceCalls() {
    return this.home.serviceCalls.map((call) => ({ ...call }));
  }

  fireEvent(type, data = {}) {
    if (typeof type !== 'string') throw new ControlError(400, 'type is required');
    return this.bus.fire(type, data);
  }

  setState(entityId, state, attributes) {
    if (typeof entityId !== 'string' || !entityId.includes('.')) throw new ControlError(400, 'entityId must look like domain.object_id');
    return this.home.setState(entityId, state, attributes);
  }

  setOnboarded(done) {
    for (const step of ONBOARDING_STEPS) this.onboarding[step] = done;
  }

  setStopping(stopping) {
    this.stopping = stopping;
  }

  now() {
    return this.clock.now();
  }

  setNow(ms) {
    this.clock.setNow(ms);
  }

  advance(ms) {
    this.clock.advance(ms);
  }

  resetCounters() {
    this.#failedLogins = [];
    this.#requestCounts.clear();
    this.#webhookDeliveries = [];
    this.home.serviceCalls = [];
    this.websocketApi.counters.opened = 0;
    this.websocketApi.counters.authenticated = 0;
    this.websocketApi.counters.binaryFrames = 0;
  }

  // HA goes away (every connection dropped, nothing listening) with its state kept, until resume():
  // what an HA restart or outage looks like from outside.
  async suspend() {
    await new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
      this.websocketApi.dropAll();
    });
  }

  async resume() {
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, this.options.host, resolve);
    });
  }

  async close() {
    if (!this.server) return;
    this.stopping = true;
    this.websocketApi.closeAll();
    this.clock.cancelAll();
    await new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
      this.websocketApi.terminateAll();
    });
    this.server = null;
  }
}

export async function startDouble(options = {}) {
  const double = new HaDouble(options);
  return double.start();
}
