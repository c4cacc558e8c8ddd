// The e2e harness: runs the real Gatehouse binary the way a user does (a YAML file, `gatehouse serve -c`),
// waits for its "listening" log line instead of guessing when it is ready, keeps every log line it prints
// (in memory for assertions, and appended to tests/.tmp/logs/<test-file>-<n>.log for the secret scan),
// and makes sure no Gatehouse process outlives the test process.
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import net from 'node:net';
import readline from 'node:readline';
import { EventEmitter } from 'node:events';
import { gatehouseBinary, logsDir, tmpRoot } from './paths.mjs';
import { startUpstream, TestUpstream } from './upstream.mjs';

export { gatehouseBinary, repoRoot, tmpRoot } from './paths.mjs';

// node:test waits forever by default; with this option a hung test fails with its name instead.
export const TEST_GUARD = { timeout: 60_000 };

const STARTUP_GUARD_MS = 20_000;
const EXIT_GUARD_MS = 20_000;
const LOG_WAIT_GUARD_MS = 15_000;

const runningProcesses = new Set();
process.on('exit', () => {
  for (const child of runningProcesses) child.kill('SIGKILL');
});

let logFileCounter = 0;

function nextLogFile() {
  mkdirSync(logsDir, { recursive: true });
  const testFile = basename(process.argv[1] ?? 'unknown').replace(/(\.test)?\.m?js$/, '');
  logFileCounter += 1;
  return join(logsDir, `${testFile}-${logFileCounter}.log`);
}

/** A fresh scratch directory under tests/.tmp for one Gatehouse instance (config, data_dir, certs). */
export function freshDirectory(prefix = 'gatehouse-') {
  mkdirSync(tmpRoot, { recursive: true });
  return mkdtempSync(join(tmpRoot, prefix));
}

/** The configuration every test starts from; `upstreamUrl` is where "Home Assistant" listens. */
export function baseConfig(directory, upstreamUrl) {
  return {
    listen: '127.0.0.1:0',
    external_url: 'http://127.0.0.1:8123',
    data_dir: join(directory, 'data'),
    trusted_proxies: [],
    workers: 2,
    home_assistant: { url: upstreamUrl },
    limits: { max_header_bytes: '64KiB', max_body_bytes: '1GiB', max_connections: 4096, max_websocket_message_bytes: '4MiB' },
    timeouts: { header_read: '10s', idle_keepalive: '75s', upstream_connect: '5s', upstream_response: '300s', shutdown_grace: '10s' },
    logging: { level: 'info' },
  };
}

function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** `base` with `overrides` merged in depth; an override of null removes the key. */
export function mergeConfig(base, overrides) {
  const result = { ...base };
  for (const [key, value] of Object.entries(overrides ?? {})) {
    if (value === null) delete result[key];
    else if (isPlainObject(value) && isPlainObject(result[key])) result[key] = mergeConfig(result[key], value);
    else result[key] = value;
  }
  return result;
}

function yamlScalar(value) {
  if (typeof value === 'string') return JSON.stringify(value); // a YAML double-quoted scalar
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new Error(`cannot write ${JSON.stringify(value)} as a YAML scalar`);
}

/** Block-style YAML for a config object (maps nest, lists of scalars are written inline). */
export function toYaml(value, indent = '') {
  const lines = [];
  for (const [key, item] of Object.entries(value)) {
    if (isPlainObject(item)) {
      if (Object.keys(item).length === 0) lines.push(`${indent}${key}: {}`);
      else lines.push(`${indent}${key}:`, toYaml(item, `${indent}  `));
    } else if (Array.isArray(item)) {
      lines.push(`${indent}${key}: [${item.map(yamlScalar).join(', ')}]`);
    } else {
      lines.push(`${indent}${key}: ${yamlScalar(item)}`);
    }
  }
  return lines.join('\n');
}

// Lines of a child's output: parsed JSON where they are JSON, kept raw otherwise, appended to the log file.
class LogCollector extends EventEmitter {
  entries = [];
  text = '';
  constructor(logFile) {
    super();
    this.setMaxListeners(0);
    this.logFile = logFile;
  }
  add(stream, line) {
    appendFileSync(this.logFile, `${line}\n`);
    this.text += `${line}\n`;
    let entry;
    try {
      entry = JSON.parse(line);
    } catch {
      entry = { raw: line };
    }
    if (entry === null || typeof entry !== 'object') entry = { raw: line };
    entry.stream ??= stream;
    this.entries.push(entry);
    this.emit('entry', entry);
  }
  follow(stream, name) {
    readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => this.add(name, line));
  }
}

function watchExit(child) {
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      runningProcesses.delete(child);
      resolve({ code, signal });
    });
  });
}

/**
 * Starts `gatehouse serve` with the base config plus `config` overrides (or a literal `configText`).
 * Resolves once it logs "listening"; rejects, quoting its output, if it exits first or stays silent for
 * 20 s. `upstream` (a test upstream or a URL) becomes home_assistant.url. `openFilesSoftLimit` starts it
 * with that soft RLIMIT_NOFILE.
 */
export async function startGatehouse({ config = {}, configText, env = {}, upstream, directory, openFilesSoftLimit } = {}) {
  const workDirectory = directory ?? freshDirectory();
  const upstreamUrl = typeof upstream === 'string' ? upstream : upstream?.url ?? 'http://127.0.0.1:9';
  // The generic test upstream is not Home Assistant (it cannot tell a valid HA token), so in front of
  // it the relay is tested with the shield in report mode; the shield itself is tested in front of
  // the HA double (shield-*.test.mjs), in its default enforce mode.
  const relayOnly = upstream instanceof TestUpstream ? { shield: { mode: 'report' } } : {};
  const effectiveConfig = mergeConfig(mergeConfig(baseConfig(workDirectory, upstreamUrl), relayOnly), config);
  mkdirSync(effectiveConfig.data_dir ?? join(workDirectory, 'data'), { recursive: true });
  const configPath = join(workDirectory, 'gatehouse.yaml');
  writeFileSync(configPath, configText ?? `${toYaml(effectiveConfig)}\n`);

  const logFile = nextLogFile();
  const logs = new LogCollector(logFile);
  // `openFilesSoftLimit`: started with that soft RLIMIT_NOFILE (the shell lowers it, then execs Gatehouse).
  const command = openFilesSoftLimit === undefined
    ? [gatehouseBinary, ['serve', '-c', configPath]]
    : ['/bin/sh', ['-c', `ulimit -S -n ${Number(openFilesSoftLimit)} && exec "$0" "$@"`, gatehouseBinary, 'serve', '-c', configPath]];
  const child = spawn(command[0], command[1], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  runningProcesses.add(child);
  const spawnFailed = new Promise((resolve) => child.on('error', resolve));
  logs.follow(child.stderr, 'stderr');
  logs.follow(child.stdout, 'stdout');
  const exited = watchExit(child);

  const waitForLog = (matches, { timeoutMs = LOG_WAIT_GUARD_MS, description = 'a matching log line' } = {}) => {
    const found = logs.entries.find(matches);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const guard = setTimeout(() => {
        logs.off('entry', listener);
        reject(new Error(`no ${description} within ${timeoutMs} ms; gatehouse output so far:\n${logs.text}`));
      }, timeoutMs);
      const listener = (entry) => {
        if (!matches(entry)) return;
        clearTimeout(guard);
        logs.off('entry', listener);
        resolve(entry);
      };
      logs.on('entry', listener);
    });
  };

  const stop = async (signal = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    let guard;
    const forced = new Promise((resolve) => {
      guard = setTimeout(() => { child.kill('SIGKILL'); resolve(true); }, EXIT_GUARD_MS);
    });
    const result = await Promise.race([exited.then((exit) => ({ ...exit, forced: false })),
      forced.then(() => exited.then((exit) => ({ ...exit, forced: true })))]);
    clearTimeout(guard);
    return result;
  };

  try {
    const listening = await waitForListening(logs, exited, spawnFailed);
    const host = ['0.0.0.0', '::', undefined].includes(listening.address) ? '127.0.0.1' : listening.address;
    const scheme = listening.tls ? 'https' : 'http';
    const hostInUrl = host.includes(':') ? `[${host}]` : host;
    return {
      url: `${scheme}://${hostInUrl}:${listening.port}`,
      wsUrl: `${listening.tls ? 'wss' : 'ws'}://${hostInUrl}:${listening.port}`,
      host,
      port: listening.port,
      proc: child,
      pid: child.pid,
      directory: workDirectory,
      configPath,
      config: effectiveConfig,
      logFile,
      exited,
      logs: () => logs.entries,
      logText: () => logs.text,
      waitForLog,
      stop,
    };
  } catch (error) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw error;
  }
}

/**
 * A test upstream plus a Gatehouse in front of it, both stopped when test context `t` ends (Gatehouse
 * first, so teardown never looks like "HA went away" to it).
 */
export async function startStack(t, { config = {}, env } = {}) {
  const upstream = await startUpstream();
  let gatehouse;
  t.after(async () => {
    await gatehouse?.stop();
    await upstream.stop();
  });
  gatehouse = await startGatehouse({ upstream, config, env });
  return { upstream, gatehouse };
}

// The "listening" line, or the reason it will never come (the process exited, could not be spawned, or
// stayed silent past the guard).
function waitForListening(logs, exited, spawnFailed) {
  return new Promise((resolve, reject) => {
    const finish = (settle, value) => {
      clearTimeout(guard);
      logs.off('entry', onEntry);
      settle(value);
    };
    const onEntry = (entry) => { if (entry.msg === 'listening') finish(resolve, entry); };
    const guard = setTimeout(() => finish(reject, new Error(
      `gatehouse did not log "listening" within ${STARTUP_GUARD_MS} ms; output:\n${logs.text}`)), STARTUP_GUARD_MS);
    logs.on('entry', onEntry);
    const already = logs.entries.find((entry) => entry.msg === 'listening');
    if (already) finish(resolve, already);
    // The exit status can arrive before the last lines of output; give readline the rest of this turn.
    exited.then(({ code, signal }) => setImmediate(() => finish(reject, new Error(
      `gatehouse exited (code ${code}, signal ${signal}) before listening; output:\n${logs.text}`))));
    spawnFailed.then((error) => finish(reject, new Error(`cannot run ${gatehouseBinary}: ${error.message}`)));
  });
}

/**
 * Runs a one-shot gatehouse command (`--version`, `check-config`, a `serve` expected to fail). Its output
 * goes to the log files the secret scan reads, except stdout with `stdoutIsConsole` (a command whose
 * purpose is to show the operator a secret, like `gatehouse breakglass`'s URL).
 */
export async function runGatehouse(args, { env = {}, timeoutMs = EXIT_GUARD_MS, stdoutIsConsole = false } = {}) {
  const logFile = nextLogFile();
  const logs = new LogCollector(logFile);
  const child = spawn(gatehouseBinary, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  runningProcesses.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => { stdout += chunk; });
  child.stderr.setEncoding('utf8').on('data', (chunk) => { stderr += chunk; });
  const outputDone = Promise.all([new Promise((r) => child.stdout.on('end', r)), new Promise((r) => child.stderr.on('end', r))]);
  let guard;
  const exit = await Promise.race([
    Promise.all([watchExit(child), outputDone]).then(([result]) => result),
    new Promise((resolve, reject) => child.on('error', reject)),
    new Promise((_, reject) => {
      guard = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`gatehouse ${args.join(' ')} did not exit within ${timeoutMs} ms; stderr:\n${stderr}`));
      }, timeoutMs);
    }),
  ]).finally(() => clearTimeout(guard));
  if (!stdoutIsConsole) for (const line of stdout.split('\n').filter(Boolean)) logs.add('stdout', line);
  for (const line of stderr.split('\n').filter(Boolean)) logs.add('stderr', line);
  return { ...exit, stdout, stderr };
}

/** Resident memory of a process in bytes, from /proc/<pid>/status (VmRSS). */
export function residentBytes(pid) {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}

// A sanitizer build (scripts/test.sh --sanitize sets GATEHOUSE_SANITIZED=1) starts near 240 MiB of RSS
// (ASan's shadow memory and allocator), so there memory bounds apply to the growth during the test.
export const sanitizedBuild = process.env.GATEHOUSE_SANITIZED === '1';

/** Keeps the highest RSS seen over the samples a test takes while something streams. */
export class PeakRss {
  constructor(pid) {
    this.pid = pid;
    this.samples = 0;
    this.peakBytes = residentBytes(pid);
    this.startBytes = this.peakBytes;
  }
  /** What a memory bound is checked against: the peak, or in a sanitizer build its growth over the start. */
  get boundedBytes() { return sanitizedBuild ? this.peakBytes - this.startBytes : this.peakBytes; }
  sample() {
    this.samples += 1;
    this.peakBytes = Math.max(this.peakBytes, residentBytes(this.pid));
    return this.peakBytes;
  }
  get peakMiB() { return Math.round((this.peakBytes / 1048576) * 10) / 10; }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
// Chosen below the kernel's ephemeral range: a port the kernel hands out (listen(0), or the local end of
// an outgoing connection) would be free now and taken by another test's server or client a moment
// later, before the program the port is for binds it ("Address already in use").
function ephemeralRangeStart() {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return 0;
  }
}

function bindable(port) {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', (error) => (error.code === 'EADDRINUSE' || error.code === 'EACCES' ? resolve(null) : reject(error)));
    server.listen(port, '127.0.0.1', () => {
      const bound = server.address().port;
      server.close(() => resolve(bound));
    });
  });
}

export async function freePort() {
  const start = ephemeralRangeStart();
  if (start > 12_000) {
    for (let attempt = 0; attempt < 50; attempt += 1) {
      const port = await bindable(start - 10_000 + Math.floor(Math.random() * 10_000));
      if (port) return port;
    }
  }
  return bindable(0);
}

/** Resolves when a TCP connection to port succeeds, rejects with the connect error (e.g. ECONNREFUSED). */
export function tryConnect(port, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host });
    socket.once('connect', () => { socket.destroy(); resolve(); });
    socket.once('error', reject);
  });
}

/**
 * Repeats `attempt` until it returns a truthy value, `intervalMs` apart, for at most `timeoutMs`; returns
 * that value or the last one. Only for states no event announces, such as a cached answer going stale.
 */
export async function pollUntil(attempt, { timeoutMs = 5000, intervalMs = 100 } = {}) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const result = await attempt();
    if (result.done || performance.now() >= deadline) return result.value;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
