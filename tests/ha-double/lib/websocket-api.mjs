// The websocket API at /api/websocket (§4): transport limits (§4.1), the auth handshake
// (§4.2), command framing and errors (§4.3), the auth/user-management commands (§4.4), and
// the deactivation/deletion gap (§5): only refresh-token removal closes a connection.

import { WebSocketServer } from 'ws';
import {
  validateMapping, humanizeError, invalid, str, int, bool, literal, listOf, mapOf, strOrNull, minLengthStr, anything,
} from './voluptuous.mjs';
import { HaValueError, HomeAssistantError, Unauthorized, PythonRecursionError } from './errors.mjs';
import { parseClientJson, jsonDepthExceeds } from './json.mjs';
import { TOKEN_TYPE_LLAT, TOKEN_TYPE_NORMAL } from './auth-store.mjs';
import { isoFromMs } from './clock.mjs';
import { compressedState } from './home.mjs';

const MAX_CLIENT_MESSAGE_BYTES = 4 * 1024 * 1024; // §4.1 aiohttp max_msg_size
const CLOSE_NORMAL = 1000; // aiohttp's close() and the revoke callback both close with 1000 (§0.1)
// orjson.dumps refuses containers nested deeper than this (its recursion limit of 255).
const ORJSON_DUMPS_MAX_DEPTH = 255;

// Event types a non-admin may subscribe to (websocket_api/permissions.py).
const SUBSCRIBE_ALLOWLIST = new Set([
  'area_registry_updated', 'component_loaded', 'core_config_updated', 'device_registry_updated',
  'entity_registry_updated', 'floor_registry_updated', 'label_registry_updated', 'lovelace_updated',
  'panels_updated', 'persistent_notifications_updated', 'recorder_5min_statistics_generated',
  'recorder_hourly_statistics_generated', 'repairs_issue_registry_updated', 'service_registered',
  'service_removed', 'shopping_list_updated', 'state_changed', 'themes_updated',
]);

class InvalidFormat extends Error {}

export class WebsocketApi {
  connections = new Set();
  authHold = null; // { reach, released }: the next accepted auth waits (double.holdNextWebsocketAuth)
  counters = { opened: 0, authenticated: 0, open: 0, binaryFrames: 0 };

  constructor(hass) {
    this.hass = hass;
    this.commands = buildCommands(hass);
    // §4.1: permessage-deflate accepted when offered; client messages at most 4 MiB.
    this.server = new WebSocketServer({ noServer: true, perMessageDeflate: true, maxPayload: MAX_CLIENT_MESSAGE_BYTES });
  }

  handleUpgrade(req, socket, head, remote) {
    this.server.handleUpgrade(req, socket, head, (ws) => {
      this.counters.opened += 1;
      this.counters.open += 1;
      const connection = new WebsocketConnection(this, ws, remote);
      this.connections.add(connection);
      this.hass.events.emit('ws-open', { remote });
      ws.on('close', (code) => {
        this.connections.delete(connection);
        this.counters.open -= 1;
        connection.dispose();
        this.hass.events.emit('ws-closed', { code, userId: connection.user?.id ?? null, refreshTokenId: connection.refreshTokenId, remote });
      });
    });
  }

  closeAll(code = CLOSE_NORMAL) {
    for (const connection of this.connections) connection.close(code);
  }

  // Every connection dropped without a close frame (HA's process gone); new ones are still taken.
  dropAll() {
    for (const connection of this.connections) connection.ws.terminate();
  }

  terminateAll() {
    this.dropAll();
    this.server.close();
  }
}

class WebsocketConnection {
  user = null;
  refreshTokenId = null;
  lastId = 0;
  subscriptions = new Map();
  coalesce = false;
  #queue = [];
  #flushScheduled = false;
  #cancelAuthTimeout;
  #unregisterRevoke = null;
  #heartbeat;
  #awaitingPong = false;

  constructor(api, ws, remote) {
    this.api = api;
    this.hass = api.hass;
    this.ws = ws;
    this.remote = remote;
    this.phase = 'auth';
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on('error', () => {});
    ws.on('pong', () => { this.#awaitingPong = false; });
    // §4.2 step 1: auth_required immediately.
    this.#sendNow({ type: 'auth_required', ha_version: this.hass.options.version });
    // §4.2 step 2: 10 s to authenticate, measured on the double's clock.
    this.#cancelAuthTimeout = this.hass.clock.schedule(this.hass.options.websocketAuthTimeoutMs, () => {
      if (this.phase === 'auth') this.close(CLOSE_NORMAL);
    });
    // §4.1: HA pings every 55 s and drops a peer that does not answer.
    this.#heartbeat = setInterval(() => {
      if (this.#awaitingPong) return this.ws.terminate();
      this.#awaitingPong = true;
      this.ws.ping();
    }, this.hass.options.websocketHeartbeatMs);
    this.#heartbeat.unref?.();
  }

  close(code = CLOSE_NORMAL) {
    this.phase = 'closed';
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(code);
  }

  dispose() {
    this.phase = 'closed';
    this.#cancelAuthTimeout();
    clearInterval(this.#heartbeat);
    this.#unregisterRevoke?.();
    for (const unsubscribe of this.subscriptions.values()) unsubscribe();
    this.subscriptions.clear();
  }

  #sendNow(message) {
    if (this.ws.readyState === this.ws.OPEN && this.phase !== 'closed') this.ws.send(JSON.stringify(message));
  }

  // HA's message_to_json: orjson.dumps, and when that fails (a value nested deeper than
  // orjson's limit, e.g. a deep `id` echoed back) an unknown_error "Invalid JSON in response"
  // for the same id. If that fails too, the exception ends the connection (close 1000).
  // Returns the text, or null after closing.
  #serialize(message) {
    const dump = (value) => {
      try {
        const text = JSON.stringify(value);
        return jsonDepthExceeds(text, ORJSON_DUMPS_MAX_DEPTH) ? null : text;
      } catch {
        return null;
      }
    };
    const text = dump(message) ?? dump({ id: message.id, type: 'result', success: false, error: { code: 'unknown_error', message: 'Invalid JSON in response' } });
    if (text === null) this.close(CLOSE_NORMAL);
    return text;
  }

  // §4.3 batching: with coalesce_messages, messages queued together go out as one array.
  send(message) {
    if (this.phase === 'closed') return;
    this.#queue.push(message);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      const queued = this.#queue;
      this.#queue = [];
      if (this.ws.readyState !== this.ws.OPEN || this.phase === 'closed') return;
      const texts = [];
      for (const item of queued) {
        const text = this.#serialize(item);
        if (text === null) return;
        texts.push(text);
      }
      if (this.coalesce && texts.length > 1) this.ws.send(`[${texts.join(',')}]`);
      else for (const text of texts) this.ws.send(text);
    });
  }

  sendResult(id, result = null) {
    this.send({ id, type: 'result', success: true, result });
  }

  sendError(id, code, message, translation) {
    const error = { code, message };
    if (translation?.translationKey) {
      error.translation_key = translation.translationKey;
      error.translation_placeholders = translation.translationPlaceholders ?? null;
      error.translation_domain = translation.translationDomain ?? null;
    }
    this.send({ id, type: 'result', success: false, error });
  }

  #onMessage(data, isBinary) {
    if (this.phase === 'auth') return this.#onAuthMessage(data, isBinary);
    if (this.phase !== 'command') return;
    if (isBinary) {
      // §4.1: binary frames are a 1-byte handler id plus payload; the double registers no
      // handlers, so they are accepted and ignored (HA logs them). An empty one disconnects.
      if (data.length < 1) return this.close(CLOSE_NORMAL);
      this.api.counters.binaryFrames += 1;
      this.hass.events.emit('ws-binary', { handlerId: data[0], bytes: data.length - 1 });
      return;
    }
    // §4.1/§4.3 (websocket_api/http.py): a frame orjson cannot parse (invalid JSON, or nested
    // deeper than 1024 levels) ends the command loop with "Received invalid JSON.": no error
    // reply, the socket is closed with 1000.
    const parsed = parseClientJson(data.toString('utf8'));
    if (!parsed.ok) return this.close(CLOSE_NORMAL);
    for (const message of Array.isArray(parsed.value) ? parsed.value : [parsed.value]) {
      if (this.phase !== 'command') break;
      this.#handleCommand(message);
    }
  }

  // §4.2 handshake.
  #onAuthMessage(data, isBinary) {
    this.phase = 'authenticating';
    this.#cancelAuthTimeout();
    if (isBinary) return this.close(CLOSE_NORMAL);
    // §4.2 step 6: a frame orjson cannot parse (invalid JSON, or nested deeper than 1024
    // levels) is a Disconnect: closed with 1000, no auth_invalid, not counted.
    const parsed = parseClientJson(data.toString('utf8'));
    if (!parsed.ok) return this.close(CLOSE_NORMAL);
    const message = parsed.value;
    let schemaErrors;
    try {
      schemaErrors = authMessageErrors(message, this.hass.features.pythonReprDepthLimit);
    } catch (error) {
      // RecursionError while formatting the schema error escapes HA's handler: closed, no reply.
      if (error instanceof PythonRecursionError) return this.close(CLOSE_NORMAL);
      throw error;
    }
    if (schemaErrors) {
      this.#sendNow({ type: 'auth_invalid', message: `Auth message incorrectly formatted: ${schemaErrors}` });
      return this.close(CLOSE_NORMAL);
    }
    const refreshToken = typeof message.access_token === 'string' ? this.hass.store.validateAccessToken(message.access_token) : null;
    if (!refreshToken) {
      this.#sendNow({ type: 'auth_invalid', message: 'Invalid access token or password' });
      this.hass.recordFailedLogin({ remote: this.remote, path: '/api/websocket' }, 'websocket auth_invalid');
      return this.close(CLOSE_NORMAL);
    }
    // Test control (double.holdNextWebsocketAuth): HA slow to answer an accepted auth message.
    const hold = this.api.authHold;
    if (hold) {
      this.api.authHold = null;
      hold.reach();
      hold.released.then(() => {
        if (this.ws.readyState === this.ws.OPEN && this.phase === 'authenticating') this.#acceptAuth(refreshToken);
      });
      return;
    }
    this.#acceptAuth(refreshToken);
  }

  #acceptAuth(refreshToken) {
    // The connection keeps this user OBJECT: deletion does not change it, so a deleted
    // user's socket keeps its old rights (§5).
    this.user = this.hass.store.getUser(refreshToken.userId);
    this.refreshTokenId = refreshToken.id;
    // §4.2 step 4: the revoke callback is the only thing that closes an open connection.
    this.#unregisterRevoke = this.hass.store.registerRevokeCallback(refreshToken.id, () => this.close(CLOSE_NORMAL));
    this.phase = 'command';
    this.#sendNow({ type: 'auth_ok', ha_version: this.hass.options.version });
    this.hass.recordSuccessfulLogin(this.remote);
    this.api.counters.authenticated += 1;
    this.hass.events.emit('ws-authenticated', { userId: this.user.id, refreshTokenId: refreshToken.id, remote: this.remote });
  }

  // §4.3 ActiveConnection.async_handle.
  #handleCommand(message) {
    const isDict = message !== null && typeof message === 'object' && !Array.isArray(message);
    const id = isDict ? message.id : undefined;
    // Any non-zero integer passes this check; a negative one then fails the id_reuse check
    // (§0.2: "Identifier values have to increase.").
    if (!isDict || !id || !Number.isInteger(id) || !message.type || typeof message.type !== 'string') {
      return this.sendError(isDict ? (message.id ?? null) : 0, 'invalid_format', 'Message incorrectly formatted.');
    }
    if (id <= this.lastId) return this.sendError(id, 'id_reuse', 'Identifier values have to increase.');
    const command = this.api.commands.get(message.type);
    if (!command) return this.sendError(id, 'unknown_command', 'Unknown command.');
    const reprDepthLimit = this.hass.features.pythonReprDepthLimit;
    try {
      let validated = message;
      if (command.fields === false && this.hass.features.typeOnlySchemaSkipped) {
        // Commands whose schema is only `type` refuse any other key but `id` (§4.3), with one
        // error for the whole message from 2024.5.
        if (Object.keys(message).length > 2) throw new InvalidFormat(humanizeError(message, [invalid('extra keys not allowed')], { reprDepthLimit }));
      } else {
        // §0.2: before that, a real schema names each extra key: "extra keys not allowed @
        // data['foo']. Got 1".
        const { value, errors } = validateMapping({ id: { required: true, validator: anything }, type: { required: true, validator: anything }, ...(command.fields || {}) }, message);
        if (errors) throw new InvalidFormat(humanizeError(message, errors, { reprDepthLimit }));
        validated = value;
      }
      // Decorator order: schema, then require_admin, then ws_require_user (§4.3).
      if (command.admin && !this.user.isAdmin) throw new Unauthorized();
      if (command.activeUser && !this.user.isActive) {
        this.sendError(id, 'only_active_user', 'Only allowed as active user');
      } else {
        const outcome = command.handler(this, validated);
        if (outcome instanceof Promise) outcome.catch((error) => this.#handleException(id, error));
      }
    } catch (error) {
      // §4.3: Python's RecursionError while formatting the schema error escapes
      // async_handle_exception, and HA's websocket loop closes the connection without a reply.
      if (error instanceof PythonRecursionError) return this.close(CLOSE_NORMAL);
      this.#handleException(id, error);
    }
    this.lastId = id;
  }

  // §4.3 exception-to-code mapping.
  #handleException(id, error) {
    if (error instanceof Unauthorized) return this.sendError(id, 'unauthorized', 'Unauthorized');
    if (error instanceof InvalidFormat) return this.sendError(id, 'invalid_format', error.message);
    if (error instanceof HomeAssistantError) return this.sendError(id, 'home_assistant_error', error.message, error);
    if (!(error instanceof HaValueError)) this.hass.logUnexpected?.(error);
    return this.sendError(id, 'unknown_error', 'Unknown error');
  }
}

// AUTH_MESSAGE_SCHEMA: type == "auth" plus at most one of access_token / api_password.
function authMessageErrors(message, reprDepthLimit) {
  const { errors } = validateMapping({
    type: { required: true, validator: literal('auth') },
    access_token: { required: false, validator: str },
    api_password: { required: false, validator: str },
  }, message);
  if (errors) return humanizeError(message, errors, { reprDepthLimit });
  if ('access_token' in message && 'api_password' in message) {
    return "two or more values in the same group of exclusion 'auth' @ data[<auth>]. Got None";
  }
  return null;
}

function userInfo(user) {
  const passwordCredential = user.credentials.find((credential) => credential.authProviderType === 'homeassistant');
  return {
    id: user.id,
    username: passwordCredential?.data.username ?? null,
    name: user.name,
    is_owner: user.isOwner,
    is_active: user.isActive,
    local_only: user.localOnly,
    system_generated: user.systemGenerated,
    group_ids: [...user.groupIds],
    credentials: user.credentials.map((credential) => ({ type: credential.authProviderType })),
  };
}

function stateDiff(oldState, newState) {
  const seconds = (iso) => Date.parse(iso.replace('000+00:00', 'Z')) / 1000;
  const added = { c: newState.context.id };
  if (oldState.state !== newState.state) {
    added.s = newState.state;
    added.lc = seconds(newState.last_changed);
  } else {
    added.lu = seconds(newState.last_updated);
  }
  const changedAttributes = Object.fromEntries(Object.entries(newState.attributes).filter(([key, value]) => JSON.stringify(oldState.attributes[key]) !== JSON.stringify(value)));
  if (Object.keys(changedAttributes).length) added.a = changedAttributes;
  const diff = { '+': added };
  const removedAttributes = Object.keys(oldState.attributes).filter((key) => !(key in newState.attributes));
  if (removedAttributes.length) diff['-'] = { a: removedAttributes };
  return diff;
}

function buildCommands(hass) {
  const commands = new Map();
  // fields === false: the schema is only `type` (§4.3).
  const register = (type, fields, handler, { admin = false, activeUser = false } = {}) => {
    commands.set(type, { fields, handler, admin, activeUser });
  };
  const required = (validator) => ({ required: true, validator });
  const optional = (validator, defaultValue) => (defaultValue === undefined ? { required: false, validator } : { required: false, validator, default: defaultValue });
  const { store, home, bus, features } = hass;
  const ownTokens = (connection) => store.userTokens(connection.user);
  const dictValidator = mapOf(str, anything);

  // ---- core commands ----
  register('ping', false, (connection, message) => connection.send({ id: message.id, type: 'pong' }));

  register('supported_features', { features: required(mapOf(str, int)) }, (connection, message) => {
    connection.coalesce = message.features.coalesce_messages === 1;
    connection.sendResult(message.id);
  });

  register('get_states', false, (connection, message) => connection.sendResult(message.id, home.readableStates(connection.user)));
  register('get_config', false, (connection, message) => connection.sendResult(message.id, home.config()));
  register('get_services', false, (connection, message) => connection.sendResult(message.id, home.services()));

  register('subscribe_events', { event_type: optional(str, '*') }, (connection, message) => {
    const eventType = message.event_type;
    if (!SUBSCRIBE_ALLOWLIST.has(eventType) && !connection.user.isAdmin) throw new Unauthorized();
    const user = connection.user;
    connection.subscriptions.set(message.id, bus.listen(eventType, (event) => {
      if (event.event_type === 'state_changed' && !user.canReadEntities()) return;
      connection.send({ id: message.id, type: 'event', event });
    }));
    connection.sendResult(message.id);
  });

  register('subscribe_entities', { entity_ids: optional(listOf(str)) }, (connection, message) => {
    const wanted = message.entity_ids?.length ? new Set(message.entity_ids) : null;
    const user = connection.user;
    const visible = (entityId) => user.canReadEntities() && (!wanted || wanted.has(entityId));
    connection.subscriptions.set(message.id, bus.listen('state_changed', (event) => {
      const { entity_id: entityId, old_state: oldState, new_state: newState } = event.data;
      if (!visible(entityId)) return;
      let update;
      if (!newState) update = { r: [entityId] };
      else if (!oldState) update = { a: { [entityId]: compressedState(newState) } };
      else update = { c: { [entityId]: stateDiff(oldState, newState) } };
      connection.send({ id: message.id, type: 'event', event: update });
    }));
    connection.sendResult(message.id);
    const initial = Object.fromEntries([...home.states.values()].filter((state) => visible(state.entity_id)).map((state) => [state.entity_id, compressedState(state)]));
    connection.send({ id: message.id, type: 'event', event: { a: initial } });
  });

  register('unsubscribe_events', { subscription: required(int) }, (connection, message) => {
    const unsubscribe = connection.subscriptions.get(message.subscription);
    if (!unsubscribe) return connection.sendError(message.id, 'not_found', 'Subscription not found.');
    unsubscribe();
    connection.subscriptions.delete(message.subscription);
    return connection.sendResult(message.id);
  });

  register('call_service', {
    domain: required(str), service: required(str), service_data: optional(dictValidator), target: optional(dictValidator), return_response: optional(bool, false),
  }, (connection, message) => {
    if (!connection.user.canControlEntities()) throw new Unauthorized();
    home.callService(message.domain, message.service, message.service_data ?? {}, message.target ?? {}, connection.user.id);
    hass.events.emit('service-call', { domain: message.domain, service: message.service, serviceData: message.service_data ?? {}, userId: connection.user.id, via: 'websocket' });
    connection.sendResult(message.id, { context: { id: message.id.toString(16).padStart(26, '0').toUpperCase(), parent_id: null, user_id: connection.user.id }, response: message.return_response ? {} : null });
  });

  register('fire_event', { event_type: required(str), event_data: optional(dictValidator) }, (connection, message) => {
    const event = bus.fire(message.event_type, message.event_data ?? {}, connection.user.id);
    connection.sendResult(message.id, { context: event.context });
  }, { admin: true });

  // ---- auth/* (§4.4) ----
  register('auth/current_user', false, (connection, message) => {
    const user = connection.user;
    connection.sendResult(message.id, {
      id: user.id,
      name: user.name,
      is_owner: user.isOwner,
      is_admin: user.isAdmin,
      credentials: user.credentials.map((credential) => ({ auth_provider_type: credential.authProviderType, auth_provider_id: credential.authProviderId })),
      mfa_modules: [{ id: 'totp', name: 'Authenticator app', enabled: Boolean(user.totpEnabled) }],
    });
  }, { activeUser: true });

  register('auth/long_lived_access_token', { lifespan: required(int), client_name: required(str), client_icon: optional(str) }, (connection, message) => {
    const refreshToken = store.createRefreshToken(connection.user, {
      clientName: message.client_name,
      clientIcon: message.client_icon ?? null,
      tokenType: TOKEN_TYPE_LLAT,
      accessTokenExpirationSeconds: message.lifespan * 86400,
    });
    connection.sendResult(message.id, store.createAccessToken(refreshToken));
  }, { activeUser: true });

  register('auth/refresh_tokens', false, (connection, message) => {
    connection.sendResult(message.id, ownTokens(connection).map((token) => {
      const item = {
        auth_provider_type: token.credential?.authProviderType ?? null,
        client_icon: token.clientIcon,
        client_id: token.clientId,
        client_name: token.clientName,
        created_at: isoFromMs(token.createdAt),
        id: token.id,
        is_current: token.id === connection.refreshTokenId,
        last_used_at: token.lastUsedAt === null ? null : isoFromMs(token.lastUsedAt),
        last_used_ip: token.lastUsedIp,
        type: token.tokenType,
      };
      // expire_at appeared in 2024.2 (§4.4).
      if (features.refreshTokenExpiry) item.expire_at = token.expireAt === null ? null : isoFromMs(token.expireAt);
      return item;
    }));
  }, { activeUser: true });

  register('auth/delete_refresh_token', { refresh_token_id: required(str) }, (connection, message) => {
    const token = ownTokens(connection).find((item) => item.id === message.refresh_token_id);
    if (!token) return connection.sendError(message.id, 'invalid_token_id', 'Received invalid token');
    // Removing the current token closes this connection first; the reply is then lost.
    hass.removeRefreshToken(token, 'websocket delete');
    return connection.sendResult(message.id, {});
  }, { activeUser: true });

  if (features.deleteAllTokenOptions) {
    register('auth/delete_all_refresh_tokens', { token_type: optional(str), delete_current_token: optional(bool, true) }, (connection, message) => {
      let current = null;
      const tokenType = message.token_type;
      for (const token of ownTokens(connection)) {
        if (token.id === connection.refreshTokenId) { current = token; continue; }
        if (tokenType !== undefined && token.tokenType !== tokenType) continue;
        hass.removeRefreshToken(token, 'websocket delete all');
      }
      connection.sendResult(message.id, {});
      // The current token goes 2 s after the reply, so the reply can reach the client.
      if (current && message.delete_current_token && (tokenType === undefined || current.tokenType === tokenType)) {
        hass.clock.schedule(2000, () => {
          if (store.refreshTokens.has(current.id)) hass.removeRefreshToken(current, 'websocket delete all (current)');
        });
      }
    }, { activeUser: true });
  } else {
    // 2023.9-2024.1: no options; everything goes, the current token right after the reply.
    register('auth/delete_all_refresh_tokens', false, (connection, message) => {
      let current = null;
      for (const token of ownTokens(connection)) {
        if (token.id === connection.refreshTokenId) { current = token; continue; }
        hass.removeRefreshToken(token, 'websocket delete all');
      }
      connection.sendResult(message.id, {});
      if (current) setImmediate(() => setImmediate(() => hass.removeRefreshToken(current, 'websocket delete all (current)')));
    }, { activeUser: true });
  }

  if (features.refreshTokenSetExpiry) {
    register('auth/refresh_token_set_expiry', { refresh_token_id: required(str), enable_expiry: required(bool) }, (connection, message) => {
      const token = ownTokens(connection).find((item) => item.id === message.refresh_token_id);
      if (!token) return connection.sendError(message.id, 'invalid_token_id', 'Received invalid token');
      if (!message.enable_expiry) token.expireAt = null;
      else if (token.expireAt === null && token.tokenType === TOKEN_TYPE_NORMAL) token.expireAt = (token.lastUsedAt ?? hass.clock.now()) + 90 * 24 * 3600 * 1000;
      return connection.sendResult(message.id, {});
    }, { activeUser: true });
  }

  // §9.5 signed paths, issued for this connection's refresh token.
  register('auth/sign_path', { path: required(str), expires: optional(int, 30) }, (connection, message) => {
    connection.sendResult(message.id, { path: store.signPath(message.path, message.expires, connection.refreshTokenId) });
  }, { activeUser: true });

  // ---- config/auth/* (§4.4), all admin ----
  register('config/auth/list', false, (connection, message) => {
    connection.sendResult(message.id, [...store.users.values()].map((user) => userInfo(user)));
  }, { admin: true });

  register('config/auth/create', { name: required(str), group_ids: optional(listOf(str)), local_only: optional(bool) }, (connection, message) => {
    // No credentials, no person, and no groups unless given (§4.4, §11.8).
    const user = store.createUser({ name: message.name, groupIds: message.group_ids ?? [], localOnly: message.local_only ?? false });
    connection.sendResult(message.id, { user: userInfo(user) });
  }, { admin: true });

  register('config/auth/update', {
    user_id: required(str), name: optional(str), is_active: optional(bool), group_ids: optional(listOf(str)), local_only: optional(bool),
  }, (connection, message) => {
    const user = store.getUser(message.user_id);
    if (!user) return connection.sendError(message.id, 'not_found', 'User not found');
    if (user.systemGenerated) return connection.sendError(message.id, 'cannot_modify_system_generated', 'Unable to update system generated users.');
    if (user.isOwner && message.is_active === false) return connection.sendError(message.id, 'cannot_deactivate_owner', 'Unable to deactivate owner.');
    // §5: deactivation closes nothing and revokes nothing.
    try {
      store.updateUser(user, { name: message.name, isActive: message.is_active, groupIds: message.group_ids, localOnly: message.local_only });
    } catch (error) {
      // §0.2: the handler has already popped `id` from the message when the unknown group
      // raises ValueError, so HA's error reply itself fails (KeyError: 'id'): no answer at all,
      // nothing changed, and the socket stays usable.
      if (error instanceof HaValueError) return undefined;
      throw error;
    }
    return connection.sendResult(message.id, { user: userInfo(user) });
  }, { admin: true });

  register('config/auth/delete', { user_id: required(str) }, (connection, message) => {
    if (message.user_id === connection.user.id) return connection.sendError(message.id, 'no_delete_self', 'Unable to delete your own account');
    const user = store.getUser(message.user_id);
    if (!user) return connection.sendError(message.id, 'not_found', 'User not found');
    // §5: no owner protection; open sockets of the deleted user stay open.
    hass.removeUser(user);
    return connection.sendResult(message.id);
  }, { admin: true });

  // ---- config/auth_provider/homeassistant/* (§4.4, §6.6) ----
  const passwordCredentialOf = (user) => user.credentials.find((credential) => credential.authProviderType === 'homeassistant') ?? null;

  register('config/auth_provider/homeassistant/create', { user_id: required(str), username: required(str), password: required(str) }, async (connection, message) => {
    const user = store.getUser(message.user_id);
    if (!user) return connection.sendError(message.id, 'not_found', 'User not found');
    if (user.systemGenerated) return connection.sendError(message.id, 'system_generated', 'Cannot add credentials to a system generated user.');
    let stored;
    try {
      stored = await store.addPasswordAuth(message.username, message.password);
    } catch (error) {
      if (error.legacyCode === 'username_exists') return connection.sendError(message.id, 'username_exists', 'Username already exists');
      throw error;
    }
    store.linkCredential(user, store.getOrCreatePasswordCredential(stored));
    return connection.sendResult(message.id);
  }, { admin: true });

  register('config/auth_provider/homeassistant/delete', { username: required(str) }, (connection, message) => {
    const credential = store.getOrCreatePasswordCredential(message.username);
    // A linked credential is removed together with its stored password; sessions survive.
    if (!credential.isNew) {
      store.removeCredential(credential);
      return connection.sendResult(message.id);
    }
    try {
      store.removePasswordAuth(message.username);
    } catch (error) {
      if (!features.strictUsernames && error instanceof HomeAssistantError) return connection.sendError(message.id, 'auth_not_found', 'Given username was not found.');
      throw error;
    }
    return connection.sendResult(message.id);
  }, { admin: true });

  // Any connected user, no admin and no active check; never revokes sessions.
  register('config/auth_provider/homeassistant/change_password', { current_password: required(str), new_password: required(str) }, async (connection, message) => {
    const credential = passwordCredentialOf(connection.user);
    if (!credential) return connection.sendError(message.id, 'credentials_not_found', 'Credentials not found');
    if (!(await store.validateLogin(credential.data.username, message.current_password))) {
      return connection.sendError(message.id, 'invalid_current_password', 'Invalid current password');
    }
    await store.changePassword(credential.data.username, message.new_password);
    return connection.sendResult(message.id);
  });

  register('config/auth_provider/homeassistant/admin_change_password', { user_id: required(str), password: required(str) }, async (connection, message) => {
    if (!connection.user.isOwner) throw new Unauthorized();
    const user = store.getUser(message.user_id);
    if (!user) return connection.sendError(message.id, 'user_not_found', 'User not found');
    const credential = passwordCredentialOf(user);
    if (!credential) return connection.sendError(message.id, 'credentials_not_found', 'Credentials not found');
    await store.changePassword(credential.data.username, message.password);
    return connection.sendResult(message.id);
  }, { admin: true });

  if (features.strictUsernames) {
    register('config/auth_provider/homeassistant/admin_change_username', { user_id: required(str), username: required(str) }, (connection, message) => {
      if (!connection.user.isOwner) throw new Unauthorized();
      const user = store.getUser(message.user_id);
      if (!user) return connection.sendError(message.id, 'user_not_found', 'User not found');
      const credential = passwordCredentialOf(user);
      if (!credential) return connection.sendError(message.id, 'credentials_not_found', 'Credentials not found');
      store.changeUsername(credential, message.username);
      return connection.sendResult(message.id);
    }, { admin: true });
  }

  // ---- person/* (§4.4, §6.5) ----
  register('person/list', false, (connection, message) => connection.sendResult(message.id, { storage: home.persons, config: [] }));

  const validatePersonUser = (userId, exceptPersonId) => {
    if (userId === null || userId === undefined) return null;
    if (!store.getUser(userId)) return 'User does not exist';
    if (home.persons.some((person) => person.user_id === userId && person.id !== exceptPersonId)) return 'User already taken';
    return null;
  };

  register('person/create', {
    name: required(minLengthStr(1)), user_id: optional(strOrNull, null), device_trackers: optional(listOf(str), () => []), picture: optional(strOrNull, null),
  }, (connection, message) => {
    const problem = validatePersonUser(message.user_id);
    if (problem) return connection.sendError(message.id, 'invalid_format', problem);
    return connection.sendResult(message.id, home.createPerson(message));
  }, { admin: true });

  register('person/update', {
    person_id: required(str), name: optional(minLengthStr(1)), user_id: optional(strOrNull), device_trackers: optional(listOf(str)), picture: optional(strOrNull),
  }, (connection, message) => {
    const person = home.persons.find((item) => item.id === message.person_id);
    if (!person) return connection.sendError(message.id, 'not_found', `Unable to find person_id ${message.person_id}`);
    const problem = validatePersonUser(message.user_id, person.id);
    if (problem) return connection.sendError(message.id, 'invalid_format', problem);
    for (const key of ['name', 'user_id', 'device_trackers', 'picture']) if (key in message) person[key] = message[key];
    return connection.sendResult(message.id, person);
  }, { admin: true });

  register('person/delete', { person_id: required(str) }, (connection, message) => {
    const index = home.persons.findIndex((item) => item.id === message.person_id);
    if (index === -1) return connection.sendError(message.id, 'not_found', `Unable to find person_id ${message.person_id}`);
    home.persons.splice(index, 1);
    return connection.sendResult(message.id);
  }, { admin: true });

  return commands;
}

