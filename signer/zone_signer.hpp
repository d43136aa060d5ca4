#pragma once

#include "core/error.hpp"
#include "core/name.hpp"
#include "core/rr.hpp"
#include "signer/key.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace moat::signer {

/// One RRset of a signed zone with its signatures.
struct SignedRrset {
  Name owner;
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  std::vector<std::vector<std::uint8_t>> rdatas; ///< canonical order (sorted by RDATA octets)
  std::vector<std::vector<std::uint8_t>> rrsigs; ///< RRSIG RDATA; empty for delegation NS and glue
};

/// How a zone is signed.
struct SignPolicy {
  bool nsec3 = false;                      ///< NSEC3, 0 extra iterations, empty salt (RFC 9276)
  std::uint32_t sig_validity = 14 * 86400; ///< lifetime of a new signature
  std::uint32_t sig_refresh = 7 * 86400;   ///< re-sign when less than this is left
  /// Signatures coming due within this much of the first are refreshed with it, so that a
  /// zone is re-signed (and its serial bumped) at most about once per batch, not once per
  /// RRset as their spread expirations come due one by one.
  std::uint32_t refresh_batch = 3600;
  std::uint32_t inception_offset = 3600; ///< backdate inception for clock skew
  std::uint32_t dnskey_ttl = 3600;       ///< TTL of DNSKEY, CDS and CDNSKEY
  bool publish_cds = true;               ///< CDS + CDNSKEY for every KSK (RFC 7344, 8078)
};

/// The keys of a zone and what each does. KSKs sign DNSKEY, CDS and CDNSKEY; ZSKs sign
/// everything else. A rollover separates signing from publication (RFC 7583, RFC 6781 §4.1.4):
/// a key may be in the DNSKEY RRset without signing (published ahead of use, or retired), or
/// sign without being in it (an algorithm rollover's new keys before their DNSKEY, its old
/// keys after). `cds` are the KSKs whose DS the parent should hold (RFC 7344, RFC 8078).
struct KeySet {
  std::vector<const SigningKey*> ksks;
  std::vector<const SigningKey*> zsks;
  std::vector<const SigningKey*> dnskeys;
  std::vector<const SigningKey*> cds;
};

/// The unsigned zone: every record, SOA included, all owners at or below `apex`.
struct ZoneContent {
  Name apex;
  std::vector<Rr> records;
};

/// A complete signed zone, ready to be served or written out.
struct SignedZone {
  Name apex;
  /// Every RRset of the zone (DNSKEY, CDS, CDNSKEY, NSEC/NSEC3, NSEC3PARAM included), sorted
  /// by owner in canonical order, then by type; the SOA is the first.
  std::vector<SignedRrset> rrsets;
  bool nsec3 = false;
  std::uint32_t serial = 0;
  /// How many signatures this build created, and how many it took from the previous build.
  std::size_t signatures_made = 0;
  std::size_t signatures_reused = 0;
  /// RRsets whose content differs from the previous build (added, changed or removed).
  std::size_t rrsets_changed = 0;
  /// The earliest expiration of any signature, to schedule the next refresh.
  std::int64_t earliest_expiration = 0;
};

/// The signed zone as an RFC 1035 master file, one record per line (signatures after their
/// RRset), preceded by a comment naming the zone and serial.
[[nodiscard]] std::string master_file_text(const SignedZone& zone);

/// One RRset of the build a new one follows, as the signer needs it: compared whole with the
/// new RRset, and its signatures re-used when nothing changed and they are not due.
struct PreviousRrset {
  std::uint32_t ttl = 0;
  std::vector<std::span<const std::uint8_t>> rdatas; ///< canonical order
  std::vector<std::span<const std::uint8_t>> rrsigs;
};

/// The previous build of a zone, wherever it is kept: moat-dnsd asks the zone it serves, so
/// that the signatures are held once in memory, not a second time in a signer's cache.
class PreviousBuild {
public:
  virtual ~PreviousBuild() = default;
  /// The RRset at `owner` (lower case) and `type` when the previous build signed one.
  [[nodiscard]] virtual std::optional<PreviousRrset> find(const Name& owner,
                                                          std::uint16_t type) const = 0;
  /// How many RRsets the previous build signed (for SignedZone::rrsets_changed).
  [[nodiscard]] virtual std::size_t signed_rrsets() const = 0;
};

/// The RRsets at one name, by type, as the signer groups records.
using RrsetsByType = std::map<std::uint16_t, SignedRrset>;
/// Adds `rr` to its RRset at `owner` (lower case); an RRset takes the smallest TTL of its records.
void add_to_rrsets(RrsetsByType& node, const Name& owner, const Rr& rr);
/// Sorts every RRset's RDATA into canonical order, without duplicates.
void canonicalize(RrsetsByType& node);

/// What signing RRsets did: signatures made and re-used, RRsets found unchanged, and the
/// earliest expiration of the signatures they now carry (start it at now + validity).
struct SignCounts {
  std::size_t made = 0;
  std::size_t reused = 0;
  std::size_t unchanged = 0;
  std::int64_t earliest_expiration = 0;
};

/// Gives `set` its signatures: `previous`'s when the RRset is the same there (records and TTL),
/// the keys are the same and the signatures are not due for refresh; new ones otherwise (the
/// KSKs sign DNSKEY, CDS and CDNSKEY, the ZSKs the rest). What sign_zone() does for each RRset,
/// for a caller that re-signs only the RRsets of a change.
[[nodiscard]] Result<void> sign_rrset_reusing(SignedRrset& set, const Name& apex,
                                              const KeySet& keys, const SignPolicy& policy,
                                              std::int64_t now, const PreviousBuild* previous,
                                              SignCounts& counts);

/// Signs `content` at time `now`, re-using `previous`'s signatures for RRsets that did not
/// change (same records and TTL, same signing keys) unless they are due for refresh. Fails when
/// the content is not a valid zone (no SOA at the apex, records outside the apex) or a key
/// cannot sign.
[[nodiscard]] Result<SignedZone> sign_zone(const ZoneContent& content, const KeySet& keys,
                                           const SignPolicy& policy, std::int64_t now,
                                           const PreviousBuild* previous = nullptr);

/// sign_zone() with the last successful build kept as the previous one: signing the next
/// version of the same zone only creates signatures for RRsets that changed (plus those near
/// their refresh time). Not thread-safe; one ZoneSigner per zone.
class ZoneSigner {
public:
  [[nodiscard]] Result<SignedZone> sign(const ZoneContent& content, const KeySet& keys,
                                        const SignPolicy& policy, std::int64_t now);

private:
  class Last;
  std::shared_ptr<const Last> last_;
};

} // namespace moat::signer
