// Fuzz target for the TLS report parser (RFC 8460), which reads what anyone on the Internet
// POSTs to moat-httpsd or mails in. Besides what ASan and UBSan catch: a report accepted must
// keep within the parser's bounds and hold what the RFC requires (a known policy type, a date
// range in order, counts read as given); a broken rule aborts, which libFuzzer reports.
#include "core/tlsrpt_report.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace {

[[noreturn]] void violated(const char* rule) {
  std::fprintf(stderr, "fuzz_tlsrpt: broken rule: %s\n", rule);
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace moat;
  auto report = parse_tlsrpt_report(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!report) {
    if (report.error().message.empty())
      violated("a refusal says why");
    return 0;
  }
  if (report->end < report->start)
    violated("the date range is in order");
  if (report->policies.size() > kMaxTlsrptPolicies)
    violated("at most kMaxTlsrptPolicies policies");
  std::size_t failures = 0;
  for (const TlsrptPolicy& p : report->policies) {
    if (p.policy_type != "sts" && p.policy_type != "tlsa" && p.policy_type != "no-policy-found")
      violated("a known policy type");
    failures += p.failures.size();
    for (const TlsrptFailure& f : p.failures)
      if (f.result_type.empty() || f.result_type.size() > kMaxTlsrptString)
        violated("a result type within bounds");
  }
  if (failures > kMaxTlsrptFailures)
    violated("at most kMaxTlsrptFailures failure details");
  return 0;
}
