// The double's auth state: users and groups (§6), credentials and the homeassistant
// provider's username/password store (§6.6), refresh tokens and access tokens (§2),
// authorization codes (§1.9), revoke callbacks (§5) and signed paths (§9.5).

import { randomBytes, randomUUID, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { encodeHs256, decodeUnverified, verifyHs256 } from './jwt.mjs';
import { parseIp, isLocal } from './ip.mjs';
import { HaValueError, HomeAssistantError, UncaughtServerError } from './errors.mjs';

const scrypt = promisify(scryptCallback);

export const uuidHex = () => randomUUID().replaceAll('-', '');
const tokenHex64 = () => randomBytes(64).toString('hex');

// §6.2 groups. "Users" differ from admins only through is_admin checks.
export const GROUPS = {
  'system-admin': { name: 'Administrators', entities: 'all' },
  'system-users': { name: 'Users', entities: 'all' },
  'system-read-only': { name: 'Read Only', entities: 'read' },
};

export const TOKEN_TYPE_NORMAL = 'normal';
export const TOKEN_TYPE_LLAT = 'long_lived_access_token';
export const TOKEN_TYPE_SYSTEM = 'system';

const REFRESH_TOKEN_EXPIRATION_MS = 90 * 24 * 3600 * 1000; // §2.4
const AUTH_CODE_LIFETIME_MS = 10 * 60 * 1000; // §1.9
const ACCESS_TOKEN_LEEWAY_SECONDS = 10; // §2.3

export class User {
  constructor({ id = uuidHex(), name, isOwner = false, isActive = true, systemGenerated = false, localOnly = false, groupIds = [], createdAt }) {
    Object.assign(this, { id, name, isOwner, isActive, systemGenerated, localOnly, groupIds, createdAt });
    this.credentials = [];
  }

  // §6.1: admin is the owner, or an ACTIVE member of system-admin. Evaluated on every use, so
  // demoting or deactivating takes effect on an open websocket at once (§0.1).
  get isAdmin() {
    return this.isOwner || (this.isActive && this.groupIds.includes('system-admin'));
  }

  canReadEntities() {
    return this.isOwner || this.groupIds.some((groupId) => GROUPS[groupId]?.entities);
  }

  canControlEntities() {
    return this.isOwner || this.groupIds.some((groupId) => GROUPS[groupId]?.entities === 'all');
  }
}

// §6.6 normalization is strip().casefold(). JavaScript has no casefold; upper-then-lower
// reproduces full case folding for the common cases (ß -> ss, ς -> σ, ſ -> s).
export function normalizeUsername(username) {
  return username.trim().toUpperCase().toLowerCase();
}

// HA stores bcrypt hashes (cost 12). bcrypt is not available here and the double only needs
// a constant-time equality check, so it keeps scrypt hashes with a low cost to keep tests fast.
async function hashPassword(password, salt = randomBytes(16)) {
  const hash = await scrypt(password, salt, 32, { N: 1024, r: 8, p: 1 });
  return { salt, hash };
}

async function passwordMatches(password, stored) {
  const { hash } = await hashPassword(password, stored.salt);
  return timingSafeEqual(hash, stored.hash);
}

export class AuthStore {
  users = new Map();
  refreshTokens = new Map();
  #codes = new Map();
  #revokeCallbacks = new Map();
  // The homeassistant provider's own store: [{username, password}] (§6.6).
  passwordUsers = [];
  legacyUsernames = false;
  #signSecret = randomBytes(32).toString('hex'); // §9.5: random per process, never persisted
  contentUserTokenId = null;

  constructor({ clock, features, accessTokenLifetimeSeconds = 1800, fireEvent = () => {}, findProvider = () => null }) {
    this.clock = clock;
    this.features = features;
    this.accessTokenLifetimeSeconds = accessTokenLifetimeSeconds;
    this.fireEvent = fireEvent;
    this.findProvider = findProvider;
  }

  // ---- users (§6) ----

  createUser({ name, groupIds, localOnly = false, isOwner, isActive = true, systemGenerated = false, id }) {
    for (const groupId of groupIds ?? []) {
      if (!GROUPS[groupId]) throw new HaValueError(`Invalid group specified ${groupId}`);
    }
    // §6.3: the first non-system user becomes owner.
    const becomesOwner = isOwner ?? (!systemGenerated && ![...this.users.values()].some((user) => !user.systemGenerated));
    const user = new User({ id, name, isOwner: becomesOwner, isActive, systemGenerated, localOnly: Boolean(localOnly), groupIds: [...(groupIds ?? [])], createdAt: this.clock.now() });
    this.users.set(user.id, user);
    this.fireEvent('user_added', { user_id: user.id });
    return user;
  }

  createSystemUser(name, groupIds) {
    const user = this.createUser({ name, groupIds, systemGenerated: true, isOwner: false });
    this.createRefreshToken(user, { tokenType: TOKEN_TYPE_SYSTEM });
    return user;
  }

  getUser(userId) {
    return this.users.get(userId) ?? null;
  }

  updateUser(user, { name, isActive, groupIds, localOnly }) {
    if (groupIds !== undefined) {
      for (const groupId of groupIds) if (!GROUPS[groupId]) throw new HaValueError(`Invalid group specified ${groupId}`);
    }
    if (isActive === false && user.isOwner) throw new HaValueError('Unable to deactivate the owner');
    if (name !== undefined) user.name = name;
    if (groupIds !== undefined) user.groupIds = [...groupIds];
    if (localOnly !== undefined) user.localOnly = localOnly;
    // §5: deactivation keeps every refresh token; reactivation therefore restores sessions.
    if (isActive !== undefined) user.isActive = isActive;
    this.fireEvent('user_updated', { user_id: user.id });
  }

  // §5 delete: credentials and the stored password go, refresh tokens are cleared WITHOUT
  // revoke callbacks, so open websockets stay open with the old user object. §0.2: that
  // object loses its credentials (auth/current_user shows "credentials": []) but keeps its
  // own list of refresh tokens (auth/refresh_tokens still lists them).
  removeUser(user) {
    for (const credential of user.credentials) {
      if (credential.authProviderType === 'homeassistant') this.#removePasswordEntry(credential.data.username);
    }
    user.credentials = [];
    user.tokensAtRemoval = this.userTokens(user);
    for (const token of user.tokensAtRemoval) this.refreshTokens.delete(token.id);
    this.users.delete(user.id);
    this.fireEvent('user_removed', { user_id: user.id });
  }

  // The user's refresh tokens; for a deleted user, the ones its object still holds (§0.2).
  userTokens(user) {
    if (user.tokensAtRemoval && !this.users.has(user.id)) return [...user.tokensAtRemoval];
    return [...this.refreshTokens.values()].filter((token) => token.userId === user.id);
  }

  // §6.4 async_user_not_allowed_do_auth. `remoteIp` null means "no request in context".
  userNotAllowedReason(user, remoteIp, { hasRequest = true } = {}) {
    if (!user.isActive) return 'User is not active';
    if (!user.localOnly) return null;
    if (!hasRequest) return 'No request available to validate local access';
    const ip = parseIp(remoteIp);
    if (!ip) return 'Invalid remote IP';
    if (!isLocal(ip)) return 'User cannot authenticate remotely';
    return null;
  }

  // ---- credentials ----

  userByCredential(credential) {
    for (const user of this.users.values()) if (user.credentials.includes(credential)) return user;
    return null;
  }

  linkCredential(user, credential) {
    credential.isNew = false;
    user.credentials.push(credential);
  }

  removeCredential(credential) {
    const user = this.userByCredential(credential);
    if (user) user.credentials = user.credentials.filter((item) => item !== credential);
    if (credential.authProviderType === 'homeassistant') this.#removePasswordEntry(credential.data.username);
  }

  #linkedCredentials(providerType) {
    return [...this.users.values()].flatMap((user) => user.credentials.filter((credential) => credential.authProviderType === providerType));
  }

  // §1.10: the code exchange creates the user when the credential is new; a new user goes to
  // system-admin because the homeassistant provider's metadata names no group (§6.6 orphans).
  getOrCreateUserForCredential(credential) {
    if (!credential.isNew) {
      const user = this.userByCredential(credential);
      // §5: a code issued before its user was deleted points to an unlinked credential.
      if (!user) throw new UncaughtServerError('ValueError: Unable to find the user.');
      return user;
    }
    const user = this.createUser({ name: credential.data.username, groupIds: ['system-admin'] });
    this.linkCredential(user, credential);
    return user;
  }

  // ---- homeassistant provider store (§6.6) ----

  #normalizeForCompare(username) {
    return this.legacyUsernames ? username : normalizeUsername(username);
  }

  #findPasswordEntry(username) {
    const wanted = this.#normalizeForCompare(username);
    return this.passwordUsers.find((entry) => this.#normalizeForCompare(entry.username) === wanted) ?? null;
  }

  #removePasswordEntry(username) {
    const entry = this.#findPasswordEntry(username);
    if (entry) this.passwordUsers = this.passwordUsers.filter((item) => item !== entry);
    return Boolean(entry);
  }

  // Seeding writes the store directly, as if it had been loaded from disk; legacy mode then
  // follows the rules of the configured version (§6.6).
  async seedPassword(username, password) {
    this.passwordUsers.push({ username, password: await hashPassword(password) });
    this.#recomputeLegacyMode();
  }

  #recomputeLegacyMode() {
    if (this.features.strictUsernames) {
      this.legacyUsernames = this.passwordUsers.some((entry) => normalizeUsername(entry.username) !== entry.username);
    } else {
      const seen = new Set();
      this.legacyUsernames = this.passwordUsers.some((entry) => {
        const folded = entry.username.toLowerCase();
        const duplicate = seen.has(folded);
        seen.add(folded);
        return duplicate || entry.username.trim() !== entry.username;
      });
    }
  }

  // Returns the username as stored, after checks per version. Throws HomeAssistantError
  // (2025.5 translations) or a version-specific marker error for 2024.1.
  #validateNewUsername(username) {
    if (this.features.strictUsernames) {
      if (normalizeUsername(username) !== username) {
        throw new HomeAssistantError(`Username "${username}" is not normalized. Please make sure the username is lowercase and does not contain any whitespace.`, {
          translationKey: 'username_not_normalized',
          translationPlaceholders: { new_username: username },
        });
      }
      if (this.passwordUsers.some((entry) => this.#normalizeForCompare(entry.username) === username)) {
        throw new HomeAssistantError(`Username "${username}" already exists`, {
          translationKey: 'username_already_exists',
          translationPlaceholders: { username },
        });
      }
      return username;
    }
    // 2024.1: the new username is silently normalized; a duplicate is "username_exists".
    const stored = this.#normalizeForCompare(username);
    if (this.passwordUsers.some((entry) => this.#normalizeForCompare(entry.username) === stored)) {
      const error = new HaValueError('Username already exists');
      error.legacyCode = 'username_exists';
      throw error;
    }
    return stored;
  }

  async addPasswordAuth(username, password) {
    const stored = this.#validateNewUsername(username);
    this.passwordUsers.push({ username: stored, password: await hashPassword(password) });
    return stored;
  }

  // Constant-time check; an unknown user still costs one hash, as HA does with a dummy bcrypt.
  async validateLogin(username, password) {
    const entry = this.#findPasswordEntry(username);
    if (!entry) {
      await hashPassword(password);
      return false;
    }
    return passwordMatches(password, entry.password);
  }

  async changePassword(username, newPassword) {
    const entry = this.#findPasswordEntry(username);
    if (!entry) throw new HomeAssistantError('User not found', { translationKey: 'user_not_found' });
    entry.password = await hashPassword(newPassword);
  }

  changeUsername(credential, newUsername) {
    const entry = this.#findPasswordEntry(credential.data.username);
    if (!entry) throw new HomeAssistantError('User not found', { translationKey: 'user_not_found' });
    const stored = this.#validateNewUsername(newUsername);
    entry.username = stored;
    credential.data.username = stored;
  }

  removePasswordAuth(username) {
    if (!this.#removePasswordEntry(username)) {
      throw new HomeAssistantError('User not found', { translationKey: 'user_not_found' });
    }
  }

  // homeassistant provider async_get_or_create_credentials: the linked credential with the
  // same normalized username, or a new unlinked one.
  getOrCreatePasswordCredential(username) {
    const wanted = this.#normalizeForCompare(username);
    const existing = this.#linkedCredentials('homeassistant').find((credential) => this.#normalizeForCompare(credential.data.username) === wanted);
    return existing ?? { id: uuidHex(), authProviderType: 'homeassistant', authProviderId: null, data: { username: wanted }, isNew: true };
  }

  // ---- refresh and access tokens (§2) ----

  createRefreshToken(user, { clientId = null, clientName = null, clientIcon = null, tokenType, accessTokenExpirationSeconds = this.accessTokenLifetimeSeconds, credential = null } = {}) {
    if (!user.isActive) throw new HaValueError('User is not active');
    if (user.systemGenerated && clientId !== null) throw new HaValueError('System generated users cannot have refresh tokens connected to a client.');
    const type = tokenType ?? (user.systemGenerated ? TOKEN_TYPE_SYSTEM : TOKEN_TYPE_NORMAL);
    if (user.systemGenerated !== (type === TOKEN_TYPE_SYSTEM)) throw new HaValueError('System generated users can only have system type refresh tokens');
    if (type === TOKEN_TYPE_NORMAL && clientId === null) throw new HaValueError('Client is required to generate a refresh token.');
    if (type === TOKEN_TYPE_LLAT) {
      if (clientName === null) throw new HaValueError('Client_name is required for long-lived access token');
      if (this.userTokens(user).some((token) => token.tokenType === TOKEN_TYPE_LLAT && token.clientName === clientName)) {
        throw new HaValueError(`${clientName} already exists`);
      }
    }
    const now = this.clock.now();
    const token = {
      id: uuidHex(),
      token: tokenHex64(),
      jwtKey: tokenHex64(),
      userId: user.id,
      tokenType: type,
      clientId,
      clientName,
      clientIcon,
      accessTokenExpirationSeconds,
      createdAt: now,
      lastUsedAt: null,
      lastUsedIp: null,
      // §2.4: only normal tokens expire, 90 days after creation (from 2024.2).
      expireAt: type === TOKEN_TYPE_NORMAL && this.features.refreshTokenExpiry ? now + REFRESH_TOKEN_EXPIRATION_MS : null,
      credential,
      version: null,
    };
    this.refreshTokens.set(token.id, token);
    return token;
  }

  // §2.2: runs the provider's refresh-token check, logs usage (moving a normal token's
  // expiry to last use + 90 days), then signs {iss, iat, exp} with the token's own key.
  createAccessToken(refreshToken, remoteIp = null) {
    if (refreshToken.credential) {
      const provider = this.findProvider(refreshToken.credential);
      // §1.10 edge case: a provider that is no longer configured raises InvalidProvider.
      if (!provider) throw new UncaughtServerError('InvalidProvider');
      provider.validateRefreshToken?.(refreshToken, remoteIp); // throws InvalidAuthError
    }
    const now = this.clock.now();
    refreshToken.lastUsedAt = now;
    refreshToken.lastUsedIp = remoteIp;
    if (refreshToken.expireAt !== null) refreshToken.expireAt = now + REFRESH_TOKEN_EXPIRATION_MS;
    const issuedAt = Math.floor(now / 1000);
    return encodeHs256({ iss: refreshToken.id, iat: issuedAt, exp: issuedAt + refreshToken.accessTokenExpirationSeconds }, refreshToken.jwtKey);
  }

  getRefreshToken(id) {
    this.removeExpiredRefreshTokens();
    return this.refreshTokens.get(id) ?? null;
  }

  // §2.1: lookup compares against every stored token in constant time.
  getRefreshTokenByToken(tokenString) {
    this.removeExpiredRefreshTokens();
    const given = Buffer.from(String(tokenString));
    let found = null;
    for (const token of this.refreshTokens.values()) {
      const stored = Buffer.from(token.token);
      if (stored.length === given.length && timingSafeEqual(stored, given)) found = token;
    }
    return found;
  }

  // §2.3: unverified decode for iss, verify with that token's key (or an empty key), 10 s
  // leeway, exp and iat required, then the user must be active.
  validateAccessToken(accessToken) {
    const decoded = decodeUnverified(accessToken);
    if (!decoded) return null;
    const refreshToken = typeof decoded.claims.iss === 'string' ? this.getRefreshToken(decoded.claims.iss) : null;
    const claims = verifyHs256(accessToken, refreshToken?.jwtKey ?? '', {
      nowSeconds: this.clock.nowSeconds(),
      leewaySeconds: ACCESS_TOKEN_LEEWAY_SECONDS,
      issuer: refreshToken?.id ?? '',
      requireClaims: ['exp', 'iat'],
    });
    if (!claims || !refreshToken) return null;
    const user = this.getUser(refreshToken.userId);
    if (!user || !user.isActive) return null;
    return refreshToken;
  }

  registerRevokeCallback(refreshTokenId, callback) {
    if (!this.#revokeCallbacks.has(refreshTokenId)) this.#revokeCallbacks.set(refreshTokenId, new Set());
    this.#revokeCallbacks.get(refreshTokenId).add(callback);
    return () => this.#revokeCallbacks.get(refreshTokenId)?.delete(callback);
  }

  // §1.11 / §5: removing a refresh token runs its revoke callbacks (closing websockets). The
  // callbacks run even when the store no longer has the token: a deleted user's socket that
  // deletes one of the tokens its user object still lists closes that token's sockets.
  removeRefreshToken(refreshToken) {
    this.refreshTokens.delete(refreshToken.id);
    const callbacks = this.#revokeCallbacks.get(refreshToken.id);
    this.#revokeCallbacks.delete(refreshToken.id);
    for (const callback of callbacks ?? []) callback();
  }

  // §2.4: the scheduled cleanup removes expired normal tokens through the normal removal
  // path. The double runs it whenever tokens are looked up and whenever the clock moves.
  removeExpiredRefreshTokens() {
    const now = this.clock.now();
    for (const token of [...this.refreshTokens.values()]) {
      if (token.expireAt !== null && token.expireAt <= now) this.removeRefreshToken(token);
    }
  }

  // ---- authorization codes (§1.9) ----

  storeCode(clientId, credential) {
    const code = uuidHex();
    this.#codes.set(`${clientId}\u0000${code}`, { createdAt: this.clock.now(), credential });
    return code;
  }

  // Keyed by the exact (client_id, code) pair; removed on the first lookup of that pair,
  // expired or not.
  retrieveCode(clientId, code) {
    const key = `${clientId}\u0000${code}`;
    const entry = this.#codes.get(key);
    if (!entry) return null;
    this.#codes.delete(key);
    return this.clock.now() - entry.createdAt < AUTH_CODE_LIFETIME_MS ? entry.credential : null;
  }

  // ---- signed paths (§9.5) ----

  signPath(pathWithQuery, expiresSeconds, refreshTokenId) {
    const url = new URL(pathWithQuery, 'http://placeholder');
    const params = [...url.searchParams].filter(([name]) => name !== 'height' && name !== 'width');
    const now = this.clock.nowSeconds();
    const issuer = refreshTokenId ?? this.contentUserTokenId;
    const signature = encodeHs256({ iss: issuer, path: decodeURIComponent(url.pathname), params, iat: now, exp: now + expiresSeconds }, this.#signSecret);
    const query = new URLSearchParams([...params, ['authSig', signature]]);
    return `${url.pathname}?${query}`;
  }

  // Only existence of the issuing refresh token is checked: not is_active, not local_only.
  validateSignedRequest(path, queryPairs) {
    const signature = queryPairs.find(([name]) => name === 'authSig')?.[1];
    if (!signature) return null;
    const claims = verifyHs256(signature, this.#signSecret, { nowSeconds: this.clock.nowSeconds() });
    if (!claims || claims.path !== path) return null;
    const params = queryPairs.filter(([name]) => !['height', 'width', 'authSig'].includes(name));
    if (JSON.stringify(claims.params) !== JSON.stringify(params)) return null;
    const refreshToken = this.getRefreshToken(claims.iss);
    if (!refreshToken) return null;
    return refreshToken;
  }
}

