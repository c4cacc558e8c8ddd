// CLI wrapper around startDouble for demos and benchmarks:
//   node tests/ha-double/server.mjs [--port N] [--host 127.0.0.1] [--options-json '{...}']
// Prints one line {"event":"listening","port":N} when ready; exits cleanly on SIGTERM/SIGINT.

import { parseArgs } from 'node:util';
import { startDouble } from './double.mjs';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'options-json': { type: 'string', default: '{}' },
  },
});

let options;
try {
  options = JSON.parse(values['options-json']);
} catch (error) {
  process.stderr.write(`--options-json is not valid JSON: ${error.message}\n`);
  process.exit(2);
}

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`--port must be an integer between 0 and 65535, got ${values.port}\n`);
  process.exit(2);
}

let double;
try {
  double = await startDouble({ ...options, port, host: values.host, logger: (error) => process.stderr.write(`${error.stack ?? error}\n`) });
} catch (error) {
  process.stderr.write(`cannot start the HA double: ${error.message}\n`);
  process.exit(1);
}
process.stdout.write(`${JSON.stringify({ event: 'listening', port: double.port })}\n`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await double.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
