// Request heads as they came off the wire. Node's HTTP parser trims whitespace at both ends of
// every header value; aiohttp (HA's server) strips only the leading whitespace and keeps the
// trailing one, so `Authorization: Bearer <token> ` reaches HA with the space and the token
// no longer matches (§0.2, §2.3). This tap reads each connection's bytes before Node's parser
// does, finds the request heads (skipping bodies by Content-Length or chunked framing) and
// queues one record per request, in order, for the request handler to take.

const HEAD_END = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');
const MAX_LINE = 64 * 1024; // past Node's maxHeaderSize the request fails anyway

// One parsed head: header values as aiohttp sees them (leading OWS removed, trailing kept).
export class RawHead {
  constructor(text) {
    const lines = text.split('\r\n');
    this.requestLine = lines[0];
    this.headers = [];
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      this.headers.push([line.slice(0, colon).toLowerCase(), line.slice(colon + 1).replace(/^[ \t]+/, '')]);
    }
  }

  // The first value of a header, like aiohttp's request.headers.get(); undefined if absent.
  get(name) {
    return this.headers.find(([key]) => key === name)?.[1];
  }
}

export class RawHeadTap {
  #pending = Buffer.alloc(0);
  #state = 'head';
  #remaining = 0;
  #heads = [];

  constructor(socket) {
    this.socket = socket;
    this.onData = (chunk) => this.feed(chunk);
    // Prepended, so each chunk is read here before Node's parser emits its requests. Adding a
    // 'data' listener makes Node feed its parser from JavaScript instead of consuming the
    // socket natively, which is what lets this listener see the bytes.
    socket.prependListener('data', this.onData);
  }

  // The head of the next request on this connection (requests are handled in order).
  shift() {
    return this.#heads.shift() ?? null;
  }

  // After an upgrade the bytes are websocket frames, not HTTP.
  stop() {
    this.#state = 'stopped';
    this.#pending = Buffer.alloc(0);
    this.socket.removeListener('data', this.onData);
  }

  feed(chunk) {
    if (this.#state === 'stopped') return;
    this.#pending = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    while (this.#pending.length && this.#state !== 'stopped') {
      if (!this.#step()) break;
    }
  }

  // Consumes what it can from #pending; returns false when it needs more bytes.
  #step() {
    const pending = this.#pending;
    switch (this.#state) {
      case 'head': {
        // llhttp skips empty lines before a request line.
        let start = 0;
        while (pending.length - start >= 2 && pending[start] === 0x0d && pending[start + 1] === 0x0a) start += 2;
        const end = pending.indexOf(HEAD_END, start);
        if (end === -1) {
          if (pending.length > MAX_LINE) this.stop();
          return false;
        }
        const head = new RawHead(pending.subarray(start, end).toString('latin1'));
        this.#heads.push(head);
        this.#pending = pending.subarray(end + HEAD_END.length);
        this.#afterHead(head);
        return true;
      }
      case 'body': {
        const taken = Math.min(this.#remaining, pending.length);
        this.#remaining -= taken;
        this.#pending = pending.subarray(taken);
        if (this.#remaining === 0) this.#state = 'head';
        return true;
      }
      case 'chunk-size':
      case 'trailer': {
        const end = pending.indexOf(CRLF);
        if (end === -1) {
          if (pending.length > MAX_LINE) this.stop();
          return false;
        }
        const line = pending.subarray(0, end).toString('latin1');
        this.#pending = pending.subarray(end + CRLF.length);
        if (this.#state === 'trailer') {
          if (line === '') this.#state = 'head';
          return true;
        }
        const size = parseInt(line.split(';')[0].trim(), 16);
        if (!Number.isFinite(size)) {
          this.stop();
          return false;
        }
        if (size === 0) this.#state = 'trailer';
        else {
          this.#state = 'chunk-data';
          this.#remaining = size + CRLF.length;
        }
        return true;
      }
      case 'chunk-data': {
        const taken = Math.min(this.#remaining, pending.length);
        this.#remaining -= taken;
        this.#pending = pending.subarray(taken);
        if (this.#remaining === 0) this.#state = 'chunk-size';
        return true;
      }
      default:
        return false;
    }
  }

  // Framing of what follows a head, as llhttp decides it for requests.
  #afterHead(head) {
    const method = head.requestLine.split(' ')[0];
    const connection = (head.get('connection') ?? '').toLowerCase().split(',').map((token) => token.trim());
    if (method === 'CONNECT' || (head.get('upgrade') !== undefined && connection.includes('upgrade'))) {
      this.#state = 'stopped';
      this.#pending = Buffer.alloc(0);
      return;
    }
    const codings = (head.get('transfer-encoding') ?? '').toLowerCase().split(',').map((token) => token.trim());
    if (codings.at(-1) === 'chunked') {
      this.#state = 'chunk-size';
      return;
    }
    const length = Number((head.get('content-length') ?? '0').trim());
    if (Number.isSafeInteger(length) && length > 0) {
      this.#state = 'body';
      this.#remaining = length;
    } else {
      this.#state = 'head';
    }
  }
}
