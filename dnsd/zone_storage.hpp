#pragma once

#include "dnsd/snapshot.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace moat::dnsd {

/// The bytes and RRsets a served zone's nodes point into. A whole build has one; a patch adds
/// one holding only what changed, chained to the storage of the zone it patched (whose views
/// its unchanged nodes keep).
struct ZoneStorage {
  std::vector<std::uint8_t> bytes; ///< every RDATA after its length; reserved, never reallocated
  std::vector<ServedRrset> rrsets; ///< every node's RRsets; reserved, never reallocated
  std::shared_ptr<const ZoneStorage> base; ///< the storage patched, kept alive
  std::size_t depth = 0;                   ///< patches since the last whole build
  std::size_t whole_bytes = 0;             ///< the bytes of that whole build
  std::size_t patch_bytes = 0;             ///< the bytes of the patches since, this one's too

  /// The bytes `list` will take in `bytes`.
  [[nodiscard]] static std::size_t size_of(const std::vector<std::vector<std::uint8_t>>& list);
  /// Copies `list` into `bytes` (which must have the room reserved) and returns its view.
  RdataList append(const std::vector<std::vector<std::uint8_t>>& list);
};

} // namespace moat::dnsd
