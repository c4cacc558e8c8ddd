// Frontend logic of the HA test double (contract §7.4): what HA's frontend does with the
// real home-assistant-js-websocket library. getAuth runs the OAuth redirect and code
// exchange; tokens go to localStorage["hassTokens"] only when storeToken=true came back
// ("Keep me logged in"); then the websocket shows the user's name and the entity count.
(function () {
  'use strict';

  const HAWS = window.HAWS;
  const statusBox = document.getElementById('status');
  const userBox = document.getElementById('user');
  const countBox = document.getElementById('entity-count');
  const errorBox = document.getElementById('error');
  const logoutButton = document.getElementById('logout');

  // Mirrors the frontend's token_storage.ts: write-enabled once storeToken=true was seen or
  // tokens were already stored.
  const tokenCache = { tokens: undefined, writeEnabled: false };

  function saveTokens(tokens) {
    tokenCache.tokens = tokens;
    if (!tokenCache.writeEnabled && new URLSearchParams(location.search).get('storeToken') === 'true') {
      tokenCache.writeEnabled = true;
    }
    if (tokenCache.writeEnabled) {
      if (tokens) localStorage.hassTokens = JSON.stringify(tokens);
      else delete localStorage.hassTokens;
    }
  }

  function loadTokens() {
    if (tokenCache.tokens === undefined) {
      try {
        const stored = localStorage.hassTokens;
        tokenCache.tokens = stored ? JSON.parse(stored) : null;
        if (stored) tokenCache.writeEnabled = true;
      } catch (error) {
        tokenCache.tokens = null;
      }
    }
    return tokenCache.tokens;
  }

  // After connecting the frontend strips its OAuth parameters from the address bar.
  function stripAuthParameters() {
    const url = new URL(location.href);
    let changed = false;
    for (const name of ['auth_callback', 'code', 'state', 'storeToken']) {
      if (url.searchParams.has(name)) {
        url.searchParams.delete(name);
        changed = true;
      }
    }
    if (changed) history.replaceState(null, '', url.pathname + url.search + url.hash);
  }

  async function main() {
    let auth;
    try {
      auth = await HAWS.getAuth({ hassUrl: location.origin, saveTokens, loadTokens });
    } catch (error) {
      if (error === HAWS.ERR_INVALID_AUTH) {
        // Stored or returned tokens are no longer valid: forget them and log in again.
        saveTokens(null);
        delete localStorage.hassTokens;
        location.assign('/');
        return;
      }
      throw error;
    }
    let connection;
    try {
      connection = await HAWS.createConnection({ auth });
    } catch (error) {
      if (error === HAWS.ERR_INVALID_AUTH) {
        saveTokens(null);
        delete localStorage.hassTokens;
        location.reload();
        return;
      }
      throw error;
    }
    stripAuthParameters();
    statusBox.textContent = 'connected';
    connection.addEventListener('disconnected', () => { statusBox.textContent = 'disconnected'; });
    connection.addEventListener('ready', () => { statusBox.textContent = 'connected'; });
    connection.addEventListener('reconnect-error', () => { statusBox.textContent = 'auth-invalid'; });
    const user = await HAWS.getUser(connection);
    userBox.textContent = user.name;
    HAWS.subscribeEntities(connection, (entities) => {
      countBox.textContent = String(Object.keys(entities).length);
    });
    logoutButton.hidden = false;
    logoutButton.addEventListener('click', async () => {
      await auth.revoke();
      delete localStorage.hassTokens;
      connection.close();
      statusBox.textContent = 'logged-out';
    });
  }

  main().catch((error) => {
    statusBox.textContent = 'error';
    errorBox.textContent = String(error && error.message ? error.message : error);
  });
})();
