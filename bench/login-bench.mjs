// bench/login-bench.mjs — the measuring half of bench/login.sh: whole OIDC logins over HTTP, driven the same
// way for every peer (tests/idp/drive-login.mjs: manual redirects, a fresh cookie jar per login, the test
// IdP's sign-in form POSTed), with the peer's callback request timed on its own and the CPU time of every
// process involved read from /proc before and after. login.sh starts the processes and writes the plan;
// this script measures, prints the table and writes results.json / results.md / raw/ to --out.
//
//   node bench/login-bench.mjs --plan PLAN.json --out DIR
//   node bench/login-bench.mjs --report DIR        # re-render the table from DIR/raw/
//
// Plan (JSON): {
//   peers: [{ name: 'gatehouse' | 'apache', base: 'http://127.0.0.1:PORT', pid }],
//   helpers: [{ name: 'idp' | 'ha', pid }],          // CPU per login reported for these too
//   users: ['alice', ...],                           // IdP usernames, used round-robin
//   count, warmup, concurrency: [1, 8], rounds, meta: {...}
// }
// A Gatehouse login: GET /auth/authorize (HA frontend's client_id/redirect_uri, a unique state) -> IdP ->
// sign-in form -> IdP -> [GET /sso/callback, timed alone] -> 302 to <base>/?auth_callback=1&code=..&state=S&storeToken=true
// (not followed: that is HA's frontend). Success = that redirect with code, our state and storeToken=true.
// An Apache login: GET /protected/index.html -> IdP -> sign-in form -> IdP -> [GET /protected/redirect_uri?code=.., timed
// alone] -> 302 to /protected/index.html -> 200 with the protected file. Success = that 200 with its marker.

import { readFileSync, writeFileSync, mkdirSync, readdirSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const HERE = dirname(fileURLToPath(import.meta.url));
const { driveLogin, send, CookieJar } = await import(join(HERE, '..', 'tests', 'idp', 'drive-login.mjs'));

export const PROTECTED_MARKER = 'gatehouse-login-bench protected page';
const CLK_TCK = 100; // Linux USER_HZ; login.sh passes getconf CLK_TCK in the plan when it differs

// ---- /proc accounting ---------------------------------------------------------------------------------

function readStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' '); // f[0] = field 3 (state)
    return { ppid: Number(f[1]), utime: Number(f[11]), stime: Number(f[12]), cutime: Number(f[13]), cstime: Number(f[14]) };
  } catch {
    return null;
  }
}

function childrenOf(pid) {
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(name);
    if (st && st.ppid === pid) out.push(Number(name));
  }
  return out;
}

// CPU ticks of a process tree: the root's own + its reaped children's (cutime/cstime), plus the live
// children's own. A child that exits between two readings moves from the second term into the first, so
// the difference of two readings stays right (Apache's master reaps its children).
function treeTicks(pid) {
  if (!pid) return 0;
  const root = readStat(pid);
  if (!root) return 0;
  let ticks = root.utime + root.stime + root.cutime + root.cstime;
  for (const child of childrenOf(pid)) {
    const st = readStat(child);
    if (st) ticks += st.utime + st.stime;
  }
  return ticks;
}

function machineTicks() {
  const [, ...v] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const n = v.map(Number);
  const busy = n[0] + n[1] + n[2] + n[5] + n[6] + n[7];
  return { busy, all: busy + n[3] + n[4] };
}

function snapshot(plan) {
  const procs = {};
  for (const p of [...plan.peers, ...plan.helpers]) procs[p.name] = treeTicks(p.pid);
  const self = process.cpuUsage();
  return { procs, self: (self.user + self.system) / 1e6, machine: machineTicks(), t: performance.now() };
}

// ---- one login ----------------------------------------------------------------------------------------

const ms = (a, b) => Math.round((b - a) * 1000) / 1000;

async function loginGatehouse(base, username) {
  const state = `bench-${randomBytes(9).toString('base64url')}`;
  const clientId = `${base}/`;
  const redirectUri = `${base}/?auth_callback=1`;
  const start = `${base}/auth/authorize?${new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: redirectUri, state })}`;
  const callbackPrefix = `${base}/sso/callback?`;
  const jar = new CookieJar();
  const t0 = performance.now();
  const walked = await driveLogin(start, { username, jar, stopWhen: (url, res) => Boolean(res.location?.startsWith(callbackPrefix)) });
  if (!walked.location?.startsWith(callbackPrefix)) throw new Error(`no redirect to /sso/callback: ${describe(walked)}`);
  const c0 = performance.now();
  const cb = await send(walked.location, { jar });
  const c1 = performance.now();
  const location = cb.headers.location ? new URL(cb.headers.location, walked.location).href : '';
  if (cb.status !== 302 || !location.startsWith(`${redirectUri}&`)) {
    throw new Error(`callback answered ${cb.status} ${location || snippet(cb.body)}`);
  }
  const params = new URLSearchParams(location.slice(redirectUri.length + 1));
  if (!params.get('code')) throw new Error(`final redirect without code: ${location}`);
  if (params.get('state') !== state) throw new Error(`final redirect with state ${params.get('state')} instead of ${state}`);
  if (params.get('storeToken') !== 'true') throw new Error(`final redirect without storeToken=true: ${location}`);
  return { total: ms(t0, c1), chain: ms(t0, c1), callback: ms(c0, c1), beforeCallback: ms(t0, c0), after: 0, hops: walked.history.length + 1 };
}

async function loginApache(base, username) {
  const start = `${base}/protected/index.html`;
  const callbackPrefix = `${base}/protected/redirect_uri?`;
  const jar = new CookieJar();
  const t0 = performance.now();
  const walked = await driveLogin(start, { username, jar, stopWhen: (url, res) => Boolean(res.location?.startsWith(callbackPrefix)) });
  if (!walked.location?.startsWith(callbackPrefix)) throw new Error(`no redirect to /protected/redirect_uri: ${describe(walked)}`);
  const c0 = performance.now();
  const cb = await send(walked.location, { jar });
  const c1 = performance.now();
  const location = cb.headers.location ? new URL(cb.headers.location, walked.location).href : '';
  if (cb.status !== 302 || location !== start) throw new Error(`callback answered ${cb.status} ${location || snippet(cb.body)}`);
  const page = await send(location, { jar });
  const t1 = performance.now();
  if (page.status !== 200 || !page.body.includes(PROTECTED_MARKER)) throw new Error(`protected page answered ${page.status} ${snippet(page.body)}`);
  return { total: ms(t0, t1), chain: ms(t0, c1), callback: ms(c0, c1), beforeCallback: ms(t0, c0), after: ms(c1, t1), hops: walked.history.length + 2 };
}

const LOGIN = { gatehouse: loginGatehouse, apache: loginApache };

function snippet(text) {
  return JSON.stringify(String(text ?? '').replace(/\s+/g, ' ').slice(0, 200));
}
function describe(walked) {
  return `${walked.status} ${walked.location ?? walked.url} ${walked.location ? '' : snippet(walked.body)} (after ${walked.history?.length} hops)`;
}

// ---- runs ---------------------------------------------------------------------------------------------

let nextUser = 0;
function pickUser(plan) {
  const user = plan.users[nextUser % plan.users.length];
  nextUser += 1;
  return user;
}

// n logins at concurrency c; resolves { samples, failures, wall_ms }.
async function runLogins(plan, peer, n, c) {
  const samples = [];
  const failures = [];
  let issued = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (issued < n) {
      const index = issued++;
      const user = pickUser(plan);
      try {
        samples.push({ index, user, ...(await LOGIN[peer.name](peer.base, user)) });
      } catch (error) {
        failures.push({ index, user, error: String(error?.message ?? error) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(c, n) }, worker));
  return { samples, failures, wall_ms: performance.now() - t0 };
}

function log(message) {
  process.stderr.write(`[login-bench ${new Date().toTimeString().slice(0, 8)}] ${message}\n`);
}

async function measure(plan, out) {
  const hz = plan.clk_tck ?? CLK_TCK;
  mkdirSync(join(out, 'raw'), { recursive: true });
  const raw = { meta: plan.meta ?? {}, settings: { count: plan.count, warmup: plan.warmup, concurrency: plan.concurrency, rounds: plan.rounds, users: plan.users.length }, passes: [] };

  // Every user signs in once through every peer first: the HA users exist before anything is measured,
  // so the measured Gatehouse logins are all returning users (the common case), the same for both peers.
  log(`priming: each of ${plan.users.length} users once through each peer`);
  const priming = {};
  for (const peer of plan.peers) {
    nextUser = 0;
    const r = await runLogins(plan, peer, plan.users.length, 1);
    priming[peer.name] = { ok: r.samples.length, failures: r.failures };
    if (r.failures.length) log(`  ${peer.name}: ${r.failures.length} priming logins failed, first: ${r.failures[0].error}`);
  }
  raw.priming = priming;

  for (const c of plan.concurrency) {
    const pass = { concurrency: c, peers: {} };
    for (const peer of plan.peers) {
      pass.peers[peer.name] = { samples: [], failures: [], wall_ms: 0, cpu_ticks: 0, helper_ticks: {}, self_s: 0, rounds: [], foreign_ticks: 0, all_ticks: 0 };
    }
    log(`concurrency ${c}: warm-up ${plan.warmup} logins per peer`);
    for (const peer of plan.peers) {
      const r = await runLogins(plan, peer, plan.warmup, c);
      pass.peers[peer.name].warmup_failures = r.failures;
      if (r.failures.length) log(`  ${peer.name}: ${r.failures.length}/${plan.warmup} warm-up logins failed, first: ${r.failures[0].error}`);
    }
    // Rounds: each round measures every peer once, the order rotating, count/rounds logins each.
    const rounds = Math.max(1, Math.min(plan.rounds, plan.count));
    for (let round = 0; round < rounds; round++) {
      const n = Math.floor(plan.count / rounds) + (round < plan.count % rounds ? 1 : 0);
      const order = plan.peers.map((_, i) => plan.peers[(i + round) % plan.peers.length]);
      for (const peer of order) {
        const acc = pass.peers[peer.name];
        const before = snapshot(plan);
        const r = await runLogins(plan, peer, n, c);
        const after = snapshot(plan);
        const own = after.procs[peer.name] - before.procs[peer.name];
        const ours = Object.keys(after.procs).reduce((s, k) => s + after.procs[k] - before.procs[k], 0) + (after.self - before.self) * hz;
        const busy = after.machine.busy - before.machine.busy;
        const all = after.machine.all - before.machine.all;
        acc.samples.push(...r.samples);
        acc.failures.push(...r.failures);
        acc.wall_ms += r.wall_ms;
        acc.cpu_ticks += own;
        acc.self_s += after.self - before.self;
        acc.foreign_ticks += Math.max(0, busy - ours);
        acc.all_ticks += all;
        for (const h of plan.helpers) acc.helper_ticks[h.name] = (acc.helper_ticks[h.name] ?? 0) + after.procs[h.name] - before.procs[h.name];
        acc.rounds.push({ round: round + 1, logins: n, ok: r.samples.length, failed: r.failures.length, wall_ms: Math.round(r.wall_ms), cpu_ms: own * 1000 / hz });
        log(`  c=${c} round ${round + 1}/${rounds} ${peer.name.padEnd(9)} ${r.samples.length}/${n} ok  median ${fmt(pct(r.samples.map((s) => s.total), 50))} ms  callback ${fmt(pct(r.samples.map((s) => s.callback), 50))} ms  own CPU ${fmt(own * 1000 / hz / Math.max(1, r.samples.length + r.failures.length))} ms/login${r.failures.length ? `  FAILED ${r.failures.length}: ${r.failures[0].error}` : ''}`);
      }
    }
    for (const peer of plan.peers) {
      const acc = pass.peers[peer.name];
      writeFileSync(join(out, 'raw', `c${c}.${peer.name}.json`), `${JSON.stringify({ concurrency: c, peer: peer.name, hz, ...acc }, null, 1)}\n`);
    }
    raw.passes.push(pass);
  }
  writeFileSync(join(out, 'raw', 'priming.json'), `${JSON.stringify(priming, null, 1)}\n`);
  writeFileSync(join(out, 'raw', 'settings.json'), `${JSON.stringify({ meta: raw.meta, settings: raw.settings, peers: plan.peers.map((p) => p.name), helpers: plan.helpers.map((h) => h.name) }, null, 1)}\n`);
}

// ---- report -------------------------------------------------------------------------------------------

function pct(values, p) {
  if (!values.length) return NaN;
  const v = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (v.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return v[lo] + (v[hi] - v[lo]) * (rank - lo);
}
function fmt(x, digits) {
  if (x === undefined || x === null || Number.isNaN(x)) return 'n/a';
  const d = digits ?? (Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2);
  return x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

function summarize(entry) {
  const { samples, failures, hz } = entry;
  const done = samples.length + failures.length;
  const col = (k) => samples.map((s) => s[k]);
  const helpers = {};
  for (const [name, ticks] of Object.entries(entry.helper_ticks)) helpers[name] = done ? ticks * 1000 / hz / done : NaN;
  return {
    logins: done,
    ok: samples.length,
    failed: failures.length,
    warmup_failed: entry.warmup_failures?.length ?? 0,
    failures: failures.slice(0, 5),
    total_ms: { p50: pct(col('total'), 50), p90: pct(col('total'), 90), p99: pct(col('total'), 99), mean: mean(col('total')) },
    chain_ms: { p50: pct(col('chain'), 50), p90: pct(col('chain'), 90) },
    callback_ms: { p50: pct(col('callback'), 50), p90: pct(col('callback'), 90), p99: pct(col('callback'), 99), mean: mean(col('callback')) },
    before_callback_ms: { p50: pct(col('beforeCallback'), 50), p90: pct(col('beforeCallback'), 90) },
    after_callback_ms: { p50: pct(col('after'), 50), p90: pct(col('after'), 90) },
    logins_per_s: entry.wall_ms ? samples.length / (entry.wall_ms / 1000) : NaN,
    own_cpu_ms_per_login: done ? entry.cpu_ticks * 1000 / hz / done : NaN,
    helper_cpu_ms_per_login: helpers,
    client_cpu_ms_per_login: done ? entry.self_s * 1000 / done : NaN,
    foreign_cpu_pct: entry.all_ticks ? 100 * entry.foreign_ticks / entry.all_ticks : 0,
    rounds: entry.rounds,
  };
}
const mean = (v) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN);

export function report(out) {
  const settings = JSON.parse(readFileSync(join(out, 'raw', 'settings.json'), 'utf8'));
  const files = readdirSync(join(out, 'raw')).filter((f) => /^c\d+\..+\.json$/.test(f));
  const passes = new Map();
  for (const f of files) {
    const entry = JSON.parse(readFileSync(join(out, 'raw', f), 'utf8'));
    if (!passes.has(entry.concurrency)) passes.set(entry.concurrency, {});
    passes.get(entry.concurrency)[entry.peer] = summarize(entry);
  }
  const priming = existsSync(join(out, 'raw', 'priming.json')) ? JSON.parse(readFileSync(join(out, 'raw', 'priming.json'), 'utf8')) : {};
  const peers = settings.peers;
  const both = peers.includes('gatehouse') && peers.includes('apache');
  const flagged = (s) => (s && (s.failed || s.warmup_failed) ? ' (!)' : '');

  const rows = [];
  const header = ['pass', 'metric', ...peers, ...(both ? ['GH/Apache'] : [])];
  const ratio = (g, a) => (Number.isFinite(g) && Number.isFinite(a) && a > 0 ? `${fmt(g / a, 2)}×` : 'n/a');
  const metrics = [
    ['login total, median (ms)', (s) => s.total_ms.p50],
    ['login total, p90 (ms)', (s) => s.total_ms.p90],
    ['  up to the callback response, median', (s) => s.chain_ms.p50],
    ['callback request, median (ms)', (s) => s.callback_ms.p50],
    ['callback request, p90 (ms)', (s) => s.callback_ms.p90],
    ['peer CPU per login (ms)', (s) => s.own_cpu_ms_per_login],
    ['logins/s', (s) => s.logins_per_s],
    ['IdP CPU per login (ms)', (s) => s.helper_cpu_ms_per_login.idp],
    ['HA double CPU per login (ms)', (s) => s.helper_cpu_ms_per_login.ha],
    ['client (driver) CPU per login (ms)', (s) => s.client_cpu_ms_per_login],
  ];
  const sorted = [...passes.keys()].sort((a, b) => a - b);
  for (const c of sorted) {
    const pass = passes.get(c);
    metrics.forEach(([label, get], i) => {
      const values = peers.map((p) => (pass[p] ? get(pass[p]) : NaN));
      rows.push([i === 0 ? `c=${c}` : '', label, ...values.map((v, j) => `${fmt(v)}${i === 0 ? flagged(pass[peers[j]]) : ''}`),
        ...(both ? [ratio(pass.gatehouse ? get(pass.gatehouse) : NaN, pass.apache ? get(pass.apache) : NaN)] : [])]);
    });
    rows.push(['', 'ok / failed', ...peers.map((p) => (pass[p] ? `${pass[p].ok} / ${pass[p].failed}` : 'n/a')), ...(both ? [''] : [])]);
    rows.push(['', 'foreign CPU (% of machine)', ...peers.map((p) => (pass[p] ? fmt(pass[p].foreign_cpu_pct, 1) : 'n/a')), ...(both ? [''] : [])]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((cell, i) => (i < 2 ? String(cell).padEnd(widths[i]) : String(cell).padStart(widths[i]))).join('  ');
  const table = [line(header), ...rows.map(line)].join('\n');

  const problems = [];
  for (const c of sorted) {
    for (const p of peers) {
      const s = passes.get(c)[p];
      if (!s) { problems.push(`c=${c} ${p}: not measured`); continue; }
      if (s.failed) problems.push(`c=${c} ${p}: ${s.failed}/${s.logins} logins failed; first: ${s.failures.map((f) => f.error).slice(0, 3).join(' | ')}`);
      if (s.warmup_failed) problems.push(`c=${c} ${p}: ${s.warmup_failed} warm-up logins failed`);
      if (s.foreign_cpu_pct > 10) problems.push(`c=${c} ${p}: ${fmt(s.foreign_cpu_pct, 1)}% of the machine's CPU went to other processes during the measurement (noise)`);
    }
  }
  for (const [p, r] of Object.entries(priming)) {
    if (r.failures?.length) problems.push(`priming ${p}: ${r.failures.length} logins failed; first: ${r.failures[0].error}`);
  }

  const notes = [
    'login total: the whole redirect chain as the client sees it, fresh cookie jar (full IdP sign-in) per login, same driver for both.',
    '  Gatehouse: /auth/authorize -> IdP (authorize, sign-in form, POST, resume) -> /sso/callback -> 302 to HA\'s frontend (stop).',
    '  Apache:    /protected/index.html -> IdP (same hops) -> /protected/redirect_uri -> 302 -> GET /protected/index.html 200 (one hop more).',
    '  "up to the callback response" leaves Apache\'s final page fetch out: the same hops for both.',
    'callback request: GET /sso/callback resp. /protected/redirect_uri alone; it includes the peer\'s waits on the IdP (token, userinfo;',
    '  JWKS is cached) and for Gatehouse on HA (user sync + HA login flow), so it is not the peer\'s own time.',
    'peer CPU per login: utime+stime from /proc (Apache: master + children, reaped ones included) over the measured logins — the',
    '  fairest "own time" figure. IdP and HA double CPU are the helpers\' costs per login with that peer (HA is idle for Apache).',
    'Ratios GH/Apache < 1× favour Gatehouse, except logins/s (> 1× favours Gatehouse). (!) = failures: do not use those figures.',
  ];
  const meta = settings.meta ?? {};
  const text = [
    table, '',
    ...(problems.length ? ['Problems:', ...problems.map((p) => `  - ${p}`), ''] : []),
    ...notes,
  ].join('\n');
  const md = [
    '# Login benchmark: Gatehouse vs Apache httpd + mod_auth_openidc', '',
    `Run: ${meta.started ?? ''} · ${settings.settings.count} logins per peer and pass after ${settings.settings.warmup} warm-up logins, ${settings.settings.rounds} rounds, ${settings.settings.users} IdP users`, '',
    ...Object.entries(meta).map(([k, v]) => `- ${k}: ${v}`), '',
    '```', text, '```', '',
  ].join('\n');
  const summary = { meta, settings: settings.settings, priming, passes: Object.fromEntries(sorted.map((c) => [`c${c}`, passes.get(c)])), problems };
  writeFileSync(join(out, 'results.json'), `${JSON.stringify(summary, null, 2)}\n`);
  writeFileSync(join(out, 'results.md'), md);
  process.stdout.write(`${text}\n`);
  return problems.filter((p) => / failed/.test(p) || /not measured/.test(p)).length;
}

// ---- main ---------------------------------------------------------------------------------------------

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { plan: { type: 'string' }, out: { type: 'string' }, report: { type: 'string' } } });
  if (values.report) {
    report(values.report);
  } else {
    if (!values.plan || !values.out) {
      process.stderr.write('usage: node bench/login-bench.mjs --plan PLAN.json --out DIR | --report DIR\n');
      process.exit(2);
    }
    const plan = JSON.parse(readFileSync(values.plan, 'utf8'));
    await measure(plan, values.out);
    // Exit 3 when logins failed (the table is written and flagged all the same).
    if (report(values.out) > 0) process.exitCode = 3;
  }
}
