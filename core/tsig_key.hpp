#pragma once

#include "core/error.hpp"
#include "core/name.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace moat {

/// A TSIG key shared with a secondary or an ACME client (RFC 8945). The secret is never logged.
struct TsigKey {
  Name name;             ///< the key's name, lower case (e.g. xfr-key.)
  std::string algorithm; ///< "hmac-sha256" etc. (the names BIND, Knot, NSD use)
  std::vector<std::uint8_t> secret;
  std::int64_t created = 0;
};

/// The HMAC algorithms moat signs and verifies with, by the names operators type.
/// RFC 8945 §6: hmac-sha256 is the one every implementation has; hmac-sha1 for old peers.
[[nodiscard]] bool tsig_algorithm_known(std::string_view algorithm);
/// The algorithm's name in the TSIG record (hmac-sha256 -> "hmac-sha256.").
[[nodiscard]] Name tsig_algorithm_name(std::string_view algorithm);
/// The reverse, for a received record: "" when moat does not implement it.
[[nodiscard]] std::string tsig_algorithm_from_name(const Name& wire_name);
/// The HMAC output length in bytes (0 for an unknown algorithm).
[[nodiscard]] std::size_t tsig_mac_size(std::string_view algorithm);
/// HMAC of `data` under the key; empty on an unknown algorithm.
[[nodiscard]] std::vector<std::uint8_t> tsig_hmac(std::string_view algorithm,
                                                  std::span<const std::uint8_t> secret,
                                                  std::span<const std::uint8_t> data);

/// A new random secret as long as the algorithm's output (RFC 8945 §6: at least that long).
[[nodiscard]] Result<std::vector<std::uint8_t>> generate_tsig_secret(std::string_view algorithm);

[[nodiscard]] std::string base64_encode(const std::vector<std::uint8_t>& data);
/// Strict: padding required, no blanks; fails on anything else.
[[nodiscard]] Result<std::vector<std::uint8_t>> base64_decode(std::string_view text);

/// Checks a key name as typed: a valid domain name, returned lower case and absolute.
[[nodiscard]] Result<Name> parse_tsig_key_name(std::string_view text);

} // namespace moat
