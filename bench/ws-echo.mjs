#!/usr/bin/env node
// ws-echo: the websocket upstream of the benchmark. Echoes every data frame back on the same
// connection, answers pings, returns close frames. Plain HTTP requests get a tiny 200.
//
//   node bench/ws-echo.mjs --port 0 [--host 127.0.0.1] [--impl raw|ws]
//
// Prints {"listening":true,"port":N,"impl":"raw"} on stdout when ready.
// --impl raw (default) is a hand-written frame loop: one write per received chunk, no per-message
// objects, so the upstream stays cheap and the proxy in front of it is what gets measured.
// --impl ws uses the `ws` package (a cross-check that the raw loop speaks correct websocket).
import http from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import {
  FrameReader, acceptKey, headerLength, writeHeader, copyUnmasked, parseArgs,
} from './ws-frames.mjs';

const opts = parseArgs(process.argv.slice(2), { port: 0, host: '127.0.0.1', impl: 'raw' });

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 3 });
  res.end('ok\n');
});
server.keepAliveTimeout = 0;

if (opts.impl === 'ws') {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const require = createRequire(path.join(here, '..', 'tests', 'package.json'));
  const { WebSocketServer } = require('ws');
  const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
  });
} else if (opts.impl === 'raw') {
  server.on('upgrade', (req, socket, head) => {
    const key = req.headers['sec-websocket-key'];
    if (!key || String(req.headers.upgrade).toLowerCase() !== 'websocket') {
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
      + `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`);
    relayEcho(socket, head);
  });
} else {
  throw new Error(`--impl must be raw or ws, not ${opts.impl}`);
}

function relayEcho(socket, head) {
  const reader = new FrameReader();
  // Frames of one chunk: collected, then written back as one buffer.
  const b0s = [];
  const starts = [];
  const lens = [];
  const masks = [];
  let closing = false;
  const onFrame = (buf, b0, start, len, maskAt) => {
    b0s.push(b0);
    starts.push(start);
    lens.push(len);
    masks.push(maskAt);
  };
  const onData = (chunk) => {
    if (closing) return;
    try {
      b0s.length = starts.length = lens.length = masks.length = 0;
      let src = null;
      reader.push(chunk, (buf, b0, start, len, maskAt) => {
        src = buf; // the same buffer for every frame of one push()
        onFrame(buf, b0, start, len, maskAt);
      });
      if (b0s.length === 0) return;
      let total = 0;
      for (let i = 0; i < b0s.length; i++) {
        const op = b0s[i] & 0x0f;
        if (op === 0x0a) continue; // pong: nothing to send
        total += headerLength(lens[i], false) + lens[i];
      }
      const out = Buffer.allocUnsafe(total);
      let at = 0;
      for (let i = 0; i < b0s.length; i++) {
        let b0 = b0s[i];
        const op = b0 & 0x0f;
        if (op === 0x0a) continue;
        if (op === 0x09) b0 = (b0 & 0xf0) | 0x0a; // ping → pong
        at = writeHeader(out, at, b0, lens[i], null);
        copyUnmasked(src, starts[i], lens[i], masks[i], out, at);
        at += lens[i];
        if (op === 0x08) { // close: echo it, then end after the write
          closing = true;
          socket.end(out.subarray(0, at));
          return;
        }
      }
      socket.write(out);
    } catch (err) {
      socket.destroy();
    }
  };
  socket.on('data', onData);
  if (head && head.length) onData(head);
}

server.listen(opts.port, opts.host, () => {
  process.stdout.write(JSON.stringify({ listening: true, port: server.address().port, impl: opts.impl }) + '\n');
});
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
