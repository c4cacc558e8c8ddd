// Runs after the e2e suites: no Gatehouse process they started printed an AddressSanitizer,
// LeakSanitizer or UndefinedBehaviorSanitizer report (tests/.tmp/logs/, where the harness keeps every
// line each process wrote). Only a sanitizer build (scripts/test.sh --sanitize) prints them, but the scan
// runs in both: a report in a process that a test stopped without looking at its exit (every `serve` ends
// that way) would otherwise fail nothing, and a leak is only reported at exit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { logsDir } from './e2e/lib/paths.mjs';

// The first line of each kind of report: "==123==ERROR: AddressSanitizer: heap-buffer-overflow ...",
// "==123==ERROR: LeakSanitizer: detected memory leaks", "src/x.cpp:12:5: runtime error: signed integer overflow ...".
const REPORT = /==\d+==ERROR: (AddressSanitizer|LeakSanitizer)|^\S+:\d+(:\d+)?: runtime error: |SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer/;

test('no sanitizer report in any Gatehouse log', () => {
  const logFiles = existsSync(logsDir) ? readdirSync(logsDir).filter((name) => name.endsWith('.log')) : [];
  assert.ok(logFiles.length > 0, `no log files in ${logsDir}: run the e2e suites first`);

  const reports = [];
  for (const name of logFiles) {
    const lines = readFileSync(join(logsDir, name), 'utf8').split('\n');
    const first = lines.findIndex((line) => REPORT.test(line));
    if (first >= 0) reports.push(`${name}:${first + 1}:\n${lines.slice(first, first + 12).join('\n')}`);
  }
  assert.deepEqual(reports, [], `sanitizer reports in Gatehouse logs:\n\n${reports.join('\n\n')}`);
});
