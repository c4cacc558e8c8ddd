// Anonymous requests must not grow the store without bound (security review "limits on anonymous work",
// finding 5). Anyone can open /auth/authorize (each one a pending login in SQLite until the IdP answers)
// and try made-up break-glass links (each refusal audited), thousands of times a second. Here one
// address does exactly that, a bounded few thousand times, while another address signs in:
// - the flooder gets its limits.max_pending_logins_per_address (50 by default) logins, then a 429 page;
// - every refused sign-in and break-glass probe beyond the first few of the minute is counted in one
//   `sign_in_refusals` / `breakglass_refusals` audit entry instead of a row each;
// - the database grows by a few pages, not by megabytes (rows counted and its size read with sqlite3);
// - the other address signs in during the flood, and a sign-in it had left half-way survives the flood
//   and a restart (pending logins are in SQLite; nobody's are evicted to make room).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { request } from './lib/http-client.mjs';
import { startSsoStack, CookieJar, frontendState, pageText, correlationIdOf } from './lib/sso-stack.mjs';

const FLOODER = '127.0.0.3';
const AUTHORIZE_REQUESTS = 3000;
const BREAKGLASS_PROBES = 1000;
const PER_ADDRESS = 50; // limits.max_pending_logins_per_address, default
const OWN_ENTRIES = 5; // limits.audited_refusals_per_address, default

function sql(database, query) {
  return execFileSync('sqlite3', ['-readonly', database, query]).toString().trim();
}
const bytesOf = (database) => Number(sql(database, 'SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()'));
const count = (database, query) => Number(sql(database, query));

// `total` requests from `localAddress`, `concurrency` at a time on keep-alive connections; the answers'
// statuses and a sample of each status's body.
async function flood(urlOf, total, { localAddress, concurrency = 16, accept = 'text/html' }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const statuses = new Map();
  const samples = new Map();
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const answer = await request(urlOf(i), { agent, localAddress, headers: { accept } });
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      if (!samples.has(answer.status)) samples.set(answer.status, answer);
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    agent.destroy();
  }
  return { statuses, samples };
}

// The `detail` of an audit entry as an object.
const detailOf = (entry) => (typeof entry.raw.detail === 'string' ? JSON.parse(entry.raw.detail) : entry.raw.detail);

test('a flood of sign-ins and break-glass probes from one address leaves the store bounded and others signing in', { timeout: 180_000 }, async (t) => {
  const stack = await startSsoStack(t);
  const database = join(stack.config.data_dir, 'gatehouse.db');

  // Another person's sign-in, left half-way at the IdP: it must survive the flood and a restart.
  const jar = new CookieJar();
  const halfway = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'alice', jar, stopBeforeCallback: true });
  assert.equal(halfway.kind, 'callback');

  const bytesBefore = bytesOf(database);
  const auditBefore = count(database, 'SELECT count(*) FROM audit_log');

  const authorizeUrl = stack.authorizeUrl({ clientId: stack.frontendClientId, redirectUri: stack.frontendRedirectUri, state: 'flood' });
  const [signIns, probes, during] = await Promise.all([
    flood(() => authorizeUrl, AUTHORIZE_REQUESTS, { localAddress: FLOODER }),
    flood(() => `${stack.externalUrl}/sso/breakglass/${randomBytes(32).toString('base64url')}`, BREAKGLASS_PROBES, { localAddress: FLOODER }),
    // Meanwhile someone at another address signs in from start to finish.
    stack.login({ state: 'during the flood', username: 'bob' }),
  ]);

  assert.equal(during.kind, 'redirect', `the other address could not sign in during the flood: ${during.status} ${pageText(during.body).slice(0, 300)}`);
  assert.match(during.code ?? '', /^[0-9a-f]{32}$/);

  assert.deepEqual([...signIns.statuses.keys()].sort(), [302, 429], JSON.stringify([...signIns.statuses]));
  assert.equal(signIns.statuses.get(302), PER_ADDRESS, 'the flooder got as many pending logins as one address may hold');
  const tooMany = signIns.samples.get(429);
  assert.match(tooMany.headers['content-type'], /^text\/html/);
  assert.match(pageText(tooMany.text()), /Too many sign-ins in progress/);
  assert.ok(correlationIdOf(tooMany.text()), 'the page has a reference');
  assert.deepEqual([...probes.statuses], [[403, BREAKGLASS_PROBES]]);

  // The store: the flooder's pending logins are capped; its refusals are a handful of rows.
  assert.equal(count(database, `SELECT count(*) FROM pending_logins WHERE client_address = '${FLOODER}'`), PER_ADDRESS);
  const newRows = count(database, 'SELECT count(*) FROM audit_log') - auditBefore;
  assert.ok(newRows <= 4 * OWN_ENTRIES + 8, `${newRows} audit rows for ${AUTHORIZE_REQUESTS + BREAKGLASS_PROBES} requests`);
  // A row per request would be megabytes; a few pages per address and minute is what is left.
  const growth = bytesOf(database) - bytesBefore;
  t.diagnostic(`the database grew by ${growth} bytes and ${newRows} audit rows`);
  assert.ok(growth < 256 * 1024, `the database grew by ${growth} bytes`);

  // At exit the counts are written (one entry per kind and minute); pending logins survive the restart.
  await stack.restartGatehouse();
  const entries = await stack.audit();
  const fromFlooder = (event) => entries.filter((entry) => entry.kind === event && entry.raw.client === FLOODER);
  const summaries = (event) => entries.filter((entry) => entry.kind === event).map(detailOf);
  for (const [own, summary, refusals] of [['login_refused', 'sign_in_refusals', AUTHORIZE_REQUESTS - PER_ADDRESS],
    ['breakglass_refused', 'breakglass_refusals', BREAKGLASS_PROBES]]) {
    const minutes = summaries(summary);
    const counted = minutes.reduce((sum, detail) => sum + (detail.clients[FLOODER] ?? 0), 0);
    // The first few of each minute keep their own entry (with the reference their page showed).
    assert.ok(minutes.length >= 1, `${summary} written`);
    const ownEntries = fromFlooder(own).length;
    assert.ok(ownEntries >= OWN_ENTRIES && ownEntries <= OWN_ENTRIES * (minutes.length + 1), `${own}: ${ownEntries}, ${OWN_ENTRIES} per minute of flood`);
    assert.equal(ownEntries + counted, refusals, `every ${own.replace('_', ' ')} is in the audit log, most counted in ${summary}`);
  }
  const reasons = summaries('sign_in_refusals').reduce((sum, detail) => sum + (detail.reasons.too_many_pending_logins_from_address ?? 0), 0);
  assert.ok(reasons > 0 && reasons === summaries('sign_in_refusals').reduce((sum, detail) => sum + detail.total, 0),
    'counted under the reason the page gave');

  const finished = await stack.resume(halfway.callbackUrl, { jar });
  assert.equal(finished.kind, 'redirect', 'the half-way sign-in of the other address survived the flood and the restart');
});
