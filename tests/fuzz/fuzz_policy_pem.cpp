// Fuzz target for the other parsers of text from outside: the MTA-STS policy file (what
// `moat check` fetches from a web server) and PEM certificate chains and keys (what certbot
// hands to `moat cert deploy`). The first byte picks the parser. Rules besides ASan and UBSan:
// a policy read back is one moat could write (valid patterns and max_age) and survives being
// written and read again unchanged; a chain accepted has a leaf, a SPKI hash of SHA-256 length,
// and a validity period around the time given.
#include "core/certificate.hpp"
#include "core/mta_sts.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace {

[[noreturn]] void violated(const char* rule) {
  std::fprintf(stderr, "fuzz_policy_pem: broken rule: %s\n", rule);
  std::abort();
}

constexpr moat::UnixTime kNow = 1'800'000'000; // 2027-01-15, inside the seeds' validity

void policy(std::string_view text) {
  using namespace moat;
  auto p = parse_policy_text(text);
  if (!p) {
    if (p.error().message.empty())
      violated("a refusal says why");
    return;
  }
  for (const auto& mx : p->mx)
    if (!check_mx_pattern(mx))
      violated("every mx pattern accepted is valid");
  auto again = parse_policy_text(policy_text(*p));
  if (!again)
    violated("a policy written from one read is read again");
  if (again->mode != p->mode || again->max_age != p->max_age || again->mx != p->mx)
    violated("writing and reading again changes nothing");
}

void pem(std::string_view text) {
  using namespace moat;
  // The same text as chain and key: a seed holds both, as certbot's combined files do.
  auto info = inspect_certificate(text, text, kNow);
  if (!info) {
    if (info.error().message.empty())
      violated("a refusal says why");
    return;
  }
  if (info->chain_length == 0)
    violated("an accepted chain has a leaf");
  if (info->spki_sha256.size() != 32)
    violated("the SPKI hash is SHA-256");
  if (info->not_before > kNow || info->not_after < kNow)
    violated("an accepted leaf is valid now");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0)
    policy(text);
  else
    pem(text);
  return 0;
}
