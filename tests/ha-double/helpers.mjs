// Test helpers for the HA double's own suite: raw HTTP requests (exact paths and headers),
// a login that walks HA's flow, and a websocket client that waits on messages instead of
// sleeping. Not a test file (node --test only picks up *.test.mjs here).

import { request as httpRequest } from 'node:http';
import { once } from 'node:events';
import WebSocket from 'ws';
import { startDouble } from './double.mjs';

export async function withDouble(t, options = {}) {
  const double = await startDouble(options);
  t.after(() => double.close());
  return double;
}

// One HTTP request with the path sent exactly as given (no normalization).
export function request(double, { method = 'GET', path = '/', headers = {}, body, localAddress } = {}) {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: double.port, method, path, headers, agent: false, localAddress }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          text,
          json() {
            return JSON.parse(text);
          },
        });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

export function postJson(double, path, value, headers = {}) {
  return request(double, { method: 'POST', path, headers: { 'content-type': 'text/plain;charset=UTF-8', ...headers }, body: JSON.stringify(value) });
}

export function postForm(double, path, fields, headers = {}) {
  return request(double, { method: 'POST', path, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(fields).toString() });
}

// multipart/form-data as home-assistant-js-websocket sends it (a FormData body).
export async function postMultipart(double, path, fields, headers = {}) {
  const formData = new FormData();
  for (const [name, value] of Object.entries(fields)) formData.append(name, value);
  const encoded = new Request('http://127.0.0.1/', { method: 'POST', body: formData });
  const body = Buffer.from(await encoded.arrayBuffer());
  return request(double, { method: 'POST', path, headers: { 'content-type': encoded.headers.get('content-type'), ...headers }, body });
}

export const clientIdOf = (double) => `${double.url}/`;

// Runs the homeassistant login flow to the end; returns the final HTTP response.
export async function loginFlow(double, { username = 'owner', password = 'owner-password', clientId = clientIdOf(double), redirectUri = `${double.url}/?auth_callback=1`, finalClientId = clientId, headers = {} } = {}) {
  const created = await postJson(double, '/auth/login_flow', { client_id: clientId, handler: ['homeassistant', null], redirect_uri: redirectUri }, headers);
  if (created.status !== 200) return created;
  return postJson(double, `/auth/login_flow/${created.json().flow_id}`, { client_id: finalClientId, username, password }, headers);
}

export async function loginCode(double, options = {}) {
  const response = await loginFlow(double, options);
  if (response.status !== 200 || response.json().type !== 'create_entry') throw new Error(`login failed: ${response.status} ${response.text}`);
  return response.json().result;
}

// Full login and code exchange; returns the /auth/token JSON.
export async function loginTokens(double, options = {}) {
  const code = await loginCode(double, options);
  const response = await postForm(double, '/auth/token', { grant_type: 'authorization_code', client_id: options.finalClientId ?? options.clientId ?? clientIdOf(double), code }, options.headers);
  if (response.status !== 200) throw new Error(`token exchange failed: ${response.status} ${response.text}`);
  return response.json();
}

// A websocket client that queues incoming messages (arrays are split) so tests can await them.
export class TestSocket {
  #queue = [];
  #waiters = [];
  nextId = 1;
  // Every message received, in order (to check that something was NOT answered).
  log = [];

  constructor(url, options) {
    this.ws = new WebSocket(url, options);
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    this.ws.on('error', () => {});
    this.ws.on('message', (data) => {
      const parsed = JSON.parse(data.toString());
      this.frames = (this.frames ?? 0) + 1;
      if (Array.isArray(parsed)) this.arraysReceived = (this.arraysReceived ?? 0) + 1;
      for (const message of Array.isArray(parsed) ? parsed : [parsed]) {
        this.log.push(message);
        this.#deliver(message);
      }
    });
  }

  static async open(double, { headers = {}, perMessageDeflate = false } = {}) {
    const socket = new TestSocket(`ws://127.0.0.1:${double.port}/api/websocket`, { headers, perMessageDeflate });
    await once(socket.ws, 'open');
    return socket;
  }

  #deliver(message) {
    const index = this.#waiters.findIndex((waiter) => waiter.matches(message));
    if (index >= 0) {
      const [waiter] = this.#waiters.splice(index, 1);
      waiter.resolve(message);
    } else {
      this.#queue.push(message);
    }
  }

  // Resolves with the next message matching `matches` (already received or future).
  receive(matches = () => true) {
    const index = this.#queue.findIndex(matches);
    if (index >= 0) return Promise.resolve(this.#queue.splice(index, 1)[0]);
    return new Promise((resolve) => this.#waiters.push({ matches, resolve }));
  }

  send(value) {
    this.ws.send(typeof value === 'string' ? value : JSON.stringify(value));
  }

  // Sends a command with the next id and resolves with its result (or pong) message.
  command(message) {
    const id = message.id ?? this.nextId;
    this.nextId = Math.max(this.nextId, id) + 1;
    this.send({ ...message, id });
    return this.receive((reply) => reply.id === id && (reply.type === 'result' || reply.type === 'pong'));
  }

  async authenticate(accessToken) {
    const required = await this.receive((message) => message.type === 'auth_required');
    this.send({ type: 'auth', access_token: accessToken });
    const outcome = await this.receive((message) => message.type === 'auth_ok' || message.type === 'auth_invalid');
    return { required, outcome };
  }

  close() {
    this.ws.close();
  }
}

export async function authenticatedSocket(double, accessToken, options) {
  const socket = await TestSocket.open(double, options);
  const { outcome } = await socket.authenticate(accessToken);
  if (outcome.type !== 'auth_ok') throw new Error(`websocket auth failed: ${JSON.stringify(outcome)}`);
  return socket;
}

export async function ownerToken(double) {
  return double.createLongLivedToken(double.state.ownerId).token;
}

export function decodeJwt(token) {
  const [header, payload] = token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()));
  return { header, payload };
}
