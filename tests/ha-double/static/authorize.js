// Login page logic of the HA test double (contract §1.3), plain DOM: fetch providers, start
// a login flow, render its form steps, and on create_entry send the browser to redirect_uri
// with code, state and storeToken. 403 messages are shown as HA shows them.
(function () {
  'use strict';

  const query = new URLSearchParams(location.search);
  const clientId = query.get('client_id');
  const redirectUri = query.get('redirect_uri');
  const state = query.get('state');
  const errorBox = document.getElementById('error');
  const form = document.getElementById('login-form');
  const fieldsBox = document.getElementById('fields');
  const providersBox = document.getElementById('providers');
  const rememberMe = document.getElementById('remember-me');
  const restartButton = document.getElementById('restart');

  let currentStep = null;
  let currentProvider = null;

  const ERROR_TEXT = {
    invalid_auth: 'Invalid username or password',
    invalid_code: 'Invalid authentication code',
  };
  const ABORT_TEXT = {
    not_allowed: 'Your computer is not allowed.',
    login_expired: 'Session expired, please log in again.',
  };

  function showError(text) {
    errorBox.textContent = text;
  }

  // §1.3: refuse a missing or unparsable redirect_uri and dangerous schemes.
  function redirectUriIsUsable(value) {
    if (!value) return false;
    let parsed;
    try {
      parsed = new URL(value);
    } catch (error) {
      return false;
    }
    return !['javascript:', 'data:', 'vbscript:', 'file:', 'about:'].includes(parsed.protocol);
  }

  // §1.3 step 6: append code (?/& as needed), then state, then storeToken.
  function finalRedirect(code) {
    let target = redirectUri + (redirectUri.includes('?') ? '&' : '?') + 'code=' + encodeURIComponent(code);
    if (state) target += '&state=' + encodeURIComponent(state);
    if (rememberMe.checked) target += '&storeToken=true';
    location.assign(target);
  }

  async function postJson(url, body) {
    // HA's page sends JSON as text/plain; HA ignores the Content-Type (§1.1).
    const response = await fetch(url, { method: 'POST', credentials: 'same-origin', body: JSON.stringify(body) });
    let payload = null;
    try {
      payload = await response.json();
    } catch (error) {
      payload = null;
    }
    return { status: response.status, payload };
  }

  function renderField(field, previousValue) {
    const label = document.createElement('label');
    label.textContent = field.name === 'user' ? 'User' : field.name.charAt(0).toUpperCase() + field.name.slice(1);
    label.htmlFor = 'field-' + field.name;
    let input;
    if (field.type === 'select') {
      input = document.createElement('select');
      for (const [value, text] of field.options) {
        const option = document.createElement('option');
        option.value = value;
        option.textContent = text;
        input.appendChild(option);
      }
    } else {
      input = document.createElement('input');
      input.type = field.name === 'password' || field.name === 'code' ? 'password' : 'text';
      input.autocomplete = field.name === 'password' ? 'current-password' : field.name === 'username' ? 'username' : 'off';
    }
    input.name = field.name;
    input.id = 'field-' + field.name;
    if (previousValue !== undefined) input.value = previousValue;
    input.required = Boolean(field.required);
    fieldsBox.appendChild(label);
    fieldsBox.appendChild(input);
  }

  function handleStep(status, step) {
    if (status === 403 || !step || status >= 400) {
      // §1.3 step 7: show the message, e.g. "Login blocked: User is not active".
      showError((step && step.message) || 'Unable to log in (HTTP ' + status + ')');
      form.hidden = true;
      restartButton.hidden = false;
      return;
    }
    if (step.type === 'create_entry') {
      finalRedirect(step.result);
      return;
    }
    if (step.type === 'abort') {
      showError(ABORT_TEXT[step.reason] || 'Login aborted: ' + step.reason);
      form.hidden = true;
      restartButton.hidden = false;
      return;
    }
    // Re-rendering the same step after an error keeps what the user typed, as HA's page does.
    const previousValues = {};
    if (currentStep && currentStep.flow_id === step.flow_id) {
      for (const field of currentStep.data_schema) previousValues[field.name] = form.elements[field.name].value;
    }
    currentStep = step;
    fieldsBox.textContent = '';
    for (const field of step.data_schema) renderField(field, previousValues[field.name]);
    const baseError = step.errors && step.errors.base;
    showError(baseError ? ERROR_TEXT[baseError] || baseError : '');
    form.hidden = false;
    const firstInput = fieldsBox.querySelector('input, select');
    if (firstInput) firstInput.focus();
  }

  async function startFlow(provider) {
    currentProvider = provider;
    showError('');
    restartButton.hidden = true;
    // §1.3 step 4.
    const { status, payload } = await postJson('/auth/login_flow', {
      client_id: clientId,
      handler: [provider.type, provider.id],
      redirect_uri: redirectUri,
    });
    handleStep(status, payload);
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!currentStep) return;
    // §1.3 step 5: the step fields plus client_id.
    const body = { client_id: clientId };
    for (const field of currentStep.data_schema) body[field.name] = form.elements[field.name].value;
    const { status, payload } = await postJson('/auth/login_flow/' + currentStep.flow_id, body);
    handleStep(status, payload);
  });

  restartButton.addEventListener('click', () => startFlow(currentProvider));

  function renderProviders(providers) {
    providersBox.textContent = '';
    if (providers.length < 2) return;
    for (const provider of providers) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'provider';
      button.dataset.type = provider.type;
      button.textContent = 'Log in with ' + provider.name;
      button.addEventListener('click', () => startFlow(provider));
      providersBox.appendChild(button);
    }
    providersBox.hidden = false;
  }

  async function main() {
    if (!redirectUriIsUsable(redirectUri)) {
      showError('Invalid redirect URI');
      return;
    }
    const appNames = { 'https://home-assistant.io/iOS': 'iOS', 'https://home-assistant.io/android': 'Android' };
    const notice = document.getElementById('client-notice');
    if (appNames[clientId]) {
      notice.textContent = 'You are about to log in to the Home Assistant ' + appNames[clientId] + ' app.';
      notice.hidden = false;
    } else if (new URL(redirectUri).host !== location.host) {
      notice.textContent = "You're about to give " + clientId + ' access to your Home Assistant instance.';
      notice.hidden = false;
    }
    // §1.3 steps 1-3.
    const response = await fetch('/auth/providers', { credentials: 'same-origin' });
    const payload = await response.json();
    if (response.status === 400 && payload.code === 'onboarding_required') {
      location.assign('/onboarding.html' + location.search);
      return;
    }
    if (!response.ok) {
      showError(payload.message || 'Unable to load login providers');
      return;
    }
    // Both shapes: a bare list (2023.9-2024.1) or {providers, preselect_remember_me}.
    const providers = Array.isArray(payload) ? payload : payload.providers;
    rememberMe.checked = !Array.isArray(payload) && Boolean(payload.preselect_remember_me);
    if (!providers.length) {
      showError('No login providers available');
      return;
    }
    renderProviders(providers);
    await startFlow(providers[0]);
  }

  main().catch((error) => showError(String(error)));
})();
