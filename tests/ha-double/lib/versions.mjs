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
    // §1.8 step 4: from 2026.8 a client_id page without <link> tags may be a Client ID Metadata Document
    // (core PR #176286, after the contract was written; see lib/indieauth.mjs).
    clientMetadataDocuments: versionAtLeast(version, 2026, 8),
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
    // §0.2: states gained last_reported in 2024.3.
    lastReported: versionAtLeast(version, 2024, 3),
    // §0.2: the 2023.9 core config (get_config, /api/config) still has the legacy
    // whitelist_external_dirs and no debug, radius, recovery_mode or unit_system.area. The
    // contract does not date these keys one by one; the double switches them together at
    // 2024.2, its boundary for the other old shapes.
    legacyCoreConfig: !versionAtLeast(version, 2024, 2),
    // §0.2: HA >= 2025.2 runs Python 3.13, whose str(IPv6Address) keeps an IPv4-mapped
    // address dotted (::ffff:10.0.0.8); older Pythons print ::ffff:a00:8.
    mappedIpv4Dotted: versionAtLeast(version, 2025, 2),
    // §0.2 / §4.3: 2023.9 validates commands whose schema is only `type` with a real schema
    // ("extra keys not allowed @ data['foo']"); from 2024.5 (core PR #115618) such commands
    // skip the schema and raise a bare "extra keys not allowed" for the whole message.
    typeOnlySchemaSkipped: versionAtLeast(version, 2024, 5),
    // §4.3: HA before 2024.2 runs Python 3.11, whose recursion limit (1000 frames, shared
    // with the call stack) makes repr() of a value nested about 970 levels deep raise
    // RecursionError inside humanize_error. Approximate: the exact depth depends on HA's stack
    // at that point. Later Pythons keep C recursion apart and reach the 1024 levels JSON allows.
    pythonReprDepthLimit: versionAtLeast(version, 2024, 2) ? undefined : 970,
    // §0.2: aiohttp's own Server header on answers that bypass HA's headers middleware.
    // Known points only: 2023.9.3 as observed; Python 3.13 with aiohttp 3.11.16 (§4.1) for
    // 2025.x.
    aiohttpServerHeader: versionAtLeast(version, 2025, 2) ? 'Python/3.13 aiohttp/3.11.16' : 'Python/3.11 aiohttp/3.8.4',
  };
}
