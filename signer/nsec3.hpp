#pragma once

#include "core/name.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace moat::signer {

/// NSEC3 owner hash (RFC 5155 §5): SHA-1 iterated `iterations` extra times with `salt`.
[[nodiscard]] std::vector<std::uint8_t> nsec3_hash(const Name& name,
                                                   std::span<const std::uint8_t> salt,
                                                   std::uint16_t iterations);

/// Base32 with the extended hex alphabet, lower case, no padding (RFC 4648 §7).
[[nodiscard]] std::string base32hex_encode(std::span<const std::uint8_t> data);

/// Type bitmap field of NSEC/NSEC3 (RFC 4034 §4.1.2) for a set of types (any order).
[[nodiscard]] std::vector<std::uint8_t> type_bitmap(std::vector<std::uint16_t> types);

} // namespace moat::signer
