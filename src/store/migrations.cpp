// store/migrations: Gatehouse's schema, one numbered step at a time. To change the schema, append an
// entry with the next version; never edit or reorder a shipped one (databases in the field already
// recorded it as applied).
#include "store/migrations.hpp"

#include <array>

namespace gatehouse::store {

namespace {

constexpr std::array kMigrations{
    Migration{1, "audit log and gateway facts", R"sql(
      CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at_unix_ms INTEGER NOT NULL,
        event TEXT NOT NULL,
        subject TEXT NOT NULL DEFAULT '',
        client_address TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX audit_log_by_time ON audit_log(at_unix_ms);
      -- (subject, time) serves "everything about this user" and its time-bounded variant alike.
      CREATE INDEX audit_log_by_subject ON audit_log(subject, at_unix_ms);

      -- Small facts about this gateway (e.g. which HA instance it was set up against).
      CREATE TABLE kv (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
    )sql"},
    Migration{2, "single sign-on: pending logins and identities", R"sql(
      -- A login between /auth/authorize and /sso/callback, keyed by the state sent to the IdP. Taken
      -- (deleted) exactly once by the callback; the browser that started it holds the binding secret,
      -- of which only a hash is kept.
      CREATE TABLE pending_logins (
        state TEXT PRIMARY KEY,
        provider_id TEXT NOT NULL,
        nonce TEXT NOT NULL,
        code_verifier TEXT NOT NULL,
        client_id TEXT NOT NULL,
        redirect_uri TEXT NOT NULL,
        client_state TEXT,
        client_address TEXT NOT NULL,
        browser_binding_hash TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        expires_at_ms INTEGER NOT NULL
      );
      CREATE INDEX pending_logins_by_expiry ON pending_logins(expires_at_ms);

      -- Who an IdP identity is in HA. The key is (issuer, subject), never a username.
      CREATE TABLE identities (
        issuer TEXT NOT NULL,
        subject TEXT NOT NULL,
        ha_user_id TEXT NOT NULL,
        ha_username TEXT NOT NULL,
        provider_id TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        last_login_at_ms INTEGER NOT NULL,
        PRIMARY KEY (issuer, subject)
      );
      CREATE UNIQUE INDEX identities_by_ha_user ON identities(ha_user_id);

      -- Which HA user each refresh token belongs to (its id is the access tokens' iss), learned from the
      -- code exchanges of logins Gatehouse made: what revocation needs to find a user's tokens.
      CREATE TABLE refresh_tokens (
        token_id TEXT PRIMARY KEY,
        ha_user_id TEXT NOT NULL,
        client_id TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL
      );
      CREATE INDEX refresh_tokens_by_user ON refresh_tokens(ha_user_id);
    )sql"},
    Migration{3, "break-glass grants", R"sql(
      -- One-time URLs printed by `gatehouse breakglass`: each opens HA's own login for the one browser
      -- that uses it, until it expires or is closed. Only SHA-256 digests of the URL token and of the
      -- browser's cookie are kept.
      CREATE TABLE break_glass (
        id INTEGER PRIMARY KEY,
        url_token_hash TEXT NOT NULL UNIQUE,
        created_at_ms INTEGER NOT NULL,
        expires_at_ms INTEGER NOT NULL,
        used_at_ms INTEGER,
        used_by TEXT,
        browser_secret_hash TEXT UNIQUE,
        closed_at_ms INTEGER
      );
    )sql"},
    Migration{4, "pending logins counted per client", R"sql(
      -- The client (net/client_key: an IPv4 address or an IPv6 /64) each pending login counts against, so
      -- limits.max_pending_logins_per_address is one indexed count. Rows from before have '' and expire
      -- within 10 minutes.
      ALTER TABLE pending_logins ADD COLUMN client_key TEXT NOT NULL DEFAULT '';
      CREATE INDEX pending_logins_by_client ON pending_logins(client_key);
    )sql"},
    Migration{5, "people cut off", R"sql(
      -- One row per person cut off (sessions/cut_off), until the cut-off is lifted (the row is deleted;
      -- the audit log keeps the history). Written by the console or the serving process; the serving
      -- process applies rows whose applied_at_ms is still NULL.
      CREATE TABLE cut_offs (
        ha_user_id TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        source TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        requested_at_ms INTEGER NOT NULL,
        applied_at_ms INTEGER,
        websockets_closed INTEGER
      );
    )sql"},
    Migration{6, "cut-offs end HA's own sessions", R"sql(
      -- When every HA refresh token of the person was deleted (hass/user_sessions); NULL until then, and
      -- retried while NULL.
      ALTER TABLE cut_offs ADD COLUMN ha_sessions_ended_at_ms INTEGER;
    )sql"},
    Migration{7, "cut-offs deactivate the HA user; lifts applied by the server", R"sql(
      -- 1: Gatehouse deactivated the HA user (a lift activates it again); 0: HA keeps it active (the owner).
      ALTER TABLE cut_offs ADD COLUMN ha_user_deactivated INTEGER;
      -- A lift asked for on the console; the serving process applies it (HA user active again, row gone).
      ALTER TABLE cut_offs ADD COLUMN lift_requested_at_ms INTEGER;
    )sql"},
    Migration{8, "SCIM users and groups", R"sql(
      -- One row per SCIM resource (scim/resources). body is the resource's JSON in its stored form (no id,
      -- meta or groups: those are rendered); unique_name is userName or displayName lowercased, unique per
      -- kind as SCIM's "server" uniqueness asks; version counts writes (meta.version, ETag).
      CREATE TABLE scim_resources (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('User', 'Group')),
        unique_name TEXT NOT NULL,
        body TEXT NOT NULL,
        version INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        modified_ms INTEGER NOT NULL,
        UNIQUE (kind, unique_name)
      );
    )sql"},
    Migration{9, "sign-ins know their SCIM User", R"sql(
      -- The sign-in's scim.match_claim, lowercased, as of its latest sign-in (users/directory): which SCIM
      -- User the person is, so SCIM can cut them off (scim/people). NULL without SCIM or without the claim.
      ALTER TABLE identities ADD COLUMN scim_key TEXT;
      CREATE INDEX identities_by_scim_key ON identities(scim_key);
    )sql"},
    Migration{10, "roles SCIM asks for", R"sql(
      -- The HA group a person's SCIM Groups give them (scim/people, scim.roles_from_groups), kept after
      -- the serving process set it in HA (sessions/cut_off's watch), so an unchanged role is not set again.
      -- applied_at_ms NULL: not set in HA yet.
      CREATE TABLE role_requests (
        ha_user_id TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        ha_group TEXT NOT NULL,
        source TEXT NOT NULL,
        requested_at_ms INTEGER NOT NULL,
        applied_at_ms INTEGER
      );
    )sql"},
    Migration{11, "HA users SCIM makes before a sign-in", R"sql(
      -- The HA user Gatehouse makes for a SCIM User whose person has not signed in yet (scim/people), so
      -- an admin can set it up; the first sign-in naming that User takes it over. ha_user_id NULL: not
      -- made in HA yet (the serving process makes it, retrying while HA fails).
      CREATE TABLE scim_made_users (
        scim_user_id TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        username TEXT NOT NULL,
        ha_group TEXT NOT NULL,
        requested_at_ms INTEGER NOT NULL,
        ha_user_id TEXT,
        ha_username TEXT,
        made_at_ms INTEGER
      );
    )sql"},
    Migration{12, "companion apps' webhooks", R"sql(
      -- Whose mobile_app webhook each is, learned from the registrations Gatehouse relayed
      -- (sessions/app_webhooks): the SHA-256 of the id, never the id, which is the webhook's only secret.
      CREATE TABLE app_webhooks (
        webhook_digest TEXT PRIMARY KEY,
        ha_user_id TEXT NOT NULL,
        registered_at_ms INTEGER NOT NULL
      );
      CREATE INDEX app_webhooks_by_user ON app_webhooks(ha_user_id);
    )sql"},
    Migration{13, "back-channel logout", R"sql(
      -- The IdP session each SSO sign-in came from, kept with the HA refresh token it became: what a
      -- back-channel logout names (its sid, or only its sub). NULL for sign-ins without an IdP.
      ALTER TABLE refresh_tokens ADD COLUMN idp_issuer TEXT;
      ALTER TABLE refresh_tokens ADD COLUMN idp_subject TEXT;
      ALTER TABLE refresh_tokens ADD COLUMN idp_sid TEXT;
      -- The SHA-256 of the refresh token (a revoke names the token, not its id), and, with
      -- providers[].logout: idp, the sign-in's ID token: the hint when the IdP is asked to end its session.
      ALTER TABLE refresh_tokens ADD COLUMN refresh_token_digest TEXT;
      ALTER TABLE refresh_tokens ADD COLUMN idp_id_token TEXT;
      -- With providers[].revalidate: the sign-in's IdP refresh token, sealed with a key derived from the
      -- master key (users/master_key), and when it is next refreshed to ask the IdP about the person.
      ALTER TABLE refresh_tokens ADD COLUMN idp_refresh_token_sealed TEXT;
      ALTER TABLE refresh_tokens ADD COLUMN revalidate_at_ms INTEGER;
      CREATE INDEX refresh_tokens_to_revalidate ON refresh_tokens(revalidate_at_ms) WHERE revalidate_at_ms IS NOT NULL;
      CREATE INDEX refresh_tokens_by_idp_sid ON refresh_tokens(idp_issuer, idp_sid);
      CREATE INDEX refresh_tokens_by_digest ON refresh_tokens(refresh_token_digest);
      CREATE INDEX refresh_tokens_by_idp_subject ON refresh_tokens(idp_issuer, idp_subject);

      -- Single HA sessions (refresh tokens) to end, one person's others untouched (sessions/cut_off).
      -- applied_at_ms: its websockets closed and its tokens refused at the door; ha_ended_at_ms: the
      -- refresh token deleted in HA itself.
      CREATE TABLE session_ends (
        token_id TEXT PRIMARY KEY,
        ha_user_id TEXT NOT NULL,
        username TEXT NOT NULL,
        source TEXT NOT NULL,
        requested_at_ms INTEGER NOT NULL,
        applied_at_ms INTEGER,
        websockets_closed INTEGER,
        ha_ended_at_ms INTEGER
      );
      CREATE INDEX session_ends_by_user ON session_ends(ha_user_id);

      -- Back-channel logouts taken: each logout token's jti once per issuer (a replay is refused), and
      -- what it named, so a code from a sign-in of that IdP session redeemed afterwards is refused too.
      CREATE TABLE idp_logouts (
        issuer TEXT NOT NULL,
        jti TEXT NOT NULL,
        subject TEXT,
        sid TEXT,
        received_at_ms INTEGER NOT NULL,
        PRIMARY KEY (issuer, jti)
      );
      CREATE INDEX idp_logouts_by_sid ON idp_logouts(issuer, sid);

      -- A browser's IdP session to end before its next sign-in (oidc/idp_signout): after HA's "Log out"
      -- with providers[].logout: idp (armed: the next /auth/authorize does it), or offered by a refusal
      -- page ("sign in as someone else"). Bound to the browser by a cookie whose hash is the key.
      CREATE TABLE idp_signouts (
        cookie_hash TEXT PRIMARY KEY,
        provider_id TEXT NOT NULL,
        id_token TEXT NOT NULL,
        armed INTEGER NOT NULL,
        continue_url TEXT,
        state TEXT,
        created_at_ms INTEGER NOT NULL
      );
      CREATE INDEX idp_signouts_by_age ON idp_signouts(created_at_ms);
    )sql"},
    Migration{14, "app hand-offs", R"sql(
      -- A sign-in an app's web view waits for while the person finishes it in their browser
      -- (oidc/app_handoff). The pending login sent to the IdP names its hand-off.
      ALTER TABLE pending_logins ADD COLUMN handoff_id TEXT;
      CREATE TABLE app_handoffs (
        id TEXT PRIMARY KEY,
        waiter_hash TEXT NOT NULL,
        user_code TEXT NOT NULL,
        client_address TEXT NOT NULL,
        client_key TEXT NOT NULL,
        idp_url TEXT NOT NULL,
        restart_url TEXT NOT NULL,
        status TEXT NOT NULL,
        result_sealed TEXT,
        created_at_ms INTEGER NOT NULL,
        expires_at_ms INTEGER NOT NULL
      );
      CREATE INDEX app_handoffs_by_client ON app_handoffs(client_key);
      CREATE INDEX app_handoffs_by_expiry ON app_handoffs(expires_at_ms);
    )sql"},
    Migration{15, "hand-offs found by their code", R"sql(
      -- A person types the waiting device's code on another device (/sso/device).
      CREATE INDEX app_handoffs_by_code ON app_handoffs(user_code);
    )sql"},
    Migration{16, "when each session was last used", R"sql(
      -- When a token of this session last reached HA through Gatehouse, to the minute (shield/token_cache
      -- notes it, the people page writes it here every minute); NULL: not since this column exists.
      ALTER TABLE refresh_tokens ADD COLUMN last_used_at_ms INTEGER;
    )sql"},
    Migration{17, "sessions HA will not let Gatehouse end", R"sql(
      -- Why HA's sessions of a person cut off were left (HA would not sign Gatehouse in as them: they set
      -- up multi-factor authentication); their HA user was deactivated instead. NULL: ended, or not yet.
      ALTER TABLE cut_offs ADD COLUMN ha_sessions_left TEXT;
      -- The same for a session ended at the door: not asked of HA again; the row stays, so the door keeps
      -- refusing the session. NULL: ended in HA, or still to ask.
      ALTER TABLE session_ends ADD COLUMN left_in_ha TEXT;
    )sql"},
    Migration{18, "who holds each cut-off", R"sql(
      -- Each source that asked for a person's cut-off (console, people_page, scim) holds it until that
      -- source lifts it (the console lifts them all): SCIM's "active" again cannot end a cut-off the
      -- console or the people page asked for (sessions/cut_off). The cut_offs row ends with the last hold.
      CREATE TABLE cut_off_holds (
        ha_user_id TEXT NOT NULL,
        source TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        requested_at_ms INTEGER NOT NULL,
        PRIMARY KEY (ha_user_id, source)
      );
      INSERT INTO cut_off_holds (ha_user_id, source, reason, requested_at_ms)
        SELECT ha_user_id, source, reason, requested_at_ms FROM cut_offs WHERE lift_requested_at_ms IS NULL;
    )sql"},
    Migration{19, "people bound to their SCIM User", R"sql(
      -- The id of the SCIM User a person is (scim/people), bound by the first sign-in or SCIM write that
      -- matches them and kept when the User's userName changes, so SCIM's decisions follow the User, not
      -- its name; a name given to another User later does not reach them. NULL: not bound yet.
      ALTER TABLE identities ADD COLUMN scim_user_id TEXT;
      CREATE INDEX identities_by_scim_user ON identities(scim_user_id);
      -- 1: bound by a sign-in whose claim named that User (kept); 0: inferred from the name the person's
      -- last sign-in had (at start, or a SCIM write), which their next sign-in corrects.
      ALTER TABLE identities ADD COLUMN scim_binding_firm INTEGER NOT NULL DEFAULT 0;
    )sql"},
    Migration{20, "sign-ins another site started", R"sql(
      -- 1: the browser said another site sent it to /auth/authorize (Sec-Fetch-Site): the sign-in asks the
      -- person before a code goes to any client but HA's own frontend (sso/client_trust).
      ALTER TABLE pending_logins ADD COLUMN started_on_another_site INTEGER NOT NULL DEFAULT 0;
    )sql"},
    Migration{21, "pending logins counted per network", R"sql(
      -- The network (net/client_key: an IPv6 /48, an IPv4 address) each pending login and hand-off counts
      -- against too, for limits.max_pending_logins_per_network: one home's /48 holds 65,536 /64s, each
      -- a client of its own. Rows from before have '' and expire within 10 minutes.
      ALTER TABLE pending_logins ADD COLUMN network_key TEXT NOT NULL DEFAULT '';
      CREATE INDEX pending_logins_by_network ON pending_logins(network_key);
      ALTER TABLE app_handoffs ADD COLUMN network_key TEXT NOT NULL DEFAULT '';
      CREATE INDEX app_handoffs_by_network ON app_handoffs(network_key);
    )sql"},
};

} // namespace

std::span<const Migration> gatehouse_migrations() { return kMigrations; }

} // namespace gatehouse::store
