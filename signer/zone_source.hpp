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
  ZoneContent content;            ///< SOA (with the current serial) + the stored records
  std::vector<SigningKey> keys;   ///< the domain's keys that are in its DNSKEY RRset
  std::vector<bool> signs;        ///< per key: active (signs) or only published
  SignPolicy policy;

  /// The keys split by role and use, pointing into `keys` (valid while this object lives).
  [[nodiscard]] KeySet key_set() const;
};

/// The SOA record of `d`'s current state.
[[nodiscard]] Rr soa_record(const Domain& d);

/// Reads domain `d`'s records and keys from `store` and loads the keys. Fails when a key does
/// not load or the domain has no KSK or no ZSK.
[[nodiscard]] Result<ZoneSource> load_zone_source(Store& store, const Domain& d);

} // namespace moat::signer
