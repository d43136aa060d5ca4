#pragma once
// Taking in one SMTP TLS report (RFC 8460), whether POSTed to moat-httpsd (§5.3) or imported by
// the CLI from mail: bounded decompression, the report checked, attributed to one of moat's
// domains, and stored once. Either it is stored (or was already) or nothing changes.

#include "core/clock.hpp"
#include "core/store.hpp"
#include "core/tlsrpt_report.hpp"

#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace moat {

/// Octets a report may take as sent (gzip or JSON), and as JSON once decompressed. The largest
/// reports from big senders are a few hundred kB of JSON; 10,000 failure details fit in 4 MiB.
inline constexpr std::size_t kMaxTlsrptBody = 1024 * 1024;
inline constexpr std::size_t kMaxTlsrptJson = 4 * 1024 * 1024;

/// Why a report was not taken; moat-httpsd turns each into its own HTTP status.
enum class TlsrptRefusal {
  kTooLarge,  ///< over kMaxTlsrptBody, or decompresses past kMaxTlsrptJson (413)
  kMalformed, ///< not gzip/JSON, or not a report per RFC 8460 §4 (400)
  kNotOurs,   ///< about a domain moat does not serve (here) (403)
  kTooMany,   ///< the domain's daily bound is reached (429)
  kStore,     ///< the database failed (503: the sender will retry)
};

struct TlsrptIntakeError {
  TlsrptRefusal why;
  std::string message;
};

struct TlsrptSubmission {
  std::string_view body;  ///< gzip (recognised by its magic number) or JSON; unused by store_tlsrpt
  std::int64_t for_domain = 0; ///< when not 0, the report must be about this domain
  std::string source;     ///< kept with the report: "https 192.0.2.7", "import"
  /// Refuse when the domain has received this many reports in the last 24 hours (0: no bound;
  /// the CLI imports what the operator gives it).
  std::int64_t max_per_day = 0;
  /// Likewise for the octets of JSON stored in 24 hours (0: no bound): reports come from
  /// anyone, and 1000 of 4 MiB each would be 4 GB a day.
  std::int64_t max_octets_per_day = 0;
};

struct TlsrptIntake {
  bool stored = false; ///< false: the domain had this report already (same org and report id)
  Domain domain;
  TlsrptReport report;
};

/// A report read from what was sent: decompressed and checked, not yet attributed or stored.
struct DecodedTlsrpt {
  std::string json;
  TlsrptReport report;
};

/// Reads `body` (gzip or JSON) within the bounds above.
[[nodiscard]] std::expected<DecodedTlsrpt, TlsrptIntakeError> decode_tlsrpt(std::string_view body);

/// Attributes a decoded report to its domain and stores it. Call inside a store transaction
/// and roll it back on an error (the CLI stores several files in one).
[[nodiscard]] std::expected<TlsrptIntake, TlsrptIntakeError>
store_tlsrpt(Store& store, DecodedTlsrpt decoded, const TlsrptSubmission& submission,
             UnixTime now);

/// Both, in a transaction of its own: what moat-httpsd does per POST.
[[nodiscard]] std::expected<TlsrptIntake, TlsrptIntakeError>
take_tlsrpt_report(Store& store, const TlsrptSubmission& submission, UnixTime now);

} // namespace moat
