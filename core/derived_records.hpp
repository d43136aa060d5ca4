#pragma once

#include "core/error.hpp"
#include "core/rr.hpp"
#include "core/store.hpp"

#include <vector>

namespace moat {

/// TTLs of the records moat derives. The certificate and MX waits are computed from these.
inline constexpr std::uint32_t kTlsaTtl = 3600;
inline constexpr std::uint32_t kMxTtl = 3600;

/// The TLSA owner for an MX host: `_PORT._tcp.HOST` (RFC 7672 §2.2).
[[nodiscard]] Result<Name> tlsa_owner(const MxHost& host);

/// The records moat publishes for domain `d` on top of the operator's own: an MX record for
/// each of its "active" MX hosts; for every MX host (of any domain) inside `d`, the `3 1 1`
/// TLSA records of its staged and live certificates and the A/AAAA records of its addresses;
/// the `_mta-sts` and `_smtp._tls` TXT records (core/policy_state.hpp).
[[nodiscard]] Result<std::vector<Rr>> derived_records(Store& store, const Domain& d);

/// The whole desired content of `d` except the SOA: the operator's records and the derived
/// ones, without duplicates.
[[nodiscard]] Result<std::vector<Rr>> desired_records(Store& store, const Domain& d);

/// What desired_records() holds at one name of `d` (any case), given `derived`, the result of
/// derived_records() for `d`: the records at a changed name, read without the rest of the zone.
[[nodiscard]] Result<std::vector<Rr>> desired_records_at(Store& store, const Domain& d,
                                                         const std::vector<Rr>& derived,
                                                         const Name& owner);

} // namespace moat
