// Unit tests for scim/filter: RFC 7644 §3.4.2.2 filters and §3.5.2 PATCH paths, as the real IdPs send
// them (authentik, Entra ID, Okta), and bad filters refused with a message.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "scim/filter.hpp"

namespace {
namespace json = boost::json;
using gatehouse::scim::AttributePath;
using gatehouse::scim::Filter;
using gatehouse::scim::SyntaxError;

const json::object kBob = json::parse(R"({
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
              "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
  "id": "2819c223-7f76-453a-919d-413861904646",
  "externalId": "Bob-IdP-7",
  "userName": "Bob@Example.com",
  "name": {"givenName": "Bob", "familyName": "Builder"},
  "displayName": "Bob Builder",
  "active": true,
  "emails": [{"value": "bob@work.example", "type": "work", "primary": true},
             {"value": "bob@home.example", "type": "home"}],
  "meta": {"created": "2026-11-01T10:00:00Z", "lastModified": "2026-12-01T08:30:00Z"},
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "701", "manager": {"value": "26118915"}},
  "loginCount": 12
})").as_object();

bool matches(const char* text, const json::object& resource = kBob) {
  auto parsed = Filter::parse(text);
  if (auto* error = std::get_if<SyntaxError>(&parsed)) {
    ADD_FAILURE() << text << ": " << error->message;
    return false;
  }
  // RFC 7643: id and externalId are case-exact; userName, emails and the rest are not.
  return std::get<Filter>(parsed).matches(resource, [](const AttributePath& path) {
    return path.schema.empty() && (path.name == "id" || path.name == "externalid");
  });
}

std::string refusal(const char* text) {
  auto parsed = Filter::parse(text);
  if (auto* error = std::get_if<SyntaxError>(&parsed)) return error->message;
  return "";
}

TEST(ScimFilter, EveryOperatorOnStrings) {
  EXPECT_TRUE(matches(R"(userName eq "bob@example.com")"));  // userName is not case-exact
  EXPECT_FALSE(matches(R"(userName eq "alice@example.com")"));
  EXPECT_TRUE(matches(R"(userName ne "alice@example.com")"));
  EXPECT_FALSE(matches(R"(userName ne "BOB@example.COM")"));
  EXPECT_TRUE(matches(R"(userName co "example")"));
  EXPECT_TRUE(matches(R"(userName sw "bob@")"));
  EXPECT_FALSE(matches(R"(userName sw "example")"));
  EXPECT_TRUE(matches(R"(userName ew ".COM")"));
  EXPECT_TRUE(matches(R"(displayName gt "Bob A")"));
  EXPECT_FALSE(matches(R"(displayName lt "Bob A")"));
  EXPECT_TRUE(matches(R"(displayName ge "bob builder")"));
  EXPECT_TRUE(matches(R"(displayName le "Bob Builder")"));
  EXPECT_TRUE(matches(R"(meta.lastModified gt "2026-11-30T00:00:00Z")"));
  EXPECT_FALSE(matches(R"(meta.lastModified lt "2026-11-30T00:00:00Z")"));
  EXPECT_FALSE(matches("title pr"));
  EXPECT_TRUE(matches("name.givenName pr"));
}

TEST(ScimFilter, CaseExactAttributesCompareExactly) {
  EXPECT_TRUE(matches(R"(externalId eq "Bob-IdP-7")"));
  EXPECT_FALSE(matches(R"(externalId eq "bob-idp-7")"));
  EXPECT_FALSE(matches(R"(id eq "2819C223-7F76-453A-919D-413861904646")"));
}

TEST(ScimFilter, NumbersBooleansAndNull) {
  EXPECT_TRUE(matches("loginCount gt 11"));
  EXPECT_FALSE(matches("loginCount gt 12"));
  EXPECT_TRUE(matches("loginCount ge 12.0"));
  EXPECT_TRUE(matches("active eq true"));
  EXPECT_TRUE(matches("active eq True")); // ABNF literals are case-insensitive
  EXPECT_FALSE(matches("active eq false"));
  EXPECT_TRUE(matches("title eq null"));
  EXPECT_FALSE(matches("userName eq null"));
  EXPECT_FALSE(matches(R"(active eq "true")")); // a string is not a boolean
}

TEST(ScimFilter, LogicGroupingAndPrecedence) {
  EXPECT_TRUE(matches(R"(userName sw "bob" and active eq true)"));
  EXPECT_FALSE(matches(R"(userName sw "bob" and active eq false)"));
  EXPECT_TRUE(matches(R"(userName sw "alice" or active eq true)"));
  // "and" binds tighter than "or": false or (true and true)
  EXPECT_TRUE(matches(R"(userName sw "alice" or userName sw "bob" and active eq true)"));
  // (false or true) and false
  EXPECT_FALSE(matches(R"((userName sw "alice" or userName sw "bob") and active eq false)"));
  EXPECT_TRUE(matches(R"(not (userName sw "alice"))"));
  EXPECT_FALSE(matches(R"(not(active eq true))"));
  EXPECT_TRUE(matches(R"(USERNAME EQ "bob@example.com" AND Active Eq TRUE)")); // names and operators ignore case
}

TEST(ScimFilter, MultiValuedAttributesMatchAnyElement) {
  EXPECT_TRUE(matches(R"(emails.value eq "bob@home.example")"));
  EXPECT_FALSE(matches(R"(emails co "work")")); // complex elements have no value of their own
  EXPECT_TRUE(matches(R"(emails[type eq "work" and value co "@work"])"));
  EXPECT_FALSE(matches(R"(emails[type eq "work" and value co "@home"])"));
  EXPECT_TRUE(matches(R"(emails[primary eq true])"));
  EXPECT_TRUE(matches(R"(emails[not (type eq "home")])"));
  // Entra ID: a value path followed by a sub-attribute comparison.
  EXPECT_TRUE(matches(R"(emails[type eq "work"].value eq "BOB@work.example")"));
  EXPECT_FALSE(matches(R"(emails[type eq "work"].value eq "bob@home.example")"));
  EXPECT_TRUE(matches(R"(schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")"));
}

TEST(ScimFilter, SchemaQualifiedAttributes) {
  EXPECT_TRUE(matches(R"(urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bob@example.com")"));
  EXPECT_TRUE(matches(R"(urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701")"));
  EXPECT_TRUE(matches(R"(urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915")"));
  EXPECT_FALSE(matches(R"(urn:ietf:params:scim:schemas:extension:other:2.0:User:employeeNumber eq "701")"));
}

TEST(ScimFilter, WhatRealIdpsSendBeforeCreating) {
  const json::object group = json::parse(R"({"id": "g1", "displayName": "HA Admins",
      "members": [{"value": "2819c223", "display": "bob"}]})").as_object();
  EXPECT_TRUE(matches(R"(displayName eq "HA Admins")", group));                   // authentik after a 409
  EXPECT_TRUE(matches(R"(members[value eq "2819c223"])", group));
  EXPECT_TRUE(matches(R"(externalId eq "Bob-IdP-7")"));                            // Entra ID
  EXPECT_TRUE(matches(R"(userName eq "Bob@Example.com")"));                        // Okta, Entra ID
  EXPECT_TRUE(matches(R"(userName eq "bob\u0040example.com")"));                   // JSON escapes in values
}

TEST(ScimFilter, BadFiltersAreRefusedWithWhereAndWhat) {
  EXPECT_NE(refusal(""), "");
  EXPECT_NE(refusal("userName"), "");
  EXPECT_NE(refusal("userName eq"), "");
  EXPECT_NE(refusal(R"(userName xx "a")").find("expected an operator"), std::string::npos);
  EXPECT_NE(refusal(R"(userName eq "a)").find("closing"), std::string::npos);
  EXPECT_NE(refusal(R"(userName eq 'a')").find("expected a value"), std::string::npos);
  EXPECT_NE(refusal(R"(userName eq "a" and)"), "");
  EXPECT_NE(refusal(R"((userName eq "a")"), "");
  EXPECT_NE(refusal(R"(userName eq "a")) )"), "");
  EXPECT_NE(refusal(R"(not userName eq "a")").find("'('"), std::string::npos);
  EXPECT_NE(refusal(R"(1userName eq "a")"), "");
  EXPECT_NE(refusal(R"(emails[type eq "work")"), "");
  EXPECT_NE(refusal(R"(emails[addresses[type eq "x"]])").find("another value filter"), std::string::npos);
  EXPECT_NE(refusal("active gt true").find("no order"), std::string::npos);
  EXPECT_NE(refusal("loginCount co 1").find("compares strings"), std::string::npos);
  EXPECT_NE(refusal(R"(userName eq "a" extra)"), "");
  EXPECT_EQ(refusal(R"(userName eq "a")"), "");
}

TEST(ScimFilter, InputIsBounded) {
  std::string deep;
  for (int i = 0; i < 200; ++i) deep += "(";
  deep += R"(userName eq "a")";
  for (int i = 0; i < 200; ++i) deep += ")";
  EXPECT_NE(refusal(deep.c_str()).find("deeper"), std::string::npos);
  std::string many = R"(userName eq "a")";
  for (int i = 0; i < 100; ++i) many += R"( or userName eq "a")";
  EXPECT_NE(refusal(many.c_str()).find("comparisons"), std::string::npos);
  std::string long_value = "userName eq \"" + std::string(5000, 'a') + "\"";
  EXPECT_NE(refusal(long_value.c_str()).find("longer"), std::string::npos);
}

TEST(ScimPatchPath, AttributeValuePathAndSubAttribute) {
  auto plain = gatehouse::scim::parse_patch_path("name.givenName");
  ASSERT_TRUE(std::holds_alternative<gatehouse::scim::PatchPath>(plain));
  EXPECT_EQ(std::get<gatehouse::scim::PatchPath>(plain).attribute.name, "name");
  EXPECT_EQ(std::get<gatehouse::scim::PatchPath>(plain).attribute.sub, "givenname");

  auto members = gatehouse::scim::parse_patch_path(R"(members[value eq "2819c223"])");
  ASSERT_TRUE(std::holds_alternative<gatehouse::scim::PatchPath>(members));
  const auto& path = std::get<gatehouse::scim::PatchPath>(members);
  EXPECT_EQ(path.attribute.name, "members");
  ASSERT_TRUE(path.filter);

  auto work_email = gatehouse::scim::parse_patch_path(R"(emails[type eq "work"].value)");
  ASSERT_TRUE(std::holds_alternative<gatehouse::scim::PatchPath>(work_email));
  EXPECT_EQ(std::get<gatehouse::scim::PatchPath>(work_email).sub, "value");

  auto extension = gatehouse::scim::parse_patch_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager");
  ASSERT_TRUE(std::holds_alternative<gatehouse::scim::PatchPath>(extension));
  EXPECT_EQ(std::get<gatehouse::scim::PatchPath>(extension).attribute.schema,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user");

  for (const char* bad : {"", "members[", R"(members[value eq "x"]extra)", R"(members[value eq "x"].)", "na me", "9lives"})
    EXPECT_TRUE(std::holds_alternative<SyntaxError>(gatehouse::scim::parse_patch_path(bad))) << bad;
}

} // namespace
