#pragma once
// What the stored SMTP TLS reports say, added up the way an operator reads them: per domain,
// reporting organisation and policy type, with the failures by type, receiving MX and IP.

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/store.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace moat {

struct TlsrptFailureTotal {
  std::string result_type;
  std::string receiving_mx_hostname; ///< as reported; may be empty
  std::string receiving_ip;          ///< may be empty
  std::uint64_t sessions = 0;
};

struct TlsrptSummaryRow {
  std::string domain;       ///< "example.test."
  std::string organization;
  std::string policy_type;  ///< "sts", "tlsa", "no-policy-found"
  std::uint64_t reports = 0;
  std::uint64_t successful = 0;
  std::uint64_t failed = 0;
  UnixTime first_start = 0; ///< the earliest date range start among the reports
  UnixTime last_end = 0;
  std::vector<TlsrptFailureTotal> failures; ///< most sessions first
};

/// The reports of the domain (every domain when `domain_id` is 0) whose date range ends at or
/// after `since`, added up; ordered by domain, organisation and policy type. A stored report that
/// no longer parses (the parser became stricter) fails the whole summary rather than being
/// skipped silently.
[[nodiscard]] Result<std::vector<TlsrptSummaryRow>> summarise_tlsrpt(Store& store,
                                                                     std::int64_t domain_id,
                                                                     UnixTime since);

} // namespace moat
