#pragma once

#include "core/name.hpp"
#include "signer/zone_signer.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

namespace moat::dnsd {

/// One RRset as served, with its signatures.
struct ServedRrset {
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  std::vector<std::vector<std::uint8_t>> rdatas;
  std::vector<std::vector<std::uint8_t>> rrsigs;
};

/// All RRsets at one name.
struct ServedNode {
  Name owner;
  std::vector<ServedRrset> rrsets;  ///< sorted by type
  bool delegation = false;          ///< NS below the apex: a zone cut
  bool glue = false;                ///< below a zone cut: only served as glue

  [[nodiscard]] const ServedRrset* find(std::uint16_t type) const;
};

/// One signed zone, immutable once built.
struct ServedZone {
  Name apex;
  std::uint32_t serial = 0;
  bool nsec3 = false;
  std::map<Name, ServedNode> nodes;  ///< canonical order: a name's descendants follow it
  /// NSEC3 records by raw owner hash (the order of the chain).
  std::map<std::vector<std::uint8_t>, ServedNode> nsec3_nodes;
  const ServedRrset* soa = nullptr;  ///< points into nodes[apex]

  /// Builds the served form of a signed zone.
  [[nodiscard]] static std::shared_ptr<const ServedZone> build(signer::SignedZone zone);
};

/// Every zone the server answers for, immutable; replaced as a whole on any change.
struct Snapshot {
  std::vector<std::shared_ptr<const ServedZone>> zones;

  /// The zone with the longest apex that `qname` is at or below, or nullptr.
  [[nodiscard]] const ServedZone* find_zone(const Name& qname) const;
};

} // namespace moat::dnsd
