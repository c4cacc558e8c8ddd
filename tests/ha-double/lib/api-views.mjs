// REST views under /api (§2.3 bearer auth, §6.4 local_only), onboarding (§0.1, §8.3),
// webhooks (§8.5), signed media paths (§9.5) and the manifest (§8.2).

import { randomBytes } from 'node:crypto';
import { parseIp, isLocal } from './ip.mjs';
import { verifyRedirectUri } from './indieauth.mjs';
import { validateMapping, firstErrorText, str, bool } from './voluptuous.mjs';
import { HttpError } from './http-pipeline.mjs';
import { parseClientJson } from './json.mjs';

export function apiStatus(hass, ctx) {
  ctx.jsonMessage(200, 'API running.');
}

export function apiConfig(hass, ctx) {
  ctx.json(200, hass.home.config());
}

export function apiStates(hass, ctx) {
  ctx.json(200, hass.home.readableStates(ctx.user));
}

export function apiState(hass, ctx, entityId) {
  const state = hass.home.states.get(entityId);
  if (!state) return ctx.jsonMessage(404, 'Entity not found.');
  if (!ctx.user.canReadEntities()) throw new HttpError(401);
  return ctx.json(200, state);
}

// POST /api/services/<domain>/<service>: runs the call and answers with the changed states.
export async function apiCallService(hass, ctx, domain, service) {
  const body = await ctx.body();
  let serviceData = {};
  if (body.length) {
    // orjson rules: nesting past 1024 levels is invalid JSON too (lib/json.mjs).
    const parsed = parseClientJson(body.toString('utf8'));
    if (!parsed.ok) return ctx.jsonMessage(400, 'Data should be valid JSON.');
    serviceData = parsed.value;
  }
  // Entity control needs a group with control rights (§6.2); read-only users are refused
  // with Unauthorized, which HA turns into 401.
  if (!ctx.user.canControlEntities()) throw new HttpError(401);
  const changed = hass.home.callService(domain, service, serviceData, {}, ctx.user.id);
  hass.events.emit('service-call', { domain, service, serviceData, userId: ctx.user.id, via: 'http' });
  return ctx.json(200, changed);
}

// §7.2: the companion apps register here (Bearer); the answer names the webhook they then call with no
// authentication. mobile_app/http_api.py: RegistrationsView (REGISTRATION_SCHEMA's required keys; an
// invalid body gets RequestDataValidator's 400; no cloud here, so cloudhook_url and remote_ui_url are
// null); its webhook takes POST and PUT and, like every mobile_app webhook, keeps working for a
// deactivated user (§5) until the user is deleted.
const REGISTRATION_FIELDS = {
  app_data: { default: () => ({}), validator: () => [] },
  app_id: { required: true, validator: str },
  app_name: { required: true, validator: str },
  app_version: { required: true, validator: str },
  device_id: { validator: str },
  device_name: { required: true, validator: str },
  manufacturer: { required: true, validator: str },
  model: { required: true, validator: str },
  os_name: { required: true, validator: str },
  os_version: { validator: str },
  supports_encryption: { default: false, validator: bool },
};
export async function mobileAppRegistration(hass, ctx) {
  const data = await readJson(ctx, REGISTRATION_FIELDS);
  if (!data) return;
  const webhookId = randomBytes(32).toString('hex');
  const secret = data.supports_encryption ? randomBytes(32).toString('hex') : null;
  hass.webhooks.set(webhookId, { id: webhookId, localOnly: false, allowedMethods: ['POST', 'PUT'], userId: ctx.user.id });
  ctx.json(201, { cloudhook_url: null, remote_ui_url: null, secret, webhook_id: webhookId });
}

// §8.5 webhooks: unknown ids still get 200, methods outside the webhook's list get 405
// (HEAD gets 200), local_only webhooks silently drop non-local requests.
export async function webhook(hass, ctx, webhookId) {
  const body = ctx.method === 'HEAD' || ctx.method === 'GET' ? Buffer.alloc(0) : await ctx.body();
  const registered = hass.webhooks.get(webhookId);
  const delivery = { webhookId, method: ctx.method, remote: ctx.remote, headers: ctx.req.headers, body: body.toString('utf8'), processed: false, at: hass.clock.now() };
  if (!registered) {
    hass.recordWebhookDelivery(delivery);
    return ctx.empty(200);
  }
  if (!registered.allowedMethods.includes(ctx.method)) {
    if (ctx.method === 'HEAD') return ctx.empty(200);
    return ctx.empty(405);
  }
  if (registered.localOnly && !isLocal(parseIp(ctx.remote))) {
    hass.recordWebhookDelivery(delivery);
    return ctx.empty(200);
  }
  delivery.processed = true;
  hass.recordWebhookDelivery(delivery);
  return ctx.empty(200);
}

// §8.3 onboarding.
export function onboardingStatus(hass, ctx) {
  ctx.json(200, Object.entries(hass.onboarding).map(([step, done]) => ({ step, done })));
}

export function onboardingInstallationType(hass, ctx) {
  // 401 once any onboarding step is done.
  if (Object.values(hass.onboarding).some(Boolean)) throw new HttpError(401);
  ctx.json(200, { installation_type: 'Home Assistant Container' });
}

async function readJson(ctx, fields) {
  const parsed = await ctx.jsonBody();
  if (!parsed.ok) {
    ctx.jsonMessage(400, 'Invalid JSON.');
    return null;
  }
  const { value, errors } = validateMapping(fields, parsed.value);
  if (errors) {
    ctx.jsonMessage(400, `Message format incorrect: ${firstErrorText(errors)}`);
    return null;
  }
  return value;
}

// §0.1: creates the owner (admin group, homeassistant credential, a person) and answers
// with an authorization code for the given client_id; a second call gets 403.
export async function onboardingUsers(hass, ctx) {
  const data = await readJson(ctx, {
    name: { required: true, validator: str },
    username: { required: true, validator: str },
    password: { required: true, validator: str },
    client_id: { required: true, validator: str },
    language: { required: true, validator: str },
  });
  if (!data) return;
  if (hass.onboarding.user) return ctx.jsonMessage(403, 'User step already done');
  const user = hass.store.createUser({ name: data.name, groupIds: ['system-admin'] });
  const stored = await hass.store.addPasswordAuth(data.username, data.password);
  const credential = hass.store.getOrCreatePasswordCredential(stored);
  hass.store.linkCredential(user, credential);
  hass.home.createPerson({ name: data.name, user_id: user.id });
  hass.onboarding.user = true;
  hass.state.ownerId ??= user.id;
  return ctx.json(200, { auth_code: hass.store.storeCode(data.client_id, credential) });
}

export async function onboardingSimpleStep(hass, ctx, step) {
  if (hass.onboarding[step]) return ctx.jsonMessage(403, `${step === 'core_config' ? 'Core config' : 'Analytics'} step already done`);
  await ctx.body();
  hass.onboarding[step] = true;
  return ctx.json(200, {});
}

// The last onboarding step returns a code for the frontend's final redirect (§1.9).
export async function onboardingIntegration(hass, ctx) {
  const data = await readJson(ctx, { client_id: { required: true, validator: str }, redirect_uri: { required: true, validator: str } });
  if (!data) return;
  if (hass.onboarding.integration) return ctx.jsonMessage(403, 'Integration step already done');
  hass.onboarding.integration = true;
  if (!(await verifyRedirectUri(data.client_id, data.redirect_uri, { discoverRedirectUris: hass.discoverRedirectUris }))) {
    return ctx.jsonMessage(400, 'invalid client id or redirect uri');
  }
  return ctx.json(200, { auth_code: hass.store.storeCode(data.client_id, ctx.refreshToken.credential) });
}

// §9.5: /media/... needs auth, which a valid authSig signature provides.
export function media(hass, ctx, mediaPath) {
  ctx.send(200, { 'Content-Type': 'text/plain; charset=utf-8' }, `media:${mediaPath}`);
}

export function manifest(hass, ctx) {
  ctx.send(200, { 'Content-Type': 'application/manifest+json' }, JSON.stringify({
    background_color: '#FFFFFF',
    description: 'Home automation platform that puts local control and privacy first.',
    dir: 'ltr',
    display: 'standalone',
    icons: [],
    lang: 'en-US',
    name: 'Home Assistant',
    short_name: 'Home Assistant',
    start_url: '/?homescreen=1',
    id: '/?homescreen=1',
    theme_color: '#03A9F4',
  }));
}
