// `gatehouse doctor -c FILE` (issue 12): a live setup checked end to end, one line per check, each
// failure with what to fix. Real parts: the HA double (with and without Gatehouse as its trusted
// proxy), the real OpenID provider over TLS, and a TLS certificate made by openssl.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_GUARD, mergeConfig, runGatehouse } from './lib/harness.mjs';
import { startSsoStack, toYamlDocument } from './lib/sso-stack.mjs';
import { execFileSync } from 'node:child_process';

// A self-signed certificate valid for `days` (openssl, as an operator's would be).
function certificate(directory, name, days) {
  const cert = join(directory, `${name}.pem`);
  const key = join(directory, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', String(days), '-subj', '/CN=localhost'], { stdio: 'ignore' });
  return { cert_file: cert, key_file: key };
}

const lines = (stdout) => stdout.split('\n').filter((line) => /^(ok|FAIL|note) /.test(line));

test('doctor: a working setup passes every check and lists the addresses to register at the IdP', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t);
  const tls = certificate(stack.directory, 'listener', 90);
  const configPath = join(stack.directory, 'doctor.yaml');
  writeFileSync(configPath, `${toYamlDocument(mergeConfig(stack.config, { tls }))}\n`);
  const run = await runGatehouse(['doctor', '-c', configPath], { timeoutMs: 60_000 });
  const said = lines(run.stdout);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.deepEqual(said.filter((line) => line.startsWith('FAIL')), []);
  for (const expected of [
    `ok    Home Assistant answers at ${stack.double.url}`,
    'ok    Home Assistant takes Gatehouse as its proxy',
    'ok    Home Assistant\'s own password login (the homeassistant auth provider) is on',
    'ok    the token in home_assistant.token_file is valid and belongs to an admin',
    `ok    provider idp1: discovery at ${stack.idps[0].issuer.replace(/\/$/, '')}/.well-known/openid-configuration`,
    'ok    provider idp1: 1 signing key(s) at',
    'ok    provider idp1: clocks agree within',
    `note  provider idp1: register redirect URI ${stack.externalUrl}/sso/callback, back-channel logout URI ${stack.externalUrl}/sso/backchannel-logout`,
  ])
    assert.ok(said.some((line) => line.startsWith(expected)), `${expected}\n in:\n${said.join('\n')}`);
  // Made a moment ago for 90 days: 90 while the second has not turned, 89 after.
  assert.ok(said.some((line) => new RegExp(`^ok {4}the TLS certificate ${tls.cert_file} is valid for (89|90) more days$`).test(line)), said.join('\n'));
  stack.assertHygiene();
});

test('doctor: HA that does not trust Gatehouse as its proxy, a token of a non-admin, an IdP that cannot be reached: each a FAIL with its fix', TEST_GUARD, async (t) => {
  const stack = await startSsoStack(t, { haOptions: { useXForwardedFor: false, trustedProxies: [] } });
  // A long-lived token of the owner's person who is not an admin: valid, so HA counts no failed login.
  const member = await stack.double.createUser({ name: 'Kim', username: 'kim', password: 'kim-password-1', groups: ['system-users'] });
  const memberToken = stack.rememberSecret(stack.double.createLongLivedToken(member.id, { clientName: 'doctor' }).token, 'HA member token');
  const tokenFile = join(stack.directory, 'member-token');
  writeFileSync(tokenFile, memberToken, { mode: 0o600 });
  const unreachable = { ...stack.config.providers[0], issuer: 'https://127.0.0.1:9/' };
  const configPath = join(stack.directory, 'doctor-broken.yaml');
  const tls = certificate(stack.directory, 'soon', 3);
  writeFileSync(configPath, `${toYamlDocument(mergeConfig(stack.config, {
    home_assistant: { url: stack.double.url, token_file: tokenFile },
    providers: [unreachable],
    tls,
  }))}\n`);
  const run = await runGatehouse(['doctor', '-c', configPath], { timeoutMs: 60_000 });
  assert.equal(run.code, 1, run.stdout + run.stderr);
  const text = run.stdout;
  assert.match(text, /FAIL {2}Home Assistant does not take Gatehouse as its proxy \(HTTP 400 to a request with X-Forwarded-For\)\n {6}fix: in HA's configuration\.yaml set http: use_x_forwarded_for: true and trusted_proxies/);
  assert.match(text, /FAIL {2}the token in home_assistant\.token_file belongs to a user who is not an admin\n {6}fix: /);
  assert.match(text, /FAIL {2}provider idp1: its discovery document at https:\/\/127\.0\.0\.1:9\/\.well-known\/openid-configuration cannot be read/);
  assert.match(text, /ok {4}Home Assistant answers at/);
  assert.match(text, /FAIL {2}the TLS certificate .*soon\.pem expires in [23] day\(s\)\n {6}fix: renew it now and run systemctl reload gatehouse/);
  assert.ok(!text.includes(memberToken) && !run.stderr.includes(memberToken), 'the token is never printed');
  stack.assertHygiene();
});
