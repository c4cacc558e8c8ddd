// One-off generator of the jose fuzz fixtures: fresh RSA (2048), EC P-256 and Ed25519 keys, whose public
// JWKS and a few tokens they signed go into fuzz/jose_fixture.inc (compiled into fuzz_jws and
// fuzz_jwks), and the seed corpora fuzz/corpus/jws/ and fuzz/corpus/jwks/ (valid and edge-case inputs).
// The private keys are thrown away. Rerun to regenerate everything: node fuzz/make_jose_corpus.mjs
import { constants, generateKeyPairSync, sign } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const b64url = (bytes) => Buffer.from(bytes).toString('base64url');
const json64 = (value) => b64url(JSON.stringify(value));

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = generateKeyPairSync('ed25519');
const rsaSmall = generateKeyPairSync('rsa', { modulusLength: 1024 });

const jwk = (pair, extra) => ({ ...pair.publicKey.export({ format: 'jwk' }), ...extra });
const rsaJwk = jwk(rsa, { kid: 'rsa-1', use: 'sig' });
const ecJwk = jwk(ec, { kid: 'ec-1', use: 'sig', alg: 'ES256' });
const edJwk = jwk(ed, { kid: 'ed-1' });
const jwks = { keys: [rsaJwk, ecJwk, edJwk] };

// Signature over "header.payload" with alg, as RFC 7518 encodes it.
function signature(alg, input, pair) {
  const data = Buffer.from(input);
  const hash = `sha${alg.slice(2)}`;
  if (alg.startsWith('RS')) return sign(hash, data, pair.privateKey);
  if (alg.startsWith('PS')) {
    return sign(hash, data, { key: pair.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
  }
  if (alg.startsWith('ES')) return sign(hash, data, { key: pair.privateKey, dsaEncoding: 'ieee-p1363' });
  if (alg === 'EdDSA') return sign(null, data, pair.privateKey);
  throw new Error(`no signer for ${alg}`);
}

const claims = { iss: 'https://idp.example', sub: 'alice', aud: 'gatehouse', exp: 4102444800, iat: 1700000000, nonce: 'n-0S6_WzA2Mj' };
function token(header, pair, payload = claims) {
  const input = `${json64(header)}.${json64(payload)}`;
  return `${input}.${b64url(signature(header.alg, input, pair))}`;
}

// Tokens that verify against the JWKS: compiled in, so fuzz_jwks can verify them with fuzzed key sets.
const valid = {
  rs256: token({ alg: 'RS256', kid: 'rsa-1', typ: 'JWT' }, rsa),
  rs512: token({ alg: 'RS512', kid: 'rsa-1' }, rsa),
  ps256: token({ alg: 'PS256', kid: 'rsa-1' }, rsa),
  ps384: token({ alg: 'PS384', kid: 'rsa-1' }, rsa),
  es256: token({ alg: 'ES256', kid: 'ec-1' }, ec),
  eddsa: token({ alg: 'EdDSA', kid: 'ed-1' }, ed),
  es256_no_kid: token({ alg: 'ES256' }, ec),
  eddsa_no_kid: token({ alg: 'EdDSA' }, ed),
};

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const [h, p, s] = valid.rs256.split('.');
const flip = (text) => text.slice(0, -2) + (text.at(-2) === 'A' ? 'B' : 'A') + text.at(-1);
const edgeCases = {
  bad_signature_rs256: `${h}.${p}.${flip(s)}`,
  bad_signature_es256: (() => { const [a, b, c] = valid.es256.split('.'); return `${a}.${b}.${flip(c)}`; })(),
  short_signature_rs256: `${h}.${p}.${s.slice(0, -8)}`,
  tampered_payload: `${h}.${json64({ ...claims, sub: 'mallory' })}.${s}`,
  alg_none: `${json64({ alg: 'none' })}.${p}.`,
  alg_hs256: `${json64({ alg: 'HS256', kid: 'rsa-1' })}.${p}.${b64url('not-a-mac-but-thirty-two-bytes!!')}`,
  alg_unknown: `${json64({ alg: 'RS1', kid: 'rsa-1' })}.${p}.${s}`,
  crit: token({ alg: 'RS256', kid: 'rsa-1', crit: ['exp'] }, rsa),
  kid_unknown: token({ alg: 'RS256', kid: 'rsa-2' }, rsa),
  kid_not_string: token({ alg: 'RS256', kid: 7 }, rsa),
  kid_of_other_type: token({ alg: 'ES256', kid: 'rsa-1' }, ec),
  rs256_no_kid: token({ alg: 'RS256' }, rsa),
  padded: `${h}.${p}.${s}==`,
  four_segments: `${valid.rs256}.${s}`,
  two_segments: `${h}.${p}`,
  empty_segments: '..',
  header_not_object: `${b64url('[1,2]')}.${p}.${s}`,
  header_not_json: `${b64url('{"alg":"RS256"')}.${p}.${s}`,
  payload_not_object: token({ alg: 'EdDSA', kid: 'ed-1' }, ed, 'just a string'),
  duplicate_alg: `${b64url('{"alg":"none","alg":"EdDSA","kid":"ed-1"}')}.${valid.eddsa.split('.')[1]}.${valid.eddsa.split('.')[2]}`,
  // A 256-byte signature's last base64url character carries 2 bits; setting one of its 4 unused bits
  // gives the same bytes in a non-canonical spelling.
  non_canonical_base64: `${h}.${p}.${s.slice(0, -1)}${alphabet[alphabet.indexOf(s.at(-1)) | 1]}`,
};

mkdirSync(join(here, 'corpus/jws'), { recursive: true });
mkdirSync(join(here, 'corpus/jwks'), { recursive: true });
for (const dir of ['corpus/jws', 'corpus/jwks']) {
  for (const name of readdirSync(join(here, dir))) rmSync(join(here, dir, name));
}
for (const [name, value] of Object.entries({ ...valid, ...edgeCases })) writeFileSync(join(here, 'corpus/jws', name), value);

const rsaSmallJwk = jwk(rsaSmall, { kid: 'small' });
const documents = {
  jwks: jwks,
  rsa_only: { keys: [rsaJwk] },
  ec_only: { keys: [ecJwk] },
  ed_only: { keys: [edJwk] },
  no_kids: { keys: [{ ...ecJwk, kid: undefined }, { ...edJwk, kid: undefined }] },
  same_kid_twice: { keys: [rsaJwk, { ...ecJwk, kid: 'rsa-1' }] },
  empty: { keys: [] },
  rsa_1024: { keys: [rsaSmallJwk] },
  rsa_e_even: { keys: [{ ...rsaJwk, e: 'AQAA' }] },
  ec_off_curve: { keys: [{ ...ecJwk, y: ecJwk.x }] },
  ec_wrong_crv: { keys: [{ ...ecJwk, crv: 'P-384' }] },
  ec_alg_mismatch: { keys: [{ ...ecJwk, alg: 'ES384' }] },
  okp_ed448_short: { keys: [{ kty: 'OKP', crv: 'Ed448', x: edJwk.x }] },
  okp_x25519: { keys: [{ kty: 'OKP', crv: 'X25519', x: edJwk.x }] },
  private_member: { keys: [{ ...edJwk, d: edJwk.x }] },
  use_enc: { keys: [{ ...rsaJwk, use: 'enc' }] },
  key_ops_sign_only: { keys: [{ ...rsaJwk, key_ops: ['sign'] }] },
  key_ops_verify: { keys: [{ ...edJwk, key_ops: ['verify'] }] },
  oct_key: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] },
  members_not_strings: { keys: [{ kty: 'RSA', n: 1, e: true, kid: 2 }] },
  padded_member: { keys: [{ ...edJwk, x: `${edJwk.x}=` }] },
  keys_not_array: { keys: { kty: 'RSA' } },
  not_an_object: [rsaJwk],
};
for (const [name, value] of Object.entries(documents)) writeFileSync(join(here, 'corpus/jwks', `${name}.json`), JSON.stringify(value));
writeFileSync(join(here, 'corpus/jwks', 'not_json.json'), '{"keys":[');

// The fixture for the C++ targets: raw string literals (the texts hold no ")json").
const literal = (text) => `R"json(${text})json"`;
writeFileSync(join(here, 'jose_fixture.inc'), `// Generated by fuzz/make_jose_corpus.mjs; do not edit. A JWKS (RSA 2048, EC P-256, Ed25519, public
// halves only) and tokens its keys signed.
inline constexpr std::string_view kFixtureJwks = ${literal(JSON.stringify(jwks))};
inline constexpr std::string_view kFixtureTokens[] = {
${Object.values(valid).map((t) => `    ${literal(t)},`).join('\n')}
};
`);
console.log(`wrote fuzz/jose_fixture.inc, ${Object.keys({ ...valid, ...edgeCases }).length} JWS and ${Object.keys(documents).length + 1} JWKS seeds`);
