// scim/service: owns the SCIM 2.0 HTTP API at /scim/v2 (RFC 7644): who may call it (the bearer token of
// scim.token_file, compared in constant time, within a per-address request budget), its routes (Users,
// Groups, their .search, ServiceProviderConfig, ResourceTypes, Schemas), the list query (filter,
// sortBy/sortOrder, startIndex/count, attributes/excludedAttributes), versions (ETag, If-Match,
// If-None-Match), and every answer's form: application/scim+json, errors as RFC 7644 §3.12 says with
// `scimType`. It holds no resources itself (scim/resources) and never sees a request Gatehouse has not
// read once (front_door).
#pragma once

#include <boost/beast/http/verb.hpp>
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "scim/people.hpp"
#include "scim/resources.hpp"
#include "shield/check_budget.hpp"
#include "web/refusal.hpp"

namespace gatehouse::scim {

inline constexpr std::string_view kPathPrefix = "/scim/v2";

// One SCIM request, as the front door read it.
struct Call {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string_view path; // after /scim/v2: "/Users", "/Users/<id>", ...
  std::string_view query;
  std::string_view authorization;
  std::string_view if_match;
  std::string_view if_none_match;
  std::string_view content_type;
  std::string_view body;
  std::string_view client_address;
  unsigned version = 11;
};

class Service {
public:
  static constexpr std::size_t kMaxBodyBytes = 1024 * 1024; // a Group's full member list
  static constexpr std::size_t kMaxResults = 200;           // per list page (ServiceProviderConfig filter.maxResults)

  // `external_url`: the address clients see (Location and meta.location are absolute). `people`: what a
  // User's changes mean for the person (null: nobody signs in through Gatehouse).
  Service(const config::Scim& settings, std::string_view external_url, Resources& resources, People* people = nullptr);

  // The refusal (429 over the address's budget, 401 without the bearer token) for a caller who may not
  // use the API, nullopt for one who may: asked before the request's body is read, so nobody without
  // the token makes Gatehouse hold a body. Spends the address's budget.
  std::optional<web::Response> refusal(const Call& call);
  // The answer to a request whose caller refusal() let through.
  web::Response answer_admitted(const Call& call);
  // refusal(), then the answer.
  web::Response answer(const Call& call);

private:
  web::Response counted(const Call& call, web::Response response) const;
  web::Response route(const Call& call);
  web::Response list(Kind kind, const boost::json::object& query, unsigned version);
  web::Response read_one(Kind kind, const std::string& id, const Call& call);
  web::Response create(Kind kind, const Call& call);
  web::Response replace(Kind kind, const std::string& id, const Call& call);
  web::Response patch(Kind kind, const std::string& id, const Call& call);
  web::Response remove(Kind kind, const std::string& id, const Call& call);
  // What a written User or Group means for people (scim/people).
  void tell_people(const Resource& written);
  // The resource as clients see it: id, attributes, the User's groups, meta.
  boost::json::object render(const Resource& resource) const;
  web::Response resource_response(unsigned status, const Resource& resource, const Call& call) const;

  const config::Scim& settings_;
  const std::string base_url_; // external_url + /scim/v2
  Resources& resources_;
  People* people_;
  shield::CheckBudget budget_;
  const std::string token_digest_; // SHA-256 of the token: compared, never the token itself
};

} // namespace gatehouse::scim
