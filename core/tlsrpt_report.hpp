#pragma once

#include "core/clock.hpp"
#include "core/error.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace moat {

// An SMTP TLS report (RFC 8460 §4): what a sending organisation saw of the TLS sessions it
// made to a domain's MX hosts in a period, per policy it applied.

/// Sessions that failed for one reason at one receiving MX (RFC 8460 §4.3, §4.4).
struct TlsrptFailure {
  std::string result_type;           ///< e.g. "validation-failure", "starttls-not-supported"
  std::string sending_mta_ip;        ///< may be empty: not every reporter says
  std::string receiving_mx_hostname; ///< may be empty
  std::string receiving_mx_helo;     ///< optional
  std::string receiving_ip;          ///< may be empty
  std::uint64_t failed_session_count = 0;
  std::string additional_information; ///< optional URI
  std::string failure_reason_code;    ///< optional
};

/// The sessions made under one policy.
struct TlsrptPolicy {
  std::string policy_type;                 ///< "sts", "tlsa" or "no-policy-found"
  std::vector<std::string> policy_strings; ///< the policy as the sender saw it (lines / TLSA)
  std::string policy_domain;
  std::vector<std::string> mx_hosts; ///< the MTA-STS mx patterns
  std::uint64_t successful_sessions = 0;
  std::uint64_t failed_sessions = 0;
  std::vector<TlsrptFailure> failures;
};

struct TlsrptReport {
  std::string organization_name;
  UnixTime start = 0; ///< date-range
  UnixTime end = 0;
  std::string contact_info;
  std::string report_id;
  std::vector<TlsrptPolicy> policies;
};

/// Bounds on what one report may hold; past them the report is refused, not cut.
inline constexpr std::size_t kMaxTlsrptPolicies = 1000;
inline constexpr std::size_t kMaxTlsrptFailures = 10000; ///< in the whole report
inline constexpr std::size_t kMaxTlsrptString = 4096;    ///< octets of any one string
inline constexpr int kMaxTlsrptDepth = 16;               ///< JSON nesting (the format needs 5)

/// Parses and checks a report (its JSON text, decompressed): the fields RFC 8460 §4.4 requires,
/// of the types it gives, counts that are non-negative integers, a date range whose end is not
/// before its start (RFC 3339 date-times), and the bounds above. Unknown members are ignored
/// and unknown result types kept as given (the registry grows); anything else is one error
/// naming the field.
[[nodiscard]] Result<TlsrptReport> parse_tlsrpt_report(std::string_view json);

/// An RFC 3339 date-time ("2026-12-01T00:00:00Z", fractions and offsets allowed) as Unix time.
[[nodiscard]] Result<UnixTime> parse_rfc3339(std::string_view text);

} // namespace moat
