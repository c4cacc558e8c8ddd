// The double's route table: which handler answers which path and method, whether it is an
// HA "view" (503 while stopping, §9.6), whether it needs auth (§2.3), and its CORS rule
// (§1.1, §9.3: "any" origin for /auth/token, /auth/revoke and webhooks; the configured
// origins for other views; none for static files).

import * as authViews from './auth-views.mjs';
import * as apiViews from './api-views.mjs';
import * as frontend from './frontend.mjs';

const exact = (path) => (candidate) => (candidate === path ? [] : null);
const pattern = (regex) => (candidate) => {
  const match = regex.exec(candidate);
  return match ? match.slice(1) : null;
};

export function buildRoutes(hass) {
  const view = (match, methods, { requiresAuth = false, cors = 'configured' } = {}) => ({ match, methods, requiresAuth, cors, view: true });
  const raw = (match, methods) => ({ match, methods, requiresAuth: false, cors: null, view: false });
  return [
    view(exact('/.well-known/oauth-authorization-server'), { GET: (ctx) => authViews.wellKnown(ctx) }),
    raw(exact('/.well-known/change-password'), { GET: (ctx) => ctx.send(302, { Location: '/profile' }, '') }),
    raw(exact('/auth/authorize'), { GET: (ctx) => frontend.authorizePage(hass, ctx) }),
    view(exact('/auth/providers'), { GET: (ctx) => authViews.providers(hass, ctx) }),
    view(exact('/auth/login_flow'), { POST: (ctx) => authViews.createLoginFlow(hass, ctx) }),
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
    raw(pattern(/^\/frontend_latest\/([^/]+)$/), { GET: (ctx, name) => frontend.frontendAsset(hass, ctx, name) }),
    raw((path) => (frontend.isPanelPath(path) ? [] : null), { GET: (ctx) => frontend.indexPage(hass, ctx) }),
  ];
}

export function findRoute(routes, path) {
  for (const route of routes) {
    const params = route.match(path);
    if (params) return { route, params };
  }
  return null;
}
