#pragma once
// The MTA-STS policy and TLSRPT record of a domain as moat publishes them: the policy text
// follows the MX hosts, the `_mta-sts` TXT id follows what moat-httpsd reports serving
// (DESIGN.md rule 2), and `moat policy del` waits out the last max_age (RFC 8461 §8.3).

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/mta_sts.hpp"
#include "core/rr.hpp"
#include "core/store.hpp"

#include <optional>
#include <string>
#include <vector>

namespace moat {

/// TTL of the `_mta-sts` and `_smtp._tls` TXT records; a sender re-fetches the policy when it
/// sees a new id, so this is how long a changed policy can go unnoticed.
inline constexpr std::uint32_t kStsTxtTtl = 3600;

/// The policy moat serves for `d` now: the operator's settings with one `mx:` line per MX host
/// (adding, active or removing: a host is listed before its MX appears and until after it has
/// gone, rule 3) unless patterns were given. nullopt when the domain has no policy.
[[nodiscard]] Result<std::optional<StsPolicy>> current_policy(Store& store, const Domain& d);

/// Sets (or creates) the policy of `d` after checking it: valid patterns and max_age; patterns
/// that cover every MX host of the domain; `enforce` only when every MX host has a live
/// certificate that covers it. One transaction; nothing changes on error.
[[nodiscard]] Result<StsPolicyRecord> set_policy(Store& store, const Domain& d,
                                                 const StsPolicyRecord& wanted, UnixTime now,
                                                 std::string_view actor);

/// `moat policy del`: allowed only in mode none; the policy and its TXT go in `tick` once the
/// mode-none text has been served past the previous policy's max_age.
[[nodiscard]] Result<void> request_policy_delete(Store& store, const Domain& d, UnixTime now,
                                                 std::string_view actor);

/// What moat-httpsd calls after it has started serving `text` for `d`: when the text differs
/// from the one recorded, records it and marks the zone changed so that the TXT id follows.
/// Returns true when something changed.
[[nodiscard]] Result<bool> report_policy_served(Store& store, const Domain& d,
                                                std::string_view text, UnixTime now,
                                                std::string_view actor);

/// True when the policy side of rule 3 allows `host` into the MX RRset of `d` at `now`: the
/// domain has no policy, or the served policy lists the host and its TXT id has been served
/// for kStsTxtTtl.
[[nodiscard]] Result<bool> policy_allows_mx(Store& store, const Domain& d, const Name& host,
                                            UnixTime now);

/// Finishes requested deletions whose wait is over; one line per domain done.
[[nodiscard]] Result<std::vector<std::string>> tick_policies(Store& store, UnixTime now,
                                                             std::string_view actor);

/// A policy step still to come, for `moat status`.
struct PolicyWait {
  std::string what;
  std::string waits_for;
  std::optional<UnixTime> not_before;
};
[[nodiscard]] Result<std::vector<PolicyWait>> policy_waits(Store& store, const Domain& d,
                                                           UnixTime now);

/// Checks a TLSRPT `rua` list (RFC 8460 §3): comma-separated `mailto:` or `https:` URIs.
[[nodiscard]] Result<void> check_tlsrpt_rua(std::string_view rua);

/// Where moat-httpsd takes reports POSTed for a domain unless told otherwise (RFC 8460 §3 leaves
/// the path to the domain).
inline constexpr std::string_view kDefaultTlsrptPath = "/.well-known/tlsrpt";

/// "https://mta-sts.DOMAIN/PATH": the report URI moat-httpsd answers for `domain`. Fails
/// unless `path` is an absolute URI path (RFC 3986 characters, no query or fragment).
[[nodiscard]] Result<std::string> builtin_tlsrpt_uri(const Name& domain, std::string_view path);

/// The path of the first https URI in `rua` whose host is mta-sts.DOMAIN (any case, any port):
/// where moat-httpsd takes the domain's reports. Empty when `rua` names no such URI.
[[nodiscard]] std::string builtin_tlsrpt_path(std::string_view rua, const Name& domain);

/// The TXT records for `d`: `_mta-sts` (when a policy is served) and `_smtp._tls`.
[[nodiscard]] Result<std::vector<Rr>> policy_records(Store& store, const Domain& d);

} // namespace moat
