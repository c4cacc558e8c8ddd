// Client side of the e2e tests: `request()` for ordinary HTTP calls through Gatehouse (Node's http or
// https client, one fresh connection unless an agent is given), and `RawConnection` for what Node's client
// will not send or hides: duplicate or hop-by-hop request headers, half-sent heads, chunked bodies that
// never end, several requests on one socket, and the exact moment the server closes the connection.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { createHash } from 'node:crypto';

/**
 * One HTTP exchange. `body` may be a string/Buffer or an async iterable of Buffers (sent chunked unless a
 * content-length header is given). `onResponseChunk(chunk)` sees the response body as it streams; with
 * `keepBody: false` the body is only hashed, never kept.
 */
export function request(url, { method = 'GET', headers = {}, body, agent = false, localAddress, ca, keepBody = true,
  onResponseChunk, onBodyProgress } = {}) {
  const target = new URL(url);
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(target, { method, headers, agent, localAddress, ca }, (res) => {
      // Captured now: a keep-alive agent detaches the socket from the response once the body has ended.
      const socket = res.socket;
      const peerCertificate = socket.getPeerCertificate?.();
      const hash = createHash('sha256');
      const chunks = [];
      let bytes = 0;
      res.on('data', (chunk) => {
        bytes += chunk.length;
        hash.update(chunk);
        if (keepBody) chunks.push(chunk);
        onResponseChunk?.(chunk, bytes);
      });
      res.on('end', () => {
        const responseBody = Buffer.concat(chunks);
        resolve({
          status: res.statusCode,
          headers: res.headers,
          rawHeaders: pairs(res.rawHeaders),
          body: responseBody,
          text: () => responseBody.toString('utf8'),
          json: () => JSON.parse(responseBody.toString('utf8')),
          bodyBytes: bytes,
          sha256: hash.digest('hex'),
          socket,
          peerCertificate,
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    sendBody(req, body, onBodyProgress).catch((error) => req.destroy(error));
  });
}

async function sendBody(req, body, onBodyProgress) {
  if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) {
    req.end(body);
    return;
  }
  let sent = 0;
  for await (const chunk of body) {
    sent += chunk.length;
    if (!req.write(chunk)) await waitForDrainOrFailure(req);
    onBodyProgress?.(sent);
  }
  req.end();
}

function waitForDrainOrFailure(req) {
  return new Promise((resolve, reject) => {
    const onDrain = () => { cleanup(); resolve(); };
    const onClose = () => { cleanup(); reject(new Error('connection closed while sending the body')); };
    const cleanup = () => { req.off('drain', onDrain); req.off('close', onClose); };
    req.on('drain', onDrain);
    req.on('close', onClose);
  });
}

function pairs(flat) {
  const result = [];
  for (let i = 0; i < flat.length; i += 2) result.push([flat[i], flat[i + 1]]);
  return result;
}

/** Every value of header `name` (case-insensitive) in a list of [name, value] pairs. */
export function headerValues(rawHeaders, name) {
  const wanted = name.toLowerCase();
  return rawHeaders.filter(([key]) => key.toLowerCase() === wanted).map(([, value]) => value);
}

/** A TCP connection on which the test writes raw request bytes and parses responses one by one. */
export class RawConnection {
  static connect({ port, host = '127.0.0.1', localAddress } = {}) {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host, localAddress });
      socket.once('connect', () => { socket.off('error', reject); resolve(new RawConnection(socket)); });
      socket.once('error', reject);
    });
  }

  #buffer = Buffer.alloc(0);
  #wakeReader = null;
  ended = false; // the server closed its side (or the socket failed)
  error = null;

  constructor(socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => socket.on('close', () => { this.ended = true; this.#wake(); resolve(); }));
    socket.on('data', (chunk) => { this.#buffer = Buffer.concat([this.#buffer, chunk]); this.#wake(); });
    socket.on('end', () => { this.ended = true; this.#wake(); });
    socket.on('error', (error) => { this.error = error; this.ended = true; this.#wake(); });
  }

  #wake() {
    const wake = this.#wakeReader;
    this.#wakeReader = null;
    wake?.();
  }

  #moreData() {
    return new Promise((resolve) => { this.#wakeReader = resolve; });
  }

  /** Writes bytes; resolves when they are handed to the kernel, rejects if the connection is gone. */
  write(data) {
    return new Promise((resolve, reject) => this.socket.write(data, (error) => (error ? reject(error) : resolve())));
  }

  /** Bytes received and not yet parsed into a response. */
  get pending() { return this.#buffer; }

  /**
   * Parses the next response. Resolves null if the server closed the connection before sending any byte
   * of it; rejects if it closed in the middle of one.
   */
  async readResponse({ method = 'GET' } = {}) {
    let headEnd;
    while ((headEnd = this.#buffer.indexOf('\r\n\r\n')) < 0) {
      if (this.ended) {
        if (this.#buffer.length === 0) return null;
        throw new Error(`connection closed inside a response head: ${JSON.stringify(this.#buffer.toString('latin1'))}`);
      }
      await this.#moreData();
    }
    const head = this.#buffer.subarray(0, headEnd).toString('latin1');
    this.#buffer = this.#buffer.subarray(headEnd + 4);
    const [statusLine, ...headerLines] = head.split('\r\n');
    const match = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
    if (!match) throw new Error(`not an HTTP status line: ${JSON.stringify(statusLine)}`);
    const rawHeaders = headerLines.map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
    });
    const status = Number(match[1]);
    const single = (name) => headerValues(rawHeaders, name).join(', ');
    let body;
    if (method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)) {
      body = Buffer.alloc(0);
    } else if (/\bchunked\b/i.test(single('transfer-encoding'))) {
      body = await this.#readChunked();
    } else if (single('content-length') !== '') {
      body = await this.#readExactly(Number(single('content-length')));
    } else {
      while (!this.ended) await this.#moreData();
      body = this.#buffer;
      this.#buffer = Buffer.alloc(0);
    }
    return {
      status, statusText: match[2] ?? '', rawHeaders, body,
      header: (name) => headerValues(rawHeaders, name),
      text: () => body.toString('utf8'),
      json: () => JSON.parse(body.toString('utf8')),
    };
  }

  async #readExactly(length) {
    while (this.#buffer.length < length) {
      if (this.ended) throw new Error(`connection closed after ${this.#buffer.length} of ${length} body bytes`);
      await this.#moreData();
    }
    const data = this.#buffer.subarray(0, length);
    this.#buffer = this.#buffer.subarray(length);
    return data;
  }

  async #readLine() {
    let end;
    while ((end = this.#buffer.indexOf('\r\n')) < 0) {
      if (this.ended) throw new Error('connection closed inside a chunked body');
      await this.#moreData();
    }
    const line = this.#buffer.subarray(0, end).toString('latin1');
    this.#buffer = this.#buffer.subarray(end + 2);
    return line;
  }

  async #readChunked() {
    const parts = [];
    for (;;) {
      const size = parseInt(await this.#readLine(), 16);
      if (Number.isNaN(size)) throw new Error('bad chunk size line');
      if (size === 0) {
        while ((await this.#readLine()) !== '') { /* trailer fields are not used by these tests */ }
        return Buffer.concat(parts);
      }
      parts.push(await this.#readExactly(size));
      await this.#readExactly(2);
    }
  }

  /** Resolves once the server has closed the connection. */
  waitForClose() { return this.closed; }

  destroy() { this.socket.destroy(); }
}

/** A request head as raw bytes; `headers` is a list of [name, value] so duplicates can be sent. */
export function rawHead(method, target, headers) {
  return `${method} ${target} HTTP/1.1\r\n${headers.map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`;
}
