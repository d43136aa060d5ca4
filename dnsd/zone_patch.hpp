#pragma once

#include "core/error.hpp"
#include "core/name.hpp"
#include "core/rr.hpp"
#include "dnsd/snapshot.hpp"
#include "signer/zone_signer.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace moat::dnsd {

/// A change to a zone as the store tells it: the new SOA, and for each name whose records
/// changed (lower case) every record it holds now (none when it is gone).
struct ZoneChangeSet {
  Rr soa;
  std::map<Name, std::vector<Rr>> owners;
};

/// A served zone with a change applied, and what it took.
struct PatchedZone {
  std::shared_ptr<ServedZone> zone;
  signer::SignCounts counts;
  std::size_t rrsets_changed = 0;
  ZoneDiff diff; ///< the change as IXFR carries it
};

/// How many patches may follow one another before the zone is built whole again: each keeps
/// the storage of the one before it alive, RRsets it replaced included. The whole build (at
/// the latest when signatures are refreshed) lets go of them.
inline constexpr std::size_t kMaxPatchChain = 1000;

/// `zone` with `change` applied, re-signing only what the change touches: the SOA, the RRsets at
/// the changed names, and the NSEC or NSEC3 records whose type bitmap or next name moves (the
/// changed names', their predecessors', and those of empty non-terminals that appear or go).
/// The result is what sign_zone() would make of the whole new content with `zone` as the
/// previous build, at a cost that does not grow with the zone's size beyond copying its
/// index. nullopt when the change is one a patch does not handle, and the caller signs the
/// whole zone: a zone cut or a name below one, a changed SOA TTL or MINIMUM (the TTL of every
/// NSEC/NSEC3), kMaxPatchChain patches in a row, or patches holding more than half as many
/// bytes as the whole build they started from (4 MiB at least). The keys and policy must be the
/// ones `zone` was signed with.
[[nodiscard]] Result<std::optional<PatchedZone>>
patch_zone(const ServedZone& zone, const ZoneChangeSet& change, const signer::KeySet& keys,
           const signer::SignPolicy& policy, std::int64_t now);

} // namespace moat::dnsd
