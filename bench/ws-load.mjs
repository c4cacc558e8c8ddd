#!/usr/bin/env node
// ws-load: websocket relay load client. Opens N connections to an echo server (directly or through a
// proxy), keeps W text messages in flight on each, and measures for a fixed time how many echoes come
// back per second and their round-trip time. One "message" = one echo received = one frame relayed in
// each direction.
//
//   node bench/ws-load.mjs --url ws://127.0.0.1:8080/ws [--connections 32] [--inflight 8]
//        [--duration 5] [--warmup 1] [--size 64] [--impl raw|ws]
//
// Prints one JSON object on stdout:
//   {"msgs_per_sec":..., "messages":..., "seconds":..., "rtt_ms":{"p50":..,"p90":..,"p99":..,"p999":..,
//    "max":..,"mean":..}, "errors":0, ...}
// Exit status 1 when a connection fails to open or drops during the run (the JSON still says why).
//
// --impl raw (default): a hand-written client (frames masked with random keys from a pool; all the
// echoes of one received chunk are answered with one write). It keeps the client cheap on a 2-core box
// where client, proxy and upstream share the CPUs. --impl ws: the `ws` package, one send per message.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { FrameReader, acceptKey, newKey, maskedFrame, parseArgs } from './ws-frames.mjs';

const opts = parseArgs(process.argv.slice(2), {
  url: '', connections: 32, inflight: 8, duration: 5, warmup: 1, size: 64, impl: 'raw',
  connectConcurrency: 64, connectTimeout: 10,
});
if (!opts.url) {
  console.error('usage: ws-load.mjs --url ws://host:port/path [--connections N] [--inflight W] [--duration S]');
  process.exit(2);
}
const url = new URL(opts.url);
if (url.protocol !== 'ws:') throw new Error('only ws:// URLs are supported');

// The payload: a small JSON-looking text message of exactly `size` bytes.
function makePayload(size) {
  let s = '{"id":1,"type":"subscribe_events","event_type":"state_changed","pad":"';
  while (s.length < size - 2) s += 'x';
  return Buffer.from((s + '"}').slice(-size).padStart(size, ' '), 'latin1').subarray(0, size);
}
const payload = makePayload(opts.size);

// Round-trip histogram: 1 µs buckets up to 1 s, then one overflow bucket.
const HIST_MAX_US = 1_000_000;
const hist = new Uint32Array(HIST_MAX_US + 1);
let recorded = 0;
let rttSumMs = 0;
let rttMaxMs = 0;
let recording = false;
let running = false;
let errors = 0;
let badFrames = 0;
const errorSamples = [];

function noteError(msg) {
  errors++;
  if (errorSamples.length < 5) errorSamples.push(msg);
}

function record(rttMs) {
  if (!recording) return;
  recorded++;
  rttSumMs += rttMs;
  if (rttMs > rttMaxMs) rttMaxMs = rttMs;
  let us = Math.round(rttMs * 1000);
  if (us > HIST_MAX_US) us = HIST_MAX_US;
  hist[us]++;
}

function percentile(p) {
  if (recorded === 0) return null;
  const want = Math.ceil(recorded * p);
  let seen = 0;
  for (let us = 0; us <= HIST_MAX_US; us++) {
    seen += hist[us];
    if (seen >= want) return us / 1000;
  }
  return rttMaxMs;
}

// ---- raw client ----------------------------------------------------------------------------------
const POOL = 256;
const frames = Array.from({ length: POOL }, () => maskedFrame(0x1, payload));
const frameLen = frames[0].length;
const pool = Buffer.concat(frames); // POOL frames back to back, each with its own mask key
let poolAt = 0;

function takeFrames(k) {
  // k consecutive pool frames (wrapping around) as one buffer.
  const out = [];
  while (k > 0) {
    const n = Math.min(k, POOL - poolAt);
    out.push(pool.subarray(poolAt * frameLen, (poolAt + n) * frameLen));
    poolAt = (poolAt + n) % POOL;
    k -= n;
  }
  return out.length === 1 ? out[0] : Buffer.concat(out);
}

class RawConn {
  constructor() {
    this.sent = new Float64Array(opts.inflight); // send times of messages in flight, FIFO ring
    this.head = 0;
    this.count = 0;
    this.reader = new FrameReader();
    this.open = false;
    this.closedByUs = false;
  }

  connect() {
    return new Promise((resolve, reject) => {
      const key = newKey();
      const sock = net.connect({ host: url.hostname, port: Number(url.port || 80) });
      this.sock = sock;
      sock.setNoDelay(true);
      let headBuf = Buffer.alloc(0);
      const timer = setTimeout(() => { sock.destroy(); reject(new Error('handshake timeout')); },
        opts.connectTimeout * 1000);
      const onHead = (chunk) => {
        headBuf = Buffer.concat([headBuf, chunk]);
        const end = headBuf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (headBuf.length > 65536) { sock.destroy(); reject(new Error('response head too large')); }
          return;
        }
        clearTimeout(timer);
        sock.off('data', onHead);
        const head = headBuf.subarray(0, end).toString('latin1');
        const status = head.split('\r\n', 1)[0];
        const accept = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(head);
        if (!/^HTTP\/1\.1 101/.test(status) || !accept || accept[1] !== acceptKey(key)) {
          sock.destroy();
          reject(new Error(`handshake refused: ${status}`));
          return;
        }
        this.open = true;
        sock.on('data', (c) => this.onData(c));
        const rest = headBuf.subarray(end + 4);
        if (rest.length) this.onData(rest);
        resolve();
      };
      sock.on('data', onHead);
      sock.on('error', (err) => {
        clearTimeout(timer);
        if (!this.open) reject(err);
        else if (running && !this.closedByUs) noteError(`socket error: ${err.code || err.message}`);
      });
      sock.on('close', () => {
        if (this.open && running && !this.closedByUs) noteError('connection closed during the run');
        this.open = false;
      });
      sock.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n`
        + 'Upgrade: websocket\r\nConnection: Upgrade\r\n'
        + `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
  }

  send(k, now) {
    const W = opts.inflight;
    for (let i = 0; i < k; i++) this.sent[(this.head + this.count + i) % W] = now;
    this.count += k;
    this.sock.write(takeFrames(k));
  }

  onData(chunk) {
    let got = 0;
    const now = performance.now();
    try {
      this.reader.push(chunk, (buf, b0, start, len, maskAt) => {
        const op = b0 & 0x0f;
        if (op === 0x1 || op === 0x2) {
          if (len !== opts.size || this.count === 0) badFrames++;
          if (this.count > 0) {
            record(now - this.sent[this.head]);
            this.head = (this.head + 1) % opts.inflight;
            this.count--;
          }
          got++;
        } else if (op === 0x8 && running) {
          noteError('server sent close');
        }
      });
    } catch (err) {
      noteError(`bad frame: ${err.message}`);
      this.sock.destroy();
      return;
    }
    if (got > 0 && running) this.send(got, now);
  }

  start() { this.send(opts.inflight, performance.now()); }

  close() {
    this.closedByUs = true;
    this.sock.destroy();
  }
}

// ---- ws package client ---------------------------------------------------------------------------
let WebSocket = null;
if (opts.impl === 'ws') {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const require = createRequire(path.join(here, '..', 'tests', 'package.json'));
  WebSocket = require('ws');
}
const text = payload.toString('latin1');

class WsConn {
  constructor() {
    this.sent = new Float64Array(opts.inflight);
    this.head = 0;
    this.count = 0;
    this.closedByUs = false;
  }

  connect() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(opts.url, { perMessageDeflate: false, handshakeTimeout: opts.connectTimeout * 1000 });
      this.ws = ws;
      ws.on('open', () => { ws._socket.setNoDelay(true); resolve(); });
      ws.on('error', (err) => { if (!this.opened) reject(err); else if (running) noteError(err.message); });
      ws.on('open', () => { this.opened = true; });
      ws.on('close', () => { if (this.opened && running && !this.closedByUs) noteError('connection closed during the run'); });
      ws.on('message', (data) => {
        const now = performance.now();
        if (data.length !== opts.size || this.count === 0) badFrames++;
        if (this.count > 0) {
          record(now - this.sent[this.head]);
          this.head = (this.head + 1) % opts.inflight;
          this.count--;
        }
        if (running) this.sendOne(now);
      });
    });
  }

  sendOne(now) {
    this.sent[(this.head + this.count) % opts.inflight] = now;
    this.count++;
    this.ws.send(text);
  }

  start() {
    const now = performance.now();
    for (let i = 0; i < opts.inflight; i++) this.sendOne(now);
  }

  close() {
    this.closedByUs = true;
    this.ws.terminate();
  }
}

// ---- run -----------------------------------------------------------------------------------------
async function openAll() {
  const Conn = opts.impl === 'ws' ? WsConn : RawConn;
  if (opts.impl !== 'ws' && opts.impl !== 'raw') throw new Error(`--impl must be raw or ws`);
  const conns = [];
  let next = 0;
  const worker = async () => {
    while (next < opts.connections) {
      next++;
      const c = new Conn();
      await c.connect();
      conns.push(c);
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.connectConcurrency, opts.connections) }, worker));
  return conns;
}

function result(extra) {
  return {
    impl: opts.impl, url: opts.url, connections: opts.connections, inflight: opts.inflight,
    size: opts.size, warmup_s: opts.warmup, ...extra,
  };
}

let conns = [];
try {
  conns = await openAll();
} catch (err) {
  process.stdout.write(JSON.stringify(result({ ok: false, error: `connect: ${err.message}` })) + '\n');
  for (const c of conns) c.close();
  process.exit(1);
}

running = true;
for (const c of conns) c.start();
let t0 = 0;
setTimeout(() => {
  recording = true;
  t0 = performance.now();
}, opts.warmup * 1000);
setTimeout(() => {
  const seconds = (performance.now() - t0) / 1000;
  recording = false;
  running = false;
  const out = result({
    ok: errors === 0 && badFrames === 0 && recorded > 0,
    seconds: Number(seconds.toFixed(3)),
    messages: recorded,
    msgs_per_sec: Math.round(recorded / seconds),
    rtt_ms: {
      p50: percentile(0.5), p90: percentile(0.9), p99: percentile(0.99), p999: percentile(0.999),
      max: Number(rttMaxMs.toFixed(3)), mean: recorded ? Number((rttSumMs / recorded).toFixed(3)) : null,
    },
    errors, bad_frames: badFrames, error_samples: errorSamples,
  });
  for (const c of conns) c.close();
  process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(out.ok ? 0 : 1));
}, (opts.warmup + opts.duration) * 1000);
