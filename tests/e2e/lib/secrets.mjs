// Registry of every secret value the e2e tests send through Gatehouse (bearer tokens, cookies, passwords,
// query-string codes). Each is appended to tests/.tmp/secrets.jsonl so that tests/check-logs.test.mjs can
// run afterwards, in another process, and prove none of them ever reached a Gatehouse log.
import { appendFileSync, mkdirSync, readFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { tmpRoot } from './paths.mjs';

export const secretsFile = join(tmpRoot, 'secrets.jsonl');

/** Records `value` (used by a test as `label`) as something no log may contain. Returns the value. */
export function recordSecret(value, label) {
  mkdirSync(tmpRoot, { recursive: true });
  appendFileSync(secretsFile, `${JSON.stringify({ label, value, recordedBy: process.argv[1] ?? '' })}\n`);
  return value;
}

/** A fresh random secret, recorded under `label`; long and random enough never to appear by chance. */
export function newSecret(label) {
  return recordSecret(`${label.replace(/[^a-z0-9]/gi, '')}-${randomBytes(18).toString('base64url')}`, label);
}

/** Every secret recorded so far, by any test process. */
export function recordedSecrets() {
  if (!existsSync(secretsFile)) return [];
  return readFileSync(secretsFile, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
}
