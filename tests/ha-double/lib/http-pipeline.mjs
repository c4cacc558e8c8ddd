// The per-request pipeline in HA's middleware order (§3.1): security_filter (§9.6),
// forwarded headers (§3.2), ban (§1.12), auth (§2.3, §9.5), then the view, with HA's
// response headers (§9.3), CORS (§1.1, §9.3) and aiohttp's plain-text error bodies (§0).

import { parseIp, formatIp, inAnyNetwork } from './ip.mjs';
import { parseClientJson } from './json.mjs';

export const MAX_CLIENT_SIZE = 16 * 1024 * 1024; // §9.2

// aiohttp's HTTPException bodies, e.g. "401: Unauthorized" (§0 conventions).
export const REASONS = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  413: 'Request Entity Too Large', 500: 'Internal Server Error', 503: 'Service Unavailable',
};

export class HttpError extends Error {
  constructor(status, text = `${status}: ${REASONS[status]}`, headers = {}) {
    super(text);
    this.status = status;
    this.text = text;
    this.headers = headers;
  }
}

export function splitTarget(rawUrl) {
  const question = rawUrl.indexOf('?');
  const rawPath = question >= 0 ? rawUrl.slice(0, question) : rawUrl;
  const rawQuery = question >= 0 ? rawUrl.slice(question + 1) : '';
  return { rawPath, rawQuery };
}

function safeDecode(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

// §9.6 security_filter: unsafe bytes, or a known-bad pattern after repeated unquoting.
const FILTERS = /(?:proc\/self\/environ|(<|%3C).*script.*(>|%3E)|(\.\.\/\/?)+|[a-zA-Z0-9_]=\/([a-z0-9_.]\/\/?)+|union.*select.*\(|union.*all.*select.*|concat.*\()/i;

function recursiveUnquote(text) {
  let previous = text;
  for (let round = 0; round < 10; round += 1) {
    const next = safeDecode(previous);
    if (next === previous) break;
    previous = next;
  }
  return previous;
}

// `path` is already decoded; aiohttp's query_string is decoded once too.
export function failsSecurityFilter(path, rawQuery) {
  const query = safeDecode(rawQuery);
  for (const unsafe of ['\t', '\r', '\n']) {
    if (path.includes(unsafe) || query.includes(unsafe)) return true;
  }
  return FILTERS.test(recursiveUnquote(path)) || FILTERS.test(recursiveUnquote(rawQuery));
}

function headerLines(rawHeaders, name) {
  const lines = [];
  for (let index = 0; index < rawHeaders.length; index += 2) {
    if (rawHeaders[index].toLowerCase() === name) lines.push(rawHeaders[index + 1]);
  }
  return lines;
}

// §3.2 forwarded_middleware. Returns {remote, scheme, host}; throws HttpError(400).
export function applyForwardedHeaders({ rawHeaders, peerIp, scheme, host }, { useXForwardedFor, trustedProxies, features }) {
  const result = { remote: peerIp, scheme, host };
  const forwardedFor = headerLines(rawHeaders, 'x-forwarded-for');
  if (forwardedFor.length === 0) return result; // §3.2 rule 2: no XFF, nothing changes
  const connected = parseIp(peerIp);
  if (!connected) return result;
  if (!useXForwardedFor) throw new HttpError(400); // rule 3: reverse proxy not set up
  if (!inAnyNetwork(trustedProxies, connected)) throw new HttpError(400); // rule 4: untrusted proxy
  if (forwardedFor.length > 1) throw new HttpError(400); // rule 5: several header lines
  const chain = forwardedFor[0].split(',').reverse().map((entry) => parseIp(entry.trim()));
  if (chain.some((ip) => ip === null)) throw new HttpError(400); // rule 5: not a bare IP
  // Rule 6: walk from the right, skipping trusted proxies; all trusted -> left-most.
  let chosenIndex = chain.findIndex((ip) => !inAnyNetwork(trustedProxies, ip));
  if (chosenIndex === -1) chosenIndex = chain.length - 1;
  // HA sets request.remote to str(ip_address(...)): Python's formatting of this HA version.
  result.remote = formatIp(chain[chosenIndex], { mappedDotted: features?.mappedIpv4Dotted ?? true });
  const forwardedProto = headerLines(rawHeaders, 'x-forwarded-proto');
  if (forwardedProto.length) {
    if (forwardedProto.length > 1) throw new HttpError(400);
    const protos = forwardedProto[0].split(',').reverse().map((entry) => entry.trim());
    if (protos.includes('')) throw new HttpError(400);
    if (protos.length !== 1 && protos.length !== chain.length) throw new HttpError(400);
    result.scheme = protos.length === 1 ? protos[0] : protos[chosenIndex];
  }
  const forwardedHost = headerLines(rawHeaders, 'x-forwarded-host');
  if (forwardedHost.length) {
    if (forwardedHost.length > 1) throw new HttpError(400);
    const value = forwardedHost[0].trim();
    if (!value) throw new HttpError(400);
    result.host = value;
  }
  return result;
}

// §9.3 headers added by HA's headers middleware (so not on security/forwarded/ban errors).
export function haResponseHeaders({ useXFrameOptions }) {
  const headers = { 'Referrer-Policy': 'no-referrer', 'X-Content-Type-Options': 'nosniff', Server: '' };
  if (useXFrameOptions) headers['X-Frame-Options'] = 'SAMEORIGIN';
  return headers;
}

// §1.1 / §9.3 CORS: allowed request headers for preflights.
const CORS_ALLOWED_HEADERS = ['origin', 'accept', 'x-requested-with', 'content-type', 'authorization'];

export function corsOriginAllowed(route, origin, corsAllowedOrigins) {
  if (!origin || !route.cors) return false;
  if (route.cors === 'any') return true;
  return corsAllowedOrigins.includes(origin);
}

// aiohttp_cors preflight handler: echo origin and the requested method/headers, or 403.
export function preflightResponse(ctx, route, corsAllowedOrigins) {
  const origin = ctx.req.headers.origin;
  if (!origin) throw new HttpError(403, 'CORS preflight request failed: origin header is not specified in the request');
  const method = ctx.req.headers['access-control-request-method'];
  if (!method) throw new HttpError(403, "CORS preflight request failed: 'Access-Control-Request-Method' header is not specified");
  if (!corsOriginAllowed(route, origin, corsAllowedOrigins)) throw new HttpError(403, `CORS preflight request failed: origin '${origin}' is not allowed`);
  const requested = (ctx.req.headers['access-control-request-headers'] ?? '').split(',').map((item) => item.trim().toLowerCase()).filter(Boolean);
  const unallowed = requested.filter((header) => !CORS_ALLOWED_HEADERS.includes(header));
  if (unallowed.length) throw new HttpError(403, `CORS preflight request failed: headers are not allowed: ${unallowed.join(', ')}`);
  const headers = { 'Access-Control-Allow-Origin': origin, 'Access-Control-Allow-Methods': method };
  if (requested.length) headers['Access-Control-Allow-Headers'] = requested.join(',');
  return headers;
}

export class RequestContext {
  constructor(req, res, { peerIp, scheme, host, rawHead = null }) {
    this.req = req;
    this.rawHead = rawHead;
    this.res = res;
    this.method = req.method;
    const { rawPath, rawQuery } = splitTarget(req.url);
    this.rawPath = rawPath;
    this.rawQuery = rawQuery;
    this.path = safeDecode(rawPath);
    this.queryPairs = [...new URLSearchParams(rawQuery)];
    this.query = new URLSearchParams(rawQuery);
    this.peerIp = peerIp;
    this.remote = peerIp;
    this.scheme = scheme;
    this.host = host;
    this.user = null;
    this.refreshToken = null;
    this.authenticated = false;
    this.extraHeaders = {};
    this.responded = false;
    this.status = null;
  }

  async body() {
    if (this.bodyBuffer) return this.bodyBuffer;
    const chunks = [];
    let size = 0;
    for await (const chunk of this.req) {
      size += chunk.length;
      if (size > MAX_CLIENT_SIZE) {
        throw new HttpError(413, `Maximum request body size ${MAX_CLIENT_SIZE} exceeded, actual body size ${size}`);
      }
      chunks.push(chunk);
    }
    this.bodyBuffer = Buffer.concat(chunks);
    return this.bodyBuffer;
  }

  // §1.1 JSON bodies are parsed whatever the Content-Type says, with orjson's rules (nesting
  // past 1024 levels is invalid JSON). Returns {ok, value}.
  async jsonBody() {
    return parseClientJson((await this.body()).toString('utf8'));
  }

  // §1.1 / §0.2 aiohttp request.post(): only application/x-www-form-urlencoded and
  // multipart/form-data bodies are forms. Without a Content-Type aiohttp assumes
  // application/octet-stream, so an urlencoded body sent without one is an empty form, as is
  // any other type (JSON included). Returns a Map of first values per field.
  async formBody() {
    const contentType = (this.req.headers['content-type'] ?? 'application/octet-stream').split(';')[0].trim().toLowerCase();
    const body = await this.body();
    const fields = new Map();
    if (contentType === 'multipart/form-data') {
      let formData;
      try {
        formData = await new Response(body, { headers: { 'content-type': this.req.headers['content-type'] } }).formData();
      } catch {
        throw new HttpError(400);
      }
      for (const [name, value] of formData) if (!fields.has(name)) fields.set(name, typeof value === 'string' ? value : null);
    } else if (contentType === 'application/x-www-form-urlencoded') {
      for (const [name, value] of new URLSearchParams(body.toString('utf8').trimEnd())) if (!fields.has(name)) fields.set(name, value);
    }
    return fields;
  }

  send(status, headers, body) {
    if (this.responded) return;
    this.responded = true;
    this.status = status;
    const all = { ...headers, ...this.extraHeaders };
    if (body !== undefined && body !== null) all['Content-Length'] = Buffer.byteLength(body);
    this.res.writeHead(status, all);
    this.res.end(this.method === 'HEAD' ? undefined : body);
  }

  // HomeAssistantView.json / json_message (§0 conventions).
  json(status, value, headers = {}) {
    this.send(status, { 'Content-Type': 'application/json', ...headers }, JSON.stringify(value));
  }

  jsonMessage(status, message, code) {
    this.json(status, code === undefined ? { message } : { message, code });
  }

  text(status, text, headers = {}) {
    this.send(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers }, text);
  }

  empty(status = 200, headers = {}) {
    this.send(status, { 'Content-Type': 'application/octet-stream', ...headers }, '');
  }

  error(httpError) {
    this.text(httpError.status, httpError.text, httpError.headers);
  }

  // §0.2: errors raised before HA's headers middleware (security filter, forwarded headers,
  // bans) go out as aiohttp builds them, with aiohttp's own Server header and none of §9.3.
  earlyError(httpError, serverHeader) {
    this.extraHeaders = {};
    this.text(httpError.status, httpError.text, { ...httpError.headers, Server: serverHeader });
  }

  // §0.2: an exception no view catches reaches aiohttp's handle_error: a 500 built from
  // scratch (no §9.3 headers), text or HTML after the Accept header, and the connection is
  // closed.
  uncaughtError(serverHeader) {
    this.extraHeaders = {};
    const title = '500 Internal Server Error';
    const description = 'Server got itself in trouble';
    const headers = { Server: serverHeader, Connection: 'close' };
    if ((this.req.headers.accept ?? '').includes('text/html')) {
      return this.send(500, { ...headers, 'Content-Type': 'text/html; charset=utf-8' }, `<html><head><title>${title}</title></head><body>\n<h1>${title}</h1>\n${description}\n</body></html>\n`);
    }
    return this.text(500, `${title}\n\n${description}`, headers);
  }
}
