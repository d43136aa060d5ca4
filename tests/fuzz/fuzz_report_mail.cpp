// Fuzz target for what moat-httpsd and `moat reports import` read before the report parser: a
// mail message (MIME parts, base64), gzip, then the report. Besides what ASan and UBSan catch:
// the bounds hold (parts, decompressed size), and a refusal says why.
#include "core/tlsrpt_intake.hpp"
#include "core/tlsrpt_mail.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace {

[[noreturn]] void violated(const char* rule) {
  std::fprintf(stderr, "fuzz_report_mail: broken rule: %s\n", rule);
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace moat;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto bodies = tlsrpt_bodies(input);
  if (!bodies) {
    if (bodies.error().message.empty())
      violated("a refusal says why");
    return 0;
  }
  if (bodies->empty() || bodies->size() > 100)
    violated("between 1 and 100 report parts");
  for (const auto& body : *bodies) {
    if (body.size() > input.size())
      violated("a part is never larger than the message (base64 only shrinks)");
    auto decoded = decode_tlsrpt(body);
    if (!decoded) {
      if (decoded.error().message.empty())
        violated("a refusal says why");
      continue;
    }
    if (decoded->json.size() > kMaxTlsrptJson)
      violated("at most kMaxTlsrptJson octets of JSON");
  }
  return 0;
}
