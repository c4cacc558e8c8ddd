// The double's route table: which handler answers which path and method, whether it is an
// HA "view" (503 while stopping, §9.6), whether it needs auth (§2.3), and its CORS rule
// (§1.1, §9.3: "any" origin for /auth/token, /auth/revoke and webhooks; the configured
// origins for every other aiohttp resource; none for the frontend's index resource).
//
// §0.2: aiohttp matches routes on the raw, undecoded path (`/api%2F` is not `/api/`); only the
// values captured by a route's variables are decoded afterwards, as yarl decodes a path.

import * as authViews from './auth-views.mjs';
import * as apiViews from './api-views.mjs';
import * as frontend from './frontend.mjs';

// yarl's path unquoting: percent-escapes become UTF-8 text, except %2B, which stays encoded so
// it is not confused with "+"; invalid sequences stay as they are.
export function decodePathValue(raw) {
  return raw.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => run.split(/(%2[Bb])/).map((part) => {
    if (/^%2[Bb]$/.test(part) || part === '') return part;
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  }).join(''));
}

const exact = (path) => (rawPath) => (rawPath === path ? [] : null);
const pattern = (regex) => (rawPath) => {
  const match = regex.exec(rawPath);
  return match ? match.slice(1).map(decodePathValue) : null;
};

export function buildRoutes(hass) {
  const view = (match, methods, { requiresAuth = false, cors = 'configured' } = {}) => ({ match, methods, requiresAuth, cors, view: true });
  // Plain aiohttp routes (redirects, static files): not views, but HA's startup hook gives
  // every aiohttp resource the configured CORS (and with it an OPTIONS route).
  const raw = (match, methods, { cors = 'configured' } = {}) => ({ match, methods, requiresAuth: false, cors, view: false });
  return [
    view(exact('/.well-known/oauth-authorization-server'), { GET: (ctx) => authViews.wellKnown(ctx) }),
    raw(exact('/.well-known/change-password'), { GET: (ctx) => ctx.send(302, { Location: '/profile' }, '') }),
    raw(exact('/auth/authorize'), { GET: (ctx) => frontend.authorizePage(hass, ctx) }),
    view(exact('/auth/providers'), { GET: (ctx) => authViews.providers(hass, ctx) }),
    view(exact('/auth/login_flow'), {
      GET: (ctx) => authViews.listLoginFlows(hass, ctx),
      POST: (ctx) => authViews.createLoginFlow(hass, ctx),
    }),
    view(pattern(/^\/auth\/login_flow\/([^/]+)$/), {
      GET: (ctx) => authViews.getLoginFlow(hass, ctx),
      POST: (ctx, flowId) => authViews.advanceLoginFlow(hass, ctx, flowId),
      DELETE: (ctx, flowId) => authViews.deleteLoginFlow(hass, ctx, flowId),
    }),
    view(exact('/auth/token'), { POST: (ctx) => authViews.token(hass, ctx) }, { cors: 'any' }),
    view(exact('/auth/revoke'), { POST: (ctx) => authViews.revoke(hass, ctx) }, { cors: 'any' }),
    view(exact('/auth/link_user'), { POST: (ctx) => authViews.linkUser(hass, ctx) }, { requiresAuth: true }),
    view(exact('/api/'), { GET: (ctx) => apiViews.apiStatus(hass, ctx) }, { requiresAuth: true }),
    view(exact('/api/config'), { GET: (ctx) => apiViews.apiConfig(hass, ctx) }, { requiresAuth: true }),
    view(exact('/api/states'), { GET: (ctx) => apiViews.apiStates(hass, ctx) }, { requiresAuth: true }),
    view(pattern(/^\/api\/states\/([^/]+)$/), { GET: (ctx, entityId) => apiViews.apiState(hass, ctx, entityId) }, { requiresAuth: true }),
    view(pattern(/^\/api\/services\/([^/]+)\/([^/]+)$/), { POST: (ctx, domain, service) => apiViews.apiCallService(hass, ctx, domain, service) }, { requiresAuth: true }),
    // Plain GETs to /api/websocket (no upgrade) fail like aiohttp's WebSocketResponse.prepare.
    view(exact('/api/websocket'), { GET: (ctx) => ctx.text(400, 'No WebSocket UPGRADE hdr: None\n Can "Upgrade" only to "WebSocket".') }),
    view(exact('/api/mobile_app/registrations'), { POST: (ctx) => apiViews.mobileAppRegistration(hass, ctx) }, { requiresAuth: true }),
    view(pattern(/^\/api\/webhook\/([^/]+)$/), {
      GET: (ctx, id) => apiViews.webhook(hass, ctx, id),
      HEAD: (ctx, id) => apiViews.webhook(hass, ctx, id),
      POST: (ctx, id) => apiViews.webhook(hass, ctx, id),
      PUT: (ctx, id) => apiViews.webhook(hass, ctx, id),
    }, { cors: 'any' }),
    view(exact('/api/onboarding'), { GET: (ctx) => apiViews.onboardingStatus(hass, ctx) }),
    view(exact('/api/onboarding/installation_type'), { GET: (ctx) => apiViews.onboardingInstallationType(hass, ctx) }),
    view(exact('/api/onboarding/users'), { POST: (ctx) => apiViews.onboardingUsers(hass, ctx) }),
    view(exact('/api/onboarding/core_config'), { POST: (ctx) => apiViews.onboardingSimpleStep(hass, ctx, 'core_config') }, { requiresAuth: true }),
    view(exact('/api/onboarding/analytics'), { POST: (ctx) => apiViews.onboardingSimpleStep(hass, ctx, 'analytics') }, { requiresAuth: true }),
    view(exact('/api/onboarding/integration'), { POST: (ctx) => apiViews.onboardingIntegration(hass, ctx) }, { requiresAuth: true }),
    view(pattern(/^\/media\/([^/]+\/.+)$/), { GET: (ctx, mediaPath) => apiViews.media(hass, ctx, mediaPath) }, { requiresAuth: true }),
    view(exact('/manifest.json'), { GET: (ctx) => apiViews.manifest(hass, ctx) }),
    raw(exact('/onboarding.html'), { GET: (ctx) => frontend.onboardingPage(hass, ctx) }),
    raw(exact('/robots.txt'), { GET: (ctx) => frontend.robots(hass, ctx) }),
    // A static directory (aiohttp StaticResource): GET and HEAD.
    raw(pattern(/^\/frontend_latest\/([^/]+)$/), {
      GET: (ctx, name) => frontend.frontendAsset(hass, ctx, name),
      HEAD: (ctx, name) => frontend.frontendAsset(hass, ctx, name),
    }),
    // §8.2 the frontend's IndexView, a custom resource: it matches "/" and paths whose first
    // raw segment, decoded, is a panel; it is not an aiohttp Resource, so it gets no CORS.
    raw((rawPath) => (frontend.isPanelPath(rawPath) ? [] : null), { GET: (ctx) => frontend.indexPage(hass, ctx) }, { cors: null }),
  ];
}

// aiohttp's UrlDispatcher.resolve: the first route whose path and method match; otherwise a
// 405 listing every method the matching paths allow (OPTIONS included where CORS added it,
// §0.2), or 404.
export function findRoute(routes, rawPath, method) {
  const allowed = new Set();
  for (const route of routes) {
    const params = route.match(rawPath);
    if (!params) continue;
    if (Object.hasOwn(route.methods, method)) return { route, params };
    // aiohttp_cors answers OPTIONS on a CORS-enabled resource itself (the preflight).
    if (method === 'OPTIONS' && route.cors) return { route, params, preflight: true };
    for (const name of Object.keys(route.methods)) allowed.add(name);
    if (route.cors) allowed.add('OPTIONS');
  }
  return allowed.size ? { allowed: [...allowed].sort() } : null;
}
