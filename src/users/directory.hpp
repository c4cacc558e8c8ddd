// users/directory: owns who an IdP identity is in HA. The key is (issuer, sub), never a username.
// First login: an HA user is created through HA's admin API with a clean, collision-free username, or
// an existing HA user is linked when configured and users/link_rule allows it (never Gatehouse's own
// service user; the owner and admins only by claim, for an admin); at every login the HA user's name and role (from the
// IdP groups) are brought in line, demotion included. Managed users' HA passwords are derived from the
// master key and never stored. All provisioning runs one login at a time on the admin connection's
// thread, so two first logins of one person cannot create two users.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/current.hpp"
#include "hass/admin_connection.hpp"
#include "store/store.hpp"
#include "users/master_key.hpp"

namespace gatehouse::users {

// "Alice Smith " -> "alice-smith"; only [a-z0-9._-], at most 32 characters; "" when nothing is left.
std::string clean_username(std::string_view raw);
// The highest role whose groups the claims name (admin > user > read_only), if any.
std::optional<config::Role> role_from_claims(const boost::json::object& claims, const config::Users& users);
std::string_view ha_group_of(config::Role role);
// Which SCIM User a sign-in names (scim/people; scim.match_claim): the claim's text, lowercased. "" when
// the claim is absent, and for an email the IdP says is not verified (email_verified: false): anyone
// may type an unverified address.
std::string scim_key_of(const boost::json::object& claims, std::string_view claim);
// Whether `claim` is an email the IdP says is not verified (email_verified: false).
bool is_unverified_email(const boost::json::object& claims, std::string_view claim);

struct ReadyUser {
  std::string ha_user_id;
  std::string username;
  std::string display_name; // as HA shows it
  std::string password; // derived; only ever sent to HA's login flow
  bool created = false;
};

struct DirectoryRefusal {
  // conflict: the HA user this identity names is linked to someone else, or may not be linked to it
  // (users/link_rule); the person is refused, never given a second user beside it.
  // cut_off: the identity's HA user is gone (deleted by SCIM's on_deactivate: delete, or an admin) while
  // the person is cut off: they are refused, never given a fresh HA user that no cut-off names.
  enum class Kind { no_role, ha_unavailable, conflict, cut_off } kind;
  std::string reason; // for audit and the page
};

struct DirectoryOutcome {
  std::optional<ReadyUser> user;
  DirectoryRefusal refusal{DirectoryRefusal::Kind::ha_unavailable, ""};
};

// Overrides for users that do not come from an IdP's groups (trusted devices).
struct Provisioning {
  std::optional<config::Role> role; // instead of the role from the claims' groups
  bool link_by_username = false;    // an existing HA user with the username from the claims is taken over
  // The HA user SCIM made for this person before they signed in (scim/people), asked during the
  // provisioning turn: a new identity takes it over instead of getting a user of its own.
  std::function<std::optional<std::string>()> scim_made_user;
  // The id of the SCIM User this sign-in is (scim::People::user_of: the one it is bound to by an earlier
  // sign-in while that User exists, else the one its claim names; "" if none): the identity is bound to
  // it for good (scim/people follows the User, whatever its name becomes).
  std::string scim_user_id;
  // The sign-in's configuration: the users mapping its claims were read under (the running one if null).
  std::shared_ptr<const config::Config> config;
};

// An HA user Directory made (a sign-in's or SCIM's).
struct MadeUser {
  std::string ha_user_id;
  std::string username;
};

class Directory {
public:
  // `scim_claim`: the claim that names the person's SCIM User (scim.match_claim), recorded at each
  // sign-in; empty without SCIM.
  // `current`: its users block is read at each provisioning, so a reload's mapping applies to the next.
  Directory(store::Store& store, hass::AdminConnection& admin, const config::Current& current, const MasterKey& key,
            std::string scim_claim = {});

  // Finds, links or creates the HA user for this identity and brings it in line with the claims.
  boost::asio::awaitable<DirectoryOutcome> prepare(std::string issuer, std::string subject, std::string provider_id,
                                                   boost::json::object claims, std::string client_address,
                                                   Provisioning provisioning = {});
  // HA's version as its admin connection last heard it ("" before the first connection).
  std::string ha_version() const { return admin_.ha_version(); }
  // Sets a managed user's HA password to the derived one again (after HA rejected it: the master key
  // was replaced, or someone changed the password in HA).
  boost::asio::awaitable<bool> repair_password(std::string ha_user_id, std::string username);
  // Makes an HA user for a SCIM User before its person signs in (scim/people): `display_name`, a
  // username from `username_hint`, in `ha_group`, with the derived password. In the provisioning turn,
  // `still_wanted` is asked first (a sign-in may have come first) and `made` is told before the turn
  // passes, so a sign-in right after finds it. The failure, or empty.
  boost::asio::awaitable<std::string> make_for_scim(std::string display_name, std::string username_hint,
                                                    std::string ha_group, std::function<bool()> still_wanted,
                                                    std::function<void(const MadeUser&)> made);
  struct RoleOutcome {
    std::string failure; // empty: done
    std::string not_set; // done, but HA keeps the user's groups (the owner, a system user, a user gone): why
  };
  // Puts the HA user in exactly `ha_group` (a role SCIM's Groups or re-validation give), one provisioning
  // run at a time like prepare(); audited as role_changed, with who asked (`source`), when it changes anything.
  boost::asio::awaitable<RoleOutcome> set_role(std::string ha_user_id, std::string ha_group, std::string source);
  struct DeleteOutcome {
    std::string failure; // empty: done
    bool deleted = false; // false: the owner or a system user (never deleted), or already gone
  };
  // Deletes an HA user (scim.on_deactivate: delete); never the owner, a system user or Gatehouse's own.
  boost::asio::awaitable<DeleteOutcome> delete_user(std::string ha_user_id);
  // Whether HA still has this user, and whether it is active; nullopt when HA cannot be asked.
  enum class HaUserState { gone, inactive, active };
  boost::asio::awaitable<std::optional<HaUserState>> ha_user_state(std::string ha_user_id);
  // Deactivates or activates an HA user (a cut-off, a lift): HA's answer as it is.
  boost::asio::awaitable<hass::CommandResult> set_active(std::string ha_user_id, bool active);
  // The HA password of a user Gatehouse manages or linked (derived, never stored).
  std::string password_for(std::string_view ha_user_id) const { return key_.password_for(ha_user_id); }
  // Whether the admin connection to HA is up (HA reachable, the token an admin's).
  bool home_assistant_ready() const;
  // The key that also seals the secrets Gatehouse keeps in the store (IdP refresh tokens).
  const MasterKey& master_key() const { return key_; }

private:
  boost::asio::awaitable<DirectoryOutcome> prepare_here(std::string issuer, std::string subject,
                                                        std::string provider_id, boost::json::object claims,
                                                        std::string client_address, Provisioning provisioning);
  boost::asio::awaitable<RoleOutcome> set_role_here(std::string ha_user_id, std::string ha_group, std::string source);
  boost::asio::awaitable<DeleteOutcome> delete_user_here(std::string ha_user_id);
  boost::asio::awaitable<std::string> make_for_scim_here(std::string display_name, std::string username_hint,
                                                         std::string ha_group, std::function<bool()> still_wanted,
                                                         std::function<void(const MadeUser&)> made);
  // One provisioning run at a time: `co_await lock(); Turn turn{this};` holds the turn to the end of scope.
  boost::asio::awaitable<void> lock();
  void unlock();
  struct Turn {
    explicit Turn(Directory* directory) : self(directory) {}
    Directory* self;
    Turn(const Turn&) = delete;
    ~Turn() { self->unlock(); }
  };

  store::Store& store_;
  hass::AdminConnection& admin_;
  const config::Current& current_; // users: read when each sign-in is provisioned (a reload applies it)
  const MasterKey& key_;
  const std::string scim_claim_;
  bool busy_ = false;                               // admin thread only
  std::deque<boost::asio::steady_timer*> waiting_; // provisioning runs waiting for their turn
};

} // namespace gatehouse::users
