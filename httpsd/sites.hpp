#pragma once
// What moat-httpsd serves, read from the store: one site per domain that has an MTA-STS policy
// and a certificate for mta-sts.DOMAIN.

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/store.hpp"

#include <map>
#include <string>
#include <vector>

namespace moat::httpsd {

/// One `mta-sts.DOMAIN` virtual host.
struct Site {
  std::int64_t domain_id = 0;
  std::string domain;        ///< "example.test." (for logs and the store)
  std::string host;          ///< "mta-sts.example.test", lower case, no trailing dot
  std::string policy_text;   ///< the exact bytes of /.well-known/mta-sts.txt
  std::string fullchain_pem; ///< the certificate presented for `host`
  std::string key_pem;
  /// Where this host takes SMTP TLS reports by POST (RFC 8460 §5.3), from the domain's TLSRPT
  /// `rua`; empty when the rua names no https://mta-sts.DOMAIN/ URI.
  std::string report_path;
};

/// Every site that can be served, keyed by host. Domains whose policy is invalid (a policy in
/// testing mode without MX hosts, say) or that have no certificate are left out and listed in
/// `skipped` with the reason, for the log.
struct SiteSet {
  std::map<std::string, Site> sites;
  std::vector<std::string> skipped;
};

[[nodiscard]] Result<SiteSet> read_sites(Store& store);

/// Tells the store that `site.policy_text` is being served (DESIGN.md rule 2: only now may the
/// `_mta-sts` id change). Returns true when the store did not know it yet.
[[nodiscard]] Result<bool> acknowledge_served(Store& store, const Site& site, UnixTime now);

} // namespace moat::httpsd
