#!/usr/bin/env node
// report: turns one run's raw measurements (bench/out/<run>/raw/*.json, written by run.sh) into the
// final table — medians over rounds, Gatehouse/nginx and Gatehouse/haproxy ratios, the goals — and
// writes results.json and results.md next to them. Prints the table on stdout.
//
//   node bench/report.mjs bench/out/<run>
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: report.mjs <run dir>');
  process.exit(2);
}
const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'));
const rawDir = path.join(dir, 'raw');
const raw = fs.existsSync(rawDir)
  ? fs.readdirSync(rawDir).filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(fs.readFileSync(path.join(rawDir, f), 'utf8')))
  : [];
const warningsFile = path.join(dir, 'warnings.txt');
const warnings = fs.existsSync(warningsFile)
  ? fs.readFileSync(warningsFile, 'utf8').split('\n').filter(Boolean) : [];

const PEERS = ['direct', 'nginx', 'haproxy', 'gatehouse'];
const COMPARE = ['nginx', 'haproxy'];
const TESTS = [
  { id: 'http-small', title: `HTTP ${meta.small_bytes} B`, unit: 'req/s' },
  { id: 'http-64k', title: `HTTP ${Math.round(meta.large_bytes / 1024)} KB`, unit: 'req/s' },
  { id: 'ws', title: `WebSocket ${meta.ws_size} B`, unit: 'msg/s' },
];

function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function summarize(rows) {
  // One peer, one test, all rounds.
  const isHttp = rows[0].test.startsWith('http');
  const per = rows.map((r) => isHttp
    ? { round: Number(r.round), throughput: r.req_per_sec, p50: r.latency_ms.p50, p99: r.latency_ms.p99,
        bytes_per_resp: r.bytes_per_req, errors: Object.values(r.errors).reduce((a, b) => a + b, 0),
        error_detail: r.errors, cpu: r.cpu }
    : { round: Number(r.round), throughput: r.msgs_per_sec ?? null, p50: r.rtt_ms?.p50 ?? null,
        p99: r.rtt_ms?.p99 ?? null, errors: (r.errors ?? 0) + (r.bad_frames ?? 0) + (r.ok === false ? 1 : 0),
        error_detail: r.error_samples ?? r.error, cpu: r.cpu }).sort((a, b) => a.round - b.round);
  for (const p of per) {
    // CPU time the proxy spent per request/message (µs), from its CPU share over the window.
    p.cpu_us = p.cpu && p.throughput && p.cpu.peer_pct > 0 ? (p.cpu.peer_pct / 100) * 1e6 / p.throughput : null;
  }
  const issues = [];
  for (const p of per) {
    p.clean = !p.errors && Boolean(p.throughput);
    if (p.errors) issues.push(`round ${p.round}: errors ${JSON.stringify(p.error_detail)}`);
    else if (!p.throughput) issues.push(`round ${p.round}: no ${isHttp ? 'responses' : 'echoes'} at all`);
  }
  return {
    throughput: median(per.map((p) => p.throughput)),
    p50_ms: median(per.map((p) => p.p50)),
    p99_ms: median(per.map((p) => p.p99)),
    cpu_us: median(per.map((p) => p.cpu_us)),
    foreign_cpu_pct_max: Math.max(0, ...per.map((p) => p.cpu?.foreign_pct ?? 0)),
    bytes_per_resp: isHttp ? median(per.map((p) => p.bytes_per_resp)) : undefined,
    rounds: per,
    issues,
  };
}

const ratio = (a, b) => (a == null || b == null || b === 0 ? null : a / b);

const tests = {};
for (const t of TESTS) {
  const peers = {};
  for (const peer of PEERS) {
    const rows = raw.filter((r) => r.test === t.id && r.peer === peer);
    if (rows.length) peers[peer] = summarize(rows);
  }
  if (Object.keys(peers).length === 0) continue;
  const ratios = {};
  for (const other of COMPARE) {
    const g = peers.gatehouse, o = peers[other];
    if (!g || !o) continue;
    ratios[`gatehouse/${other}`] = {
      throughput: ratio(g.throughput, o.throughput), p50: ratio(g.p50_ms, o.p50_ms), p99: ratio(g.p99_ms, o.p99_ms),
      cpu_us: ratio(g.cpu_us, o.cpu_us),
    };
  }
  // How much of the direct path each proxy keeps.
  const ofDirect = {};
  for (const peer of ['nginx', 'haproxy', 'gatehouse']) {
    if (peers[peer] && peers.direct) ofDirect[peer] = ratio(peers[peer].throughput, peers.direct.throughput);
  }
  tests[t.id] = { title: t.title, unit: t.unit, peers, ratios, of_direct: ofDirect };
}

const memPeers = {};
for (const r of raw.filter((x) => x.test === 'mem')) memPeers[r.peer] = r;
const memRatios = {};
for (const other of COMPARE) {
  const g = memPeers.gatehouse, o = memPeers[other];
  if (!g || !o) continue;
  memRatios[`gatehouse/${other}`] = {
    idle_rss: ratio(g.idle_rss_kb, o.idle_rss_kb), loaded_rss: ratio(g.loaded_rss_kb, o.loaded_rss_kb),
    per_conn: ratio(g.per_conn_kb, o.per_conn_kb),
  };
}

// Goals: Gatehouse ≥ nginx on HTTP req/s, ≥ haproxy on websocket msg/s, p99 not worse than either.
// Judged on the ratio of the medians; each round's own ratio (both peers measured in that round) goes
// beside it, so a reader sees whether a miss is beyond the spread of this machine's noise.
const goals = [];
const goal = (text, value, pass, rounds = []) => goals.push({ goal: text, value, pass, rounds });
// A comparison only counts when both sides measured cleanly.
const clean = (id, peer) => tests[id]?.peers[peer] && tests[id].peers[peer].issues.length === 0;
const hasGh = (id) => tests[id]?.peers.gatehouse;
// Only rounds both sides measured cleanly: a failed round's 0 would read as noise.
const roundRatios = (id, other, key) => {
  const theirs = tests[id].peers[other].rounds;
  return tests[id].peers.gatehouse.rounds
    .map((g) => [g, theirs.find((o) => o.round === g.round)])
    .filter(([g, o]) => g.clean && o?.clean)
    .map(([g, o]) => ratio(g[key], o[key]))
    .filter((r) => r != null);
};
// Gatehouse against `other` on `key` ('throughput': at least theirs; 'p99': at most theirs).
const compare = (id, other, key, text) => {
  const r = tests[id]?.ratios[`gatehouse/${other}`];
  if (!hasGh(id) || !r) return;
  const value = r[key];
  // A figure missing on either side is no pass (null <= 1 is true in JavaScript).
  const met = value != null && (key === 'throughput' ? value >= 1 : value <= 1);
  goal(text, value, clean(id, 'gatehouse') && clean(id, other) ? met : false, roundRatios(id, other, key));
};
for (const id of ['http-small', 'http-64k']) compare(id, 'nginx', 'throughput', `${tests[id]?.title}: req/s ≥ nginx`);
compare('ws', 'haproxy', 'throughput', `${tests.ws?.title}: msg/s ≥ haproxy`);
for (const id of ['http-small', 'http-64k', 'ws']) {
  for (const other of COMPARE) compare(id, other, 'p99', `${tests[id]?.title}: p99 ≤ ${other}`);
}
for (const id of Object.keys(tests)) {
  const g = tests[id].peers.gatehouse;
  if (g && g.issues.length) goal(`${tests[id].title}: Gatehouse measured without errors (comparisons above do not count)`, null, false);
}

const results = { meta, tests, memory: { peers: memPeers, ratios: memRatios }, goals, warnings };
fs.writeFileSync(path.join(dir, 'results.json'), JSON.stringify(results, null, 2) + '\n');

// ---- table ---------------------------------------------------------------------------------------
const fmtInt = (n) => (n == null ? '—' : Math.round(n).toLocaleString('en-US'));
const fmtMs = (n) => (n == null ? '—' : n < 10 ? n.toFixed(3) : n.toFixed(1));
const fmtRatio = (n) => (n == null ? '—' : `${n.toFixed(2)}×`);
const fmtMb = (k) => (k == null ? '—' : (k / 1024).toFixed(1));

const head = ['test', 'metric', ...PEERS, 'GH/nginx', 'GH/haproxy'];
const rows = [];
for (const t of Object.values(tests)) {
  const cell = (peer, key, f) => {
    const p = t.peers[peer];
    if (!p) return 'n/a';
    return f(p[key]) + (p.issues.length && key === 'throughput' ? ' (!)' : '');
  };
  const r = (name, key, rkey, f) => rows.push([
    '', name, ...PEERS.map((p) => cell(p, key, f)),
    ...COMPARE.map((o) => fmtRatio(t.ratios[`gatehouse/${o}`]?.[rkey])),
  ]);
  const start = rows.length;
  r(t.unit, 'throughput', 'throughput', fmtInt);
  r('p50 ms', 'p50_ms', 'p50', fmtMs);
  r('p99 ms', 'p99_ms', 'p99', fmtMs);
  r(`CPU µs/${t.unit === 'req/s' ? 'req' : 'msg'}`, 'cpu_us', 'cpu_us', (n) => (n == null ? '—' : n.toFixed(1)));
  rows[start][0] = t.title;
}
if (Object.keys(memPeers).length) {
  const m = (name, key, rkey, f) => rows.push(['', name,
    ...PEERS.map((p) => (p === 'direct' ? '' : memPeers[p] ? f(memPeers[p][key]) : 'n/a')),
    ...COMPARE.map((o) => fmtRatio(memRatios[`gatehouse/${o}`]?.[rkey]))]);
  const start = rows.length;
  m('idle RSS MB', 'idle_rss_kb', 'idle_rss', fmtMb);
  m(`RSS MB, ${meta.mem_connections} ws`, 'loaded_rss_kb', 'loaded_rss', fmtMb);
  m('KB per ws', 'per_conn_kb', 'per_conn', (k) => (k == null ? '—' : Number(k).toFixed(1)));
  rows[start][0] = 'Memory';
}

function textTable(header, body) {
  const all = [header, ...body];
  const w = header.map((_, i) => Math.max(...all.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => (i < 2 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join('  ');
  return [line(header), w.map((n) => '-'.repeat(n)).join('  '), ...body.map(line)].join('\n');
}

function mdTable(header, body) {
  const esc = (c) => String(c).replace(/\|/g, '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `|${header.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`,
    ...body.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

const spread = (rounds) => {
  if (rounds.length < 2) return '';
  const low = Math.min(...rounds), high = Math.max(...rounds);
  return `; rounds ${low.toFixed(2)}–${high.toFixed(2)}×`;
};
const goalLines = goals.map((g) => `${g.pass ? 'PASS' : 'FAIL'}  ${g.goal}`
  + (g.value == null ? '' : ` (${fmtRatio(g.value)}${spread(g.rounds)})`));
const settings = `${meta.host_cpus} CPUs, ${meta.kernel}; ${meta.rounds} rounds × ${meta.duration_s}s `
  + `(+${meta.warmup_s}s warm-up), medians shown. HTTP: wrk -t${meta.wrk_threads} -c${meta.http_connections} keep-alive. `
  + `WebSocket: ${meta.ws_connections} conns × ${meta.ws_inflight} in flight (${meta.ws_client} client, ${meta.ws_echo} echo). `
  + `Proxies: ${meta.proxy_workers} workers/threads.`;
const issueLines = [];
for (const [id, t] of Object.entries(tests)) {
  for (const [peer, p] of Object.entries(t.peers)) for (const i of p.issues) issueLines.push(`${t.title} / ${peer}: ${i}`);
}

const noisy = [];
for (const t of Object.values(tests)) {
  for (const [peer, p] of Object.entries(t.peers)) {
    if (p.foreign_cpu_pct_max > 10) noisy.push(`${t.title} / ${peer}: up to ${p.foreign_cpu_pct_max.toFixed(0)}% of the CPUs went to other processes`);
  }
}
const cpuNote = 'CPU µs/req: CPU time the proxy process(es) used per request or message (from /proc), lower is cheaper.';

const text = [
  `Gatehouse benchmark — ${meta.started}`,
  settings,
  `gatehouse: ${meta.gatehouse_bin || `not run (${meta.gatehouse_note || 'not in BENCH_PEERS'})`}`,
  '',
  textTable(head, rows),
  '',
  'Ratios: throughput > 1× and latency/CPU/memory < 1× favour Gatehouse. Only ratios within one run mean anything.',
  cpuNote,
  ...(goalLines.length ? ['', 'Goals:', ...goalLines.map((l) => `  ${l}`)] : []),
  ...(issueLines.length ? ['', 'Errors during measurement (those figures are suspect):', ...issueLines.map((l) => `  ${l}`)] : []),
  ...(noisy.length ? ['', 'Noise (other processes were using the CPUs):', ...noisy.map((l) => `  ${l}`)] : []),
  ...(warnings.length ? ['', 'Warnings:', ...warnings.map((l) => `  ${l}`)] : []),
].join('\n');
console.log(text);

const md = [
  `# Gatehouse benchmark — ${meta.started}`,
  '',
  settings,
  '',
  `Versions: ${meta.nginx}; ${meta.haproxy}; ${meta.wrk}; node ${meta.node}. `
    + `Gatehouse: \`${meta.gatehouse_bin || 'not run'}\` (rev ${meta.gatehouse_rev})${meta.gatehouse_note ? ` — ${meta.gatehouse_note}` : ''}.`,
  '',
  mdTable(head, rows),
  '',
  'Throughput > 1× and latency/CPU/memory < 1× favour Gatehouse. Memory: nginx = sum over its worker processes.',
  cpuNote,
  ...(goalLines.length ? ['', '## Goals', '', ...goalLines.map((l) => `- ${l}`)] : []),
  ...(issueLines.length ? ['', '## Errors during measurement', '', ...issueLines.map((l) => `- ${l}`)] : []),
  ...(noisy.length ? ['', '## Noise', '', ...noisy.map((l) => `- ${l}`)] : []),
  ...(warnings.length ? ['', '## Warnings', '', ...warnings.map((l) => `- ${l}`)] : []),
  '',
].join('\n');
fs.writeFileSync(path.join(dir, 'results.md'), md);
