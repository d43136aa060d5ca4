#pragma once

#include "core/name.hpp"
#include "core/rr.hpp"
#include "dnsd/tsig.hpp"
#include "signer/zone_signer.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
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
  std::vector<ServedRrset> rrsets; ///< sorted by type
  bool delegation = false;         ///< NS below the apex: a zone cut
  bool glue = false;               ///< below a zone cut: only served as glue

  [[nodiscard]] const ServedRrset* find(std::uint16_t type) const;
};

/// A record of a served zone, borrowed from it.
struct ZoneRecordView {
  const Name& owner;
  std::uint16_t type;
  std::uint32_t ttl;
  const std::vector<std::uint8_t>& rdata;
};

/// One record of a zone as a transfer carries it.
struct ZoneRecord {
  Name owner;
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  std::vector<std::uint8_t> rdata;
};

/// What changed from one version of a zone to the next, for IXFR (RFC 1995 §4): the records
/// removed and added, signatures included. Each version's SOA frames its half of the change.
struct ZoneDiff {
  ZoneRecord from_soa, to_soa;
  std::vector<ZoneRecord> removed, added;
  [[nodiscard]] std::uint32_t from_serial() const;
  [[nodiscard]] std::uint32_t to_serial() const;
};

/// A server allowed to transfer a zone (and sent NOTIFY for it).
struct TransferPeer {
  std::string address;     ///< canonical IP literal: transfers come from it
  std::uint16_t port = 53; ///< NOTIFY goes to address:port
  std::optional<Name> key; ///< its requests must be signed with this TSIG key
};

/// One signed zone, immutable once built.
struct ServedZone {
  Name apex;
  std::uint32_t serial = 0;
  bool nsec3 = false;
  std::map<Name, ServedNode> nodes; ///< canonical order: a name's descendants follow it
  /// NSEC3 records by raw owner hash (the order of the chain).
  std::map<std::vector<std::uint8_t>, ServedNode> nsec3_nodes;
  const ServedRrset* soa = nullptr; ///< points into nodes[apex]
  std::size_t record_count = 0;     ///< records and signatures, for the journal's bound
  /// The changes that led to this version, oldest first, contiguous, the last ending at
  /// `serial`. Kept only for zones with secondaries; bounded (see kept_journal).
  std::vector<std::shared_ptr<const ZoneDiff>> journal;
  std::vector<TransferPeer> secondaries;
  std::int64_t domain_id = 0; ///< in the store
  /// The TSIG keys that may UPDATE TXT records at the zone's _acme-challenge names.
  std::vector<Name> acme_keys;

  /// Builds the served form of a signed zone.
  [[nodiscard]] static std::shared_ptr<ServedZone> build(signer::SignedZone zone);

  /// The zone's SOA as a record.
  [[nodiscard]] ZoneRecord soa_record() const;
  /// Calls `each(record)` for every record of the zone but the SOA itself, in canonical
  /// order, each RRset followed by its signatures: the body of an AXFR.
  template <class F> void for_each_record(F&& each) const;
};

/// The changes from `before` to `after` (records compared whole, TTL included).
[[nodiscard]] ZoneDiff diff_zones(const ServedZone& before, const ServedZone& after);

/// `journal` with `diff` appended, then the oldest entries dropped while the journal holds more
/// records than the zone itself (past that an AXFR is cheaper, as BIND's max-ixfr-ratio 100%).
[[nodiscard]] std::vector<std::shared_ptr<const ZoneDiff>>
kept_journal(std::vector<std::shared_ptr<const ZoneDiff>> journal,
             std::shared_ptr<const ZoneDiff> diff, std::size_t zone_records);

template <class F> void ServedZone::for_each_record(F&& each) const {
  auto node_records = [&](const ServedNode& node) {
    for (const ServedRrset& set : node.rrsets) {
      if (set.type != rrtype::SOA)
        for (const auto& rdata : set.rdatas)
          each(ZoneRecordView{node.owner, set.type, set.ttl, rdata});
      for (const auto& sig : set.rrsigs)
        each(ZoneRecordView{node.owner, rrtype::RRSIG, set.ttl, sig});
    }
  };
  for (const auto& [_, node] : nodes)
    node_records(node);
  for (const auto& [_, node] : nsec3_nodes)
    node_records(node);
}

/// Every zone the server answers for, immutable; replaced as a whole on any change.
struct Snapshot {
  /// Unique in the process (1, 2, ...): what a cached answer remembers it came from, where the
  /// address of a freed snapshot could be reused.
  const std::uint64_t id = next_id();
  std::vector<std::shared_ptr<const ServedZone>> zones;
  /// The TSIG keys requests may be signed with.
  std::shared_ptr<const Keyring> keys = std::make_shared<const Keyring>();

  /// The zone with the longest apex that `qname` is at or below, or nullptr.
  [[nodiscard]] const ServedZone* find_zone(const Name& qname) const;

private:
  static std::uint64_t next_id();
};

} // namespace moat::dnsd
