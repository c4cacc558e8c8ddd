// home-assistant-js-websocket (HA's own frontend library) in Node, talking to Gatehouse from a chosen
// client address, as tests/e2e/ha-through-gatehouse.test.mjs does it:
// - Node's fetch cannot pick a source address, so requests to a registered Gatehouse origin are sent with
//   node:http from that address (the library's multipart bodies are encoded by Request, byte for byte);
// - Node 20 has no global WebSocket; the one installed here is the `ws` package's, connecting from the
//   same address.
// Other origins go through the original fetch. Each test file is its own process, so the globals set
// here stay inside it.
import WebSocket from 'ws';
import { getAuth, createConnection } from 'home-assistant-js-websocket';
import assert from 'node:assert/strict';
import { request } from './http-client.mjs';
import { CookieJar, frontendState } from './sso-stack.mjs';

const routes = new Map(); // http(s) origin -> local address
const calls = [];
let installed = false;

function install() {
  if (installed) return;
  installed = true;
  const originalFetch = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    const outgoing = new Request(input, init);
    const origin = new URL(outgoing.url).origin;
    if (!routes.has(origin)) return originalFetch(input, init);
    const body = outgoing.body ? Buffer.from(await outgoing.arrayBuffer()) : undefined;
    const headers = Object.fromEntries(outgoing.headers);
    const response = await request(outgoing.url, { method: outgoing.method, headers, body, localAddress: routes.get(origin) });
    calls.push({ method: outgoing.method, path: new URL(outgoing.url).pathname, contentType: headers['content-type'] ?? null, status: response.status });
    const noBody = [101, 204, 205, 304].includes(response.status);
    return new Response(noBody ? null : response.body, { status: response.status, headers: response.rawHeaders });
  };
  globalThis.WebSocket = class ClientWebSocket extends WebSocket {
    constructor(url, protocols) {
      const httpOrigin = new URL(url.replace(/^ws/, 'http')).origin;
      super(url, protocols, { localAddress: routes.get(httpOrigin) });
      this.on('error', (error) => { this.failure = error; }); // surfaces as a close, never as an unhandled throw
    }
  };
}

/** Sends the library's HTTP and websocket traffic for `origin` (a Gatehouse URL) from `localAddress`. */
export function routeHawsThrough(origin, localAddress) {
  install();
  routes.set(new URL(origin).origin, localAddress);
}

/** The library's HTTP calls seen so far ({method, path, contentType, status}), oldest first. */
export const hawsCalls = calls;

/**
 * What the HA frontend does after coming back with ?code=: the library exchanges the code at
 * <hassUrl>/auth/token (multipart), then the test may refresh and connect. `onTokens` sees every token
 * set saved (to register them as secrets). Returns { auth, saved, connect() }.
 */
export async function hawsSignIn({ hassUrl, clientId, code, onTokens = () => {} }) {
  const saved = [];
  const auth = await getAuth({
    hassUrl,
    clientId,
    authCode: code,
    saveTokens: (tokens) => {
      if (tokens) onTokens(tokens);
      saved.push(tokens);
    },
    loadTokens: () => null,
  });
  return { auth, saved, connect: () => createConnection({ auth }) };
}

/**
 * `username` signs in at the SSO stack's IdP through Gatehouse as the HA frontend does, and opens a
 * websocket with home-assistant-js-websocket (closed when test `t` ends). `closed` resolves with the
 * socket's close code, reason and time (performance.now()); `jar` is the browser's (its IdP session).
 */
export async function signInAndConnect(t, stack, username, { jar = new CookieJar() } = {}) {
  const result = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username, jar });
  assert.equal(result.kind, 'redirect', `${username} signs in`);
  const { auth, saved, connect } = await hawsSignIn({
    hassUrl: stack.externalUrl, clientId: stack.frontendClientId, code: result.code,
    onTokens: (tokens) => {
      stack.rememberSecret(tokens.access_token, 'HA access token (haws)');
      stack.rememberSecret(tokens.refresh_token, 'HA refresh token (haws)');
    },
  });
  const connection = await connect();
  t.after(() => connection.close());
  const closed = new Promise((resolve) => connection.socket.addEventListener('close',
    (event) => resolve({ code: event.code, reason: event.reason, at: performance.now() })));
  return { auth, saved, connection, closed, jar };
}
