// Unit tests for scim/service, scim/resources, scim/patch and scim/schema: the SCIM API as a client sees
// it (status, scimType, body), the request shapes authentik, Entra ID and Okta send, and what a restart
// keeps.
#include "config/current.hpp"
#include "scim/service.hpp"
#include "scim/people.hpp"
#include "sessions/cut_off.hpp"
#include "store/statement.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/beast/http/field.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <filesystem>
#include <memory>
#include <stdexcept>

namespace {
namespace fs = std::filesystem;
namespace json = boost::json;
namespace http = boost::beast::http;
using gatehouse::scim::Call;
using gatehouse::sessions::CutOffs;
using gatehouse::scim::Resources;
using gatehouse::scim::Service;

constexpr const char* kToken = "0123456789abcdef0123456789abcdef-scim";

struct Answer {
  unsigned status = 0;
  json::value body;
  std::string etag;
  std::string location;
  std::string raw;
};

class ScimTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "gatehouse-scim-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    directory_ = pattern;
    settings_.token = kToken;
    open();
  }
  void TearDown() override {
    close();
    fs::remove_all(directory_);
  }
  void open() {
    store_ = gatehouse::store::Store::open(directory_ / "data");
    resources_ = std::make_unique<Resources>(*store_);
    service_ = std::make_unique<Service>(settings_, "https://ha.example", *resources_);
  }
  void close() {
    service_.reset();
    resources_.reset();
    store_.reset();
  }

  Answer call(http::verb method, std::string path, std::string body = "", std::string authorization = "",
              std::string if_match = "", std::string if_none_match = "") {
    if (authorization.empty()) authorization = std::string("Bearer ") + kToken;
    std::string query;
    if (const auto mark = path.find('?'); mark != std::string::npos) {
      query = path.substr(mark + 1);
      path.resize(mark);
    }
    const Call request{.method = method, .path = path, .query = query, .authorization = authorization,
                       .if_match = if_match, .if_none_match = if_none_match,
                       .content_type = body.empty() ? "" : "application/scim+json", .body = body,
                       .client_address = "192.0.2.10", .version = 11};
    auto response = service_->answer(request);
    Answer answer;
    answer.status = response.result_int();
    answer.raw = response.body();
    if (!response.body().empty()) answer.body = json::parse(response.body());
    answer.etag = std::string(response[http::field::etag]);
    answer.location = std::string(response[http::field::location]);
    if (!response.body().empty()) {
      EXPECT_EQ(response[http::field::content_type], "application/scim+json");
    }
    return answer;
  }
  Answer get(const std::string& path) { return call(http::verb::get, path); }
  Answer post(const std::string& path, const json::value& body) { return call(http::verb::post, path, json::serialize(body)); }
  Answer patch(const std::string& path, const json::value& body, std::string if_match = "") {
    return call(http::verb::patch, path, json::serialize(body), "", if_match);
  }
  Answer put(const std::string& path, const json::value& body, std::string if_match = "") {
    return call(http::verb::put, path, json::serialize(body), "", if_match);
  }

  std::string create_user(const std::string& user_name, json::object extra = {}) {
    json::object user{{"schemas", json::array{"urn:ietf:params:scim:schemas:core:2.0:User"}}, {"userName", user_name}};
    for (auto& member : extra) user[member.key()] = member.value();
    const auto answer = post("/Users", user);
    EXPECT_EQ(answer.status, 201u) << answer.raw;
    return std::string(answer.body.at("id").as_string());
  }
  std::string create_group(const std::string& name, json::array members = {}) {
    json::object group{{"schemas", json::array{"urn:ietf:params:scim:schemas:core:2.0:Group"}}, {"displayName", name}};
    if (!members.empty()) group["members"] = members;
    const auto answer = post("/Groups", group);
    EXPECT_EQ(answer.status, 201u) << answer.raw;
    return std::string(answer.body.at("id").as_string());
  }
  static json::object patch_op(json::array operations) {
    return json::object{{"schemas", json::array{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}},
                        {"Operations", std::move(operations)}};
  }
  static std::string scim_type(const Answer& answer) {
    const auto* type = answer.body.as_object().if_contains("scimType");
    return type ? std::string(type->as_string()) : "";
  }

  fs::path directory_;
  gatehouse::config::Scim settings_;
  std::unique_ptr<gatehouse::store::Store> store_;
  std::unique_ptr<Resources> resources_;
  std::unique_ptr<Service> service_;
};

TEST_F(ScimTest, WithoutTheTokenEveryEndpointAnswers401WithTheBearerChallenge) {
  for (const std::string authorization : {"Basic Zm9vOmJhcg==", "Bearer wrong-token", "Bearer"}) {
    const auto answer = call(http::verb::get, "/Users", "", authorization);
    EXPECT_EQ(answer.status, 401u) << authorization;
    EXPECT_EQ(answer.body.at("status"), "401");
    EXPECT_EQ(answer.body.at("schemas").at(0), "urn:ietf:params:scim:api:messages:2.0:Error");
    EXPECT_EQ(answer.raw.find(kToken), std::string::npos);
  }
  EXPECT_EQ(call(http::verb::get, "/ServiceProviderConfig", "", "Bearer x").status, 401u);
  // The scheme is case-insensitive (RFC 7235); the token is not.
  EXPECT_EQ(call(http::verb::get, "/Users", "", std::string("bearer ") + kToken).status, 200u);
  EXPECT_EQ(call(http::verb::get, "/Users", "", std::string("Bearer ") + kToken + "x").status, 401u);
}

TEST_F(ScimTest, DiscoveryEndpointsDescribeWhatIsSupported) {
  const auto config = get("/ServiceProviderConfig");
  ASSERT_EQ(config.status, 200u);
  EXPECT_EQ(config.body.at("patch").at("supported"), true);
  EXPECT_EQ(config.body.at("bulk").at("supported"), false);
  EXPECT_EQ(config.body.at("filter").at("maxResults"), 200);
  EXPECT_EQ(config.body.at("authenticationSchemes").at(0).at("type"), "oauthbearertoken");

  const auto types = get("/ResourceTypes");
  ASSERT_EQ(types.status, 200u);
  EXPECT_EQ(types.body.at("totalResults"), 2);
  EXPECT_EQ(types.body.at("Resources").at(0).at("endpoint"), "/Users");
  EXPECT_EQ(types.body.at("Resources").at(0).at("schemaExtensions").at(0).at("schema"),
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User");
  EXPECT_EQ(get("/ResourceTypes/Group").body.at("endpoint"), "/Groups");

  const auto schemas = get("/Schemas");
  ASSERT_EQ(schemas.status, 200u);
  EXPECT_EQ(schemas.body.at("totalResults"), 3);
  const auto user = get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User");
  ASSERT_EQ(user.status, 200u);
  bool user_name_unique = false;
  for (const auto& attribute : user.body.at("attributes").as_array())
    if (attribute.at("name") == "userName") user_name_unique = attribute.at("uniqueness") == "server";
  EXPECT_TRUE(user_name_unique);
  EXPECT_EQ(get("/Schemas/urn:nope").status, 404u);
  EXPECT_EQ(call(http::verb::post, "/ServiceProviderConfig", "{}").status, 405u);
  EXPECT_EQ(get("/Bulk").status, 501u);
  EXPECT_EQ(get("/Elsewhere").status, 404u);
}

TEST_F(ScimTest, CreateReturnsTheResourceWithIdMetaLocationAndVersion) {
  const auto answer = post("/Users", json::parse(R"({
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
    "userName": "bob@example.com", "externalId": "ext-1", "displayName": "Bob",
    "name": {"givenName": "Bob", "familyName": "Builder", "nickname": "dropped"},
    "emails": [{"value": "bob@example.com", "type": "work", "primary": true}],
    "active": true, "password": "never-kept", "id": "ignored", "groups": [{"value": "x"}],
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Ops"},
    "unknownAttribute": 1})"));
  ASSERT_EQ(answer.status, 201u) << answer.raw;
  const auto& user = answer.body.as_object();
  const std::string id(user.at("id").as_string());
  EXPECT_NE(id, "ignored");
  EXPECT_EQ(id.size(), 36u);
  EXPECT_EQ(answer.location, "https://ha.example/scim/v2/Users/" + id);
  EXPECT_EQ(answer.etag, "W/\"1\"");
  EXPECT_EQ(user.at("meta").at("version"), "W/\"1\"");
  EXPECT_EQ(user.at("meta").at("resourceType"), "User");
  EXPECT_EQ(user.at("meta").at("location"), json::value(answer.location));
  EXPECT_FALSE(user.contains("password"));
  EXPECT_EQ(answer.raw.find("never-kept"), std::string::npos);
  EXPECT_FALSE(user.contains("groups")); // read-only: given groups are ignored
  EXPECT_FALSE(user.contains("unknownAttribute"));
  EXPECT_FALSE(user.at("name").as_object().contains("nickname"));
  EXPECT_EQ(user.at("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User").at("department"), "Ops");
  EXPECT_EQ(get("/Users/" + id).body, answer.body);
}

TEST_F(ScimTest, BadResourcesAreRefusedWithTheRightScimType) {
  auto refused = [&](const char* body, const char* type) {
    const auto answer = call(http::verb::post, "/Users", body);
    EXPECT_EQ(answer.status, 400u) << body;
    EXPECT_EQ(scim_type(answer), type) << body << " " << answer.raw;
  };
  refused("not json", "invalidSyntax");
  refused("[]", "invalidSyntax");
  refused(R"({"userName": "x"})", "invalidSyntax"); // no schemas
  refused(R"({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "userName": "x"})", "invalidValue");
  refused(R"({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]})", "invalidValue"); // no userName
  refused(R"({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": 5})", "invalidValue");
  refused(R"({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x", "active": "maybe"})",
          "invalidValue");
  refused(R"({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x", "emails": {"value": "a"}})",
          "invalidValue");
  refused(R"({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x", "UserName": "y"})",
          "invalidSyntax");
  refused(R"({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x",
              "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]})",
          "invalidValue");
  EXPECT_EQ(resources_->count(gatehouse::scim::Kind::user), 0u);
}

TEST_F(ScimTest, UserNameIsUniqueIgnoringCaseAnd409NamesTheHolder) {
  const std::string id = create_user("Bob");
  const auto duplicate = post("/Users", json::parse(R"({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bob"})"));
  EXPECT_EQ(duplicate.status, 409u);
  EXPECT_EQ(scim_type(duplicate), "uniqueness");
  EXPECT_NE(duplicate.raw.find(id), std::string::npos);
  create_group("Admins");
  const auto group = post("/Groups", json::parse(R"({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "admins"})"));
  EXPECT_EQ(group.status, 409u);
}

TEST_F(ScimTest, FiltersAsEntraAndOktaSendThem) {
  const std::string bob = create_user("bob@example.com", json::object{{"externalId", "Ext-Bob"},
      {"emails", json::array{json::object{{"value", "bob@work.example"}, {"type", "work"}}}}});
  create_user("alice@example.com", json::object{{"externalId", "ext-alice"}, {"active", false}});
  auto ids = [&](const std::string& query) {
    const auto answer = get("/Users?" + query);
    EXPECT_EQ(answer.status, 200u) << query << " " << answer.raw;
    std::vector<std::string> out;
    for (const auto& resource : answer.body.at("Resources").as_array()) out.emplace_back(resource.at("userName").as_string());
    EXPECT_EQ(answer.body.at("totalResults").to_number<std::size_t>(), out.size());
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids("filter=userName%20eq%20%22BOB%40example.com%22"), V{"bob@example.com"}); // caseExact false
  EXPECT_EQ(ids("filter=externalId%20eq%20%22ext-bob%22"), V{}); // caseExact true
  EXPECT_EQ(ids("filter=externalId+eq+%22Ext-Bob%22"), V{"bob@example.com"});
  EXPECT_EQ(ids("filter=emails%5Btype%20eq%20%22work%22%5D.value%20eq%20%22bob%40work.example%22"), V{"bob@example.com"});
  EXPECT_EQ(ids("filter=active%20eq%20false"), V{"alice@example.com"});
  EXPECT_EQ(ids("filter=userName%20sw%20%22a%22%20or%20not%20(active%20pr)"), (V{"bob@example.com", "alice@example.com"}));
  EXPECT_EQ(ids("filter=meta.resourceType%20eq%20%22User%22%20and%20id%20eq%20%22" + bob + "%22"), V{"bob@example.com"});
  const auto bad = get("/Users?filter=userName%20eq");
  EXPECT_EQ(bad.status, 400u);
  EXPECT_EQ(scim_type(bad), "invalidFilter");
}

TEST_F(ScimTest, ListsSortPageAndProject) {
  for (const char* name : {"carol", "alice", "bob", "dave"}) create_user(name, json::object{{"displayName", std::string("D ") + name}});
  auto names = [](const Answer& answer) {
    std::vector<std::string> out;
    for (const auto& resource : answer.body.at("Resources").as_array()) out.emplace_back(resource.at("userName").as_string());
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names(get("/Users")), (V{"carol", "alice", "bob", "dave"}));
  EXPECT_EQ(names(get("/Users?sortBy=userName")), (V{"alice", "bob", "carol", "dave"}));
  EXPECT_EQ(names(get("/Users?sortBy=userName&sortOrder=descending")), (V{"dave", "carol", "bob", "alice"}));
  const auto page = get("/Users?sortBy=userName&startIndex=2&count=2");
  EXPECT_EQ(names(page), (V{"bob", "carol"}));
  EXPECT_EQ(page.body.at("totalResults"), 4);
  EXPECT_EQ(page.body.at("itemsPerPage"), 2);
  EXPECT_EQ(page.body.at("startIndex"), 2);
  EXPECT_EQ(get("/Users?count=0").body.at("Resources").as_array().size(), 0u);
  EXPECT_EQ(get("/Users?startIndex=-5&count=1").body.at("startIndex"), 1);
  EXPECT_EQ(get("/Users?count=x").status, 400u);

  const auto only = get("/Users?attributes=userName&count=1");
  const auto& first = only.body.at("Resources").at(0).as_object();
  EXPECT_EQ(first.size(), 3u) << json::serialize(first); // schemas, id, userName
  EXPECT_TRUE(first.contains("id"));
  const auto without = get("/Users?excludedAttributes=displayName,meta,id&count=1");
  const auto& second = without.body.at("Resources").at(0).as_object();
  EXPECT_FALSE(second.contains("displayName"));
  EXPECT_FALSE(second.contains("meta"));
  EXPECT_TRUE(second.contains("id")); // returned always

  const auto search = call(http::verb::post, "/Users/.search",
                           R"({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                               "filter": "userName eq \"dave\"", "attributes": ["displayName"]})");
  ASSERT_EQ(search.status, 200u) << search.raw;
  EXPECT_EQ(search.body.at("Resources").at(0).at("displayName"), "D dave");
}

TEST_F(ScimTest, AuthentikPushesGroupsAndAddsMembersOneByOne) {
  const std::string bob = create_user("bob");
  const std::string alice = create_user("alice");
  const std::string group = create_group("ha-users");
  for (const auto& member : {bob, alice, bob}) {
    const auto answer = patch("/Groups/" + group, patch_op(json::array{json::object{
        {"op", "add"}, {"path", "members"}, {"value", json::array{json::object{{"value", member}}}}}}));
    ASSERT_EQ(answer.status, 200u) << answer.raw;
  }
  const auto read = get("/Groups/" + group);
  const auto& members = read.body.at("members").as_array();
  ASSERT_EQ(members.size(), 2u); // bob added twice is one member
  EXPECT_EQ(members.at(0).at("display"), "bob");
  EXPECT_EQ(members.at(0).at("$ref"), json::value("https://ha.example/scim/v2/Users/" + bob));
  EXPECT_EQ(read.body.at("meta").at("version"), "W/\"3\""); // the repeated add changed nothing
  // The User shows the Group, read-only.
  const auto user = get("/Users/" + bob);
  EXPECT_EQ(user.body.at("groups").at(0).at("value"), json::value(group));
  EXPECT_EQ(user.body.at("groups").at(0).at("display"), "ha-users");
  // The 409 answer to a second create, then the lookup authentik does.
  const auto again = post("/Groups", json::parse(R"({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "ha-users"})"));
  EXPECT_EQ(again.status, 409u);
  const auto lookup = get("/Groups?filter=displayName%20eq%20%22ha-users%22&excludedAttributes=members");
  EXPECT_EQ(lookup.body.at("Resources").at(0).at("id"), json::value(group));
  EXPECT_FALSE(lookup.body.at("Resources").at(0).as_object().contains("members"));
  // Members that do not exist are refused; nothing changes.
  const auto ghost = patch("/Groups/" + group, patch_op(json::array{json::object{
      {"op", "add"}, {"path", "members"}, {"value", json::array{json::object{{"value", "no-such-user"}}}}}}));
  EXPECT_EQ(ghost.status, 400u);
  EXPECT_EQ(scim_type(ghost), "invalidValue");
  // Removal by value filter, and as Entra ID sends it (a value list).
  EXPECT_EQ(patch("/Groups/" + group, patch_op(json::array{json::object{
                {"op", "remove"}, {"path", "members[value eq \"" + bob + "\"]"}}})).status, 200u);
  EXPECT_EQ(patch("/Groups/" + group, patch_op(json::array{json::object{
                {"op", "Remove"}, {"path", "members"}, {"value", json::array{json::object{{"value", alice}}}}}})).status, 200u);
  EXPECT_FALSE(get("/Groups/" + group).body.as_object().contains("members"));
  EXPECT_FALSE(get("/Users/" + bob).body.as_object().contains("groups"));
}

TEST_F(ScimTest, EntraSendsCapitalisedOpsStringBooleansAndFilteredPaths) {
  const std::string id = create_user("bob", json::object{{"active", true}});
  const auto answer = patch("/Users/" + id, patch_op(json::array{
      json::object{{"op", "Replace"}, {"path", "active"}, {"value", "False"}},
      json::object{{"op", "Add"}, {"path", "emails[type eq \"work\"].value"}, {"value", "bob@work.example"}},
      json::object{{"op", "Replace"}, {"path", "name.givenName"}, {"value", "Robert"}},
      json::object{{"op", "Add"}, {"path", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"},
                   {"value", "Ops"}}}));
  ASSERT_EQ(answer.status, 200u) << answer.raw;
  const auto& user = answer.body.as_object();
  EXPECT_EQ(user.at("active"), false);
  EXPECT_EQ(user.at("emails").at(0).at("type"), "work");
  EXPECT_EQ(user.at("emails").at(0).at("value"), "bob@work.example");
  EXPECT_EQ(user.at("name").at("givenName"), "Robert");
  EXPECT_EQ(user.at("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User").at("department"), "Ops");
  EXPECT_EQ(user.at("schemas").as_array().size(), 2u);
  // A second add to the same filtered path changes that email, it does not add one.
  const auto changed = patch("/Users/" + id, patch_op(json::array{json::object{
      {"op", "replace"}, {"path", "emails[type eq \"work\"].value"}, {"value", "robert@work.example"}}}));
  EXPECT_EQ(changed.body.at("emails").as_array().size(), 1u);
  EXPECT_EQ(changed.body.at("emails").at(0).at("value"), "robert@work.example");
}

TEST_F(ScimTest, OktaDeactivatesWithAPathlessReplaceAndUpdatesWithPut) {
  const std::string id = create_user("bob", json::object{{"active", true}, {"displayName", "Bob"}});
  const auto off = patch("/Users/" + id, patch_op(json::array{json::object{{"op", "replace"}, {"value", json::object{{"active", false}}}}}));
  ASSERT_EQ(off.status, 200u) << off.raw;
  EXPECT_EQ(off.body.at("active"), false);
  EXPECT_EQ(off.body.at("displayName"), "Bob");
  // authentik's whole-object replace: id, meta and schemas in the value are ignored, not refused.
  auto whole = get("/Users/" + id).body.as_object();
  whole["displayName"] = "Bobby";
  const auto replaced = patch("/Users/" + id, patch_op(json::array{json::object{{"op", "replace"}, {"value", whole}}}));
  ASSERT_EQ(replaced.status, 200u) << replaced.raw;
  EXPECT_EQ(replaced.body.at("displayName"), "Bobby");
  // PUT replaces everything: what it leaves out is gone.
  const auto put_answer = put("/Users/" + id, json::parse(R"({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bob", "active": true})"));
  ASSERT_EQ(put_answer.status, 200u) << put_answer.raw;
  EXPECT_FALSE(put_answer.body.as_object().contains("displayName"));
  EXPECT_EQ(put_answer.body.at("active"), true);
}

TEST_F(ScimTest, BadPatchesChangeNothing) {
  const std::string id = create_user("bob", json::object{{"displayName", "Bob"}});
  const auto before = get("/Users/" + id);
  auto refused = [&](const json::value& body, const char* type) {
    const auto answer = patch("/Users/" + id, body);
    EXPECT_EQ(answer.status, 400u) << json::serialize(body);
    EXPECT_EQ(scim_type(answer), type) << json::serialize(body) << " " << answer.raw;
  };
  refused(json::object{{"Operations", json::array{}}}, "invalidSyntax");
  refused(patch_op(json::array{}), "invalidSyntax");
  refused(patch_op(json::array{json::object{{"op", "move"}, {"path", "displayName"}}}), "invalidSyntax");
  refused(patch_op(json::array{json::object{{"op", "replace"}, {"path", "nosuch"}, {"value", "x"}}}), "invalidPath");
  refused(patch_op(json::array{json::object{{"op", "replace"}, {"path", "emails[type eq"}, {"value", "x"}}}), "invalidPath");
  refused(patch_op(json::array{json::object{{"op", "replace"}, {"path", "id"}, {"value", "x"}}}), "mutability");
  refused(patch_op(json::array{json::object{{"op", "remove"}}}), "noTarget");
  refused(patch_op(json::array{json::object{{"op", "replace"}, {"path", "emails[type eq \"home\"]"}, {"value", json::object{{"value", "a"}}}}}), "noTarget");
  // The first operation is fine, the second is not: neither is applied.
  refused(patch_op(json::array{json::object{{"op", "replace"}, {"path", "displayName"}, {"value", "Changed"}},
                               json::object{{"op", "replace"}, {"path", "userName"}, {"value", json::array{}}}}),
          "invalidValue");
  refused(patch_op(json::array{json::object{{"op", "remove"}, {"path", "userName"}}}), "invalidValue"); // required
  EXPECT_EQ(get("/Users/" + id).body, before.body);
  EXPECT_EQ(patch("/Users/no-such-id", patch_op(json::array{json::object{{"op", "remove"}, {"path", "displayName"}}})).status, 404u);
}

TEST_F(ScimTest, VersionsGuardWritesAndConditionalReads) {
  const std::string id = create_user("bob");
  const auto current = get("/Users/" + id);
  EXPECT_EQ(call(http::verb::get, "/Users/" + id, "", "", "", current.etag).status, 304u);
  const auto body = patch_op(json::array{json::object{{"op", "replace"}, {"path", "displayName"}, {"value", "B"}}});
  EXPECT_EQ(patch("/Users/" + id, body, current.etag).status, 200u);
  const auto stale = patch("/Users/" + id, body, current.etag);
  EXPECT_EQ(stale.status, 412u);
  EXPECT_EQ(call(http::verb::delete_, "/Users/" + id, "", "", current.etag).status, 412u);
  EXPECT_EQ(call(http::verb::delete_, "/Users/" + id, "", "", "W/\"nonsense\"").status, 412u);
  EXPECT_EQ(get("/Users/" + id).etag, "W/\"2\"");
  EXPECT_EQ(call(http::verb::delete_, "/Users/" + id, "", "", "*").status, 204u);
  EXPECT_EQ(get("/Users/" + id).status, 404u);
  EXPECT_EQ(call(http::verb::delete_, "/Users/" + id).status, 404u);
}

TEST_F(ScimTest, DeletingAUserTakesItOutOfItsGroupsAndARestartKeepsEverything) {
  const std::string bob = create_user("bob");
  const std::string alice = create_user("alice");
  const std::string group = create_group("ha-admins", json::array{json::object{{"value", bob}}, json::object{{"value", alice}}});
  EXPECT_EQ(call(http::verb::delete_, "/Users/" + bob).status, 204u);
  const auto read = get("/Groups/" + group);
  ASSERT_EQ(read.body.at("members").as_array().size(), 1u);
  EXPECT_EQ(read.body.at("members").at(0).at("value"), json::value(alice));

  close();
  open();
  EXPECT_EQ(get("/Users/" + bob).status, 404u);
  const auto after = get("/Groups/" + group);
  EXPECT_EQ(after.body, read.body);
  EXPECT_EQ(get("/Users/" + alice).body.at("groups").at(0).at("value"), json::value(group));
  // Names stay unique across the restart.
  EXPECT_EQ(post("/Users", json::parse(R"({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ALICE"})")).status, 409u);
}

TEST_F(ScimTest, OneAddressOverItsBudgetGets429) {
  settings_.requests_per_minute = 60;
  settings_.burst = 3;
  close();
  open();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(get("/Users").status, 200u);
  const auto over = get("/Users");
  EXPECT_EQ(over.status, 429u);
  EXPECT_EQ(over.body.at("status"), "429");
}

// The store fails half-way (after the resource, before the person's cut-off): 503, nothing kept, and the
// IdP's retry of the same request does all of it.
class ScimPeopleTest : public ScimTest {
protected:
  void SetUp() override {
    ScimTest::SetUp();
    settings_.roles_from_groups = true;
    gatehouse::config::Config config;
    config.users.user_groups = {"ha-users"};
    current_ = std::make_unique<gatehouse::config::Current>(std::move(config));
    close();
    open();
    people_ = std::make_unique<gatehouse::scim::People>(*store_, settings_, *current_, *resources_);
    service_ = std::make_unique<Service>(settings_, "https://ha.example", *resources_, people_.get());
    // bob signed in once; his SCIM User is the one whose userName is "bob".
    sql("INSERT INTO identities (issuer, subject, ha_user_id, ha_username, provider_id, created_at_ms, "
        "last_login_at_ms, scim_key) VALUES ('https://idp.example', 'sub-bob', 'ha-bob', 'bob', 'idp', 1, 1, 'bob')");
  }
  void TearDown() override {
    service_.reset();
    people_.reset();
    ScimTest::TearDown();
  }
  void sql(const std::string& statement) {
    store_->write([&](sqlite3* db) { gatehouse::store::Statement(db, statement, "test").run(); });
  }
  void cut_offs_fail(bool fail) {
    sql(fail ? "CREATE TRIGGER no_room BEFORE INSERT ON cut_offs BEGIN SELECT RAISE(ABORT, 'disk full'); END"
             : "DROP TRIGGER no_room");
  }
  bool bob_cut_off() { return gatehouse::sessions::still_cut_off(*store_, "ha-bob"); }
  std::unique_ptr<gatehouse::config::Current> current_;
  std::unique_ptr<gatehouse::scim::People> people_;
};

TEST_F(ScimPeopleTest, ACreateWhosePersonCannotBeCutOffIsNotKeptAndItsRetrySucceeds) {
  const json::value inactive_bob = json::parse(
      R"({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bob", "active": false})");
  cut_offs_fail(true);
  EXPECT_EQ(post("/Users", inactive_bob).status, 503u);
  EXPECT_EQ(get("/Users?filter=userName%20eq%20%22bob%22").body.at("totalResults"), 0) << "nothing half-applied";
  EXPECT_FALSE(bob_cut_off());

  cut_offs_fail(false);
  EXPECT_EQ(post("/Users", inactive_bob).status, 201u) << "the retry creates it, no 409";
  EXPECT_TRUE(bob_cut_off());
}

TEST_F(ScimPeopleTest, TheRetryOfAGroupDeleteThatFailedGivesItsRolesEffect) {
  const std::string bob = create_user("bob");
  const std::string group = create_group("ha-users", json::array{json::object{{"value", bob}}});
  CutOffs serving(*store_); // in no Group for a moment, bob was cut off; the Group lifted it
  for (const auto& lift : serving.lifts()) serving.finish_lift(lift);
  ASSERT_FALSE(bob_cut_off());
  cut_offs_fail(true);
  EXPECT_EQ(call(http::verb::delete_, "/Groups/" + group).status, 503u);
  EXPECT_FALSE(bob_cut_off());

  cut_offs_fail(false);
  EXPECT_EQ(call(http::verb::delete_, "/Groups/" + group).status, 404u);
  EXPECT_TRUE(bob_cut_off()) << "bob is in no Group that gives a role any more";
}

// Two sign-ins of one User (the IdP made the person's account anew, with a new sub): SCIM's
// deactivation cuts both off, not only the one that signed in last.
TEST_F(ScimPeopleTest, EveryoneBoundToAUserIsCutOffWithIt) {
  settings_.roles_from_groups = false;
  sql("INSERT INTO identities (issuer, subject, ha_user_id, ha_username, provider_id, created_at_ms, "
      "last_login_at_ms, scim_key) VALUES ('https://idp.example', 'sub-bob-2', 'ha-bob-2', 'bob-2', 'idp', 2, 2, 'bob')");
  const std::string bob = create_user("bob");
  const json::value deactivate = json::parse(
      R"({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
          "Operations": [{"op": "replace", "path": "active", "value": false}]})");
  ASSERT_EQ(patch("/Users/" + bob, deactivate).status, 200u);
  EXPECT_TRUE(bob_cut_off());
  EXPECT_TRUE(gatehouse::sessions::still_cut_off(*store_, "ha-bob-2"));
}

// A binding inferred from the name of a person's last sign-in may be wrong (the name went to another
// User since): their next sign-in, whose claim names their own User, decides; a sign-in's binding holds.
TEST_F(ScimPeopleTest, AnInferredBindingGivesWayToTheNextSignInAndASignInsBindingHolds) {
  settings_.roles_from_groups = false;
  const std::string other = create_user("bob"); // bob's old name, someone else's User now
  const std::string his = create_user("robert");
  const json::object claims{{"preferred_username", "robert"}};
  const gatehouse::scim::People::SignInOf sign_in{"https://idp.example", "sub-bob", claims};
  EXPECT_EQ(people_->user_of(sign_in), his) << "the inferred binding to " << other << " does not decide";
  sql("UPDATE identities SET scim_user_id = '" + his + "', scim_binding_firm = 1"); // what that sign-in leaves
  const json::object old_claim{{"preferred_username", "bob"}};
  EXPECT_EQ(people_->user_of({"https://idp.example", "sub-bob", old_claim}), his) << "a sign-in's binding holds";
}

// A binding inferred from the name of a person's last sign-in gets the cut-offs and lifts of that User,
// but not its role (they may be someone the IdP renamed since); a sign-in's binding gets the role too.
TEST_F(ScimPeopleTest, OnlyASignInsBindingTakesTheUsersRole) {
  const auto roles_asked = [&] {
    std::int64_t rows = 0;
    store_->read([&](sqlite3* db) {
      gatehouse::store::Statement count(db, "SELECT count(*) FROM role_requests WHERE ha_user_id = 'ha-bob'", "count");
      if (count.step()) rows = count.column_int64(0);
    });
    return rows;
  };
  const std::string bob = create_user("bob"); // bob's identity is bound to it by name: inferred
  create_group("ha-users", json::array{json::object{{"value", bob}}});
  EXPECT_EQ(roles_asked(), 0) << "no role from an inferred binding";
  sql("UPDATE identities SET scim_binding_firm = 1"); // what his next sign-in leaves
  create_group("ha-guests", json::array{json::object{{"value", bob}}});
  EXPECT_EQ(roles_asked(), 1) << "a sign-in's binding takes the role";
}

// A person who signed in before people were bound to their User (an upgrade) is bound when Gatehouse
// starts, so the rename the IdP sends next does not lose them: the renamed User's deactivation cuts them off.
TEST_F(ScimPeopleTest, APersonFromBeforeBindingIsBoundAtStartAndARenameKeepsThem) {
  settings_.roles_from_groups = false;
  const std::string bob = create_user("bob");
  sql("UPDATE identities SET scim_user_id = NULL"); // as the store was before migration 19
  service_.reset();
  people_ = std::make_unique<gatehouse::scim::People>(*store_, settings_, *current_, *resources_); // the restart
  service_ = std::make_unique<Service>(settings_, "https://ha.example", *resources_, people_.get());
  const json::value rename = json::parse(
      R"({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
          "Operations": [{"op": "replace", "path": "userName", "value": "robert"}]})");
  ASSERT_EQ(patch("/Users/" + bob, rename).status, 200u);
  EXPECT_FALSE(bob_cut_off());
  const json::value deactivate = json::parse(
      R"({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
          "Operations": [{"op": "replace", "path": "active", "value": false}]})");
  ASSERT_EQ(patch("/Users/" + bob, deactivate).status, 200u);
  EXPECT_TRUE(bob_cut_off()) << "the User is still bob's under its new name";
}

} // namespace
