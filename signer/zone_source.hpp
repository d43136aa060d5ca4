#pragma once

#include "core/error.hpp"
#include "core/rr.hpp"
#include "core/store.hpp"
#include "signer/key.hpp"
#include "signer/zone_signer.hpp"

#include <vector>

namespace moat::signer {

/// Everything needed to sign one domain, read from the store in one go.
struct ZoneSource {
  Domain domain;
  ZoneContent content; ///< SOA (with the current serial) + the stored records
  /// What one key does in the zone now, from its rollover state.
  struct Use {
    bool signs = false;     ///< makes RRSIGs (as its role: DNSKEY for a KSK, the rest for a ZSK)
    bool published = false; ///< in the DNSKEY RRset
    bool cds = false;       ///< in CDS/CDNSKEY: its DS is wanted at the parent
    bool csk = false;       ///< a combined signing key: signs as KSK and as ZSK
  };
  std::vector<SigningKey> keys; ///< the domain's keys that sign or are published
  std::vector<Use> uses;        ///< per key
  SignPolicy policy;

  /// The keys split by role and use, pointing into `keys` (valid while this object lives).
  [[nodiscard]] KeySet key_set() const;
};

/// What a key in `state` ("active", "published", …, see KeyRecord) does in the zone.
[[nodiscard]] ZoneSource::Use key_use(const KeyRecord& key);

/// The SOA record of `d`'s current state.
[[nodiscard]] Rr soa_record(const Domain& d);

/// Reads domain `d`'s records and keys from `store` and loads the keys. Fails when a key does
/// not load or the domain has no KSK or no ZSK.
[[nodiscard]] Result<ZoneSource> load_zone_source(Store& store, const Domain& d);

} // namespace moat::signer
