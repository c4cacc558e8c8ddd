// Onboarding logic of the HA test double (contract §8.3, §1.9): POST /api/onboarding/users,
// exchange the code, finish the remaining steps with the new token, then log the browser in
// through the code from the integration step, the way HA's onboarding ends.
(function () {
  'use strict';

  const form = document.getElementById('onboarding-form');
  const errorBox = document.getElementById('error');
  const clientId = location.origin + '/';

  async function postJson(url, body, accessToken) {
    const headers = accessToken ? { Authorization: 'Bearer ' + accessToken } : {};
    const response = await fetch(url, { method: 'POST', credentials: 'same-origin', headers, body: JSON.stringify(body) });
    const payload = await response.json().catch(() => null);
    if (!response.ok) throw new Error((payload && payload.message) || 'HTTP ' + response.status);
    return payload;
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const { auth_code: userCode } = await postJson('/api/onboarding/users', {
        client_id: clientId,
        name: form.elements.name.value,
        username: form.elements.username.value,
        password: form.elements.password.value,
        language: 'en',
      });
      const tokenForm = new FormData();
      tokenForm.append('client_id', clientId);
      tokenForm.append('grant_type', 'authorization_code');
      tokenForm.append('code', userCode);
      const tokens = await (await fetch('/auth/token', { method: 'POST', body: tokenForm })).json();
      await postJson('/api/onboarding/core_config', {}, tokens.access_token);
      await postJson('/api/onboarding/analytics', {}, tokens.access_token);
      const redirectUri = location.origin + '/?auth_callback=1';
      const { auth_code: finalCode } = await postJson('/api/onboarding/integration', { client_id: clientId, redirect_uri: redirectUri }, tokens.access_token);
      const state = btoa(JSON.stringify({ hassUrl: location.origin, clientId }));
      location.assign(redirectUri + '&code=' + encodeURIComponent(finalCode) + '&state=' + encodeURIComponent(state) + '&storeToken=true');
    } catch (error) {
      errorBox.textContent = String(error.message || error);
    }
  });
})();
