#pragma once

#include "core/error.hpp"
#include "core/name.hpp"
#include "dnsd/wire.hpp"

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace moat::dnsd {

/// One change an UPDATE asks for at an _acme-challenge name.
struct ChallengeChange {
  enum class Kind { kAdd, kDeleteAll, kDeleteOne } kind = Kind::kAdd;
  Name owner;
  std::uint32_t ttl = 0;
  std::vector<std::uint8_t> rdata; ///< TXT RDATA (empty for kDeleteAll)
};

/// The outcome of reading an UPDATE: an RCODE, why (for the log), and the changes.
struct UpdatePlan {
  std::uint16_t rcode = rcode::kNoError;
  std::string why;
  std::vector<ChallengeChange> changes;
};

/// The most records one UPDATE may carry, and the longest TTL a challenge record keeps.
inline constexpr std::size_t kMaxUpdateRecords = 32;
inline constexpr std::uint32_t kMaxChallengeTtl = 3600;

/// Reads the prerequisite and update sections of an UPDATE to zone `apex` (RFC 2136 §3.4.1)
/// and admits only what ACME DNS-01 needs: TXT records added, or deleted one by one or as an
/// RRset, at names whose first label is `_acme-challenge` below the apex. A record outside
/// the zone is NOTZONE; any other change REFUSED; prerequisites NOTIMP; a malformed record
/// FORMERR. `message` ends where the TSIG record (if any) starts.
[[nodiscard]] UpdatePlan read_acme_update(std::span<const std::uint8_t> message, const Query& q,
                                          const Name& apex);

/// Applies the changes to the store in one transaction (moat-dnsd's side; see main.cpp).
using ApplyChallenges =
    std::function<Result<void>(std::int64_t domain_id, const std::vector<ChallengeChange>&)>;

} // namespace moat::dnsd
