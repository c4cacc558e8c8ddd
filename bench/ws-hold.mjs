#!/usr/bin/env node
// ws-hold: opens N websockets (through a proxy to the echo upstream), sends one message on each and
// waits for its echo — so every relay is fully established end to end — then holds them open so the
// proxy's memory can be read. Uses the `ws` package.
//
//   node bench/ws-hold.mjs --url ws://127.0.0.1:8080/ws [--count 1000] [--concurrency 50] [--hold 120]
//
// Prints {"ready":true,"open":N,"ms":...} on stdout once all N echoed (or {"ready":false,...} and exits 1),
// then keeps the sockets until SIGTERM/SIGINT, stdin closing (when --stdin), or --hold seconds pass.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { parseArgs } from './ws-frames.mjs';

const opts = parseArgs(process.argv.slice(2), {
  url: '', count: 1000, concurrency: 50, hold: 120, timeout: 30, stdin: false,
});
if (!opts.url) {
  console.error('usage: ws-hold.mjs --url ws://host:port/path [--count N]');
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'tests', 'package.json'));
const WebSocket = require('ws');

const sockets = [];
let dropped = 0;
let holding = false;

function openOne(i) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(opts.url, { perMessageDeflate: false, handshakeTimeout: opts.timeout * 1000 });
    const timer = setTimeout(() => { ws.terminate(); reject(new Error(`socket ${i}: no echo in time`)); },
      opts.timeout * 1000);
    ws.once('open', () => ws.send(`{"id":${i},"type":"ping"}`));
    ws.once('message', () => { clearTimeout(timer); resolve(ws); });
    ws.on('error', (err) => { clearTimeout(timer); reject(new Error(`socket ${i}: ${err.message}`)); });
    ws.on('close', () => { if (holding) dropped++; });
    sockets.push(ws);
  });
}

const t0 = Date.now();
let next = 0;
async function worker() {
  while (next < opts.count) await openOne(next++);
}

function shutdown(code) {
  for (const ws of sockets) ws.terminate();
  process.exit(code);
}

try {
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, opts.count) }, worker));
} catch (err) {
  process.stdout.write(JSON.stringify({ ready: false, open: sockets.length, error: err.message }) + '\n',
    () => shutdown(1));
  await new Promise(() => {});
}
holding = true;
process.stdout.write(JSON.stringify({ ready: true, open: sockets.length, ms: Date.now() - t0 }) + '\n');

process.on('SIGTERM', () => shutdown(dropped ? 1 : 0));
process.on('SIGINT', () => shutdown(dropped ? 1 : 0));
if (opts.stdin) process.stdin.on('end', () => shutdown(dropped ? 1 : 0)).resume();
setTimeout(() => {
  console.error(`ws-hold: --hold ${opts.hold}s passed, closing`);
  shutdown(0);
}, opts.hold * 1000);
