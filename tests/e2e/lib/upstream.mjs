// The test upstream: a plain Node HTTP + websocket server standing where Home Assistant would be, so e2e
// tests can see exactly what Gatehouse sent to HA (every request with its raw header list, body size and
// sha256, and which TCP connection carried it) and can make "HA" misbehave on cue: respond late, stream
// huge bodies, send hop-by-hop headers, refuse websocket upgrades, close or drop sockets, stall reading,
// go away and come back on the same port. It knows nothing about Gatehouse; tests drive it directly.
//
// Routes (everything else is echoed back as JSON describing the request):
//   GET  /manifest.json                      what /healthz probes; a small HA-like manifest
//   GET  /test/download?bytes=N&encoding=length|chunked|close   N pattern bytes (see pattern.mjs), streamed;
//                                            close: no length, no chunks, the body ends when the socket closes
//   ANY  /test/slow                          response head withheld until the test calls release()
//   GET  /test/hop-by-hop                    a response carrying every hop-by-hop header
//   GET  /test/two-framings                  raw bytes: a 200 with both Transfer-Encoding and Content-Length
//   GET  /test/status?code=N                 that status with a JSON body
//   ANY  /test/drop                          the connection closed without an answer (HA going away mid-request)
//   GET  /test/switch-protocols              raw bytes: a 101 to a request that asked for no upgrade, then junk
//   GET  /test/own-cookie                    a 200 that sets one of Gatehouse's own cookies and one of its own
//   websocket upgrade on /test/ws-reject?code=N   answered with that HTTP status and a JSON body
//   websocket upgrade anywhere else          an echo socket, handed to the test via nextWebSocket()
import http from 'node:http';
import https from 'node:https';
import { createHash } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { WebSocketServer } from 'ws';
import { patternBlock, patternBlocks } from './pattern.mjs';

export const MANIFEST = { name: 'Home Assistant', short_name: 'Home Assistant', start_url: '/?homescreen=1' };

/**
 * Starts a test upstream on 127.0.0.1 (`port` 0 picks a free one). `tls` ({cert, key, host} PEM):
 * serve HTTPS instead, as HA with ssl_certificate does; `url` then names `host` (default 127.0.0.1).
 */
export async function startUpstream({ port = 0, tls = null } = {}) {
  const upstream = new TestUpstream(tls);
  await upstream.start(port);
  return upstream;
}

// Items handed out one by one to tests that ask for "the next slow request" or "the next websocket",
// whether the item arrived before or after the test asked.
class Mailbox {
  #items = [];
  #waiters = [];
  put(item) {
    const index = this.#waiters.findIndex((waiter) => waiter.matches(item));
    if (index >= 0) this.#waiters.splice(index, 1)[0].resolve(item);
    else this.#items.push(item);
  }
  take(matches = () => true) {
    const index = this.#items.findIndex(matches);
    if (index >= 0) return Promise.resolve(this.#items.splice(index, 1)[0]);
    return new Promise((resolve) => this.#waiters.push({ matches, resolve }));
  }
}

/** One request as the upstream received it. `settled` resolves once its body ended or was cut off. */
class RecordedRequest {
  constructor({ id, kind, req, connectionId }) {
    const url = new URL(req.url, 'http://upstream.invalid');
    this.id = id;
    this.kind = kind; // 'http' | 'websocket'
    this.method = req.method;
    this.url = req.url;
    this.path = url.pathname;
    this.query = url.searchParams;
    this.httpVersion = req.httpVersion;
    this.rawHeaders = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) this.rawHeaders.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
    this.remoteAddress = req.socket.remoteAddress;
    this.connectionId = connectionId;
    this.bodyBytes = 0;
    this.sha256 = null;
    this.complete = false; // whole body received
    this.aborted = false; // connection closed before the body ended
    this.answered = null; // HTTP: resolves 'finished' once the whole answer was handed to the socket, 'cut' if closed first
  }

  /** Every value sent for header `name` (case-insensitive), one entry per header line. */
  headerValues(name) {
    const wanted = name.toLowerCase();
    return this.rawHeaders.filter(([key]) => key.toLowerCase() === wanted).map(([, value]) => value);
  }

  hasHeader(name) {
    return this.headerValues(name).length > 0;
  }

  toJSON() {
    return {
      method: this.method, url: this.url, httpVersion: this.httpVersion, rawHeaders: this.rawHeaders,
      bodyBytes: this.bodyBytes, sha256: this.sha256, connectionId: this.connectionId, remoteAddress: this.remoteAddress,
    };
  }
}

/** A request to /test/slow whose response the test sends when it chooses. */
class SlowResponse {
  constructor(request, res) {
    this.request = request;
    this.res = res;
    // Resolves when the connection carrying this exchange closes (e.g. Gatehouse gave up waiting).
    this.closed = new Promise((resolve) => res.on('close', resolve));
  }
  release({ status = 200, headers = { 'content-type': 'application/json' }, body = JSON.stringify({ released: true }) } = {}) {
    if (this.res.destroyed || this.res.writableEnded) return;
    this.res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body) });
    this.res.end(body);
  }
  /**
   * Sends the head, with a Content-Length of `length` (none: the body is chunked), and the body's `first`
   * bytes (none: the head goes alone); write() sends more, finish() the rest.
   */
  begin({ length, first, headers = { 'content-type': 'application/octet-stream' } }) {
    this.res.writeHead(200, length === undefined ? headers : { ...headers, 'content-length': length });
    if (first === undefined) this.res.flushHeaders();
    else this.res.write(first);
  }
  write(more) { this.res.write(more); }
  finish(rest) { this.res.end(rest); }
}

/** The upstream end of one websocket; echoes unless told not to, and exposes everything it saw. */
export class UpstreamWebSocket extends EventEmitter {
  constructor(ws, request, { echo }) {
    super();
    this.setMaxListeners(0);
    this.ws = ws;
    this.request = request;
    this.protocol = ws.protocol;
    this.echo = echo;
    this.received = []; // { data: Buffer, isBinary }
    this.pings = [];
    this.sentMessages = 0;
    this.sentBytes = 0;
    this.closeEvent = null;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeEvent = { code, reason: reason.toString() };
        resolve(this.closeEvent);
        this.emit('closed');
      });
    });
    ws.on('error', () => {}); // a dropped socket is something tests provoke; 'close' reports it
    ws.on('ping', (data) => this.pings.push(data));
    ws.on('message', (data, isBinary) => {
      this.received.push({ data, isBinary });
      if (this.echo && ws.readyState === ws.OPEN) ws.send(data, { binary: isBinary });
      this.emit('message');
    });
  }

  /** Resolves with all messages once at least `count` have arrived; rejects if the socket closes first. */
  waitForMessages(count) {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.received.length >= count) { cleanup(); resolve(this.received); return true; }
        if (this.closeEvent) {
          cleanup();
          reject(new Error(`upstream websocket closed (${this.closeEvent.code}) after ${this.received.length} of ${count} messages`));
          return true;
        }
        return false;
      };
      const cleanup = () => { this.off('message', check); this.off('closed', check); };
      if (!check()) { this.on('message', check); this.on('closed', check); }
    });
  }

  send(data, options = {}) {
    return new Promise((resolve, reject) => this.ws.send(data, options, (error) => (error ? reject(error) : resolve())));
  }

  close(code, reason) {
    this.ws.close(code, reason);
  }

  /**
   * Sends `count` binary messages of `bytes` bytes (pattern block i for message i), keeping at most
   * `window` sends unflushed so the upstream itself never piles data up: it goes as fast as the reader
   * (Gatehouse) takes it. Emits 'progress' after each flushed message.
   */
  async burst({ count, bytes = 64 * 1024, window = 4 }) {
    const pending = [];
    for (let index = 0; index < count; index++) {
      if (pending.length >= window) await pending.shift();
      pending.push(this.send(patternBlock(index, bytes), { binary: true }).then(() => {
        this.sentMessages++;
        this.sentBytes += bytes;
        this.emit('progress');
      }));
    }
    await Promise.all(pending);
  }

  pause() { this.ws.pause(); }
  resume() { this.ws.resume(); }

  /** Drops the TCP connection without a close frame, as a crashing HA would. */
  destroySocket() { this.ws._socket.destroy(); }
}

export class TestUpstream {
  requests = [];
  webSockets = [];
  serverNames = []; // with TLS: the SNI name of each connection (false: none sent)
  connectionsAccepted = 0;
  openConnections = 0;
  port = 0;

  #server = null;
  #sockets = new Set();
  #connectionIds = new WeakMap();
  #events = new EventEmitter().setMaxListeners(0);
  #slowResponses = new Mailbox();
  #webSocketMailbox = new Mailbox();
  #webSocketServer = new WebSocketServer({
    noServer: true,
    perMessageDeflate: true, // as HA's aiohttp does (contract §4.1); used only when a client offers it
    autoPong: true,          // HA answers pings (aiohttp)
    maxPayload: 1024 * 1024 * 1024,
    clientTracking: false,
    handleProtocols: (protocols) => protocols.values().next().value ?? false,
  });

  #tls;
  constructor(tls = null) { this.#tls = tls; }

  get url() { return this.#tls ? `https://${this.#tls.host ?? '127.0.0.1'}:${this.port}` : `http://127.0.0.1:${this.port}`; }

  /** Listens on `port` (the previous port when restarting after stop()). */
  async start(port = this.port) {
    const options = { maxHeaderSize: 256 * 1024, requestTimeout: 0 };
    const server = this.#tls
      ? https.createServer({ ...options, cert: this.#tls.cert, key: this.#tls.key })
      : http.createServer(options);
    server.keepAliveTimeout = 75_000; // aiohttp's keep-alive timeout, what HA uses
    // A TLS connection counts once its handshake is done: the socket requests arrive on.
    server.on(this.#tls ? 'secureConnection' : 'connection', (socket) => this.#onConnection(socket));
    server.on('request', (req, res) => this.#onRequest(req, res));
    server.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket, head));
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    this.#server = server;
    this.port = server.address().port;
  }

  /** Stops listening and drops every connection, websockets included, like a stopped HA. */
  async stop() {
    const server = this.#server;
    if (!server) return;
    this.#server = null;
    const closed = once(server, 'close');
    server.close();
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  /** The first request (already received or still to come) for which `matches(request)` holds. */
  waitForRequest(matches) {
    const found = this.requests.find(matches);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => {
      const listener = (request) => {
        if (!matches(request)) return;
        this.#events.off('request', listener);
        resolve(request);
      };
      this.#events.on('request', listener);
    });
  }

  requestsTo(path) { return this.requests.filter((request) => request.path === path); }

  /** The next request to /test/slow not yet handed out. */
  nextSlow(matches) { return this.#slowResponses.take(matches); }

  /** The next upstream websocket not yet handed out. */
  nextWebSocket(matches) { return this.#webSocketMailbox.take(matches); }

  #onConnection(socket) {
    if (this.#tls) this.serverNames.push(socket.servername);
    this.connectionsAccepted++;
    this.openConnections++;
    this.#connectionIds.set(socket, this.connectionsAccepted);
    this.#sockets.add(socket);
    socket.on('close', () => {
      this.openConnections--;
      this.#sockets.delete(socket);
    });
  }

  #record(kind, req) {
    const request = new RecordedRequest({
      id: this.requests.length + 1, kind, req, connectionId: this.#connectionIds.get(req.socket),
    });
    this.requests.push(request);
    return request;
  }

  #onRequest(req, res) {
    const request = this.#record('http', req);
    const hash = createHash('sha256');
    request.settled = new Promise((resolve) => {
      req.on('data', (chunk) => { request.bodyBytes += chunk.length; hash.update(chunk); });
      req.on('end', () => { request.complete = true; request.sha256 = hash.digest('hex'); resolve(request); });
      req.on('close', () => { if (!request.complete) request.aborted = true; resolve(request); });
    });
    res.on('error', () => {});
    request.answered = new Promise((resolve) => res.on('close', () => resolve(res.writableFinished ? 'finished' : 'cut')));
    this.#events.emit('request', request);

    if (request.path === '/test/slow') {
      this.#slowResponses.put(new SlowResponse(request, res));
      return;
    }
    request.settled.then(() => {
      if (!request.complete || res.destroyed) return;
      this.#respond(request, res).catch(() => res.destroy());
    });
  }

  async #respond(request, res) {
    switch (request.path) {
      case '/manifest.json':
        return sendJson(res, 200, MANIFEST);
      case '/test/download':
        return streamDownload(res, Number(request.query.get('bytes') ?? 0), request.query.get('encoding') ?? 'length');
      case '/test/hop-by-hop':
        return sendHopByHop(res);
      case '/test/two-framings':
        // Written past Node's own HTTP writer, which would not send this: a body framed two ways.
        res.socket.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello');
        return;
      case '/test/drop':
        res.socket.destroy();
        return;
      case '/test/switch-protocols':
        // Past Node's writer too: HA's side of the connection stops speaking HTTP.
        res.socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x02hi');
        return;
      case '/test/own-cookie':
        res.setHeader('Set-Cookie', ['gatehouse_login_abcdefgh=planted; Path=/sso/; HttpOnly', 'addon_pref=dark; Path=/']);
        return sendJson(res, 200, { cookies: true });
      case '/test/status': {
        const status = Number(request.query.get('code') ?? 200);
        return sendJson(res, status, { status });
      }
      default:
        return sendJson(res, 200, request.toJSON(), request.method === 'HEAD');
    }
  }

  #onUpgrade(req, socket, head) {
    const request = this.#record('websocket', req);
    request.complete = true;
    request.settled = Promise.resolve(request);
    this.#events.emit('request', request);
    socket.on('error', () => {});

    if (request.path === '/test/ws-reject') {
      const status = Number(request.query.get('code') ?? 403);
      const body = JSON.stringify({ message: 'upgrade refused by test upstream', status });
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    this.#webSocketServer.handleUpgrade(req, socket, head, (ws) => {
      const handle = new UpstreamWebSocket(ws, request, { echo: request.query.get('echo') !== '0' });
      this.webSockets.push(handle);
      this.#webSocketMailbox.put(handle);
    });
  }
}

function sendJson(res, status, value, headOnly = false) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(headOnly ? undefined : body);
}

// Streams the pattern at the pace the reader takes it, so a 100 MB download never sits in this process.
async function streamDownload(res, totalBytes, encoding) {
  const headers = { 'content-type': 'application/octet-stream' };
  if (encoding === 'length') headers['content-length'] = totalBytes;
  if (encoding === 'close') res.useChunkedEncodingByDefault = false; // Node then frames the body by closing
  res.writeHead(200, headers);
  const closed = once(res, 'close');
  for (const block of patternBlocks(totalBytes)) {
    if (res.destroyed) return;
    if (!res.write(block)) await Promise.race([once(res, 'drain'), closed]);
  }
  res.end();
}

// Every hop-by-hop header of RFC 9110 §7.6.1, plus one named in Connection; X-End-To-End must survive.
// Chunked with a real trailer, because Node (rightly) refuses a Trailer header on a length-delimited body.
function sendHopByHop(res) {
  const body = JSON.stringify({ hopByHop: true });
  res.writeHead(200, {
    'content-type': 'application/json',
    connection: 'keep-alive, X-Upstream-Hop',
    'x-upstream-hop': 'named-in-connection',
    'keep-alive': 'timeout=5, max=1000',
    'proxy-connection': 'keep-alive',
    'proxy-authenticate': 'Basic realm="upstream"',
    trailer: 'X-Upstream-Checksum',
    upgrade: 'h2c',
    te: 'trailers',
    'x-end-to-end': 'kept',
  });
  res.write(body);
  res.addTrailers({ 'X-Upstream-Checksum': 'not-checked' });
  res.end();
}
