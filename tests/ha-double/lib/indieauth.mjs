// HA's IndieAuth variant (§1.8): verify_client_id and verify_redirect_uri, including their
// quirks, on top of a port of Python's urllib.parse.urlparse so canonicalization matches.

import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { parseIp, isLocal } from './ip.mjs';

const SCHEME_CHARS = /^[A-Za-z0-9+\-.]+$/;
const C0_OR_SPACE = /^[\u0000-\u0020]+/;

export class PythonIndexError extends Error {}

// urllib.parse.urlparse (Python 3.11): scheme, netloc, path, params, query, fragment.
export function pyUrlParse(input) {
  let url = String(input).replace(C0_OR_SPACE, '').replace(/[\t\r\n]/g, '');
  let scheme = '';
  let netloc = '';
  let query = '';
  let fragment = '';
  const colon = url.indexOf(':');
  if (colon > 0 && /^[A-Za-z]/.test(url) && SCHEME_CHARS.test(url.slice(0, colon))) {
    scheme = url.slice(0, colon).toLowerCase();
    url = url.slice(colon + 1);
  }
  if (url.startsWith('//')) {
    let end = url.length;
    for (const delimiter of '/?#') {
      const at = url.indexOf(delimiter, 2);
      if (at >= 0) end = Math.min(end, at);
    }
    netloc = url.slice(2, end);
    url = url.slice(end);
    if (netloc.includes('[') !== netloc.includes(']')) throw new Error('Invalid IPv6 URL');
  }
  const hash = url.indexOf('#');
  if (hash >= 0) { fragment = url.slice(hash + 1); url = url.slice(0, hash); }
  const question = url.indexOf('?');
  if (question >= 0) { query = url.slice(question + 1); url = url.slice(0, question); }
  let params = '';
  // urlparse (unlike urlsplit) moves ";params" of the last path segment out of the path.
  if (['http', 'https', ''].includes(scheme) && url.includes(';')) {
    const semicolon = url.indexOf(';', Math.max(0, url.lastIndexOf('/')));
    if (semicolon >= 0) { params = url.slice(semicolon + 1); url = url.slice(0, semicolon); }
  }
  return { scheme, netloc, path: url, params, query, fragment };
}

function hostInfo(netloc) {
  const hostPart = netloc.slice(netloc.lastIndexOf('@') + 1);
  const bracketAt = hostPart.indexOf('[');
  let port;
  if (bracketAt >= 0) {
    const afterBracket = hostPart.slice(bracketAt + 1);
    const closeAt = afterBracket.indexOf(']');
    const rest = closeAt >= 0 ? afterBracket.slice(closeAt + 1) : '';
    const portColon = rest.indexOf(':');
    port = portColon >= 0 ? rest.slice(portColon + 1) : '';
  } else {
    const portColon = hostPart.indexOf(':');
    port = portColon >= 0 ? hostPart.slice(portColon + 1) : '';
  }
  return { port: port === '' ? null : port };
}

// indieauth._parse_url: lowercase the netloc, empty path becomes "/".
function canonicalUrl(url) {
  const parts = pyUrlParse(url);
  parts.netloc = parts.netloc.toLowerCase();
  if (parts.path === '') parts.path = '/';
  return parts;
}

// indieauth._parse_client_id. Throws Error for "invalid"; throws PythonIndexError for the
// empty-netloc quirk that HA does not catch (HTTP 500).
function parseClientId(clientId) {
  const parts = canonicalUrl(clientId);
  if (parts.scheme !== 'http' && parts.scheme !== 'https') throw new Error('bad scheme');
  if (parts.path.split('/').some((segment) => segment === '.' || segment === '..')) throw new Error('dot segment');
  if (parts.fragment !== '') throw new Error('fragment');
  if (parts.netloc.includes('@')) throw new Error('userinfo');
  const { port } = hostInfo(parts.netloc);
  if (port !== null && (!/^[0-9]+$/.test(port) || Number(port) > 65535)) throw new Error('bad port');
  // §1.8 quirk: the IP test runs on the netloc including the port, so "8.8.8.8:8123"
  // is not an IP and passes as a domain name. Empty netloc: netloc[0] raises IndexError.
  let netloc = parts.netloc;
  if (netloc.length === 0) throw new PythonIndexError('string index out of range');
  if (netloc[0] === '[' && netloc[netloc.length - 1] === ']') netloc = netloc.slice(1, -1);
  const address = parseIp(netloc);
  if (address === null || isLocal(address)) return parts;
  throw new Error('public IP address');
}

export function verifyClientId(clientId) {
  try {
    parseClientId(clientId);
    return true;
  } catch (error) {
    if (error instanceof PythonIndexError) throw error;
    return false;
  }
}

const IOS_CLIENT_ID = 'https://home-assistant.io/iOS';
const ANDROID_CLIENT_ID = 'https://home-assistant.io/android';
const APP_CALLBACK = 'homeassistant://auth-callback';
const ANDROID_REDIRECTS = [
  APP_CALLBACK,
  'https://wear.googleapis.com/3p_auth/io.homeassistant.companion.android',
  'https://wear.googleapis-cn.com/3p_auth/io.homeassistant.companion.android',
];

// §1.8 verify_redirect_uri, checked in order: same origin, iOS, Android/Wear OS, discovery.
export async function verifyRedirectUri(clientId, redirectUri, { discoverRedirectUris }) {
  let clientParts;
  try {
    clientParts = parseClientId(clientId);
  } catch (error) {
    if (error instanceof PythonIndexError) throw error;
    return false;
  }
  let redirectParts;
  try {
    redirectParts = canonicalUrl(redirectUri);
  } catch {
    // HA would raise here (uncaught ValueError); treat as a refusal.
    return false;
  }
  if (clientParts.scheme === redirectParts.scheme && clientParts.netloc === redirectParts.netloc) return true;
  if (clientId === IOS_CLIENT_ID && redirectUri === APP_CALLBACK) return true;
  if (clientId === ANDROID_CLIENT_ID && ANDROID_REDIRECTS.includes(redirectUri)) return true;
  const discovered = await discoverRedirectUris(clientId);
  return discovered.includes(redirectUri);
}

// §1.8 step 4 (fetch_redirect_uris): GET the client_id page, read at most ~10 KiB, collect
// <link rel="redirect_uri" href> (rel must equal "redirect_uri" exactly), resolve hrefs
// against client_id. HTTP Link headers are not supported. Any error gives an empty list,
// so the check fails closed. The double only fetches loopback client_ids: tests must not
// reach the internet, and a public client_id therefore fails closed exactly as HA does
// when it has no network.
// From HA 2026.8 (core PR #176286; the contract predates it, §1.8 lists the HTML tags only): a page with
// no such tags is read as a Client ID Metadata Document when the client_id is https with a path and no
// '#', and the answer was a 200 reached without a redirect: a JSON object whose client_id is exactly the
// client_id and whose redirect_uris are absolute (a scheme) and have no fragment. The PR shows only the
// entry check; the double refuses a document with any bad entry (the strict reading).
// `trustedCa`: the CA bundle of HA's host (PEM), for a client page served with a test certificate.
export function makeRedirectUriDiscovery({ enabled = true, timeoutMs = 5000, metadataDocuments = false, trustedCa } = {}) {
  return async function discoverRedirectUris(clientId) {
    if (!enabled) return [];
    let target;
    try {
      target = new URL(clientId);
    } catch {
      return [];
    }
    const hostname = target.hostname.replace(/^\[|\]$/g, '');
    const ip = parseIp(hostname);
    const loopback = hostname === 'localhost' || (ip && ((ip.version === 4 && ip.value >> 24n === 127n) || (ip.version === 6 && ip.value === 1n)));
    if (!loopback) return [];
    let page;
    try {
      page = await fetchPage(target, { timeoutMs, trustedCa, maxBytes: 10 * 1024 });
    } catch {
      return [];
    }
    const links = findRedirectUriLinks(page.text, clientId);
    if (links.length > 0 || !metadataDocuments || !namesMetadataDocument(clientId)) return links;
    // A document is read whole (one that fills the 10 KiB read is refused) and as strict UTF-8.
    if (page.status !== 200 || page.redirected || !page.full) return [];
    let text;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(page.body);
    } catch {
      return [];
    }
    return metadataRedirectUris(text, clientId);
  };
}

// aiohttp's GET as HA makes it: redirects followed (at most 10), TLS verified, the body read up to
// `maxBytes` (HA: 10 chunks of 1 KiB), whatever the status.
async function fetchPage(url, { timeoutMs, trustedCa, maxBytes }) {
  const deadline = AbortSignal.timeout(timeoutMs);
  let redirected = false;
  for (let hops = 0; hops <= 10; hops += 1) {
    const transport = url.protocol === 'https:' ? https : http;
    const options = { signal: deadline, ...(url.protocol === 'https:' && trustedCa ? { ca: [...tls.rootCertificates, trustedCa] } : {}) };
    const response = await new Promise((resolve, reject) => transport.get(url, options, resolve).on('error', reject));
    if ([301, 302, 303, 307, 308].includes(response.statusCode) && response.headers.location) {
      response.resume();
      url = new URL(response.headers.location, url);
      redirected = true;
      continue;
    }
    const chunks = [];
    let bytes = 0;
    for await (const chunk of response) {
      chunks.push(chunk);
      bytes += chunk.length;
      if (bytes >= maxBytes) break;
    }
    response.destroy();
    const body = Buffer.concat(chunks).subarray(0, maxBytes);
    return { status: response.statusCode, redirected, full: body.length < maxBytes, body, text: body.toString('utf8') };
  }
  throw new Error('too many redirects');
}

// PR #176286's client_id test for a metadata document: https, a path (urlparse's, so "https://x" has
// none), no '#' anywhere.
function namesMetadataDocument(clientId) {
  const parts = pyUrlParse(clientId);
  return parts.scheme === 'https' && parts.path !== '' && !clientId.includes('#');
}

function metadataRedirectUris(text, clientId) {
  let document;
  try {
    document = JSON.parse(text);
  } catch {
    return [];
  }
  if (document === null || typeof document !== 'object' || Array.isArray(document)) return [];
  if (document.client_id !== clientId || !Array.isArray(document.redirect_uris)) return [];
  // Absolute: a scheme (an app's own, like app:/callback, counts); no fragment, a bare '#' included; a
  // port urlparse can read (parts.port raises on anything but a number up to 65535).
  const portReadable = (uri) => {
    const { port } = hostInfo(pyUrlParse(uri).netloc);
    return port === null || (/^[0-9]+$/.test(port) && Number(port) <= 65535);
  };
  const valid = (uri) => typeof uri === 'string' && !uri.includes('#') && pyUrlParse(uri).scheme !== '' && portReadable(uri);
  return document.redirect_uris.every(valid) ? document.redirect_uris : [];
}

// Python's html.unescape for what attribute values carry (HTMLParser unescapes every attribute value).
function unescapeHtml(value) {
  const named = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
  return value.replace(/&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-z]+);/g, (whole, name) => {
    if (name[0] !== '#') return named[name] ?? whole;
    const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
    return code > 0 && code < 0x110000 ? String.fromCodePoint(code) : whole;
  });
}

// As HA's LinkTagParser (an HTMLParser) reads the page: comments are not tags, names have no case,
// values are unescaped, and dict(attrs) keeps the last of a repeated attribute.
function findRedirectUriLinks(html, baseUrl) {
  const found = [];
  const withoutComments = html.replace(/<!--[\s\S]*?(-->|$)/g, '');
  for (const tag of withoutComments.matchAll(/<link\b([^>]*)>/gi)) {
    const attributes = {};
    for (const attribute of tag[1].matchAll(/([^\s=\/]+)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g)) {
      const name = attribute[1].toLowerCase();
      const value = attribute[2] ?? attribute[3] ?? attribute[4] ?? null;
      attributes[name] = value === null ? null : unescapeHtml(value);
    }
    if (attributes.rel === 'redirect_uri' && attributes.href) {
      try {
        found.push(new URL(attributes.href, baseUrl).toString());
      } catch {
        // An unresolvable href cannot match anything.
      }
    }
  }
  return found;
}
