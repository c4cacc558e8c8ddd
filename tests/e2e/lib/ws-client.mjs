// Client side of the websocket e2e tests: a `ws` client whose open, messages and close are captured from
// the moment it is created, so a test can await "the close" even when Gatehouse closes the socket in the
// same packet that completes the handshake. A refused upgrade is reported with its HTTP status and body.
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';

export class TestWebSocket extends EventEmitter {
  /**
   * `keepMessages: false` for streams too big to hold; listen to 'message' (data, isBinary) instead.
   * Other options go to the `ws` client (perMessageDeflate, maxPayload, headers, localAddress, ...).
   */
  constructor(url, { protocols, keepMessages = true, ...options } = {}) {
    super();
    this.setMaxListeners(0);
    this.ws = new WebSocket(url, protocols, { perMessageDeflate: false, maxPayload: 1024 * 1024 * 1024, ...options });
    this.messages = [];
    this.pongs = [];
    this.closeEvent = null;
    this.error = null;
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', (error) => reject(error));
      this.ws.once('unexpected-response', (req, res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => {
          const error = new Error(`websocket upgrade answered with HTTP ${res.statusCode}`);
          error.status = res.statusCode;
          error.headers = res.headers;
          error.body = Buffer.concat(chunks).toString('utf8');
          reject(error);
          req.destroy();
        });
      });
    });
    this.opened.catch(() => {}); // a test that expects a refusal awaits it; nobody else must crash on it
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.closeEvent = { code, reason: reason.toString('utf8') };
        resolve(this.closeEvent);
        this.emit('closed');
      });
    });
    this.ws.on('error', (error) => { this.error = error; });
    this.ws.on('pong', (data) => { this.pongs.push(data); this.emit('pong', data); });
    this.ws.on('message', (data, isBinary) => {
      if (keepMessages) this.messages.push({ data, isBinary });
      this.emit('message', data, isBinary);
    });
  }

  /** Resolves with all kept messages once there are `count`; rejects if the socket closes first. */
  waitForMessages(count) {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.messages.length >= count) { cleanup(); resolve(this.messages); return true; }
        if (this.closeEvent) {
          cleanup();
          reject(new Error(`websocket closed (${this.closeEvent.code} ${this.closeEvent.reason}) after ${this.messages.length} of ${count} messages`));
          return true;
        }
        return false;
      };
      const cleanup = () => { this.off('message', check); this.off('closed', check); };
      if (!check()) { this.on('message', check); this.on('closed', check); }
    });
  }

  /** Resolves when the message is handed to the socket. */
  send(data, options = {}) {
    return new Promise((resolve, reject) => this.ws.send(data, options, (error) => (error ? reject(error) : resolve())));
  }

  close(code, reason) { this.ws.close(code, reason); }
  terminate() { this.ws.terminate(); }
}

/** Opens a websocket and resolves once the handshake completed. */
export async function openWebSocket(url, options) {
  const socket = new TestWebSocket(url, options);
  await socket.opened;
  return socket;
}
