#pragma once

#include "core/error.hpp"
#include "core/name.hpp"
#include "core/rr.hpp"

#include <span>

namespace moat {

/// Checks that a record may be stored as desired state of the zone at `apex`: owner at or
/// below the apex, a data type (not meta, not one moat generates such as DNSKEY/RRSIG/NSEC,
/// not SOA which moat manages), TTL at most 2^31-1, RDATA well-formed.
[[nodiscard]] Result<void> check_record(const Name& apex, const Rr& rr);

/// Checks a whole zone's desired state (without SOA): every record passes check_record, no
/// CNAME beside other data nor more than one CNAME at a name (RFC 1034 §3.6.2, RFC 2181
/// §10.1), no CNAME at the apex, at least one NS at the apex, one TTL per RRset.
[[nodiscard]] Result<void> check_zone(const Name& apex, std::span<const Rr> records);

/// check_zone's rules that concern one name at a time: all of them but the apex's NS. Enough
/// for a change at some names when `records` holds every record at those names, so that a
/// one-record change need not read a zone of a hundred thousand names.
[[nodiscard]] Result<void> check_names(const Name& apex, std::span<const Rr> records);

} // namespace moat
