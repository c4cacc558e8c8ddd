// Throwaway TLS material for the test IdPs: a CA and a server certificate for IP 127.0.0.1 and DNS
// localhost, made with the openssl CLI (the same library the gateway links, so what it accepts here
// it accepts in real life). The CA's PEM is what the gateway is told to trust.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

// P-256 keys: generated in milliseconds, unlike RSA.
const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

// Returns the PEM texts, their files, and cleanup() (removes the directory only if made here).
// `subjectAltName`: the names the server certificate is valid for, in openssl's syntax.
export async function makeTlsMaterial(dir, { subjectAltName = 'IP:127.0.0.1,DNS:localhost' } = {}) {
  const created = !dir;
  dir ??= await mkdtemp(join(tmpdir(), 'gatehouse-idp-tls-'));
  const file = (name) => join(dir, name);

  await run('openssl', ['req', '-x509', ...KEY_ARGS, '-keyout', file('ca.key'), '-out', file('ca.pem'),
    '-days', '2', '-subj', '/CN=Gatehouse throwaway test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await run('openssl', ['req', ...KEY_ARGS, '-keyout', file('server.key'), '-out', file('server.csr'),
    '-subj', '/CN=localhost']);
  await writeFile(file('server.ext'), [
    `subjectAltName=${subjectAltName}`,
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth',
    '',
  ].join('\n'));
  await run('openssl', ['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'),
    '-CAcreateserial', '-days', '2', '-sha256', '-extfile', file('server.ext'), '-out', file('server.pem')]);

  const [ca, cert, key] = await Promise.all(['ca.pem', 'server.pem', 'server.key'].map((n) => readFile(file(n), 'utf8')));
  const cleanup = () => (created ? rm(dir, { recursive: true, force: true }) : Promise.resolve());
  return { dir, caFile: file('ca.pem'), certFile: file('server.pem'), keyFile: file('server.key'), ca, cert, key, cleanup };
}
