// config/values: owns the syntax of sizes, durations, counts, listen addresses, http(s) URLs, issuer URLs,
// booleans and IP networks as written in the config file, and the wording of what is expected when they
// are wrong.
#include "config/values.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <limits>

#include <boost/asio/ip/address.hpp>
#include <boost/system/error_code.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace gatehouse::config {
namespace {

constexpr std::size_t kMaxQuotedLength = 80;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), is_digit);
}

std::string lowercase(std::string_view text) {
  std::string result(text);
  std::transform(result.begin(), result.end(), result.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return result;
}

// Decimal digits into an unsigned 64-bit value; nullopt when it does not fit.
std::optional<std::uint64_t> digits_value(std::string_view digits) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (error != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

std::optional<std::uint64_t> checked_multiply(std::uint64_t a, std::uint64_t b) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return std::nullopt;
  return a * b;
}

// Splits "16 MiB" into the leading digits and the unit after optional spaces. The number part may also
// carry a sign or a decimal point, so callers can tell the user precisely what is wrong with it.
struct NumberWithUnit {
  std::string_view number; // sign, digits and '.', as written
  std::string_view unit;   // the rest after spaces, possibly empty
};

NumberWithUnit split_number_and_unit(std::string_view text) {
  std::size_t end = 0;
  while (end < text.size() && (is_digit(text[end]) || text[end] == '.' || text[end] == '-' || text[end] == '+')) {
    ++end;
  }
  std::size_t unit_start = end;
  while (unit_start < text.size() && text[unit_start] == ' ') ++unit_start;
  return {text.substr(0, end), text.substr(unit_start)};
}

// Why a number part is not a plain whole number, as a hint to append; empty when it is one.
std::string whole_number_hint(std::string_view number, std::string_view fraction_example) {
  if (number.empty()) return {};
  if (number.front() == '-') return "it cannot be negative";
  if (number.front() == '+') return "write the number without a sign";
  if (number.find('.') != std::string_view::npos) {
    return "use a whole number, e.g. " + std::string(fraction_example);
  }
  return {};
}

std::string with_hint(std::string message, std::string_view hint) {
  if (!hint.empty()) {
    message += "; ";
    message += hint;
  }
  return message;
}

std::string format_bytes(std::uint64_t bytes) {
  constexpr std::array<std::pair<std::uint64_t, const char*>, 3> units{{
      {1024ull * 1024 * 1024, "GiB"}, {1024ull * 1024, "MiB"}, {1024ull, "KiB"}}};
  for (const auto& [factor, name] : units) {
    if (bytes >= factor && bytes % factor == 0) {
      return std::to_string(bytes / factor) + name + " (" + std::to_string(bytes) + " bytes)";
    }
  }
  return std::to_string(bytes) + (bytes == 1 ? " byte" : " bytes");
}

// Hides "user:password@" so a credential typed into a URL never reaches a message.
std::string without_userinfo(std::string_view url) {
  const auto scheme_end = url.find("://");
  const auto authority_start = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  const auto authority_end = url.find_first_of("/?#", authority_start);
  const auto authority = url.substr(authority_start, authority_end == std::string_view::npos
                                                         ? std::string_view::npos
                                                         : authority_end - authority_start);
  const auto at = authority.rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  return std::string(url.substr(0, authority_start)) + "***@" + std::string(url.substr(authority_start + at + 1));
}

std::string_view view_of(boost::core::string_view text) { return {text.data(), text.size()}; }

bool is_host_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  if (!all_digits(text) || text.size() > 5) return std::nullopt;
  const auto value = digits_value(text);
  if (!value || *value > std::numeric_limits<std::uint16_t>::max()) return std::nullopt;
  return static_cast<std::uint16_t>(*value);
}

std::optional<boost::asio::ip::address> parse_ip_literal(std::string_view text) {
  // Zone ids ("fe80::1%eth0") are refused; make_address reads a C string, so an embedded NUL is too.
  if (text.empty() || text.find_first_of(std::string_view("%\0", 2)) != std::string_view::npos) return std::nullopt;
  boost::system::error_code error;
  auto address = boost::asio::ip::make_address(std::string(text), error);
  if (error) return std::nullopt;
  return address;
}

} // namespace

std::string quoted_value(std::string_view text) {
  std::string result = "\"";
  std::size_t shown = 0;
  for (const char c : text) {
    if (shown == kMaxQuotedLength) {
      result += "...";
      break;
    }
    ++shown;
    switch (c) {
      case '"': result += "\\\""; break;
      case '\\': result += "\\\\"; break;
      case '\n': result += "\\n"; break;
      case '\r': result += "\\r"; break;
      case '\t': result += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          constexpr char kHex[] = "0123456789abcdef";
          result += "\\x";
          result += kHex[(static_cast<unsigned char>(c) >> 4) & 0xF];
          result += kHex[static_cast<unsigned char>(c) & 0xF];
        } else {
          result += c;
        }
    }
  }
  result += '"';
  return result;
}

Parsed<std::uint64_t> parse_byte_size(std::string_view text, std::uint64_t minimum_bytes) {
  const std::string expected = "expected a size like 1048576, \"16MiB\" or \"1GiB\", got " + quoted_value(text);
  constexpr std::string_view kUnits = "the units are B, KiB, MiB and GiB";

  const auto [number, unit] = split_number_and_unit(text);
  if (const auto hint = whole_number_hint(number, "\"1536KiB\" rather than \"1.5MiB\""); !hint.empty()) {
    return Parsed<std::uint64_t>::fail(with_hint(expected, hint));
  }
  if (!all_digits(number)) return Parsed<std::uint64_t>::fail(with_hint(expected, kUnits));

  std::uint64_t factor = 0;
  if (unit.empty() || unit == "B") {
    factor = 1;
  } else if (unit == "KiB") {
    factor = 1024ull;
  } else if (unit == "MiB") {
    factor = 1024ull * 1024;
  } else if (unit == "GiB") {
    factor = 1024ull * 1024 * 1024;
  } else {
    return Parsed<std::uint64_t>::fail(with_hint(expected, kUnits));
  }

  const auto count = digits_value(number);
  const auto bytes = count ? checked_multiply(*count, factor) : std::nullopt;
  if (!bytes) return Parsed<std::uint64_t>::fail(expected + ", which is too large");
  if (*bytes < minimum_bytes) {
    return Parsed<std::uint64_t>::fail("expected a size of at least " + format_bytes(minimum_bytes) + ", got " +
                                       quoted_value(text));
  }
  return Parsed<std::uint64_t>::ok(*bytes);
}

Parsed<std::chrono::milliseconds> parse_duration(std::string_view text) {
  using Result = Parsed<std::chrono::milliseconds>;
  const std::string expected =
      "expected a duration like \"500ms\", \"10s\", \"5m\" or \"1h\" (a plain number means seconds), got " +
      quoted_value(text);
  constexpr std::string_view kUnits = "the units are ms, s, m and h";
  // Later code adds these to clock readings in nanoseconds; a year keeps that far from overflowing.
  constexpr std::uint64_t kMaxMilliseconds = 365ull * 24 * 3600 * 1000;

  const auto [number, unit] = split_number_and_unit(text);
  if (const auto hint = whole_number_hint(number, "\"1500ms\" rather than \"1.5s\""); !hint.empty()) {
    return Result::fail(with_hint(expected, hint));
  }
  if (!all_digits(number)) return Result::fail(with_hint(expected, kUnits));

  std::uint64_t factor = 0;
  if (unit == "ms") {
    factor = 1;
  } else if (unit.empty() || unit == "s") {
    factor = 1000;
  } else if (unit == "m") {
    factor = 60 * 1000;
  } else if (unit == "h") {
    factor = 3600 * 1000;
  } else {
    return Result::fail(with_hint(expected, kUnits));
  }

  const auto count = digits_value(number);
  const auto milliseconds = count ? checked_multiply(*count, factor) : std::nullopt;
  if (!milliseconds || *milliseconds > kMaxMilliseconds) {
    return Result::fail("expected a duration of at most 8760h (one year), got " + quoted_value(text));
  }
  if (*milliseconds == 0) return Result::fail("expected a duration greater than 0, got " + quoted_value(text));
  return Result::ok(std::chrono::milliseconds(static_cast<std::int64_t>(*milliseconds)));
}

Parsed<std::uint64_t> parse_count(std::string_view text, std::uint64_t minimum, std::uint64_t maximum) {
  const std::string range = maximum == std::numeric_limits<std::uint64_t>::max()
                                ? "a whole number of at least " + std::to_string(minimum)
                                : "a whole number from " + std::to_string(minimum) + " to " + std::to_string(maximum);
  const std::string expected = "expected " + range + ", got " + quoted_value(text);
  if (const auto hint = whole_number_hint(text, "\"2\" rather than \"1.5\""); !hint.empty() && !all_digits(text)) {
    return Parsed<std::uint64_t>::fail(with_hint(expected, hint));
  }
  if (!all_digits(text)) return Parsed<std::uint64_t>::fail(expected);
  const auto value = digits_value(text);
  if (!value || *value < minimum || *value > maximum) return Parsed<std::uint64_t>::fail(expected);
  return Parsed<std::uint64_t>::ok(*value);
}

Parsed<ListenAddress> parse_listen_address(std::string_view text) {
  using Result = Parsed<ListenAddress>;
  const std::string expected = "expected host:port like \"0.0.0.0:8123\" or \"[::]:8123\", got " + quoted_value(text);

  std::string_view host;
  std::string_view port_text;
  bool bracketed = false;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return Result::fail(with_hint(expected, "the \"]\" after the IPv6 address is missing"));
    host = text.substr(1, close - 1);
    const auto rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') return Result::fail(with_hint(expected, "add \":\" and the port after \"]\""));
    port_text = rest.substr(1);
    bracketed = true;
  } else {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) {
      return Result::fail(with_hint(expected, all_digits(text) ? "add the address to listen on, e.g. \"0.0.0.0:" +
                                                                     std::string(text) + "\""
                                                               : "add the port, e.g. \":8123\""));
    }
    if (text.find(':', colon + 1) != std::string_view::npos) {
      return Result::fail(with_hint(expected, "write an IPv6 address in brackets, e.g. \"[::]:8123\""));
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }

  const auto address = parse_ip_literal(host);
  if (!address || address->is_v6() != bracketed) {
    const std::string hint = bracketed ? "inside the brackets goes an IPv6 address such as :: or ::1"
                                       : "the host must be an IP address such as 0.0.0.0, 127.0.0.1 or [::]; "
                                         "host names are not allowed";
    return Result::fail(with_hint(expected, hint));
  }
  const auto port = parse_port(port_text);
  if (!port) return Result::fail(with_hint(expected, "the port must be a number from 0 to 65535"));

  ListenAddress listen;
  listen.host = address->to_string();
  listen.port = *port;
  return Result::ok(std::move(listen));
}

Parsed<HttpOrigin> parse_http_origin(std::string_view text) {
  using Result = Parsed<HttpOrigin>;
  const std::string expected =
      "expected an http:// or https:// URL like \"https://ha.example.com\", got " + quoted_value(without_userinfo(text));
  const auto fail = [&](std::string_view hint) { return Result::fail(with_hint(expected, hint)); };

  if (text.find("://") == std::string_view::npos) return fail("add the scheme, http:// or https://");
  const auto parsed = boost::urls::parse_uri(boost::core::string_view(text.data(), text.size()));
  if (!parsed) return fail("it is not a valid URL");
  const boost::urls::url_view& url = *parsed;

  const std::string scheme = lowercase(view_of(url.scheme()));
  if (scheme != "http" && scheme != "https") return fail("the scheme must be http or https");
  if (url.has_userinfo()) return fail("remove the user name and password before \"@\"");
  if (url.host_type() == boost::urls::host_type::ipvfuture || url.host_type() == boost::urls::host_type::none) {
    return fail("the host is missing or not usable");
  }
  const std::string encoded_host = lowercase(view_of(url.encoded_host()));
  if (encoded_host.empty()) return fail("the host is missing");
  if (url.host_type() == boost::urls::host_type::name &&
      !std::all_of(encoded_host.begin(), encoded_host.end(), is_host_name_char)) {
    return fail("the host may only hold letters, digits, \"-\", \"_\" and \".\"");
  }

  const bool tls = scheme == "https";
  const std::uint16_t default_port = tls ? 443 : 80;
  std::uint16_t port = default_port;
  if (url.has_port()) {
    const auto explicit_port = parse_port(view_of(url.port()));
    if (!explicit_port || *explicit_port == 0) return fail("the port after the host must be a number from 1 to 65535");
    port = *explicit_port;
  }

  const auto path = view_of(url.encoded_path());
  if (!path.empty() && path != "/") return fail("remove the path " + quoted_value(path) + "; only a bare host is allowed");
  if (url.has_query()) return fail("remove the query after \"?\"");
  if (url.has_fragment()) return fail("remove the fragment after \"#\"");

  HttpOrigin origin;
  origin.tls = tls;
  origin.port = port;
  origin.host = url.host_type() == boost::urls::host_type::ipv6 ? lowercase(view_of(url.encoded_host_address()))
                                                                : encoded_host;
  origin.url = scheme + "://" + encoded_host;
  if (port != default_port) origin.url += ":" + std::to_string(port);
  return Result::ok(std::move(origin));
}

Parsed<std::string> parse_issuer_url(std::string_view text) {
  using Result = Parsed<std::string>;
  const std::string expected = "expected an https:// URL like \"https://idp.example.com/realms/main\", got " +
                               quoted_value(without_userinfo(text));
  const auto fail = [&](std::string_view hint) { return Result::fail(with_hint(expected, hint)); };

  if (text.find("://") == std::string_view::npos) return fail("add the scheme, https://");
  // parse_uri rather than parse_absolute_uri: the latter refuses any fragment without saying so.
  const auto parsed = boost::urls::parse_uri(boost::core::string_view(text.data(), text.size()));
  if (!parsed) return fail("it is not a valid URL");
  const boost::urls::url_view& url = *parsed;

  const std::string scheme = lowercase(view_of(url.scheme()));
  if (scheme != "http" && scheme != "https") return fail("the scheme must be https");
  // Boost.URL 1.81 reads "http://127.0.0.1.nip.io" as host 127.0.0.1 with path ".nip.io"; such a host would
  // pass as loopback here while a resolver goes elsewhere. After the authority, a path starts with "/".
  const auto path = view_of(url.encoded_path());
  if (url.has_authority() && !path.empty() && path.front() != '/') {
    return fail("the host cannot be read; a host name may not start with an IP address (like 127.0.0.1.nip.io)");
  }
  if (url.has_userinfo()) return fail("remove the user name and password before \"@\"");
  if (!url.has_authority() || url.host_type() == boost::urls::host_type::ipvfuture ||
      url.host_type() == boost::urls::host_type::none) {
    return fail("the host is missing or not usable");
  }
  const std::string encoded_host = lowercase(view_of(url.encoded_host()));
  if (encoded_host.empty()) return fail("the host is missing");
  if (url.host_type() == boost::urls::host_type::name &&
      !std::all_of(encoded_host.begin(), encoded_host.end(), is_host_name_char)) {
    return fail("the host may only hold letters, digits, \"-\", \"_\" and \".\"");
  }
  if (url.has_port()) {
    const auto port = parse_port(view_of(url.port()));
    if (!port || *port == 0) return fail("the port after the host must be a number from 1 to 65535");
  }
  if (url.has_query()) return fail("remove the query after \"?\"; the issuer has no parameters");
  if (url.has_fragment()) return fail("remove the fragment after \"#\"");

  if (scheme == "http") {
    bool loopback = false;
    switch (url.host_type()) {
      case boost::urls::host_type::ipv4: loopback = (url.host_ipv4_address().to_uint() >> 24) == 127; break;
      case boost::urls::host_type::ipv6: loopback = url.host_ipv6_address().is_loopback(); break;
      case boost::urls::host_type::name: loopback = encoded_host == "localhost"; break;
      default: break;
    }
    if (!loopback) {
      return fail("the IdP must be reached over TLS (https://); plain http:// is only allowed for a loopback "
                  "host (127.0.0.0/8, ::1 or localhost)");
    }
  }
  return Result::ok(std::string(text));
}

Parsed<bool> parse_bool(std::string_view text) {
  constexpr std::array<std::string_view, 9> kTrue{"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
  constexpr std::array<std::string_view, 9> kFalse{"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
  if (std::find(kTrue.begin(), kTrue.end(), text) != kTrue.end()) return Parsed<bool>::ok(true);
  if (std::find(kFalse.begin(), kFalse.end(), text) != kFalse.end()) return Parsed<bool>::ok(false);
  return Parsed<bool>::fail("expected true or false, got " + quoted_value(text));
}

Parsed<net::IpNetwork> parse_ip_network(std::string_view text) {
  using Result = Parsed<net::IpNetwork>;
  if (auto network = net::IpNetwork::parse(text)) return Result::ok(*network);

  const std::string expected =
      "expected an IP address or network like 10.0.0.0/8, 192.168.1.50 or fd00::/8, got " + quoted_value(text);
  if (text.find_first_of(" \t") != std::string_view::npos) return Result::fail(with_hint(expected, "remove the spaces"));

  const auto slash = text.find('/');
  const auto address = parse_ip_literal(text.substr(0, slash));
  if (!address) return Result::fail(with_hint(expected, "host names are not allowed, only IP addresses"));

  const unsigned address_bits = address->is_v4() ? 32 : 128;
  const auto prefix_text = text.substr(slash + 1);
  const auto prefix = all_digits(prefix_text) && prefix_text.size() <= 3 ? digits_value(prefix_text) : std::nullopt;
  if (slash == std::string_view::npos || !prefix || *prefix > address_bits ||
      (prefix_text.size() > 1 && prefix_text.front() == '0')) {
    return Result::fail(
        with_hint(expected, "the prefix after \"/\" must be a number from 0 to " + std::to_string(address_bits)));
  }

  // The only other way to fail is host bits beyond the prefix: show the network that was probably meant.
  std::string suggestion;
  if (address->is_v4()) {
    auto bytes = address->to_v4().to_bytes();
    for (std::size_t bit = *prefix; bit < 32; ++bit) bytes[bit / 8] &= static_cast<unsigned char>(~(0x80u >> (bit % 8)));
    suggestion = boost::asio::ip::make_address_v4(bytes).to_string();
  } else {
    auto bytes = address->to_v6().to_bytes();
    for (std::size_t bit = *prefix; bit < 128; ++bit) bytes[bit / 8] &= static_cast<unsigned char>(~(0x80u >> (bit % 8)));
    suggestion = boost::asio::ip::make_address_v6(bytes).to_string();
  }
  suggestion += "/" + std::to_string(*prefix);
  return Result::fail(with_hint(expected, "it has address bits set after the /" + std::to_string(*prefix) +
                                              " prefix; did you mean " + suggestion + "?"));
}

} // namespace gatehouse::config
