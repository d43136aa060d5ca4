#pragma once

#include "cli/app.hpp"
#include "core/store.hpp"

#include <string_view>
#include <vector>

/// Creating a new domain, shared by `domain add` and `zone import` of a domain moat does not
/// have yet.
namespace moat::cli {

/// Generates a KSK and a ZSK of `domain.algorithm` (or one CSK when `csk`) and stores `domain`
/// (id assigned back into it), `records` and the keys in one transaction with the audit entry.
/// The caller has validated `records` with check_zone. Returns the stored keys (KSK first);
/// throws CliError and writes nothing on failure, including when the domain already exists.
std::vector<KeyRecord> create_domain(const Context& ctx, Store& store, Domain& domain,
                                     const std::vector<Rr>& records, UnixTime now,
                                     std::string_view action, const std::string& detail,
                                     bool csk = false);

/// "KSK 12345, ZSK 23456", for messages.
[[nodiscard]] std::string key_tags_summary(const std::vector<KeyRecord>& keys);

} // namespace moat::cli
