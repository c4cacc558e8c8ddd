// Follows a login by plain HTTP the way a browser would, without a browser: manual redirects, a
// cookie jar keyed like a browser's (host without port, path-scoped, Secure only over https), and
// the test IdP's sign-in form answered by POSTing it. Tests use it to walk
// Gatehouse /auth/authorize -> IdP -> Gatehouse /sso/callback -> the client's redirect_uri.

import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';

export class CookieJar {
  #cookies = new Map();

  // Takes a response's Set-Cookie header(s) for the URL that answered.
  store(url, setCookie) {
    const { hostname, pathname } = new URL(url);
    for (const line of [setCookie ?? []].flat()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq < 1) continue;
      const cookie = { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), host: hostname, path: defaultPath(pathname), secure: false, expires: Infinity };
      for (const attribute of attributes) {
        const [key, ...rest] = attribute.split('=');
        const value = rest.join('=').trim();
        switch (key.trim().toLowerCase()) {
          case 'path': if (value.startsWith('/')) cookie.path = value; break;
          case 'secure': cookie.secure = true; break;
          case 'max-age': cookie.expires = Math.min(cookie.expires, Date.now() + Number(value) * 1000); break;
          case 'expires': if (!attributes.some((a) => /^\s*max-age=/i.test(a))) cookie.expires = Date.parse(value); break;
          default: break;
        }
      }
      const key = `${cookie.host}\t${cookie.path}\t${cookie.name}`;
      if (cookie.expires <= Date.now()) this.#cookies.delete(key);
      else this.#cookies.set(key, cookie);
    }
  }

  // The Cookie header a browser would send to `url`, or undefined.
  header(url) {
    const { hostname, pathname, protocol } = new URL(url);
    const now = Date.now();
    const matching = [...this.#cookies.values()]
      .filter((c) => c.host === hostname && pathMatches(pathname, c.path) && (!c.secure || protocol === 'https:') && c.expires > now)
      .sort((a, b) => b.path.length - a.path.length);
    return matching.length ? matching.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
  }

  // For assertions: the cookies currently held for a host.
  list(hostname) {
    return [...this.#cookies.values()].filter((c) => !hostname || c.host === hostname).map((c) => ({ ...c }));
  }

  clear() { this.#cookies.clear(); }
}

function defaultPath(pathname) {
  const slash = pathname.lastIndexOf('/');
  return slash <= 0 ? '/' : pathname.slice(0, slash);
}

function pathMatches(requestPath, cookiePath) {
  return requestPath === cookiePath
    || (requestPath.startsWith(cookiePath) && (cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/'));
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

// One request; resolves { status, headers, body } with the body as text.
export function send(url, { method = 'GET', body, headers = {}, ca, jar, timeoutMs = 10000 } = {}) {
  const target = new URL(url);
  const cookie = jar?.header(url);
  const allHeaders = { 'user-agent': 'gatehouse-drive-login', accept: 'text/html,application/json;q=0.9,*/*;q=0.8', ...headers };
  if (cookie) allHeaders.cookie = cookie;
  if (body !== undefined) allHeaders['content-length'] = Buffer.byteLength(body);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(target, { method, headers: allHeaders, agent: false, ca, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => {
        jar?.store(url, res.headers['set-cookie']);
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${url}`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Walks from startUrl until stopWhen(url, response) is true, a redirect leaves http(s) (e.g.
 * homeassistant://auth-callback?code=..), or a page that is neither a redirect nor the IdP's
 * sign-in form answers. Returns { url, status, headers, body, location, history }; `location` is
 * the absolute redirect target of a 30x, and for a non-http(s) redirect `url` is that target.
 * Options: username (sub or preferred_username for the test IdP's form), deny, stopWhen(url, res),
 * caFile or ca (trust for https), jar (a CookieJar, to keep sessions across calls), headers, maxHops,
 * signOut (answer the IdP's sign-out confirmation page with "yes"; otherwise the walk stops there).
 */
export async function driveLogin(startUrl, { username, deny = false, signOut = false, stopWhen, caFile, ca, jar = new CookieJar(), headers, maxHops = 20 } = {}) {
  const trust = ca ?? (caFile ? readFileSync(caFile, 'utf8') : undefined);
  const history = [];
  const answered = new Set();
  let step = { method: 'GET', url: new URL(startUrl).href, body: undefined };

  for (;;) {
    if (history.length >= maxHops) throw new Error(`driveLogin: more than ${maxHops} hops: ${history.join(' -> ')}`);
    history.push(step.url);
    const form = step.body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' };
    const res = await send(step.url, { method: step.method, body: step.body, headers: { ...headers, ...form }, ca: trust, jar });
    const location = REDIRECTS.has(res.status) && res.headers.location ? new URL(res.headers.location, step.url).href : undefined;
    const result = { url: step.url, ...res, location, history: [...history] };
    if (stopWhen?.(step.url, result)) return result;

    if (location) {
      if (!/^https?:$/.test(new URL(location).protocol)) {
        return { ...result, url: location, history: [...history, location] };
      }
      // 307/308 repeat the request; the others become a GET, as browsers do.
      step = res.status === 307 || res.status === 308 ? { ...step, url: location } : { method: 'GET', url: location, body: undefined };
      continue;
    }

    // The test IdP's sign-in page: answer it once (a second showing means the login failed).
    const uid = new URL(step.url).pathname.match(/^\/interaction\/([\w-]+)$/)?.[1];
    if (uid && step.method === 'GET' && res.status === 200 && !answered.has(uid) && (deny || username !== undefined)) {
      answered.add(uid);
      step = deny
        ? { method: 'POST', url: `${step.url}/deny`, body: '' }
        : { method: 'POST', url: `${step.url}/login`, body: new URLSearchParams({ username }).toString() };
      continue;
    }
    // The IdP's "Do you want to sign out?" page (oidc-provider's RP-initiated logout): answer yes, once.
    const logoutForm = res.status === 200 && step.method === 'GET' && !answered.has('logout')
      ? res.body.match(/<form id="op\.logoutForm" method="post" action="([^"]+)"><input type="hidden" name="xsrf" value="([^"]+)"\/>/)
      : null;
    if (logoutForm && signOut) {
      answered.add('logout');
      step = { method: 'POST', url: new URL(logoutForm[1], step.url).href, body: new URLSearchParams({ xsrf: logoutForm[2], logout: 'yes' }).toString() };
      continue;
    }
    return result;
  }
}
