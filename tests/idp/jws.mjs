// Compact JWS by hand with node:crypto: the rogue IdP needs to mint tokens no library would sign
// (alg none, HS256 keyed with a public key, altered payloads), and the self-tests verify ID tokens
// independently of the library that made them.

import { createHmac, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, constants } from 'node:crypto';

export const b64url = (data) => Buffer.from(data).toString('base64url');
export const fromB64url = (text) => Buffer.from(text, 'base64url');

// The node:crypto arguments for each JWS alg the tests use.
const ALGS = {
  RS256: { hash: 'sha256', key: (k) => k },
  PS256: { hash: 'sha256', key: (k) => ({ key: k, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }) },
  ES256: { hash: 'sha256', key: (k) => ({ key: k, dsaEncoding: 'ieee-p1363' }) },
  EdDSA: { hash: null, key: (k) => k },
  Ed25519: { hash: null, key: (k) => k },
};

export const SUPPORTED_ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA'];

// A fresh signing key for `alg`: { privateKey (KeyObject), jwk (private, with kid/alg/use), publicJwk }.
export function generateSigningKey(alg, kid = `${alg.toLowerCase()}-${randomBytes(6).toString('hex')}`) {
  const { privateKey, publicKey } = {
    RS256: () => generateKeyPairSync('rsa', { modulusLength: 2048 }),
    PS256: () => generateKeyPairSync('rsa', { modulusLength: 2048 }),
    ES256: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    EdDSA: () => generateKeyPairSync('ed25519'),
  }[alg]?.() ?? (() => { throw new Error(`unsupported alg ${alg}`); })();
  const meta = { kid, alg, use: 'sig' };
  return {
    kid,
    alg,
    privateKey,
    publicKey,
    jwk: { ...privateKey.export({ format: 'jwk' }), ...meta },
    publicJwk: { ...publicKey.export({ format: 'jwk' }), ...meta },
  };
}

export function signingInput(header, payload) {
  return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
}

export function signJws(header, payload, privateKey) {
  const input = signingInput(header, payload);
  const spec = ALGS[header.alg];
  if (!spec) throw new Error(`cannot sign ${header.alg}`);
  return `${input}.${b64url(sign(spec.hash, Buffer.from(input), spec.key(privateKey)))}`;
}

export function signHs256(header, payload, secret) {
  const input = signingInput({ ...header, alg: 'HS256' }, payload);
  return `${input}.${b64url(createHmac('sha256', secret).update(input).digest())}`;
}

export function decodeJwt(token) {
  const [h, p, s] = token.split('.');
  return { header: JSON.parse(fromB64url(h)), payload: JSON.parse(fromB64url(p)), signature: s ?? '' };
}

// Verifies the signature against a JWKS ({ keys: [...] }) by kid; returns the decoded token or throws.
export function verifyJws(token, jwks) {
  const { header, payload } = decodeJwt(token);
  const spec = ALGS[header.alg];
  if (!spec) throw new Error(`alg ${header.alg} not accepted`);
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  if (!jwk) throw new Error(`no key with kid ${header.kid}`);
  const [h, p, s] = token.split('.');
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  if (!verify(spec.hash, Buffer.from(`${h}.${p}`), spec.key(key), fromB64url(s))) throw new Error('bad signature');
  return { header, payload };
}
