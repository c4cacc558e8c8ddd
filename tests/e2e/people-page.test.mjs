// The people-and-sessions page (people/people_page) for HA administrators. Real parts: the IdP
// (oidc-provider), HA's own client library (home-assistant-js-websocket) for the people being looked
// at, Chromium for the page, the HA double.
// - The API: no token, a token HA does not know, and a non-administrator's token are refused (401 / 401 /
//   403 JSON); an administrator sees each person with role, last sign-in and from where, sessions and
//   open websockets, and the sign-in settings; the audit log filters by person, event and hours.
// - Actions, POSTed as JSON with the administrator's bearer token: ending one session closes its
//   websocket and refuses its token, the person's other session untouched; a cut-off closes the
//   person's websockets and refuses signing in again; a lift lets them back; every action is audited
//   with who asked. Bad input: another content type (415), no JSON (400), an unknown action (400), an
//   unknown person or session (404), cutting yourself off or ending a session twice (409). Ending a
//   session of someone whose HA user was deleted in HA ends it at the door, with no login attempt in HA.
// - In Chromium: the page signs in through Gatehouse (IdP form), shows the people, ends a session and
//   cuts a person off through its buttons; screenshots (desktop and phone) go to the test output; a
//   non-administrator sees why they are refused, with no redirect loop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_GUARD, tmpRoot, pollUntil, runGatehouse } from './lib/harness.mjs';
import { request } from './lib/http-client.mjs';
import { routeHawsThrough, signInAndConnect } from './lib/haws-node.mjs';
import { startSsoStack, frontendState, CLIENT_ADDRESS } from './lib/sso-stack.mjs';
import { chromium, CHROMIUM, CHROMIUM_ARGS, noBrowser } from './lib/chromium.mjs';

const screenshots = join(tmpRoot, 'screenshots');

function api(stack, path, { token, method = 'GET', body, contentType = 'application/json' } = {}) {
  const headers = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = contentType;
  return request(`${stack.externalUrl}${path}`, { method, headers, body, localAddress: CLIENT_ADDRESS });
}
const act = (stack, token, action) => api(stack, '/gatehouse/api/actions', { token, method: 'POST', body: JSON.stringify(action) });
const personIn = (people, username) => people.find((person) => person.username === username);

test('people API: ending a session of someone whose HA user was deleted in HA ends it at the door and asks nothing of HA as them', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t);
  routeHawsThrough(stack.externalUrl, CLIENT_ADDRESS);
  const alice = await signInAndConnect(t, stack, 'alice');
  const bob = await signInAndConnect(t, stack, 'bob');
  const session = JSON.parse(Buffer.from(bob.auth.accessToken.split('.')[1], 'base64url')).iss;
  stack.double.deleteUser(stack.userNamed('bob.builder').id); // an admin, in HA's user list (his socket stays: §5)
  const flowsBefore = stack.loginFlowRequestCount();
  const end = await act(stack, alice.auth.accessToken, { action: 'end_session', session });
  assert.equal(end.status, 202, end.text());
  const done = await pollUntil(async () => {
    const kinds = (await stack.audit(['--user', 'bob.builder'])).map((entry) => entry.kind);
    return { done: kinds.includes('sessions_ended_in_ha'), value: kinds };
  }, { timeoutMs: 10_000 });
  assert.ok(done.includes('sessions_ended_in_ha'), done.join(' '));
  assert.equal(stack.loginFlowRequestCount(), flowsBefore, 'HA was not asked to sign Gatehouse in as him');
  assert.equal((await bob.closed).code, 1008, 'his socket through Gatehouse is closed at the door');
});

test('people API: only HA administrators; people, sessions and websockets; end a session, cut off and lift, each audited; bad input refused', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t);
  routeHawsThrough(stack.externalUrl, CLIENT_ADDRESS);
  const alice = await signInAndConnect(t, stack, 'alice'); // in ha-admins
  const bob = await signInAndConnect(t, stack, 'bob'); // in ha-users
  const bobsOther = await signInAndConnect(t, stack, 'bob'); // a second session of bob's
  const gus = await signInAndConnect(t, stack, 'gus');
  const aliceToken = alice.auth.accessToken;

  // Refused callers: JSON the page can show, and nothing about anyone.
  const none = await api(stack, '/gatehouse/api/people');
  assert.equal(none.status, 401);
  assert.equal(none.json().code, 'unauthorized');
  const forged = await api(stack, '/gatehouse/api/people', { token: `${aliceToken.slice(0, -4)}AAAA` });
  assert.equal(forged.status, 401);
  const notAdmin = await api(stack, '/gatehouse/api/people', { token: bob.auth.accessToken });
  assert.equal(notAdmin.status, 403);
  assert.equal(notAdmin.json().code, 'not_admin');
  assert.match(notAdmin.json().message, /Only Home Assistant administrators/);
  assert.doesNotMatch(notAdmin.text(), /alice/i);
  const notAdminAction = await act(stack, bob.auth.accessToken, { action: 'cut_off', person: stack.userNamed('alice').id });
  assert.equal(notAdminAction.status, 403);

  // What an administrator sees.
  const listed = await api(stack, '/gatehouse/api/people', { token: aliceToken });
  assert.equal(listed.status, 200, listed.text());
  const overview = listed.json();
  assert.equal(overview.you.name, 'Alice Liddell');
  assert.equal(overview.local_login, 'disabled');
  assert.deepEqual(overview.break_glass, []);
  const aliceRow = personIn(overview.people, 'alice');
  const bobRow = personIn(overview.people, 'bob.builder');
  assert.deepEqual({ role: aliceRow.role, you: aliceRow.you, websockets: aliceRow.websockets, from: aliceRow.last_sign_in_from, provider: aliceRow.provider, providerName: aliceRow.provider_name },
    { role: 'admin', you: true, websockets: 1, from: CLIENT_ADDRESS, provider: 'idp1', providerName: 'Test IdP 1' });
  assert.deepEqual({ name: bobRow.name, role: bobRow.role, you: bobRow.you, active: bobRow.active, websockets: bobRow.websockets, cutOff: bobRow.cut_off },
    { name: 'Bob the Builder', role: 'user', you: false, active: true, websockets: 2, cutOff: null });
  assert.equal(bobRow.ha_user_id, stack.userNamed('bob.builder').id);
  assert.equal(bobRow.sessions.length, 2);
  for (const session of bobRow.sessions) {
    assert.equal(session.client_id, stack.frontendClientId);
    assert.equal(session.websockets, 1);
    assert.equal(session.ended, null);
    assert.ok(Date.parse(session.last_used) >= Date.parse(session.created) - 60_000, JSON.stringify(session)); // its websocket's auth
  }
  // The sessions are HA's refresh tokens of bob's, by id.
  const bobsHaSessions = stack.double.refreshTokens().filter((token) => token.userId === bobRow.ha_user_id).map((token) => token.id);
  assert.deepEqual(bobRow.sessions.map((session) => session.id).sort(), bobsHaSessions.sort());

  // Bad input.
  const asForm = await api(stack, '/gatehouse/api/actions', { token: aliceToken, method: 'POST', body: 'action=cut_off', contentType: 'application/x-www-form-urlencoded' });
  assert.equal(asForm.status, 415);
  const notJson = await api(stack, '/gatehouse/api/actions', { token: aliceToken, method: 'POST', body: '{"action":' });
  assert.equal(notJson.status, 400);
  assert.equal(notJson.json().code, 'bad_action');
  assert.equal((await act(stack, aliceToken, { action: 'delete_everyone' })).json().code, 'bad_action');
  assert.equal((await act(stack, aliceToken, { action: 'cut_off', person: 42 })).status, 400);
  const nobody = await act(stack, aliceToken, { action: 'cut_off', person: 'no-such-user' });
  assert.deepEqual([nobody.status, nobody.json().code], [404, 'no_such_person']);
  const noSession = await act(stack, aliceToken, { action: 'end_session', session: 'no-such-session' });
  assert.deepEqual([noSession.status, noSession.json().code], [404, 'no_such_session']);
  const self = await act(stack, aliceToken, { action: 'cut_off', person: aliceRow.ha_user_id });
  assert.deepEqual([self.status, self.json().code], [409, 'own_account']);
  const longReason = await act(stack, aliceToken, { action: 'cut_off', person: bobRow.ha_user_id, reason: 'x'.repeat(201) });
  assert.deepEqual([longReason.status, longReason.json().code], [400, 'reason_too_long']);
  for (const hours of ['soon', '0', '100000']) {
    const badHours = await api(stack, `/gatehouse/api/audit?hours=${hours}`, { token: aliceToken });
    assert.deepEqual([badHours.status, badHours.json().code], [400, 'bad_filter'], hours);
  }
  const getActions = await api(stack, '/gatehouse/api/actions', { token: aliceToken });
  assert.equal(getActions.status, 405);

  // Ending one of bob's sessions: its websocket closes and its token is refused; his other one goes on.
  // An access token's iss is its session's (refresh token's) id (contract §2.2).
  const sessionOf = (accessToken) => JSON.parse(Buffer.from(accessToken.split('.')[1], 'base64url')).iss;
  const ended = bobRow.sessions.find((session) => session.id === sessionOf(bob.auth.accessToken));
  assert.ok(ended, 'bob\'s first session is listed');
  const end = await act(stack, aliceToken, { action: 'end_session', session: ended.id });
  assert.equal(end.status, 202, end.text());
  assert.equal((await bob.closed).code, 1008);
  const refusedToken = await request(`${stack.externalUrl}/api/states`, { headers: { authorization: `Bearer ${bob.auth.accessToken}` }, localAddress: CLIENT_ADDRESS });
  assert.equal(refusedToken.status, 401);
  const stillThere = await request(`${stack.externalUrl}/api/states`, { headers: { authorization: `Bearer ${bobsOther.auth.accessToken}` }, localAddress: CLIENT_ADDRESS });
  assert.equal(stillThere.status, 200);
  const again = await act(stack, aliceToken, { action: 'end_session', session: ended.id });
  assert.deepEqual([again.status, again.json().code], [409, 'already_ended']);
  // Listed as ended until HA has deleted it, then no more (the audit log keeps it).
  const afterEnd = personIn((await api(stack, '/gatehouse/api/people', { token: aliceToken })).json().people, 'bob.builder');
  assert.equal(afterEnd.websockets, 1);
  assert.deepEqual(afterEnd.sessions.filter((session) => !session.ended).map((session) => session.id), [sessionOf(bobsOther.auth.accessToken)]);
  const endedRow = afterEnd.sessions.find((session) => session.id === ended.id);
  if (endedRow) assert.equal(endedRow.ended.by, 'people_page');
  const deletedInHa = await pollUntil(() => {
    const gone = !stack.double.refreshTokens().some((token) => token.id === ended.id);
    return { done: gone, value: gone };
  });
  assert.ok(deletedInHa, 'HA deleted the ended session');

  // Cutting bob off: his remaining websocket closes, signing in again is refused; then a lift.
  const cut = await act(stack, aliceToken, { action: 'cut_off', person: bobRow.ha_user_id, reason: 'moved out' });
  assert.equal(cut.status, 202, cut.text());
  assert.deepEqual({ code: (await bobsOther.closed).code, reason: (await bobsOther.closed).reason }, { code: 1008, reason: 'Access removed' });
  const twice = await act(stack, aliceToken, { action: 'cut_off', person: bobRow.ha_user_id });
  assert.deepEqual([twice.status, twice.json().code], [409, 'already_cut_off']);
  const cutRow = await pollUntil(async () => {
    const answer = await api(stack, '/gatehouse/api/people', { token: aliceToken });
    const row = personIn(answer.json().people ?? [], 'bob.builder');
    assert.ok(row, answer.text());
    return { done: Boolean(row.cut_off?.applied), value: row };
  });
  assert.deepEqual({ by: cutRow.cut_off.by, reason: cutRow.cut_off.reason, websockets: cutRow.websockets }, { by: 'people_page', reason: 'moved out', websockets: 0 });
  const refusedSignIn = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'bob' });
  assert.equal(refusedSignIn.kind, 'page');
  const lift = await act(stack, aliceToken, { action: 'lift', person: bobRow.ha_user_id });
  assert.equal(lift.status, 202, lift.text());
  const lifted = await pollUntil(async () => {
    const row = personIn((await api(stack, '/gatehouse/api/people', { token: aliceToken })).json().people, 'bob.builder');
    return { done: row.cut_off === null, value: row.cut_off === null };
  });
  assert.ok(lifted, 'the lift was applied');
  const back = await stack.login({ state: frontendState(stack.externalUrl, stack.frontendClientId), username: 'bob' });
  assert.equal(back.kind, 'redirect', 'bob signs in again after the lift');
  // A cut-off the console asked for is the console's to lift.
  // The page may add its own cut-off to it, but lifting the page's does not end the console's.
  const consoleCut = await runGatehouse(['cut-off', '-c', stack.configPath, 'bob.builder']);
  assert.equal(consoleCut.code, 0, consoleCut.stderr);
  const joined = await act(stack, aliceToken, { action: 'cut_off', person: bobRow.ha_user_id, reason: 'and from here' });
  assert.equal(joined.status, 202, joined.text());
  assert.match(joined.json().message, /already cut off; this page's cut-off holds them now too/);
  const heldRow = personIn((await api(stack, '/gatehouse/api/people', { token: aliceToken })).json().people, 'bob.builder');
  assert.deepEqual(heldRow.cut_off.held_by, ['console', 'people_page']);
  const notOurs = await act(stack, aliceToken, { action: 'lift', person: bobRow.ha_user_id });
  assert.deepEqual([notOurs.status, notOurs.json().code], [409, 'cut_off_elsewhere']);
  assert.match(notOurs.json().message, /cut off by console, not only on this page; .*gatehouse cut-off --lift/);

  // The audit log: each action with who asked, filtered by person and event.
  const audit = await api(stack, '/gatehouse/api/audit?person=bob.builder&event=people_page_action&hours=1', { token: aliceToken });
  assert.equal(audit.status, 200);
  const actions = audit.json().entries.map((entry) => ({ action: entry.detail.action, by: entry.detail.by, client: entry.client }));
  assert.deepEqual(actions, [
    { action: 'cut_off', by: 'Alice Liddell', client: CLIENT_ADDRESS },
    { action: 'lift', by: 'Alice Liddell', client: CLIENT_ADDRESS },
    { action: 'cut_off', by: 'Alice Liddell', client: CLIENT_ADDRESS },
    { action: 'end_session', by: 'Alice Liddell', client: CLIENT_ADDRESS },
  ]);
  const signIns = (await api(stack, '/gatehouse/api/audit?event=login_succeeded', { token: aliceToken })).json().entries;
  assert.deepEqual([...new Set(signIns.map((entry) => entry.subject))].sort(), ['alice', 'bob.builder', 'gus']);

  // When each session was last used is kept across a restart (written at exit, and every minute).
  gus.connection.close();
  await gus.closed;
  const gusBefore = personIn((await api(stack, '/gatehouse/api/people', { token: aliceToken })).json().people, 'gus').sessions;
  assert.equal(gusBefore.length, 1);
  assert.ok(gusBefore[0].last_used, 'gus\'s websocket was a use');
  await stack.restartGatehouse();
  const gusAfter = personIn((await api(stack, '/gatehouse/api/people', { token: aliceToken })).json().people, 'gus').sessions;
  assert.deepEqual(gusAfter.map((session) => [session.id, session.last_used]), gusBefore.map((session) => [session.id, session.last_used]));
  stack.assertHygiene({ clientChecks: false }); // the cut-off signs in to HA as bob itself (sessions/cut_off), for no client
});

async function launch(t) {
  const profile = mkdtempSync(join(tmpdir(), 'gatehouse-people-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, ignoreHTTPSErrors: true, args: CHROMIUM_ARGS, viewport: { width: 1280, height: 900 },
  });
  t.after(async () => {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  });
  return browser;
}

async function openSignedIn(browser, stack, username) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${stack.externalUrl}/gatehouse/people`);
  await page.waitForURL((url) => url.href.startsWith(`${stack.idp.issuer}/interaction/`));
  await page.fill('#username', username);
  await page.click('#signin');
  await page.waitForURL((url) => url.href === `${stack.externalUrl}/gatehouse/people`);
  return { page, errors };
}

test('people page in Chromium: an administrator signs in, sees people and sessions, ends a session and cuts a person off; a non-administrator is told why', { ...TEST_GUARD, timeout: 90_000, skip: noBrowser }, async (t) => {
  mkdirSync(screenshots, { recursive: true });
  const stack = await startSsoStack(t);
  routeHawsThrough(stack.externalUrl, CLIENT_ADDRESS);
  const bob = await signInAndConnect(t, stack, 'bob');
  const dora = await signInAndConnect(t, stack, 'dora');

  const browser = await launch(t);
  const { page, errors } = await openSignedIn(browser, stack, 'alice');
  const bobCard = page.locator('article[data-username="bob.builder"]');
  await bobCard.waitFor();
  assert.equal(await page.textContent('#you'), 'Alice Liddell');
  assert.equal((await bobCard.locator('h2').textContent()), 'Bob the Builder');
  assert.equal(await bobCard.locator('.websockets').textContent(), '1');
  assert.equal(await page.locator('article[data-username="alice"] .badge', { hasText: 'You' }).count(), 1);
  assert.equal(await page.textContent('#local-login'), 'disabled');
  await page.locator('#audit-rows tr').first().waitFor();
  assert.ok(await page.locator('#audit-rows td.event', { hasText: 'login_succeeded' }).count() >= 3);
  const desktop = join(screenshots, 'people-page-desktop.png');
  await page.screenshot({ path: desktop, fullPage: true });
  t.diagnostic(`screenshot: ${desktop}`);

  // End bob's session with its button (a confirmation first).
  page.once('dialog', (dialog) => dialog.accept());
  await bobCard.locator('.session button', { hasText: 'End session' }).click();
  await page.waitForFunction(() => /ends within a second/.test(document.getElementById('status').textContent));
  assert.equal((await bob.closed).code, 1008);
  await bobCard.locator('.session button', { hasText: 'End session' }).waitFor({ state: 'detached' });

  // Cut dora off with her button (a reason asked first); her card says so once it is applied.
  const doraCard = page.locator('article[data-username="dora"]');
  page.once('dialog', (dialog) => dialog.accept('lost her phone'));
  await doraCard.locator('button', { hasText: 'Cut off' }).click();
  assert.equal((await dora.closed).reason, 'Access removed');
  await doraCard.locator('.badge', { hasText: /^Cut off$/ }).waitFor();
  await doraCard.locator('button', { hasText: 'Restore access' }).waitFor();
  await page.selectOption('#audit-person', 'dora');
  await page.fill('#audit-event', 'people_page_action');
  await page.click('#audit-filter button[type=submit]');
  await page.waitForFunction(() => {
    const events = [...document.querySelectorAll('#audit-rows td.event')].map((cell) => cell.textContent);
    return events.length === 1 && events[0] === 'people_page_action';
  });
  assert.match(await page.textContent('#audit-rows td.detail'), /action: cut_off, by: Alice Liddell, .*reason: lost her phone/);

  await page.setViewportSize({ width: 390, height: 844 });
  const phone = join(screenshots, 'people-page-phone.png');
  await page.screenshot({ path: phone, fullPage: true });
  t.diagnostic(`screenshot: ${phone}`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page fits a phone's width (${overflow}px too wide)`);
  assert.deepEqual(errors, []);

  // Bob (not an administrator) in another browser: told why, and offered a way back, not sent round again;
  // the HA session that sign-in made is revoked, not left behind.
  const bobsUserId = stack.userNamed('bob.builder').id;
  const bobsSessionsBefore = stack.double.refreshTokens().filter((token) => token.userId === bobsUserId).length;
  const other = await launch(t);
  const { page: bobsPage } = await openSignedIn(other, stack, 'bob');
  await bobsPage.waitForFunction(() => /Only Home Assistant administrators/.test(document.getElementById('status').textContent));
  assert.equal(await bobsPage.locator('article').count(), 0);
  assert.equal(new URL(bobsPage.url()).pathname, '/gatehouse/people');
  assert.equal(await bobsPage.evaluate(() => localStorage.getItem('gatehousePeopleTokens')), null);
  assert.equal(stack.double.refreshTokens().filter((token) => token.userId === bobsUserId).length, bobsSessionsBefore);
  const refusedShot = join(screenshots, 'people-page-not-admin.png');
  await bobsPage.screenshot({ path: refusedShot });
  t.diagnostic(`screenshot: ${refusedShot}`);
  stack.assertHygiene({ clientChecks: false });
});
