// Token checks must not amplify (security review "limits on anonymous work", finding 6). Every token
// Gatehouse has not seen costs HA one websocket auth; one address inventing well-formed tokens could
// make HA do a thousand a second. With limits.token_check_burst 5 and token_checks_per_minute 1, one
// address sends 40 distinct forged tokens: at most the budget reaches HA (the double's websocket
// counters), the rest get 429 `too_many_token_checks` without HA, a websocket gets auth_invalid without
// HA, a token Gatehouse already knows still works for that address, and a valid token from another
// address is checked and served at the same time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { startDouble } from './lib/double.mjs';
import { startGatehouse, TEST_GUARD } from './lib/harness.mjs';
import { request } from './lib/http-client.mjs';
import { TestWebSocket } from './lib/ws-client.mjs';
import { recordSecret } from './lib/secrets.mjs';

const FLOODER = '127.0.0.2';
const OTHER = '127.0.0.3';
const BURST = 5;
// One check a minute refills the bucket; a test cannot last a minute (TEST_GUARD), so at most one more.
const AT_MOST = BURST + 1;

let double;
let gatehouse;
let userId;

before(async () => {
  double = await startDouble({
    useXForwardedFor: true,
    trustedProxies: ['127.0.0.1'],
    users: [{ name: 'Ada Owner', username: 'ada', password: randomBytes(12).toString('hex'), isOwner: true, groups: ['system-admin'] }],
  });
  gatehouse = await startGatehouse({
    upstream: double.url, config: { limits: { token_check_burst: BURST, token_checks_per_minute: 1 } },
  });
  userId = double.users().find((user) => user.name === 'Ada Owner').id;
  await gatehouse.waitForLog((entry) => entry.msg === 'home assistant version');
});

after(async () => {
  await gatehouse?.stop();
  await double?.close();
});

function validToken() {
  const { token } = double.createLongLivedToken(userId, { lifespanDays: 1 });
  recordSecret(token, 'token budget test access token');
  return token;
}

// HS256 JWTs shaped like HA's access tokens (contract §2.2), each with its own iss, signed with a key HA never had.
function forgedToken() {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode({ iss: randomBytes(16).toString('hex'), iat: now - 60, exp: now + 1800 })}`;
  const token = `${unsigned}.${createHmac('sha256', randomBytes(32)).update(unsigned).digest('base64url')}`;
  recordSecret(token, 'forged access token');
  return token;
}

const get = (from, token, accept = 'application/json') =>
  request(`${gatehouse.url}/api/states`, { localAddress: from, headers: { authorization: `Bearer ${token}`, accept } });
const checksAtHa = () => double.websocketCounters.opened;

test('one address inventing tokens gets its budget of checks with HA, then 429 without HA; others are unaffected', TEST_GUARD, async () => {
  // A token the flooder's address already used is known from then on, and never costs budget again.
  const known = validToken();
  const before = checksAtHa();
  assert.equal((await get(FLOODER, known)).status, 200);

  const statuses = [];
  for (let i = 0; i < 40; i += 1) {
    const answer = await get(FLOODER, forgedToken());
    statuses.push(answer.status);
    if (answer.status === 429) {
      assert.deepEqual(answer.json(), { message: 'Too many sign-in checks', code: 'too_many_token_checks' });
      assert.match(answer.headers['content-type'], /^application\/json/);
    } else {
      assert.equal(answer.status, 401, 'a forged token HA was asked about is refused');
    }
  }
  const checked = checksAtHa() - before;
  assert.ok(checked <= AT_MOST, `${checked} token checks reached HA, the budget is ${BURST} (+1 refill)`);
  assert.deepEqual(statuses.slice(0, BURST - 1), Array(BURST - 1).fill(401), 'the budget is spent first');
  assert.ok(statuses.filter((status) => status === 429).length >= 40 - AT_MOST);
  assert.ok(double.failedLogins.filter((entry) => entry.ip === FLOODER).length <= AT_MOST, 'HA saw at most the budget in failed logins');

  // While the flooder is over budget: more of its forged tokens, and at the same time another address
  // with a token Gatehouse has never seen, which is checked with HA and served.
  const atHaBefore = checksAtHa();
  const [other, ...more] = await Promise.all([
    get(OTHER, validToken()),
    ...Array.from({ length: 10 }, () => get(FLOODER, forgedToken())),
  ]);
  assert.equal(other.status, 200, other.text());
  assert.ok(more.every((answer) => answer.status === 429), JSON.stringify(more.map((answer) => answer.status)));
  assert.ok(checksAtHa() - atHaBefore <= 2, 'the other address\'s check (and at most one refill) reached HA');

  // A browser over budget gets a page; the token it already had still works.
  const page = await get(FLOODER, forgedToken(), 'text/html,application/xhtml+xml');
  assert.equal(page.status, 429);
  assert.match(page.headers['content-type'], /^text\/html/);
  assert.match(page.text(), /Too many sign-in checks/);
  const again = checksAtHa();
  assert.equal((await get(FLOODER, known)).status, 200, 'a known token is never subject to the budget');
  assert.equal(checksAtHa(), again);
});

test('a websocket over the budget gets auth_invalid and HA never sees it', TEST_GUARD, async () => {
  // The flooder is over budget from the test above (its bucket refills one check a minute).
  for (let i = 0; i < 2; i += 1) await get(FLOODER, forgedToken());
  const before = checksAtHa();
  const socket = new TestWebSocket(`${gatehouse.wsUrl}/api/websocket`, { localAddress: FLOODER });
  const [hello] = await socket.waitForMessages(1);
  assert.equal(JSON.parse(hello.data.toString('utf8')).type, 'auth_required');
  await socket.send(JSON.stringify({ type: 'auth', access_token: forgedToken() }));
  const messages = await socket.waitForMessages(2);
  assert.deepEqual(JSON.parse(messages[1].data.toString('utf8')), { type: 'auth_invalid', message: 'Invalid access token or password' });
  await socket.closed;
  assert.equal(checksAtHa(), before, 'no websocket was opened to HA');
});

test('no failed login is ever recorded under Gatehouse\'s own address', TEST_GUARD, () => {
  assert.deepEqual(double.failedLogins.filter((entry) => entry.ip === '127.0.0.1'), []);
});
