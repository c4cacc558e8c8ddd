// Which HA behaviour applies to the configured version (§10.1).

export function parseVersion(text) {
  const [year = 0, month = 0, patch = 0] = String(text).split('.').map((part) => parseInt(part, 10) || 0);
  return { year, month, patch };
}

export function versionAtLeast(version, year, month) {
  const parsed = parseVersion(version);
  return parsed.year > year || (parsed.year === year && parsed.month >= month);
}

export function versionFeatures(version) {
  return {
    // §1.4: the {providers, preselect_remember_me} wrapper first shipped after 2024.1.
    providersObject: versionAtLeast(version, 2024, 2),
    // §1.5 / §10.1: 2024.1 also accepted a bare string handler.
    bareStringHandler: !versionAtLeast(version, 2024, 2),
    // §2.4: refresh-token 90-day expiry and expire_at arrived in 2024.2.
    refreshTokenExpiry: versionAtLeast(version, 2024, 2),
    // §4.4: token_type / delete_current_token (and the 2 s delay) arrived in 2024.2.
    deleteAllTokenOptions: versionAtLeast(version, 2024, 2),
    // §4.4: auth/refresh_token_set_expiry arrived in 2024.6.
    refreshTokenSetExpiry: versionAtLeast(version, 2024, 6),
    // §6.6: strict, already-normalized usernames and admin_change_username from about 2024.7.
    strictUsernames: versionAtLeast(version, 2024, 7),
  };
}
