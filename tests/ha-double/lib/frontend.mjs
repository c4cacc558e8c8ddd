// Frontend routes (§1.3, §8.2): the login page at /auth/authorize, the app shell at "/" and
// panel paths, /onboarding.html, and static assets under /frontend_latest/, including the
// real browser build of home-assistant-js-websocket.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const STATIC_DIR = fileURLToPath(new URL('../static/', import.meta.url));
const HAWS_BROWSER_BUILD = createRequire(import.meta.url).resolve('home-assistant-js-websocket/haws.umd.js');

const ASSETS = {
  'authorize.js': join(STATIC_DIR, 'authorize.js'),
  'app.js': join(STATIC_DIR, 'app.js'),
  'onboarding.js': join(STATIC_DIR, 'onboarding.js'),
  'haws.umd.js': HAWS_BROWSER_BUILD,
};

// Panels registered by a default install; a first path segment outside this set is 404.
const PANELS = new Set([
  'lovelace', 'config', 'profile', 'history', 'logbook', 'map', 'energy', 'developer-tools',
  'hassio', 'todo', 'calendar', 'media-browser', 'notifications', 'light', 'security', 'climate',
]);

const readPage = (name) => readFileSync(join(STATIC_DIR, name));

// §8.2 / §0.2 IndexView.resolve: "/" or a path whose first raw segment (split before any
// decoding, so %2F does not split), once decoded, names a panel.
export function isPanelPath(rawPath) {
  if (rawPath === '/') return true;
  let firstSegment = rawPath.split('/')[1];
  try {
    firstSegment = decodeURIComponent(firstSegment);
  } catch {
    // yarl leaves undecodable escapes as they are
  }
  return PANELS.has(firstSegment) || /^dashboard-[a-z0-9-]+$/.test(firstSegment);
}

// §8.2 IndexView: GET only; 302 to /onboarding.html until onboarding is finished.
export function indexPage(hass, ctx) {
  if (!Object.values(hass.onboarding).every(Boolean)) {
    return ctx.send(302, { Location: '/onboarding.html', 'Content-Type': 'text/plain; charset=utf-8' }, '');
  }
  return ctx.send(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache' }, readPage('index.html'));
}

// §1.3: static HTML, no authentication, no server-side validation, no cache headers.
export function authorizePage(hass, ctx) {
  ctx.send(200, { 'Content-Type': 'text/html; charset=utf-8' }, readPage('authorize.html'));
}

export function onboardingPage(hass, ctx) {
  ctx.send(200, { 'Content-Type': 'text/html; charset=utf-8' }, readPage('onboarding.html'));
}

export function robots(hass, ctx) {
  ctx.send(200, { 'Content-Type': 'text/plain; charset=utf-8' }, 'User-agent: *\nDisallow: /\n');
}

// §8.2: /frontend_latest/* is cached for 31 days.
export function frontendAsset(hass, ctx, name) {
  const file = Object.hasOwn(ASSETS, name) ? ASSETS[name] : null;
  if (!file) return ctx.text(404, '404: Not Found');
  return ctx.send(200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'public, max-age=2678400' }, readFileSync(file));
}
