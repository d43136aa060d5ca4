#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace moat::dnsd {

/// A SipHash key: 16 bytes, read as two little-endian 64-bit words k0 and k1.
using SipHashKey = std::array<std::uint8_t, 16>;

/// SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012): a keyed
/// 64-bit hash whose outputs cannot be predicted, nor collisions chosen, without the key.
/// Used for DNS cookies (RFC 9018 §4.4) and to place rate-limiting buckets. Where the output
/// is written as bytes (a cookie), it is written little-endian, as the reference code does.
/// Pure function; thread-safe.
[[nodiscard]] std::uint64_t siphash24(const SipHashKey& key, std::span<const std::uint8_t> message);

} // namespace moat::dnsd
