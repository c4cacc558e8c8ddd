// Gatehouse's admin connection to HA (issue: "clear startup error when the token is invalid or not
// admin"): serve refuses to start with a rejected token or a non-admin user's token, says what to do,
// and tries the token only once (each rejected attempt is a failed login HA records, contract §1.12).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDouble } from './lib/double.mjs';
import { runGatehouse, TEST_GUARD, tmpRoot } from './lib/harness.mjs';
import { toYamlDocument } from './lib/sso-stack.mjs';
import { newSecret, recordSecret } from './lib/secrets.mjs';

async function configWithToken(t, double, token) {
  const dir = mkdtempSync(join(tmpRoot, 'admin-token-'));
  const tokenFile = join(dir, 'ha-token');
  const secretFile = join(dir, 'idp-secret');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const clientSecret = newSecret('client-secret');
  writeFileSync(secretFile, clientSecret, { mode: 0o600 });
  const config = {
    listen: '127.0.0.1:0',
    external_url: 'http://127.0.0.1:8123',
    data_dir: join(dir, 'data'),
    home_assistant: { url: double.url, token_file: tokenFile },
    // Never contacted at startup: an IdP that is down must not keep Gatehouse from starting.
    providers: [{ id: 'main', issuer: 'http://127.0.0.1:9', client_id: 'gatehouse', client_secret_file: secretFile }],
    users: { roles: { admin: ['ha-admins'] } },
  };
  const configPath = join(dir, 'gatehouse.yaml');
  writeFileSync(configPath, toYamlDocument(config));
  return configPath;
}

test('a token HA rejects stops serve with a message that says what to do, after one attempt', TEST_GUARD, async (t) => {
  const double = await startDouble({ useXForwardedFor: true, trustedProxies: ['127.0.0.1'] },
    { ownFailedLoginsExpected: 'the operator configured a wrong admin token: Gatehouse tries it once' });
  t.after(() => double.close());
  const badToken = recordSecret(newSecret('not-a-token'));
  const configPath = await configWithToken(t, double, badToken);
  const result = await runGatehouse(['serve', '-c', configPath], { timeoutMs: 20_000 });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /rejected the admin token/);
  assert.match(result.stderr, /long-lived access token/);
  assert.equal(double.websocketCounters.opened, 1, 'the rejected token was tried more than once');
});

test('a token of a user who is not an admin stops serve with a message naming the problem', TEST_GUARD, async (t) => {
  const double = await startDouble({ useXForwardedFor: true, trustedProxies: ['127.0.0.1'] });
  t.after(() => double.close());
  const { id } = await double.createUser({ name: 'Plain', username: 'plain', password: newSecret('pw'), groups: ['system-users'] });
  const { token } = await double.createLongLivedToken(id, { clientName: 'gatehouse' });
  recordSecret(token);
  const configPath = await configWithToken(t, double, token);
  const result = await runGatehouse(['serve', '-c', configPath], { timeoutMs: 20_000 });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /not an administrator/);
  assert.equal(double.failedLogins.length, 0, 'a valid non-admin token is not a failed login');
});
