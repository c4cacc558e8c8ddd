// Where the e2e harness finds the repository, the Gatehouse binary and its scratch space. Everything is
// resolved from this file's location, so tests run the same from any working directory.
import { dirname, join, resolve, isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const testsRoot = join(repoRoot, 'tests');
export const tmpRoot = join(testsRoot, '.tmp');
export const logsDir = join(tmpRoot, 'logs');

// GATEHOUSE_BIN picks the binary under test; a relative path is taken from the repository root.
const configuredBinary = process.env.GATEHOUSE_BIN || 'build/gatehouse';
export const gatehouseBinary = isAbsolute(configuredBinary) ? configuredBinary : join(repoRoot, configuredBinary);
