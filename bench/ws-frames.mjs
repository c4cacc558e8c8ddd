// ws-frames: the minimum of RFC 6455 the benchmark's raw client and echo server need — the opening
// handshake key, a streaming frame reader, and frame encoders. Written for speed (no per-frame
// objects, one write per received chunk), not for completeness: no extensions, no TLS.
import { createHash, randomBytes } from 'node:crypto';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
export const MAX_FRAME = 16 * 1024 * 1024;

export function acceptKey(key) {
  return createHash('sha1').update(key + GUID).digest('base64');
}

export function newKey() {
  return randomBytes(16).toString('base64');
}

// Reads frames from a byte stream. push() calls onFrame(buf, b0, start, len, maskAt) for every complete
// frame in arrival order; the payload is buf[start, start+len), masked with the 4 bytes at maskAt, or
// not masked when maskAt is -1. buf is only valid during the call. A partial frame is kept for later.
export class FrameReader {
  constructor() {
    this.rest = null;
  }

  push(chunk, onFrame) {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    const n = buf.length;
    let off = 0;
    while (n - off >= 2) {
      const b0 = buf[off];
      const b1 = buf[off + 1];
      let len = b1 & 0x7f;
      let hdr = 2;
      if (len === 126) {
        if (n - off < 4) break;
        len = buf.readUInt16BE(off + 2);
        hdr = 4;
      } else if (len === 127) {
        if (n - off < 10) break;
        const hi = buf.readUInt32BE(off + 2);
        len = hi * 2 ** 32 + buf.readUInt32BE(off + 6);
        hdr = 10;
      }
      if (len > MAX_FRAME) throw new Error(`frame of ${len} bytes exceeds ${MAX_FRAME}`);
      let maskAt = -1;
      if (b1 & 0x80) {
        maskAt = off + hdr;
        hdr += 4;
      }
      if (n - off < hdr + len) break;
      onFrame(buf, b0, off + hdr, len, maskAt);
      off += hdr + len;
    }
    // Copy the partial tail so a big chunk is not kept alive by a few bytes.
    this.rest = off < n ? Buffer.from(buf.subarray(off)) : null;
  }
}

export function headerLength(len, masked) {
  return (len < 126 ? 2 : len < 65536 ? 4 : 10) + (masked ? 4 : 0);
}

// Writes a frame header at out[at]; returns the offset of the payload (after the mask key, if any).
export function writeHeader(out, at, b0, len, maskKey) {
  out[at] = b0;
  const m = maskKey ? 0x80 : 0;
  let p = at + 2;
  if (len < 126) {
    out[at + 1] = m | len;
  } else if (len < 65536) {
    out[at + 1] = m | 126;
    out.writeUInt16BE(len, at + 2);
    p = at + 4;
  } else {
    out[at + 1] = m | 127;
    out.writeUInt32BE(Math.floor(len / 2 ** 32), at + 2);
    out.writeUInt32BE(len >>> 0, at + 6);
    p = at + 10;
  }
  if (maskKey) {
    maskKey.copy(out, p);
    p += 4;
  }
  return p;
}

// One complete client→server frame (masked with a fresh random key).
export function maskedFrame(opcode, payload) {
  const key = randomBytes(4);
  const out = Buffer.allocUnsafe(headerLength(payload.length, true) + payload.length);
  const p = writeHeader(out, 0, 0x80 | opcode, payload.length, key);
  for (let i = 0; i < payload.length; i++) out[p + i] = payload[i] ^ key[i & 3];
  return out;
}

// Copies a (possibly masked) payload into out[at], unmasking it.
export function copyUnmasked(src, start, len, maskAt, out, at) {
  if (maskAt < 0) {
    src.copy(out, at, start, start + len);
    return;
  }
  const k0 = src[maskAt], k1 = src[maskAt + 1], k2 = src[maskAt + 2], k3 = src[maskAt + 3];
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    out[at + i] = src[start + i] ^ k0;
    out[at + i + 1] = src[start + i + 1] ^ k1;
    out[at + i + 2] = src[start + i + 2] ^ k2;
    out[at + i + 3] = src[start + i + 3] ^ k3;
  }
  for (; i < len; i++) out[at + i] = src[start + i] ^ src[maskAt + (i & 3)];
}

// Small argv parser: --name value / --name=value / --flag. Returns an object with camelCase keys.
export function parseArgs(argv, defaults) {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    let [name, value] = a.slice(2).split(/=(.*)/s, 2);
    const key = name.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in defaults)) throw new Error(`unknown option --${name}`);
    if (value === undefined) {
      if (typeof defaults[key] === 'boolean') value = 'true';
      else value = argv[++i];
    }
    if (value === undefined) throw new Error(`--${name} needs a value`);
    out[key] = typeof defaults[key] === 'number' ? Number(value)
      : typeof defaults[key] === 'boolean' ? value !== 'false' : value;
    if (typeof defaults[key] === 'number' && !Number.isFinite(out[key])) {
      throw new Error(`--${name}: not a number: ${value}`);
    }
  }
  return out;
}
