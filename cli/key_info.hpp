#pragma once

#include "cli/output.hpp"
#include "core/store.hpp"

#include <cstdint>
#include <string>
#include <vector>

/// What the CLI shows about a domain's keys: algorithm names and the DS records for the parent.
namespace moat::cli {

/// "ecdsap256" for a supported algorithm, else "algorithm N".
[[nodiscard]] std::string algorithm_label(std::uint8_t number);

/// One DS record (SHA-256) for a KSK.
struct DsView {
  std::uint16_t key_tag = 0;
  std::uint8_t algorithm = 0;
  std::uint8_t digest_type = 0;
  std::string digest; ///< upper-case hex
  std::string record; ///< "example.test. 3600 IN DS 12345 13 2 ABCD..."
};

/// The DS of `key` (a KSK or CSK of `domain`), with the TTL the parent is assumed to give it.
[[nodiscard]] DsView ds_view(const Domain& domain, const KeyRecord& key);
/// The DS records the parent should hold: those of the KSKs whose DS is asked for (CDS) or
/// confirmed, in key order. A KSK still being introduced by a rollover is not among them.
[[nodiscard]] std::vector<DsView> wanted_ds(const Domain& domain,
                                            const std::vector<KeyRecord>& keys);

/// {"key_tag", "algorithm", "digest_type", "digest", "record"}.
[[nodiscard]] Json ds_json(const DsView& ds);
/// {"key_tag", "role", "algorithm", "algorithm_number", "state", "created"} plus "ds" for a KSK.
[[nodiscard]] Json key_json(const Domain& domain, const KeyRecord& key);

} // namespace moat::cli
