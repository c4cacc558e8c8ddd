// HTTP views under /auth and the OAuth metadata (§1.2, §1.4-§1.6, §1.10, §1.11, §1.13).

import { parseIp, isLocal, canonicalIp } from './ip.mjs';
import { verifyClientId, verifyRedirectUri } from './indieauth.mjs';
import { validateMapping, firstErrorText, str, any, all, listOf, length, strOrNull, anything } from './voluptuous.mjs';
import { StepInputInvalid } from './login-flows.mjs';
import { InvalidAuthError, UncaughtServerError } from './errors.mjs';

// §1.2 well-known metadata: relative endpoints, no PKCE.
export function wellKnown(ctx) {
  ctx.json(200, {
    authorization_endpoint: '/auth/authorize',
    token_endpoint: '/auth/token',
    revocation_endpoint: '/auth/revoke',
    response_types_supported: ['code'],
    service_documentation: 'https://developers.home-assistant.io/docs/auth_api',
  });
}

// §1.4 providers.
export function providers(hass, ctx) {
  if (!hass.onboarding.user) return ctx.jsonMessage(400, 'Onboarding not finished', 'onboarding_required');
  if (!parseIp(ctx.remote)) return ctx.jsonMessage(400, 'Invalid remote IP', 'invalid_remote_ip');
  const listed = hass.providers.filter((provider) => provider.isListedFor(ctx.remote)).map((provider) => ({ name: provider.name, id: provider.id, type: provider.type }));
  // §0.1 / §10.1: bare array on 2023.9-2024.1, wrapped object later.
  if (hass.options.providersShape === 'list') return ctx.json(200, listed);
  return ctx.json(200, { providers: listed, preselect_remember_me: isLocal(parseIp(ctx.remote)) });
}

// §1.1 RequestDataValidator: invalid JSON and schema failures are answered before the
// handler runs, so they are NOT counted as failed logins (§1.6, §1.12).
async function readValidatedJson(ctx, fields, options) {
  const parsed = await ctx.jsonBody();
  if (!parsed.ok) {
    ctx.jsonMessage(400, 'Invalid JSON.');
    return null;
  }
  const { value, errors } = validateMapping(fields, parsed.value, options);
  if (errors) {
    ctx.jsonMessage(400, `Message format incorrect: ${firstErrorText(errors)}`);
    return null;
  }
  return value;
}

function handlerValidator(hass) {
  const pair = all(listOf(strOrNull), length(2, 2));
  // §1.5: 2024.1 and older also accepted a bare string.
  return hass.features.bareStringHandler ? any(str, listOf(anything)) : pair;
}

// @log_invalid_auth: any handler response >= 400 counts as a failed login (§1.6, §1.12).
function countIfRefused(hass, ctx) {
  if (ctx.status >= 400) hass.recordFailedLogin(ctx, `login flow ${ctx.status}`);
}

// §1.5 POST /auth/login_flow
export async function createLoginFlow(hass, ctx) {
  const data = await readValidatedJson(ctx, {
    client_id: { required: true, validator: str },
    handler: { required: true, validator: handlerValidator(hass) },
    redirect_uri: { required: true, validator: str },
    type: { required: false, validator: str, default: 'authorize' },
  });
  if (!data) return;
  try {
    if (!verifyClientId(data.client_id)) return ctx.jsonMessage(400, 'Invalid client id');
    const result = await hass.flows.start(data.handler, {
      ipAddress: canonicalIp(ctx.remote),
      redirectUri: data.redirect_uri,
      credentialOnly: data.type === 'link_user',
    });
    await flowResultToResponse(hass, ctx, data.client_id, result);
  } finally {
    countIfRefused(hass, ctx);
  }
}

// §1.6 POST /auth/login_flow/{flow_id}
export async function advanceLoginFlow(hass, ctx, flowId) {
  const data = await readValidatedJson(ctx, { client_id: { required: true, validator: str } }, { allowExtra: true });
  if (!data) return;
  try {
    const { client_id: clientId, ...userInput } = data;
    if (!verifyClientId(clientId)) return ctx.jsonMessage(400, 'Invalid client id');
    const flow = hass.flows.get(flowId);
    if (!flow) return ctx.jsonMessage(404, 'Invalid flow specified');
    // §1.6 IP pinning: every step must come from the flow's recorded client IP.
    if (flow.context.ipAddress !== canonicalIp(ctx.remote)) return ctx.jsonMessage(400, 'IP address changed');
    let result;
    try {
      result = await hass.flows.advance(flow, userInput);
    } catch (error) {
      if (error instanceof StepInputInvalid) return ctx.jsonMessage(400, 'User input malformed');
      throw error;
    }
    // §1.6: the code is bound to THIS request's client_id, not the one that created the flow.
    await flowResultToResponse(hass, ctx, clientId, result);
  } finally {
    countIfRefused(hass, ctx);
  }
}

async function flowResultToResponse(hass, ctx, clientId, result) {
  if (result.type !== 'create_entry') {
    // §1.12: a 200 form with invalid_auth/invalid_code is still a failed login.
    if (result.type === 'form' && ['invalid_auth', 'invalid_code'].includes(result.errors?.base)) {
      hass.recordFailedLogin(ctx, `login flow 200 ${result.errors.base}`);
    }
    return ctx.json(200, result);
  }
  const { credential, context, ...entry } = result;
  // §1.6 late redirect check: redirect_uri from flow creation, client_id of THIS request.
  if (!(await verifyRedirectUri(clientId, context.redirectUri, { discoverRedirectUris: hass.discoverRedirectUris }))) {
    return ctx.jsonMessage(403, 'Invalid redirect URI');
  }
  // §1.6 user check for credentials that already belong to a user (§5, §6.4).
  const user = hass.store.userByCredential(credential);
  const refusal = user ? hass.store.userNotAllowedReason(user, ctx.remote) : null;
  if (refusal) return ctx.jsonMessage(403, `Login blocked: ${refusal}`);
  hass.recordSuccessfulLogin(ctx.remote);
  const code = hass.store.storeCode(clientId, credential);
  return ctx.json(200, { ...entry, result: code });
}

// §1.6 DELETE aborts without authentication; GET is always 404.
export function deleteLoginFlow(hass, ctx, flowId) {
  if (!hass.flows.abort(flowId)) return ctx.jsonMessage(404, 'Invalid flow specified');
  return ctx.jsonMessage(200, 'Flow aborted');
}

// §0.2: LoginFlowResourceView.get() lacks the flow_id parameter, so aiohttp's call raises a
// TypeError that nothing catches: a bare HTTP 500 for every flow id (the §1.6 "GET always
// returns 404" is what the code meant, not what it does).
export function getLoginFlow() {
  throw new UncaughtServerError("TypeError: LoginFlowResourceView.get() got an unexpected keyword argument 'flow_id'");
}

// §1.5 / §0.2: LoginFlowIndexView.get() answers a plain 405 itself: empty body, no Allow.
export function listLoginFlows(hass, ctx) {
  ctx.empty(405);
}

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

// §1.10 POST /auth/token. Every response >= 400 counts as a failed login.
export async function token(hass, ctx) {
  const form = await ctx.formBody();
  try {
    if (form.get('action') === 'revoke') return revokeWithForm(hass, ctx, form);
    const grantType = form.get('grant_type');
    if (grantType === 'authorization_code') return exchangeCode(hass, ctx, form);
    if (grantType === 'refresh_token') return refreshAccessToken(hass, ctx, form);
    return ctx.json(400, { error: 'unsupported_grant_type' });
  } finally {
    if (ctx.status >= 400) hass.recordFailedLogin(ctx, `token ${ctx.status}`);
  }
}

function exchangeCode(hass, ctx, form) {
  const clientId = form.get('client_id');
  if (clientId === undefined || clientId === null || !verifyClientId(clientId)) {
    return ctx.json(400, { error: 'invalid_request', error_description: 'Invalid client id' });
  }
  const code = form.get('code');
  if (code === undefined || code === null) return ctx.json(400, { error: 'invalid_request', error_description: 'Invalid code' });
  const credential = hass.store.retrieveCode(clientId, code);
  if (!credential) return ctx.json(400, { error: 'invalid_request', error_description: 'Invalid code' });
  const user = hass.store.getOrCreateUserForCredential(credential);
  const refusal = hass.store.userNotAllowedReason(user, ctx.remote);
  if (refusal) return ctx.json(403, { error: 'access_denied', error_description: refusal });
  const refreshToken = hass.store.createRefreshToken(user, { clientId, credential });
  let accessToken;
  try {
    accessToken = hass.store.createAccessToken(refreshToken, ctx.remote);
  } catch (error) {
    if (error instanceof InvalidAuthError) return ctx.json(403, { error: 'access_denied', error_description: error.message });
    throw error;
  }
  hass.events.emit('token-issued', { grant: 'authorization_code', userId: user.id, refreshTokenId: refreshToken.id, clientId });
  return ctx.json(200, {
    access_token: accessToken,
    token_type: 'Bearer',
    refresh_token: refreshToken.token,
    expires_in: refreshToken.accessTokenExpirationSeconds,
    ha_auth_provider: credential.authProviderType,
  }, NO_STORE);
}

function refreshAccessToken(hass, ctx, form) {
  const clientId = form.get('client_id') ?? null;
  if (clientId !== null && !verifyClientId(clientId)) {
    return ctx.json(400, { error: 'invalid_request', error_description: 'Invalid client id' });
  }
  const tokenString = form.get('refresh_token');
  if (tokenString === undefined || tokenString === null) return ctx.json(400, { error: 'invalid_request' });
  const refreshToken = hass.store.getRefreshTokenByToken(tokenString);
  if (!refreshToken) return ctx.json(400, { error: 'invalid_grant' });
  // "absent" means None, which must equal the stored client_id exactly.
  if (refreshToken.clientId !== clientId) return ctx.json(400, { error: 'invalid_request' });
  const user = hass.store.getUser(refreshToken.userId);
  const refusal = hass.store.userNotAllowedReason(user, ctx.remote);
  if (refusal) return ctx.json(403, { error: 'access_denied', error_description: refusal });
  let accessToken;
  try {
    // trusted_networks re-checks the current client IP here (§3.4).
    accessToken = hass.store.createAccessToken(refreshToken, ctx.remote);
  } catch (error) {
    if (error instanceof InvalidAuthError) return ctx.json(403, { error: 'access_denied', error_description: error.message });
    throw error;
  }
  hass.events.emit('token-issued', { grant: 'refresh_token', userId: user.id, refreshTokenId: refreshToken.id, clientId });
  // No new refresh_token: HA does not rotate refresh tokens.
  return ctx.json(200, { access_token: accessToken, token_type: 'Bearer', expires_in: refreshToken.accessTokenExpirationSeconds }, NO_STORE);
}

// §1.11: always 200 with an empty body; never counted as a failed login.
function revokeWithForm(hass, ctx, form) {
  const tokenString = form.get('token');
  if (tokenString !== undefined && tokenString !== null) {
    const refreshToken = hass.store.getRefreshTokenByToken(tokenString);
    if (refreshToken) hass.removeRefreshToken(refreshToken, 'revoke');
  }
  return ctx.empty(200);
}

export async function revoke(hass, ctx) {
  return revokeWithForm(hass, ctx, await ctx.formBody());
}

// §1.13 POST /auth/link_user (authenticated).
export async function linkUser(hass, ctx) {
  const data = await readValidatedJson(ctx, { code: { required: true, validator: str }, client_id: { required: true, validator: str } });
  if (!data) return;
  const credential = hass.store.retrieveCode(data.client_id, data.code);
  if (!credential) return ctx.jsonMessage(400, 'Invalid code');
  const linkedUser = hass.store.userByCredential(credential);
  if (linkedUser && linkedUser !== ctx.user) return ctx.jsonMessage(400, 'Credential already linked');
  if (!linkedUser) hass.store.linkCredential(ctx.user, credential);
  return ctx.jsonMessage(200, 'User linked');
}

