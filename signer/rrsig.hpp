#pragma once

#include "core/error.hpp"
#include "core/name.hpp"
#include "signer/key.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace moat::signer {

/// The records of one RRset, as the signer sees them. RDATA in canonical (lower-case names)
/// wire form; the order does not matter, duplicates are not allowed.
struct RrsetView {
  const Name& owner;
  std::uint16_t type;
  std::uint32_t ttl;
  std::span<const std::vector<std::uint8_t>> rdatas;
};

/// Validity window of a signature, in Unix seconds (serial arithmetic is applied on the wire).
struct Validity {
  std::int64_t inception;
  std::int64_t expiration;
};

/// Signs an RRset with `key` on behalf of zone `signer_name` (RFC 4034 §3, RFC 4035 §2.2);
/// returns the RRSIG RDATA. A wildcard owner gets the label count without the "*".
[[nodiscard]] Result<std::vector<std::uint8_t>> sign_rrset(const SigningKey& key,
                                                           const Name& signer_name,
                                                           const RrsetView& rrset,
                                                           Validity validity);

/// Fields of an RRSIG RDATA that callers inspect (e.g. to decide whether to refresh it).
struct RrsigInfo {
  std::uint16_t type_covered;
  std::uint8_t algorithm;
  std::uint8_t labels;
  std::uint32_t original_ttl;
  std::uint32_t expiration;
  std::uint32_t inception;
  std::uint16_t key_tag;
};
[[nodiscard]] Result<RrsigInfo> parse_rrsig(std::span<const std::uint8_t> rrsig_rdata);

} // namespace moat::signer
