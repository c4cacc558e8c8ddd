// jose/base64url: owns base64url (RFC 4648 §5, no padding) as JOSE uses it. Decoding is strict: padding,
// characters outside the alphabet and non-zero unused trailing bits are refused, so each byte string has
// exactly one accepted spelling and a token cannot be altered without changing what is verified.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace gatehouse::jose {

// nullopt on anything but the canonical unpadded encoding of some byte string ("" decodes to "").
std::optional<std::string> base64url_decode(std::string_view text);

// Unpadded; for JWS segments in tests and the PKCE S256 code_challenge.
std::string base64url_encode(std::string_view bytes);
std::string base64url_encode(std::span<const unsigned char> bytes);

} // namespace gatehouse::jose
