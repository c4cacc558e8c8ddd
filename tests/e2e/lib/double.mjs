// The HA test double as the e2e suites use it: the real one (../../ha-double), plus a record of every
// failed login it saw, appended to tests/.tmp/failed-logins.jsonl when it closes, so that
// check-failed-logins.test.mjs can check the whole suite: HA must never record a failed login under
// Gatehouse's own address (contract §1.12 — that address would collect bans for everyone).
import { appendFileSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { startDouble as startRealDouble } from '../../ha-double/double.mjs';
import { tmpRoot } from './paths.mjs';

export const failedLoginsFile = join(tmpRoot, 'failed-logins.jsonl');

/**
 * `ownFailedLoginsExpected`: why this test makes Gatehouse itself fail a login at HA on purpose (an
 * operator's wrong admin token: one attempt, never retried); its records are then marked, not hidden.
 */
export async function startDouble(options, { ownFailedLoginsExpected } = {}) {
  const double = await startRealDouble(options);
  const close = double.close.bind(double);
  const testFile = basename(process.argv[1] ?? 'unknown');
  double.close = async () => {
    mkdirSync(tmpRoot, { recursive: true });
    const lines = double.failedLogins.map((entry) => JSON.stringify({
      testFile, ip: entry.ip, path: entry.path, reason: entry.reason, expected: ownFailedLoginsExpected ?? null,
    }));
    appendFileSync(failedLoginsFile, `${JSON.stringify({ testFile, closed: true, count: lines.length })}\n${lines.map((line) => `${line}\n`).join('')}`);
    return close();
  };
  return double;
}
