// HS256 JSON Web Tokens the way HA uses PyJWT (§2.2, §2.3, §9.5): header
// {"alg":"HS256","typ":"JWT"}, compact JSON, the key is the ASCII string given.

import { createHmac, timingSafeEqual } from 'node:crypto';

// §2.3 step 1: tokens longer than 8192 characters are rejected before anything else.
export const MAX_TOKEN_SIZE = 8192;

const base64url = (buffer) => Buffer.from(buffer).toString('base64url');

function sign(signingInput, key) {
  return createHmac('sha256', Buffer.from(key, 'utf8')).update(signingInput).digest();
}

export function encodeHs256(claims, key) {
  // PyJWT sorts header keys; payload keys keep insertion order (iss, iat, exp for HA).
  const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = base64url(JSON.stringify(claims));
  const signingInput = `${header}.${payload}`;
  return `${signingInput}.${base64url(sign(signingInput, key))}`;
}

function decodeSegment(segment) {
  if (!/^[A-Za-z0-9_-]*$/.test(segment)) throw new Error('bad base64url');
  return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
}

// Decodes without verifying, to find the issuer (the refresh-token id). Returns null for
// anything PyJWT would refuse to decode.
export function decodeUnverified(token) {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_SIZE) return null;
  const segments = token.split('.');
  if (segments.length !== 3) return null;
  try {
    const header = decodeSegment(segments[0]);
    const claims = decodeSegment(segments[1]);
    if (header === null || typeof header !== 'object' || claims === null || typeof claims !== 'object' || Array.isArray(claims)) return null;
    return { header, claims };
  } catch {
    return null;
  }
}

const isNumber = (value) => typeof value === 'number' && Number.isFinite(value);

const B64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_VALUES = new Map([...B64_ALPHABET].map((char, index) => [char, index]));

// PyJWT's base64url_decode: pad with "=" to a multiple of 4, then Python's non-strict
// base64.urlsafe_b64decode, which maps -_ to +/, skips characters outside the alphabet and
// stops at a complete padding. Whitespace therefore counts for the padding but not as data:
// one trailing space or tab after a signature is "Incorrect padding" (the §0.2 401), two are
// skipped. Returns null where Python raises binascii.Error.
export function pyjwtBase64urlDecode(text) {
  const padded = text + '='.repeat((4 - (text.length % 4)) % 4);
  const bytes = [];
  let quadPos = 0;
  let leftChar = 0;
  let pads = 0;
  for (const char of padded.replaceAll('-', '+').replaceAll('_', '/')) {
    if (char === '=') {
      pads += 1;
      if (quadPos >= 2 && quadPos + pads >= 4) return Buffer.from(bytes);
      continue;
    }
    const value = B64_VALUES.get(char);
    if (value === undefined) continue;
    pads = 0;
    if (quadPos === 0) leftChar = value;
    else if (quadPos === 1) { bytes.push(((leftChar << 2) | (value >> 4)) & 0xff); leftChar = value & 0x0f; }
    else if (quadPos === 2) { bytes.push(((leftChar << 4) | (value >> 2)) & 0xff); leftChar = value & 0x03; }
    else bytes.push(((leftChar << 6) | value) & 0xff);
    quadPos = (quadPos + 1) % 4;
  }
  return quadPos === 0 ? Buffer.from(bytes) : null;
}

// Verifies signature and time claims. Options: nowSeconds, leewaySeconds, issuer (when
// set, `iss` must equal it), requireClaims. Returns the claims or null.
export function verifyHs256(token, key, { nowSeconds, leewaySeconds = 0, issuer, requireClaims = [] }) {
  const decoded = decodeUnverified(token);
  if (!decoded) return null;
  const { header, claims } = decoded;
  if (header.alg !== 'HS256') return null;
  const [headerPart, payloadPart, signaturePart] = token.split('.');
  const expected = sign(`${headerPart}.${payloadPart}`, key);
  const given = pyjwtBase64urlDecode(signaturePart);
  if (!given || given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  for (const claim of requireClaims) if (!(claim in claims)) return null;
  if ('exp' in claims && (!isNumber(claims.exp) || claims.exp <= nowSeconds - leewaySeconds)) return null;
  if ('iat' in claims && (!isNumber(claims.iat) || claims.iat > nowSeconds + leewaySeconds)) return null;
  if ('nbf' in claims && (!isNumber(claims.nbf) || claims.nbf > nowSeconds + leewaySeconds)) return null;
  // PyJWT refuses a token that names an audience when the verifier expects none.
  if ('aud' in claims) return null;
  if ('jti' in claims && typeof claims.jti !== 'string') return null;
  if (issuer !== undefined && claims.iss !== issuer) return null;
  return claims;
}
