// Runs after the e2e suites: across every HA double they started (tests/.tmp/failed-logins.jsonl,
// written by e2e/lib/double.mjs), HA recorded no failed login under Gatehouse's own address. Gatehouse
// connects to HA from 127.0.0.1 and every test client from 127.0.0.2 or above, so a failed login under
// 127.0.0.1 would be one Gatehouse caused in its own name (contract §1.12: bans would hit everyone).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { failedLoginsFile } from './e2e/lib/double.mjs';

const GATEHOUSE_ADDRESS = '127.0.0.1';

test('no HA double recorded a failed login under Gatehouse\'s address, across the whole suite', () => {
  assert.ok(existsSync(failedLoginsFile), `${failedLoginsFile} is missing: run the e2e suites first`);
  const records = readFileSync(failedLoginsFile, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
  const doubles = records.filter((record) => record.closed);
  assert.ok(doubles.length >= 5, `only ${doubles.length} HA doubles reported: did the e2e suites run?`);
  const failedLogins = records.filter((record) => !record.closed);
  assert.ok(failedLogins.length > 0, 'the suites provoke failed logins on purpose; none were recorded, so the record is broken');
  // Only a test that provokes it on purpose, and says why, may have one: a wrong admin token is
  // Gatehouse's own login (tried once, never again).
  const own = failedLogins.filter((record) => record.ip === GATEHOUSE_ADDRESS && !record.expected);
  assert.deepEqual(own, [], 'failed logins HA recorded under Gatehouse\'s own address');
  const expected = failedLogins.filter((record) => record.ip === GATEHOUSE_ADDRESS && record.expected);
  assert.ok(expected.length <= 1, `more than one deliberate failed login of Gatehouse's own: ${JSON.stringify(expected)}`);
});
