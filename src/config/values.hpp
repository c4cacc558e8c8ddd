// config/values: owns the syntax of the typed values a config file holds (sizes, durations, listen
// addresses, http(s) URLs, issuer URLs, booleans, IP networks). Each parser takes the text as written and
// returns either the value or a message for the user that says what is expected and quotes what was found.
// None of them know YAML or key names, so any module that reads a value of one of these kinds reuses the
// same rules and wording.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "net/ip_network.hpp"

namespace gatehouse::config {

// Either a value or, when the text is not acceptable, `problem`: "expected ..., got \"...\"".
template <typename T>
struct Parsed {
  std::optional<T> value;
  std::string problem;

  static Parsed ok(T parsed) { return Parsed{std::move(parsed), {}}; }
  static Parsed fail(std::string why) { return Parsed{std::nullopt, std::move(why)}; }
};

// `"text"` with quotes, control characters escaped and long text shortened, for use in messages.
std::string quoted_value(std::string_view text);

// "1048576", "64KiB", "16 MiB", "1GiB", "512B". Units are binary and case-sensitive; decimal units
// ("MB") are refused because they are ambiguous. `minimum_bytes` is inclusive.
Parsed<std::uint64_t> parse_byte_size(std::string_view text, std::uint64_t minimum_bytes = 1);

// "500ms", "10s", "5m", "1h", or a plain whole number of seconds ("30"). Must be greater than zero.
Parsed<std::chrono::milliseconds> parse_duration(std::string_view text);

// A whole number in [minimum, maximum], plain decimal digits only.
Parsed<std::uint64_t> parse_count(std::string_view text, std::uint64_t minimum, std::uint64_t maximum);

// "0.0.0.0:8123", "127.0.0.1:0", "[::]:8123". The host must be an IP literal (IPv6 in brackets); the port
// 0..65535, where 0 asks the OS for a free port.
Parsed<ListenAddress> parse_listen_address(std::string_view text);

// An http:// or https:// URL made of scheme, host and optional port only ("/" as path is allowed).
struct HttpOrigin {
  std::string url;   // canonical: lowercase scheme and host, default port left out, no trailing slash
  std::string host;  // without brackets for IPv6, ready for a resolver
  std::uint16_t port = 0; // explicit port, or 80/443 by scheme
  bool tls = false;  // https
};
Parsed<HttpOrigin> parse_http_origin(std::string_view text);

// An OpenID Connect issuer: an absolute https:// URL (a path is allowed, e.g. a Keycloak realm) without
// user name, query or fragment. http:// only for a loopback host (127.0.0.0/8, ::1, "localhost"), since
// the IdP's answers are only trustworthy over TLS. The value is returned exactly as written: the IdP's
// discovery document and ID tokens must name the issuer byte for byte.
Parsed<std::string> parse_issuer_url(std::string_view text);

// true/false, and the other YAML 1.1 spellings (yes/no, on/off), in lower, Title or UPPER case.
Parsed<bool> parse_bool(std::string_view text);

// An IP address or CIDR network; the problem says why not, e.g. host bits set ("did you mean 10.0.0.0/8").
Parsed<net::IpNetwork> parse_ip_network(std::string_view text);

} // namespace gatehouse::config
