// Auth providers and their login flows (§1.4-§1.7, §3.4): the homeassistant password
// provider and trusted_networks, with data-entry-flow step shapes exactly as HA sends them.
// MFA steps and the command_line provider are not modelled.

import { parseIp, parseNetwork, inAnyNetwork } from './ip.mjs';
import { uuidHex } from './auth-store.mjs';
import { InvalidAuthError, UncaughtServerError } from './errors.mjs';

// A step's user input failed the step schema: the view answers 400 "User input malformed".
export class StepInputInvalid extends Error {}

export class HomeAssistantProvider {
  type = 'homeassistant';

  constructor({ id = null, name = 'Home Assistant Local' }, store) {
    this.id = id;
    this.name = name;
    this.store = store;
  }

  // Nothing to check on refresh for password credentials.
  validateRefreshToken() {}

  isListedFor() {
    return true;
  }

  startFlow(context) {
    return new PasswordLoginFlow(this, context);
  }
}

// §3.4 trusted_networks.
export class TrustedNetworksProvider {
  type = 'trusted_networks';

  constructor({ id = null, name = 'Trusted Networks', trustedNetworks = [], trustedUsers = {}, allowBypassLogin = false }, store, trustedProxies) {
    this.id = id;
    this.name = name;
    this.store = store;
    this.trustedNetworks = trustedNetworks.map(parseNetwork);
    this.trustedUsers = Object.entries(trustedUsers).map(([network, entries]) => ({ network: parseNetwork(network), entries }));
    this.allowBypassLogin = allowBypassLogin;
    this.trustedProxies = trustedProxies;
  }

  // async_validate_access, in HA's order. Cloud requests are not modelled.
  validateAccess(remoteIp) {
    const ip = parseIp(remoteIp);
    if (this.trustedNetworks.length === 0) throw new InvalidAuthError('trusted_networks is not configured');
    if (!inAnyNetwork(this.trustedNetworks, ip)) throw new InvalidAuthError('Not in trusted_networks');
    if (inAnyNetwork(this.trustedProxies, ip)) throw new InvalidAuthError("Can't allow access from a proxy server");
  }

  // §1.10 / §3.4: every refresh re-checks the current client IP.
  validateRefreshToken(refreshToken, remoteIp) {
    if (remoteIp === null) throw new InvalidAuthError("Unknown remote ip can't be used for trusted network provider.");
    this.validateAccess(remoteIp);
  }

  // §1.4: listed only when access would be allowed for this client.
  isListedFor(remoteIp) {
    try {
      this.validateAccess(remoteIp);
      return true;
    } catch {
      return false;
    }
  }

  // Active, non-system users, narrowed by the first trusted_users network containing the IP.
  availableUsers(remoteIp) {
    const ip = parseIp(remoteIp);
    let users = [...this.store.users.values()].filter((user) => !user.systemGenerated && user.isActive);
    for (const { network, entries } of this.trustedUsers) {
      if (!inAnyNetwork([network], ip)) continue;
      const userIds = entries.filter((entry) => typeof entry === 'string');
      const groupIds = entries.filter((entry) => entry && typeof entry === 'object').flatMap((entry) => [entry.group].flat());
      users = users.filter((user) => userIds.includes(user.id) || user.groupIds.some((groupId) => groupIds.includes(groupId)));
      break;
    }
    return Object.fromEntries(users.map((user) => [user.id, user.name]));
  }

  // Only existing, active, non-system users; the credential is linked on first use. Anything
  // else raises InvalidUserError, which HA does not catch (HTTP 500).
  credentialForUser(userId) {
    const user = this.store.getUser(userId);
    if (!user || user.systemGenerated || !user.isActive) throw new UncaughtServerError('InvalidUserError');
    const existing = user.credentials.find((credential) => credential.authProviderType === this.type && credential.authProviderId === this.id);
    if (existing) return existing;
    const credential = { id: uuidHex(), authProviderType: this.type, authProviderId: this.id, data: { user_id: userId }, isNew: true };
    this.store.linkCredential(user, credential);
    return credential;
  }

  startFlow(context) {
    return new TrustedNetworksLoginFlow(this, context);
  }
}

class LoginFlow {
  constructor(provider, context) {
    this.provider = provider;
    this.context = context;
    this.flowId = uuidHex();
    this.handler = [provider.type, provider.id];
    this.shownSchema = null;
  }

  // §1.7 form shape.
  showForm(dataSchema, errors = {}, validateInput) {
    this.shownSchema = validateInput;
    return { type: 'form', flow_id: this.flowId, handler: this.handler, step_id: 'init', data_schema: dataSchema, errors, description_placeholders: null, last_step: null, preview: null };
  }

  abort(reason) {
    return { type: 'abort', flow_id: this.flowId, handler: this.handler, reason, description_placeholders: null };
  }

  // §1.7 create_entry. "version": 1 was on the wire of the live 2023.9.3 (§0.1). The view
  // removes `credential` and `context` and puts the authorization code in `result`.
  createEntry(credential) {
    return { version: 1, type: 'create_entry', flow_id: this.flowId, handler: this.handler, description: null, description_placeholders: null, credential, context: this.context };
  }

  // data_entry_flow validates input against the schema of the last form shown.
  checkInput(userInput) {
    if (this.shownSchema && !this.shownSchema(userInput)) throw new StepInputInvalid();
  }
}

const isString = (value) => typeof value === 'string';

class PasswordLoginFlow extends LoginFlow {
  static schema = [
    { type: 'string', name: 'username', required: true },
    { type: 'string', name: 'password', required: true },
  ];

  static validInput(userInput) {
    const keys = Object.keys(userInput);
    return keys.length === 2 && isString(userInput.username) && isString(userInput.password);
  }

  async step(userInput) {
    if (userInput === undefined) return this.showForm(PasswordLoginFlow.schema, {}, PasswordLoginFlow.validInput);
    this.checkInput(userInput);
    if (this.mfaCredential) return this.abort('invalid_code'); // the double checks no TOTP code (see below)
    if (!(await this.provider.store.validateLogin(userInput.username, userInput.password))) {
      return this.showForm(PasswordLoginFlow.schema, { base: 'invalid_auth' }, PasswordLoginFlow.validInput);
    }
    const credential = this.provider.store.getOrCreatePasswordCredential(userInput.username);
    // §1.7 (contract line on MFA): a user with an MFA module enabled gets the `mfa` step after the
    // password (select_mfa_module is skipped: TOTP is the one module). The double never accepts a code:
    // what it models is a client that cannot answer this step.
    const user = credential.isNew ? null : this.provider.store.userByCredential(credential);
    if (user?.totpEnabled) {
      this.mfaCredential = credential;
      this.shownSchema = (input) => Object.keys(input).length === 1 && isString(input.code);
      return { type: 'form', flow_id: this.flowId, handler: this.handler, step_id: 'mfa',
        data_schema: [{ type: 'string', name: 'code', required: true }], errors: {},
        description_placeholders: { mfa_module_name: 'Authenticator app', mfa_module_id: 'totp' }, last_step: null, preview: null };
    }
    return this.createEntry(credential);
  }
}

class TrustedNetworksLoginFlow extends LoginFlow {
  constructor(provider, context) {
    super(provider, context);
    // Computed once, when the flow is created (as HA does).
    this.availableUsers = provider.availableUsers(context.ipAddress);
  }

  async step(userInput) {
    try {
      this.provider.validateAccess(this.context.ipAddress);
    } catch (error) {
      if (error instanceof InvalidAuthError) return this.abort('not_allowed');
      throw error;
    }
    if (userInput !== undefined) {
      this.checkInput(userInput);
      return this.createEntry(this.provider.credentialForUser(userInput.user));
    }
    const userIds = Object.keys(this.availableUsers);
    // §1.7: with allow_bypass_login and exactly one eligible user, finish at once.
    if (this.provider.allowBypassLogin && userIds.length === 1) {
      return this.createEntry(this.provider.credentialForUser(userIds[0]));
    }
    const schema = [{ type: 'select', options: Object.entries(this.availableUsers), name: 'user', required: true }];
    return this.showForm(schema, {}, (input) => Object.keys(input).length === 1 && Object.hasOwn(this.availableUsers, input.user));
  }
}

export function buildProviders(configs, store, trustedProxies) {
  return configs.map((config) => {
    if (config.type === 'homeassistant') return new HomeAssistantProvider(config, store);
    if (config.type === 'trusted_networks') return new TrustedNetworksProvider(config, store, trustedProxies);
    throw new Error(`the double does not model auth provider type ${config.type}`);
  });
}

// AuthManagerFlowManager: flows in progress, keyed by flow_id.
export class LoginFlowManager {
  flows = new Map();

  constructor(providers) {
    this.providers = providers;
  }

  findProvider(type, id) {
    return this.providers.find((provider) => provider.type === type && provider.id === id) ?? null;
  }

  // §1.5: an unknown handler raises KeyError in HA, which the view does not catch (500).
  async start(handler, context) {
    const provider = Array.isArray(handler) && handler.length === 2 ? this.findProvider(handler[0], handler[1]) : null;
    if (!provider) throw new UncaughtServerError(`KeyError: ${JSON.stringify(handler)}`);
    const flow = provider.startFlow(context);
    this.flows.set(flow.flowId, flow);
    return this.#settle(flow, await flow.step(undefined));
  }

  get(flowId) {
    return this.flows.get(flowId) ?? null;
  }

  async advance(flow, userInput) {
    return this.#settle(flow, await flow.step(userInput));
  }

  abort(flowId) {
    return this.flows.delete(flowId);
  }

  // Finished flows (create_entry, abort) leave the manager; forms keep the flow open.
  #settle(flow, result) {
    if (result.type !== 'form') this.flows.delete(flow.flowId);
    return result;
  }
}

