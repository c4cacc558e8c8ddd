// scim/resources: owns the SCIM Users and Groups Gatehouse holds. Every write is in the store (one
// transaction) before it is acknowledged, and mirrored in memory so lists and filters never read the
// disk. Promises: userName (Users) and displayName (Groups) are unique per kind, compared
// case-insensitively; a Group's members are Users or Groups that exist; deleting a User takes it out of
// every Group; each write bumps the resource's version, and a write that names a version (If-Match)
// applies only to that version. Thread-safe: SCIM requests arrive on any worker.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "scim/schema.hpp"
#include "store/store.hpp"

namespace gatehouse::scim {

struct Resource {
  std::string id;
  Kind kind = Kind::user;
  boost::json::object body; // stored form: schemas and attributes, no id, meta or groups
  std::int64_t version = 1;
  std::int64_t created_ms = 0;
  std::int64_t modified_ms = 0;
};

// Why a write or a read is refused, as a SCIM error (RFC 7644 §3.12).
struct Refusal {
  unsigned status = 400;
  std::string scim_type; // empty where SCIM defines none (404, 412)
  std::string detail;
};

// A Group a User is in (the User's read-only `groups`).
struct Membership {
  std::string group_id;
  std::string display_name;
};

class Resources {
public:
  static constexpr std::size_t kMaxUsers = 100'000;
  static constexpr std::size_t kMaxGroups = 10'000;
  static constexpr std::size_t kMaxMembers = 100'000; // of one Group

  // Loads every resource from the store.
  explicit Resources(store::Store& store);

  std::optional<Resource> get(Kind kind, const std::string& id) const;
  // Calls `visit` for each resource of `kind` in creation order, under the lock (keep it short).
  void each(Kind kind, const std::function<void(const Resource&)>& visit) const;
  std::vector<Membership> groups_of(const std::string& user_id) const;
  // A member's name as a Group shows it (`display`): the User's displayName or userName, the Group's
  // displayName; empty when the id is unknown.
  std::string display_of(const std::string& id) const;
  std::size_t count(Kind kind) const;
  std::optional<Kind> kind_of(const std::string& id) const;

  // `body` in its stored form (scim/schema read_resource).
  std::variant<Resource, Refusal> create(Kind kind, boost::json::object body);
  // Replaces the whole body; `expected_version` set: only if the resource is at that version.
  std::variant<Resource, Refusal> replace(Kind kind, const std::string& id, boost::json::object body,
                                          std::optional<std::int64_t> expected_version);
  // The body from the current one (a PATCH), applied under the lock so two writes cannot interleave.
  std::variant<Resource, Refusal> update(
      Kind kind, const std::string& id, std::optional<std::int64_t> expected_version,
      const std::function<std::variant<boost::json::object, Refusal>(const Resource& current)>& change);
  std::optional<Refusal> remove(Kind kind, const std::string& id, std::optional<std::int64_t> expected_version);
  // An audit entry for a write the SCIM client made (`operation`: create, replace, patch, delete):
  // which resource, its userName or displayName, which client address.
  void audit_write(std::string_view operation, Kind kind, const std::string& id, const boost::json::object& body,
                   std::string_view client_address) const;

private:
  struct Index {
    std::map<std::string, Resource> by_id;
    std::unordered_map<std::string, std::string> id_by_name; // lowercased unique name -> id
    std::vector<std::string> order;                          // ids in creation order
  };
  Index& index(Kind kind) { return kind == Kind::user ? users_ : groups_; }
  const Index& index(Kind kind) const { return kind == Kind::user ? users_ : groups_; }
  const Resource* find(Kind kind, const std::string& id) const;
  // Checks a body before it is stored: unique name free (but for `id` itself), members exist.
  std::optional<Refusal> check(Kind kind, const boost::json::object& body, const std::string& id) const;
  // Writes `resource` (insert or update) and, for Groups, rebuilds the membership index.
  void save(const Resource& resource, bool is_new);
  void index_memberships();

  store::Store& store_;
  mutable std::mutex mutex_;
  Index users_;
  Index groups_;
  std::unordered_map<std::string, std::set<std::string>> groups_of_; // user id -> group ids
};

// The unique name of a stored body (userName or displayName), as the store keys it.
std::string unique_name_of(Kind kind, const boost::json::object& body);

} // namespace gatehouse::scim
