// scim/resources: the in-memory mirror of table scim_resources, written through.
#include "scim/resources.hpp"

#include <openssl/rand.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <cstdio>
#include <stdexcept>

#include "scim/text.hpp"

#include "logging/log.hpp"

namespace gatehouse::scim {
namespace json = boost::json;

namespace {

std::string_view kind_name(Kind kind) { return kind == Kind::user ? "User" : "Group"; }

// A random (version 4) UUID from the OS random source: ids are never guessable from each other.
std::string new_id() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) throw std::runtime_error("the OS random source failed");
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);
  char text[37];
  std::snprintf(text, sizeof text, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", bytes[0],
                bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10],
                bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]);
  return text;
}

const json::array* members_of(const json::object& body) {
  const auto* members = body.if_contains("members");
  return members && members->is_array() ? &members->get_array() : nullptr;
}

std::string member_id(const json::value& member) {
  const auto* value = member.is_object() ? member.get_object().if_contains("value") : nullptr;
  return value && value->is_string() ? std::string(value->get_string()) : std::string();
}

Refusal not_found(Kind kind, const std::string& id) {
  return Refusal{404, "", std::string(kind_name(kind)) + " " + id + " not found"};
}

// A write that names a version applies only to that version (If-Match).
std::optional<Refusal> stale(const Resource& current, std::optional<std::int64_t> expected_version) {
  if (!expected_version || *expected_version == current.version) return std::nullopt;
  return Refusal{412, "", "the " + std::string(kind_name(current.kind)) + " changed since that version (now version " +
                              std::to_string(current.version) + ")"};
}

} // namespace

std::string unique_name_of(Kind kind, const json::object& body) {
  return lowercase(text_at(body, kind == Kind::user ? "userName" : "displayName"));
}

Resources::Resources(store::Store& store) : store_(store) {
  store_.read([this](sqlite3* db) {
    store::Statement rows(db,
                          "SELECT id, kind, body, version, created_ms, modified_ms FROM scim_resources "
                          "ORDER BY created_ms, rowid",
                          "read the SCIM resources");
    while (rows.step()) {
      Resource resource;
      resource.id = rows.column_text(0);
      resource.kind = rows.column_text(1) == "User" ? Kind::user : Kind::group;
      auto body = json::parse(rows.column_text(2));
      if (!body.is_object()) throw store::StoreError("SCIM resource " + resource.id + " is not a JSON object");
      resource.body = std::move(body.get_object());
      resource.version = rows.column_int64(3);
      resource.created_ms = rows.column_int64(4);
      resource.modified_ms = rows.column_int64(5);
      auto& into = index(resource.kind);
      into.id_by_name[unique_name_of(resource.kind, resource.body)] = resource.id;
      into.order.push_back(resource.id);
      const std::string id = resource.id;
      into.by_id.emplace(id, std::move(resource));
    }
  });
  index_memberships();
}

const Resource* Resources::find(Kind kind, const std::string& id) const {
  const auto& from = index(kind);
  const auto found = from.by_id.find(id);
  return found == from.by_id.end() ? nullptr : &found->second;
}

std::optional<Resource> Resources::get(Kind kind, const std::string& id) const {
  std::lock_guard lock(mutex_);
  const Resource* resource = find(kind, id);
  if (!resource) return std::nullopt;
  return *resource;
}

void Resources::each(Kind kind, const std::function<void(const Resource&)>& visit) const {
  std::lock_guard lock(mutex_);
  const auto& from = index(kind);
  for (const auto& id : from.order) visit(from.by_id.at(id));
}

std::vector<Membership> Resources::groups_of(const std::string& user_id) const {
  std::lock_guard lock(mutex_);
  std::vector<Membership> out;
  const auto found = groups_of_.find(user_id);
  if (found == groups_of_.end()) return out;
  for (const auto& group_id : found->second) {
    const Resource* group = find(Kind::group, group_id);
    if (!group) continue;
    const auto* name = group->body.if_contains("displayName");
    out.push_back({group_id, name && name->is_string() ? std::string(name->get_string()) : std::string()});
  }
  return out;
}

std::string Resources::display_of(const std::string& id) const {
  std::lock_guard lock(mutex_);
  if (const Resource* user = find(Kind::user, id)) {
    const std::string display = text_at(user->body, "displayName");
    return display.empty() ? text_at(user->body, "userName") : display;
  }
  if (const Resource* group = find(Kind::group, id)) return text_at(group->body, "displayName");
  return {};
}

std::size_t Resources::count(Kind kind) const {
  std::lock_guard lock(mutex_);
  return index(kind).by_id.size();
}

std::optional<Kind> Resources::kind_of(const std::string& id) const {
  std::lock_guard lock(mutex_);
  if (find(Kind::user, id)) return Kind::user;
  if (find(Kind::group, id)) return Kind::group;
  return std::nullopt;
}

std::optional<Refusal> Resources::check(Kind kind, const json::object& body, const std::string& id) const {
  const std::string name = unique_name_of(kind, body);
  const auto& from = index(kind);
  if (const auto taken = from.id_by_name.find(name); taken != from.id_by_name.end() && taken->second != id) {
    const char* attribute = kind == Kind::user ? "userName" : "displayName";
    return Refusal{409, "uniqueness", std::string("a ") + std::string(kind_name(kind)) + " with this " + attribute +
                                          " exists already (id " + taken->second + ")"};
  }
  if (const auto* members = members_of(body)) {
    if (members->size() > kMaxMembers)
      return Refusal{400, "invalidValue", "a Group holds at most " + std::to_string(kMaxMembers) + " members"};
    for (const auto& member : *members) {
      const std::string member_value = member_id(member);
      if (member_value.empty()) return Refusal{400, "invalidValue", "each member needs a \"value\": a User's or Group's id"};
      if (member_value == id) return Refusal{400, "invalidValue", "a Group cannot be a member of itself"};
      if (!find(Kind::user, member_value) && !find(Kind::group, member_value))
        return Refusal{400, "invalidValue", "member " + member_value + " is no User or Group here"};
    }
  }
  return std::nullopt;
}

void Resources::save(const Resource& resource, bool is_new) {
  const std::string body = json::serialize(resource.body);
  const std::string name = unique_name_of(resource.kind, resource.body);
  store_.write([&](sqlite3* db) {
    if (is_new) {
      store::Statement insert(db,
                              "INSERT INTO scim_resources (id, kind, unique_name, body, version, created_ms, modified_ms) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?)",
                              "store a new SCIM resource");
      insert.bind_text(1, resource.id).bind_text(2, kind_name(resource.kind)).bind_text(3, name).bind_text(4, body);
      insert.bind_int64(5, resource.version).bind_int64(6, resource.created_ms).bind_int64(7, resource.modified_ms);
      insert.run();
    } else {
      store::Statement update(db,
                              "UPDATE scim_resources SET unique_name = ?, body = ?, version = ?, modified_ms = ? "
                              "WHERE id = ?",
                              "store a changed SCIM resource");
      update.bind_text(1, name).bind_text(2, body).bind_int64(3, resource.version).bind_int64(4, resource.modified_ms);
      update.bind_text(5, resource.id);
      update.run();
    }
  });
}

void Resources::index_memberships() {
  groups_of_.clear();
  for (const auto& [group_id, group] : groups_.by_id) {
    if (const auto* members = members_of(group.body))
      for (const auto& member : *members) groups_of_[member_id(member)].insert(group_id);
  }
}

std::variant<Resource, Refusal> Resources::create(Kind kind, json::object body) {
  std::lock_guard lock(mutex_);
  auto& into = index(kind);
  const std::size_t limit = kind == Kind::user ? kMaxUsers : kMaxGroups;
  if (into.by_id.size() >= limit)
    return Refusal{400, "invalidValue", "Gatehouse holds at most " + std::to_string(limit) + " " +
                                            std::string(kind_name(kind)) + "s"};
  Resource resource;
  resource.id = new_id();
  if (auto refusal = check(kind, body, resource.id)) return std::move(*refusal);
  resource.kind = kind;
  resource.body = std::move(body);
  resource.created_ms = resource.modified_ms = store::now_unix_ms();
  save(resource, true);
  into.id_by_name[unique_name_of(kind, resource.body)] = resource.id;
  into.order.push_back(resource.id);
  into.by_id.emplace(resource.id, resource);
  if (kind == Kind::group) index_memberships();
  return resource;
}

std::variant<Resource, Refusal> Resources::update(
    Kind kind, const std::string& id, std::optional<std::int64_t> expected_version,
    const std::function<std::variant<json::object, Refusal>(const Resource& current)>& change) {
  std::lock_guard lock(mutex_);
  const Resource* current = find(kind, id);
  if (!current) return not_found(kind, id);
  if (auto refusal = stale(*current, expected_version)) return std::move(*refusal);
  auto changed = change(*current);
  if (auto* refusal = std::get_if<Refusal>(&changed)) return std::move(*refusal);
  auto& body = std::get<json::object>(changed);
  if (auto refusal = check(kind, body, id)) return std::move(*refusal);
  Resource next = *current;
  next.body = std::move(body);
  if (next.body == current->body) return next; // nothing changed: no write, same version
  ++next.version;
  next.modified_ms = std::max(store::now_unix_ms(), current->modified_ms);
  save(next, false);
  auto& into = index(kind);
  into.id_by_name.erase(unique_name_of(kind, current->body));
  into.id_by_name[unique_name_of(kind, next.body)] = id;
  into.by_id[id] = next;
  if (kind == Kind::group) index_memberships();
  return next;
}

std::variant<Resource, Refusal> Resources::replace(Kind kind, const std::string& id, json::object body,
                                                   std::optional<std::int64_t> expected_version) {
  return update(kind, id, expected_version,
                [&](const Resource&) -> std::variant<json::object, Refusal> { return std::move(body); });
}

std::optional<Refusal> Resources::remove(Kind kind, const std::string& id, std::optional<std::int64_t> expected_version) {
  std::lock_guard lock(mutex_);
  const Resource* current = find(kind, id);
  if (!current) return not_found(kind, id);
  if (auto refusal = stale(*current, expected_version)) return std::move(*refusal);
  // The Groups it is a member of lose it, in the same transaction.
  std::vector<Resource> changed_groups;
  const std::int64_t now = store::now_unix_ms();
  for (const auto& [group_id, group] : groups_.by_id) {
    const auto* members = members_of(group.body);
    if (!members) continue;
    json::array kept;
    for (const auto& member : *members)
      if (member_id(member) != id) kept.push_back(member);
    if (kept.size() == members->size()) continue;
    Resource next = group;
    if (kept.empty()) next.body.erase("members");
    else next.body["members"] = std::move(kept);
    ++next.version;
    next.modified_ms = std::max(now, group.modified_ms);
    changed_groups.push_back(std::move(next));
  }
  store_.write([&](sqlite3* db) {
    store::Statement erase(db, "DELETE FROM scim_resources WHERE id = ?", "delete a SCIM resource");
    erase.bind_text(1, id);
    erase.run();
    for (const auto& group : changed_groups) {
      store::Statement update(db, "UPDATE scim_resources SET body = ?, version = ?, modified_ms = ? WHERE id = ?",
                              "take a deleted member out of its Groups");
      update.bind_text(1, json::serialize(group.body)).bind_int64(2, group.version).bind_int64(3, group.modified_ms);
      update.bind_text(4, group.id);
      update.run();
    }
  });
  auto& from = index(kind);
  from.id_by_name.erase(unique_name_of(kind, current->body));
  from.order.erase(std::find(from.order.begin(), from.order.end(), id));
  from.by_id.erase(id);
  for (auto& group : changed_groups) groups_.by_id[group.id] = std::move(group);
  index_memberships();
  return std::nullopt;
}

void Resources::audit_write(std::string_view operation, Kind kind, const std::string& id, const json::object& body,
                            std::string_view client_address) const {
  const auto* name = body.if_contains(kind == Kind::user ? "userName" : "displayName");
  const std::string named = name && name->is_string() ? std::string(name->as_string()) : std::string();
  json::object detail{{"operation", operation}, {"type", kind == Kind::user ? "User" : "Group"}, {"id", id}};
  if (const auto* active = body.if_contains("active"); active && active->is_bool()) detail["active"] = active->as_bool();
  try {
    store_.append_audit({0, store::now_unix_ms(), "scim_write", named, std::string(client_address), json::serialize(detail)});
  } catch (const std::exception& failure) {
    // The write is done and answered as done; only its audit entry is missing, which the log says.
    logging::error("cannot audit a scim write", {{"id", id}, {"error", std::string_view(failure.what())}});
  }
}

} // namespace gatehouse::scim
