#pragma once

#include "core/error.hpp"
#include "dnsd/snapshot.hpp"

#include <memory>
#include <string>

namespace moat::dnsd {

// A served zone kept on disk between runs, so that a restart re-uses its signatures instead of
// making every one anew (Knot keeps its signed zone file for the same reason). It is only ever
// the signer's previous build: whatever it holds is compared with the store's content and the
// keys, and a signature is re-used only for an identical RRset, by the same keys, not due for
// refresh. Public data only (records and signatures).
//
// Format: "MOATZONE", format version (u32), body length (u64), SHA-256 of the body, then the
// body: apex, serial, NSEC3 flag, and for every node its owner and RRsets (type, TTL, RDATAs,
// signatures). Integers big-endian; names in wire form after their length.

/// Writes `zone` to `path` (a temporary name, fsynced, renamed), mode 0640.
[[nodiscard]] Result<void> save_zone_state(const ServedZone& zone, const std::string& path);

/// Reads what save_zone_state() wrote: an error for a file missing, of another format version,
/// truncated, corrupt (checksum) or malformed.
[[nodiscard]] Result<std::shared_ptr<ServedZone>> load_zone_state(const std::string& path);

} // namespace moat::dnsd
