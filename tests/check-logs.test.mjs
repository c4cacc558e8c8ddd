// Runs after the e2e suites: every secret those tests sent through Gatehouse (recorded in
// tests/.tmp/secrets.jsonl) must be absent from every Gatehouse log they captured (tests/.tmp/logs/).
// No logs or no recorded secrets means the earlier step did not run, which must not pass for "clean".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { logsDir } from './e2e/lib/paths.mjs';
import { recordedSecrets, secretsFile } from './e2e/lib/secrets.mjs';

// The forms in which a secret could plausibly end up in a log line besides its raw value.
function spellings(value) {
  return [...new Set([value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1), Buffer.from(value).toString('base64')])];
}

test('no recorded secret appears in any Gatehouse log', () => {
  const logFiles = existsSync(logsDir) ? readdirSync(logsDir).filter((name) => name.endsWith('.log')) : [];
  assert.ok(logFiles.length > 0, `no log files in ${logsDir}: run the e2e suites first`);
  const secrets = recordedSecrets();
  assert.ok(secrets.length > 0, `no secrets recorded in ${secretsFile}: run the e2e suites first`);

  const leaks = [];
  for (const name of logFiles) {
    const lines = readFileSync(join(logsDir, name), 'utf8').split('\n');
    for (const { label, value } of secrets) {
      const forms = spellings(value);
      lines.forEach((line, index) => {
        if (forms.some((form) => line.includes(form))) leaks.push(`${name}:${index + 1} contains the ${label}`);
      });
    }
  }
  assert.deepEqual(leaks, [], `secrets found in Gatehouse logs:\n${leaks.join('\n')}`);
});
