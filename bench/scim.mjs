// bench/scim.mjs — the SCIM server's cost as an IdP meets it: a full push of N users (POST each, one
// client connection at a time, as authentik and Entra ID do), then lists over those N with the filters
// the IdPs send before they create (`userName eq`, `externalId eq`, Entra's
// `emails[type eq "work"].value eq`), a `co` filter that reads every user, a sorted page, and a PATCH.
// Median and worst of `--runs` requests each, and the Gatehouse process's RSS after the push. No peer runs
// beside it: the SCIM reference servers are libraries, not servers.
//
//   node bench/scim.mjs                                        # build/gatehouse, 1000 users, 50 runs
//   GATEHOUSE_BIN=build-release/gatehouse node bench/scim.mjs --users 1000 --runs 50
import { writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { freshDirectory, residentBytes, startGatehouse } from '../tests/e2e/lib/harness.mjs';
import { startUpstream } from '../tests/e2e/lib/upstream.mjs';

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 && process.argv[at + 1] ? process.argv[at + 1] : fallback;
}
const users = Number(option('users', '1000'));
const runs = Number(option('runs', '50'));
if (!Number.isInteger(users) || users < 1 || !Number.isInteger(runs) || runs < 1) {
  console.error('usage: node bench/scim.mjs [--users 1000] [--runs 50]');
  process.exit(2);
}

const directory = freshDirectory('bench-scim-');
const token = randomBytes(32).toString('hex');
const tokenFile = join(directory, 'scim-token');
writeFileSync(tokenFile, token);
chmodSync(tokenFile, 0o600);
const upstream = await startUpstream();
// The budget is the operator's to set; here it must not be what is measured.
const gatehouse = await startGatehouse({ upstream, directory, config: {
  scim: { token_file: tokenFile, requests_per_minute: 1_000_000, burst: 1_000_000 } } });
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function call(path, { method = 'GET', body } = {}) {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const request = http.request(`${gatehouse.url}/scim/v2${path}`, { method, agent, headers: {
      authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/scim+json' } : {}) } }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode, ms: performance.now() - started,
        json: chunks.length ? JSON.parse(Buffer.concat(chunks)) : null }));
    });
    request.on('error', reject);
    request.end(body ? JSON.stringify(body) : undefined);
  });
}

const stat = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[Math.floor((sorted.length - 1) / 2)], worst: sorted.at(-1) };
};
const fmt = (ms) => `${ms.toFixed(2)} ms`;

try {
  const pushTimes = [];
  let pushStarted = performance.now();
  const ids = [];
  for (let i = 0; i < users; i += 1) {
    const answer = await call('/Users', { method: 'POST', body: {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: `user-${i}@example.com`, externalId: `ext-${i}`,
      displayName: `User ${i}`, active: true, emails: [{ value: `user-${i}@work.example`, type: 'work', primary: true }],
    } });
    if (answer.status !== 201) throw new Error(`POST /Users: HTTP ${answer.status}`);
    pushTimes.push(answer.ms);
    ids.push(answer.json.id);
  }
  const pushTotal = performance.now() - pushStarted;
  const rss = residentBytes(gatehouse.pid);

  const middle = Math.floor(users / 2);
  const cases = [
    ['userName eq', `/Users?filter=${encodeURIComponent(`userName eq "user-${middle}@example.com"`)}`, 1],
    ['externalId eq', `/Users?filter=${encodeURIComponent(`externalId eq "ext-${middle}"`)}`, 1],
    ['emails[type eq "work"].value eq', `/Users?filter=${encodeURIComponent(`emails[type eq "work"].value eq "user-${middle}@work.example"`)}`, 1],
    ['displayName co (all match)', `/Users?filter=${encodeURIComponent('displayName co "User"')}&count=1`, users],
    ['sortBy=userName, a page of 100', '/Users?sortBy=userName&startIndex=101&count=100', users],
  ];
  console.log(`SCIM, ${users} users, ${runs} requests each, one keep-alive connection (Gatehouse ${process.env.GATEHOUSE_BIN ?? 'build/gatehouse'})`);
  const push = stat(pushTimes);
  console.log(`  POST /Users x${users}: ${(pushTotal / 1000).toFixed(2)} s in all, median ${fmt(push.median)}, worst ${fmt(push.worst)}; RSS after: ${(rss / 1048576).toFixed(1)} MiB`);
  for (const [label, path, total] of cases) {
    const times = [];
    for (let i = 0; i < runs; i += 1) {
      const answer = await call(path);
      if (answer.status !== 200 || answer.json.totalResults !== total) throw new Error(`${label}: HTTP ${answer.status}, totalResults ${answer.json?.totalResults}`);
      times.push(answer.ms);
    }
    const { median, worst } = stat(times);
    console.log(`  list, ${label}: median ${fmt(median)}, worst ${fmt(worst)}`);
  }
  const patchTimes = [];
  for (let i = 0; i < runs; i += 1) {
    const answer = await call(`/Users/${ids[i % ids.length]}`, { method: 'PATCH', body: {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'Replace', path: 'active', value: i % 2 ? 'True' : 'False' }] } });
    if (answer.status !== 200) throw new Error(`PATCH: HTTP ${answer.status}`);
    patchTimes.push(answer.ms);
  }
  const patch = stat(patchTimes);
  console.log(`  PATCH active (durable before the answer): median ${fmt(patch.median)}, worst ${fmt(patch.worst)}`);
} finally {
  agent.destroy();
  await gatehouse.stop();
  await upstream.stop();
}
