// people/page_assets: the page, its script and its style, served as they are.
#include "people/page_assets.hpp"

#include "web/page.hpp"

namespace gatehouse::people {

namespace {

constexpr std::string_view kHtmlHead = R"GH(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="gatehouse-external-url" content=")GH";

constexpr std::string_view kHtmlBody = R"GH(">
<title>People and sessions · Gatehouse</title>
<link rel="stylesheet" href="/gatehouse/people.css">
<script src="/gatehouse/people.js" defer></script>
</head><body>
<header class="toolbar">
<a class="home" href="/" title="Back to Home Assistant">&#8592;</a>
<h1>People and sessions</h1>
<span id="you"></span>
<button id="sign-out" type="button" class="text on-primary" hidden>Sign out</button>
</header>
<main>
<p id="status" class="status" role="status">Loading…</p>
<div id="next-step"></div>
<section id="settings" class="card" hidden>
<div class="card-header"><h2>Sign-in settings</h2></div>
<div class="card-content"><dl class="facts" id="settings-facts"></dl></div>
</section>
<div id="people" class="people"></div>
<section id="audit" class="card" hidden>
<div class="card-header"><h2>Audit log</h2></div>
<form id="audit-filter" class="filters">
<label>Person <select id="audit-person"><option value="">Everyone</option></select></label>
<label>Event <input id="audit-event" list="audit-events" autocomplete="off" spellcheck="false"></label>
<datalist id="audit-events"></datalist>
<label>Since <select id="audit-hours"><option value="24">24 hours</option><option value="168" selected>7 days</option><option value="720">30 days</option><option value="">ever</option></select></label>
<button type="submit" class="primary">Filter</button>
</form>
<div class="table-wrap"><table><thead><tr><th>When</th><th>Event</th><th>About</th><th>From</th><th>Detail</th></tr></thead>
<tbody id="audit-rows"></tbody></table></div>
<p id="audit-more" class="muted more" hidden>Only the newest entries are shown: narrow the filters to see older ones.</p>
</section>
</main>
</body></html>
)GH";

constexpr std::string_view kScript = R"GH('use strict';
(() => {
  const base = document.querySelector('meta[name="gatehouse-external-url"]').content;
  const clientId = base + '/';
  const pageUrl = base + '/gatehouse/people';
  const TOKENS = 'gatehousePeopleTokens';
  const STATE = 'gatehousePeopleState';
  const ROLES = { admin: 'Administrator', user: 'User', read_only: 'Read-only', none: 'No role' };
  const ASKED_BY = { people_page: 'this page', console: 'the console', scim: 'SCIM', revalidation: 'the identity provider' };
  const APPS = { 'https://home-assistant.io/iOS': 'iOS app', 'https://home-assistant.io/android': 'Android app' };
  const $ = (id) => document.getElementById(id);

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === 'class') node.className = value;
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children)
      if (child !== null && child !== undefined && child !== false) node.append(child instanceof Node ? child : String(child));
    return node;
  }
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : '');
  function say(text, kind) {
    const status = $('status');
    status.textContent = text;
    status.className = 'status ' + (kind || '');
    status.hidden = !text;
  }

  let tokens = null;
  try { tokens = JSON.parse(localStorage.getItem(TOKENS) || 'null'); } catch (e) { tokens = null; }
  function keep(next) {
    tokens = next;
    if (next) localStorage.setItem(TOKENS, JSON.stringify(next));
    else localStorage.removeItem(TOKENS);
  }

  function signIn() {
    const state = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
    sessionStorage.setItem(STATE, state);
    const query = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: pageUrl, state });
    location.assign(base + '/auth/authorize?' + query);
  }
  // An explanation and a way on; never an automatic redirect (no loop when a sign-in keeps failing).
  function stop(message) {
    say(message, 'error');
    $('next-step').replaceChildren(el('button', { type: 'button', class: 'primary', id: 'sign-in', onclick: signIn }, 'Sign in again'),
      ' ', el('a', { href: '/', class: 'button-link' }, 'Back to Home Assistant'));
  }

  async function tokenRequest(fields) {
    const response = await fetch('/auth/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...fields, client_id: clientId }),
    });
    if (!response.ok) return null;
    const body = await response.json();
    return { access: body.access_token, refresh: body.refresh_token || fields.refresh_token, expires: Date.now() + body.expires_in * 1000 };
  }
  async function accessToken(renew) {
    if (tokens && !renew && tokens.expires > Date.now() + 20000) return tokens.access;
    if (tokens && tokens.refresh) {
      const fresh = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh });
      if (fresh) { keep(fresh); return fresh.access; }
    }
    keep(null);
    return null;
  }
  // The API with this page's HA access token; one renewal when it is refused.
  async function api(path, options) {
    options = options || {};
    for (const renew of [false, true]) {
      const token = await accessToken(renew);
      if (!token) return { status: 401, body: {} };
      const response = await fetch(path, { ...options, headers: { ...(options.headers || {}), Authorization: 'Bearer ' + token } });
      if (response.status === 401 && !renew) continue;
      let body = {};
      try { body = await response.json(); } catch (e) { body = {}; }
      return { status: response.status, body };
    }
  }
  async function refused(result) {
    if (result.status === 401) return stop('Your sign-in for this page has ended. Sign in again to go on.');
    if (result.status === 403 && result.body.code === 'not_admin') {
      await signOutHere(); // this sign-in is of no use here: its HA session is not left behind
      say(result.body.message || 'Only Home Assistant administrators may see this page.', 'error');
      $('next-step').replaceChildren(el('a', { href: '/', class: 'button-link' }, 'Back to Home Assistant'));
      return;
    }
    say(result.body.message || 'Gatehouse answered ' + result.status + '. Try again in a minute.', 'error');
  }

  function sessionItem(person, session) {
    const websockets = session.websockets ? ' · ' + session.websockets + (session.websockets === 1 ? ' open websocket' : ' open websockets') : '';
    return el('li', { class: 'session' + (session.ended || person.cut_off ? ' ended' : ''), dataset: { session: session.id } },
      el('div', {}, el('div', { class: 'client' }, clientName(session.client_id)),
        el('div', { class: 'muted' }, 'signed in ' + when(session.created)
          + (session.last_used ? ' · last used ' + when(session.last_used) : ' · not used since') + websockets)),
      session.ended || person.cut_off ? el('span', { class: 'muted' }, person.cut_off ? 'Ended by the cut-off' : 'Ending')
        : el('button', { type: 'button', class: 'text', onclick: () => endSession(person, session) }, 'End session'));
  }
  function clientName(id) {
    if (id === clientId) return 'Home Assistant in a browser';
    return APPS[id] || id;
  }
  function personCard(person) {
    const badges = el('div', { class: 'badges' }, el('span', { class: 'badge' }, ROLES[person.role] || person.role));
    if (person.owner) badges.append(el('span', { class: 'badge' }, 'Owner'));
    if (person.you) badges.append(el('span', { class: 'badge' }, 'You'));
    if (person.cut_off) {
      const state = person.cut_off.lift_requested ? 'Access being restored' : person.cut_off.applied ? 'Cut off' : 'Being cut off';
      badges.append(el('span', { class: 'badge danger' }, state));
    } else if (!person.in_home_assistant) badges.append(el('span', { class: 'badge warn' }, 'Not in Home Assistant'));
    else if (!person.active) badges.append(el('span', { class: 'badge warn' }, 'Inactive in Home Assistant'));
    const from = person.last_sign_in_from ? ' from ' + person.last_sign_in_from : '';
    const facts = el('dl', { class: 'facts' },
      el('dt', {}, 'Username'), el('dd', {}, person.username),
      el('dt', {}, 'Signs in with'), el('dd', {}, person.provider_name || person.provider),
      el('dt', {}, 'Last sign-in'), el('dd', {}, when(person.last_sign_in) + from),
      el('dt', {}, 'Open websockets'), el('dd', { class: 'websockets' }, String(person.websockets)));
    if (person.cut_off) {
      const reason = person.cut_off.reason ? ' (' + person.cut_off.reason + ')' : '';
      const by = person.cut_off.held_by.map((holder) => ASKED_BY[holder] || holder).join(' and ') || ASKED_BY[person.cut_off.by] || person.cut_off.by;
      facts.append(el('dt', {}, 'Cut off'), el('dd', {}, when(person.cut_off.requested) + ' from ' + by + reason));
    }
    const actions = el('div', { class: 'card-actions' });
    if (person.cut_off && !person.cut_off.lift_requested) {
      const others = person.cut_off.held_by.filter((holder) => holder !== 'people_page');
      if (others.length === 0)
        actions.append(el('button', { type: 'button', class: 'text', onclick: () => lift(person) }, 'Restore access'));
      else actions.append(el('span', { class: 'muted note' }, 'Only ' + others.map((holder) => ASKED_BY[holder] || holder).join(' and ') + ' can restore access'));
    } else if (!person.cut_off && !person.you && (!person.owner || youOwner))
      actions.append(el('button', { type: 'button', class: 'text danger', onclick: () => cutOff(person) }, 'Cut off'));
    const sessions = el('ul', { class: 'sessions' }, ...person.sessions.map((session) => sessionItem(person, session)));
    return el('article', { class: 'card person', dataset: { person: person.ha_user_id, username: person.username } },
      el('div', { class: 'card-header' }, el('h2', {}, person.name), badges),
      el('div', { class: 'card-content' }, facts, el('h3', {}, person.sessions.length ? 'Sessions' : 'No sessions'), sessions),
      actions);
  }
  function showSettings(data) {
    const grants = data.break_glass.length
      ? data.break_glass.map((grant) => 'open until ' + when(grant.expires) + (grant.used ? ', used ' + when(grant.used) + ' from ' + grant.used_by : ', not used yet'))
      : ['none open'];
    $('settings-facts').replaceChildren(
      el('dt', {}, 'Home Assistant\'s own password login'), el('dd', { id: 'local-login' }, data.local_login),
      el('dt', {}, 'Break-glass grants'), el('dd', { id: 'break-glass' }, ...grants.map((text) => el('div', {}, text))));
    $('settings').hidden = false;
  }

  let youOwner = false;
  async function loadPeople() {
    const result = await api('/gatehouse/api/people');
    if (result.status !== 200) return refused(result);
    const data = result.body;
    youOwner = data.you.owner;
    $('you').textContent = data.you.name;
    $('sign-out').hidden = false;
    showSettings(data);
    $('people').replaceChildren(...data.people.map(personCard));
    if (!data.people.length) $('people').append(el('p', { class: 'status' }, 'Nobody has signed in through Gatehouse yet.'));
    const chosen = $('audit-person').value;
    $('audit-person').replaceChildren(el('option', { value: '' }, 'Everyone'),
      ...data.people.map((person) => el('option', { value: person.username }, person.name + ' (' + person.username + ')')));
    $('audit-person').value = chosen;
    return true;
  }
  function detailText(detail) {
    return Object.entries(detail || {}).map(([key, value]) => key + ': ' + (typeof value === 'object' ? JSON.stringify(value) : value)).join(', ');
  }
  async function loadAudit() {
    const query = new URLSearchParams();
    if ($('audit-person').value) query.set('person', $('audit-person').value);
    if ($('audit-event').value.trim()) query.set('event', $('audit-event').value.trim());
    if ($('audit-hours').value) query.set('hours', $('audit-hours').value);
    const result = await api('/gatehouse/api/audit?' + query);
    if (result.status !== 200) return refused(result);
    const entries = result.body.entries;
    $('audit-rows').replaceChildren(...entries.map((entry) => el('tr', {},
      el('td', { class: 'when' }, when(entry.at)), el('td', { class: 'event' }, entry.event), el('td', {}, entry.subject),
      el('td', {}, entry.client), el('td', { class: 'detail' }, detailText(entry.detail)))));
    if (!entries.length) $('audit-rows').append(el('tr', {}, el('td', { colspan: '5', class: 'muted' }, 'No entries match.')));
    const events = new Set([...$('audit-events').options].map((option) => option.value));
    for (const entry of entries) if (!events.has(entry.event)) { events.add(entry.event); $('audit-events').append(el('option', { value: entry.event })); }
    $('audit-more').hidden = !result.body.more;
    $('audit').hidden = false;
  }
  async function refresh() {
    if (await loadPeople()) await loadAudit();
  }

  async function send(request) {
    const result = await api('/gatehouse/api/actions', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(request),
    });
    if (result.status === 401) return refused(result);
    say(result.body.message || 'Gatehouse answered ' + result.status + '.', result.status === 202 ? 'ok' : 'error');
    await refresh();
    if (result.status === 202) setTimeout(refresh, 2000); // by then the serving process has applied it
  }
  function cutOff(person) {
    const reason = prompt('Cut ' + person.name + ' off? Their websockets close, their tokens are refused and Home Assistant '
      + 'ends their sessions; signing in again is refused until you restore access. Reason, for the audit log:', '');
    if (reason !== null) send({ action: 'cut_off', person: person.ha_user_id, reason });
  }
  function lift(person) {
    if (confirm('Restore ' + person.name + '\'s access? They may sign in again; their ended sessions stay ended.'))
      send({ action: 'lift', person: person.ha_user_id });
  }
  function endSession(person, session) {
    if (confirm('End this session of ' + person.name + ' (' + clientName(session.client_id) + ')? Its websockets close and its tokens are refused.'))
      send({ action: 'end_session', session: session.id });
  }
  async function signOutHere() {
    if (tokens && tokens.refresh)
      await fetch('/auth/revoke', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: tokens.refresh }) }).catch(() => {});
    keep(null);
  }
  async function signOut() {
    await signOutHere();
    location.assign('/');
  }

  async function start() {
    $('audit-filter').addEventListener('submit', (event) => { event.preventDefault(); loadAudit(); });
    $('sign-out').addEventListener('click', signOut);
    const params = new URLSearchParams(location.search);
    if (params.has('code') || params.has('error')) {
      const expected = sessionStorage.getItem(STATE);
      sessionStorage.removeItem(STATE);
      history.replaceState(null, '', location.pathname);
      // Nothing from the address is shown before its state is this page's own.
      if (!expected || params.get('state') !== expected) return stop('This sign-in was not started by this page.');
      if (params.has('error')) return stop('The sign-in did not finish (' + params.get('error').slice(0, 64) + ').');
      const fresh = await tokenRequest({ grant_type: 'authorization_code', code: params.get('code') });
      if (!fresh) return stop('Home Assistant did not accept the sign-in.');
      keep(fresh);
    }
    if (!tokens) return signIn();
    say('');
    await refresh();
  }
  start().catch((error) => stop('Something went wrong: ' + error.message));
})();
)GH";

constexpr std::string_view kStyle = R"GH(:root{--primary:#03a9f4;--text:#212121;--secondary:#727272;--bg:#fafafa;--card:#fff;--divider:rgba(0,0,0,.12);
--error:#db4437;--warning:#b87800;--success:#43a047;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--text:#e1e1e1;--secondary:#9b9b9b;--bg:#111;--card:#1c1c1c;--divider:rgba(225,225,225,.12);--warning:#ffa600}}
*{box-sizing:border-box}
[hidden]{display:none!important}
body{margin:0;font-family:Roboto,Noto,"Noto Sans",system-ui,sans-serif;background:var(--bg);color:var(--text);font-size:14px;line-height:1.5;-webkit-font-smoothing:antialiased}
.toolbar{display:flex;align-items:center;gap:12px;height:56px;padding:0 8px 0 16px;background:var(--primary);color:#fff}
.toolbar h1{font-size:20px;font-weight:400;margin:0;flex:1;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.toolbar a{color:#fff;text-decoration:none;font-size:20px}
main{max-width:1040px;margin:0 auto;padding:16px;display:grid;gap:16px}
.people{display:grid;gap:16px;grid-template-columns:repeat(auto-fill,minmax(min(100%,460px),1fr))}
.card{background:var(--card);border:1px solid var(--divider);border-radius:12px;overflow:hidden}
.card-header{display:flex;flex-wrap:wrap;align-items:center;gap:8px;padding:16px 16px 0}
.card-header h2{font-size:24px;font-weight:400;margin:0;flex:1 1 auto}
.card-content{padding:8px 16px 16px}
.card-actions{border-top:1px solid var(--divider);padding:4px 8px;display:flex;justify-content:flex-end;gap:8px}
.card-actions:empty{display:none}
h3{font-size:12px;font-weight:500;margin:16px 0 0;color:var(--secondary);text-transform:uppercase;letter-spacing:.08em}
.badges{display:flex;flex-wrap:wrap;gap:6px}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-size:12px;background:rgba(3,169,244,.15);color:var(--primary)}
.badge.danger{background:rgba(219,68,55,.15);color:var(--error)}
.badge.warn{background:rgba(255,166,0,.18);color:var(--warning)}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:8px 0}
.facts dt{color:var(--secondary)}
.facts dd{margin:0;word-break:break-word}
.sessions{list-style:none;margin:0;padding:0}
.session{display:flex;justify-content:space-between;align-items:center;gap:8px;padding:8px 0;border-bottom:1px solid var(--divider)}
.session:last-child{border-bottom:0}
.session.ended{opacity:.6}
.client{word-break:break-all}
.muted{color:var(--secondary)}
button,.button-link{font:inherit;font-weight:500;letter-spacing:.04em;border-radius:4px;padding:8px 12px;cursor:pointer;border:0;min-height:36px;text-transform:uppercase;display:inline-block;text-decoration:none}
button.text,.button-link{background:none;color:var(--primary)}
button.text.danger{color:var(--error)}
button.primary{background:var(--primary);color:#fff}
button.on-primary{color:#fff}
button:focus-visible,a:focus-visible{outline:2px solid var(--primary);outline-offset:2px}
.status{margin:0;padding:12px 16px;border-radius:12px;background:var(--card);border:1px solid var(--divider)}
.status.error{border-color:var(--error);color:var(--error)}
.status.ok{border-color:var(--success)}
.filters{display:flex;flex-wrap:wrap;gap:12px;align-items:end;padding:8px 16px}
.filters label{display:grid;gap:2px;color:var(--secondary);font-size:12px}
input,select{font:inherit;color:var(--text);background:var(--bg);border:1px solid var(--divider);border-radius:4px;padding:6px 8px;min-height:36px}
.table-wrap{overflow-x:auto;padding:0 16px 16px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--divider);vertical-align:top}
th{color:var(--secondary);font-weight:500}
td.when{white-space:nowrap}
td.detail{word-break:break-word;min-width:12rem}
.more{padding:0 16px 16px;margin:0}
.note{padding:8px 12px}
@media (max-width:600px){.toolbar h1{font-size:18px}#you{display:none}.card-header h2{font-size:20px}main{padding:8px;gap:8px}.people{gap:8px}}
)GH";

} // namespace

std::string page_html(std::string_view external_url) {
  return std::string(kHtmlHead) + web::html_escape(external_url) + std::string(kHtmlBody);
}

std::string_view page_script() { return kScript; }
std::string_view page_style() { return kStyle; }

} // namespace gatehouse::people
