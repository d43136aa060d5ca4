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
#include <span>
#include <string>
#include <vector>

namespace moat::dnsd {

/// RDATAs stored back to back in a zone's storage, each after its length (2 octets); iterating
/// yields each as a span. A view: the zone keeps the bytes alive.
class RdataList {
public:
  class Iterator {
  public:
    using value_type = std::span<const std::uint8_t>;
    using difference_type = std::ptrdiff_t;
    Iterator() = default;
    Iterator(const std::uint8_t* at, std::uint32_t left) : at_(at), left_(left) {}
    value_type operator*() const { return {at_ + 2, length()}; }
    Iterator& operator++() {
      at_ += 2 + length();
      --left_;
      return *this;
    }
    Iterator operator++(int) {
      Iterator was = *this;
      ++*this;
      return was;
    }
    bool operator==(const Iterator& o) const { return left_ == o.left_; }

  private:
    [[nodiscard]] std::size_t length() const { return (std::size_t{at_[0]} << 8) | at_[1]; }
    const std::uint8_t* at_ = nullptr;
    std::uint32_t left_ = 0; ///< records from here to the end; the end iterator has 0
  };

  RdataList() = default;
  RdataList(const std::uint8_t* first, std::uint32_t count) : first_(first), count_(count) {}
  [[nodiscard]] Iterator begin() const { return {first_, count_}; }
  [[nodiscard]] Iterator end() const { return {}; }
  [[nodiscard]] std::size_t size() const { return count_; }
  [[nodiscard]] bool empty() const { return count_ == 0; }
  [[nodiscard]] std::span<const std::uint8_t> front() const { return *begin(); }

private:
  const std::uint8_t* first_ = nullptr;
  std::uint32_t count_ = 0;
};

/// One RRset as served, with its signatures.
struct ServedRrset {
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  RdataList rdatas; ///< canonical order
  RdataList rrsigs;
};

/// All RRsets at one name.
struct ServedNode {
  Name owner;
  std::span<const ServedRrset> rrsets; ///< sorted by type
  bool delegation = false;             ///< NS below the apex: a zone cut
  bool glue = false;                   ///< below a zone cut: only served as glue

  [[nodiscard]] const ServedRrset* find(std::uint16_t type) const;
};

/// The bytes and RRsets a zone's nodes point into; shared by copies of the zone, never changed.
struct ZoneStorage;

/// A record of a served zone, borrowed from it.
struct ZoneRecordView {
  const Name& owner;
  std::uint16_t type;
  std::uint32_t ttl;
  std::span<const std::uint8_t> rdata;
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

/// One signed zone, immutable once built. Compact: the nodes are a sorted vector, the RDATAs of
/// the whole zone one block of bytes (about a third of the memory of a map of vectors).
struct ServedZone : signer::PreviousBuild {
  Name apex;
  std::uint32_t serial = 0;
  bool nsec3 = false;
  std::vector<ServedNode> nodes; ///< canonical order: a name's descendants follow it
  /// The NSEC3 records in the order of the chain, and the raw hash of each (SHA-1).
  std::vector<ServedNode> nsec3_nodes;
  std::vector<std::array<std::uint8_t, 20>> nsec3_hashes;
  const ServedRrset* soa = nullptr; ///< points into the apex node
  std::size_t record_count = 0;     ///< records and signatures, for the journal's bound
  std::size_t signed_rrset_count = 0;
  /// The changes that led to this version, oldest first, contiguous, the last ending at
  /// `serial`. Kept only for zones with secondaries; bounded (see kept_journal).
  std::vector<std::shared_ptr<const ZoneDiff>> journal;
  std::vector<TransferPeer> secondaries;
  std::int64_t domain_id = 0; ///< in the store
  /// The TSIG keys that may UPDATE TXT records at the zone's _acme-challenge names.
  std::vector<Name> acme_keys;
  std::shared_ptr<const ZoneStorage> storage; ///< what the nodes point into

  /// Builds the served form of a signed zone.
  [[nodiscard]] static std::shared_ptr<ServedZone> build(signer::SignedZone zone);

  /// The node owning data at `owner`, or nullptr.
  [[nodiscard]] const ServedNode* node_at(const Name& owner) const;
  /// The first node at or after `owner` in canonical order (nodes.end() when none).
  [[nodiscard]] std::vector<ServedNode>::const_iterator lower_bound(const Name& owner) const;
  /// The first NSEC3 node whose hash is not below `hash` (nsec3_nodes.size() when none).
  [[nodiscard]] std::size_t nsec3_lower_bound(std::span<const std::uint8_t> hash) const;

  /// The zone's SOA as a record.
  [[nodiscard]] ZoneRecord soa_record() const;
  /// Calls `each(record)` for every record of the zone but the SOA itself, in canonical
  /// order, each RRset followed by its signatures: the body of an AXFR.
  template <class F> void for_each_record(F&& each) const;

  // The previous build, for the signer: its signatures are re-used from here.
  [[nodiscard]] std::optional<signer::PreviousRrset> find(const Name& owner,
                                                          std::uint16_t type) const override;
  [[nodiscard]] std::size_t signed_rrsets() const override { return signed_rrset_count; }
};

/// The zone as an RFC 1035 master file, one record per line (the SOA first, signatures after
/// their RRset), preceded by a comment naming the zone and serial: what --zone-dump writes.
[[nodiscard]] std::string master_file_text(const ServedZone& zone);

/// Adds to `out` the changes at one name from `before` to `after` (either may be null), SOA
/// records aside.
void diff_node(const Name& owner, const ServedNode* before, const ServedNode* after, ZoneDiff& out);

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
  for (const ServedNode& node : nodes)
    node_records(node);
  for (const ServedNode& node : nsec3_nodes)
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
