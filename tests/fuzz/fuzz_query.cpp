// Fuzz target for moat-dnsd's query path: one request through parse_query() and answer(), over
// UDP and over TCP, against the zones of fuzz_zone.cpp. Besides what ASan and UBSan catch, every
// response is read back independently (dns_message.cpp) and checked against rules that hold
// whatever the request; a broken rule is named on stderr and aborts, which libFuzzer reports as
// a crash and saves the input. The UDP answer also goes through the answer cache, which must
// replay it byte for byte or miss.
#include "core/rr.hpp"
#include "dnsd/answer.hpp"
#include "dnsd/answer_cache.hpp"
#include "dnsd/wire.hpp"
#include "tests/fuzz/dns_message.hpp"
#include "tests/fuzz/fuzz_zone.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace moat::fuzz {
namespace {

[[noreturn]] void violated(const char* rule, const std::string& detail = {}) {
  std::fprintf(stderr, "fuzz_query: broken rule: %s%s%s\n", rule, detail.empty() ? "" : ": ",
               detail.c_str());
  std::abort();
}

void require(bool holds, const char* rule) {
  if (!holds)
    violated(rule);
}

// Octets past the UDP limit that are checked for stray writes (an overrun starts at the limit).
constexpr std::size_t kCanaryRange = 4096;
constexpr std::uint8_t kCanary = 0xa5;

ReadMessage check_response(const dnsd::Parsed& parsed, std::span<const std::uint8_t> response,
                           bool over_tcp) {
  auto read = read_message(response);
  if (!read)
    violated("the response is a well-formed DNS message", read.error().message);
  const ReadMessage& r = *read;
  const dnsd::Query& q = parsed.query;
  require(r.id == q.id, "the response carries the query's ID");
  require(r.qr(), "QR is set");
  require(r.opcode() == q.opcode && r.rd() == q.rd && r.cd() == q.cd,
          "opcode, RD and CD are copied from the query");
  require(r.counts[0] == (q.has_question ? 1 : 0), "the question is echoed when it was parsed");
  if (q.has_question)
    require(r.qname == q.qname.wire() && r.qtype == q.qtype && r.qclass == q.qclass,
            "the question is echoed as received");
  require(r.opt.has_value() == q.has_edns, "there is an OPT record exactly when the query had one");
  if (r.opt)
    require(((r.opt->ttl & 0x8000) != 0) == q.dnssec_ok, "the OPT record echoes DO");
  if (parsed.verdict == dnsd::Verdict::kError)
    require(r.full_rcode() == parsed.error_rcode && r.counts[1] == 0 && r.counts[2] == 0,
            "an error response carries the parser's RCODE and no data");
  else
    require(r.full_rcode() == dnsd::rcode::kNoError || r.full_rcode() == dnsd::rcode::kNxDomain ||
                r.full_rcode() == dnsd::rcode::kRefused || r.full_rcode() == dnsd::rcode::kFormErr,
            "a lookup ends in NOERROR, NXDOMAIN, REFUSED or FORMERR");
  require(!over_tcp || !r.tc(), "TCP responses are never truncated");
  require(!r.tc() || (r.counts[1] == 0 && r.counts[2] == 0),
          "a truncated response keeps only the question and OPT");
  for (const ReadRecord& rec : r.records) {
    require(rec.type == rrtype::OPT || rec.klass == kClassIN, "records are of class IN");
    require(q.dnssec_ok || rec.type != rrtype::RRSIG, "no signatures unless DO is set");
  }
  return std::move(*read);
}

} // namespace
} // namespace moat::fuzz

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  (void)moat::fuzz::served_snapshot(); // sign the zones before the first input is timed
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace moat;
  using fuzz::require;
  const dnsd::Snapshot& snapshot = fuzz::served_snapshot();
  static std::vector<std::uint8_t> udp(dnsd::kMaxResponse);
  static std::vector<std::uint8_t> tcp(dnsd::kMaxResponse);
  const std::span<const std::uint8_t> request(data, size);

  const dnsd::Parsed parsed = dnsd::parse_query(request);
  const bool dropped = size < dnsd::kHeaderSize || (data[2] & 0x80) != 0;
  require((parsed.verdict == dnsd::Verdict::kDrop) == dropped,
          "only requests shorter than a header and responses are dropped");
  const dnsd::Query& q = parsed.query;
  const std::size_t udp_limit =
      q.has_edns
          ? std::max<std::size_t>(512, std::min<std::size_t>(q.udp_size, dnsd::kEdnsBufferSize))
          : 512;

  std::fill_n(udp.begin() + static_cast<std::ptrdiff_t>(udp_limit), fuzz::kCanaryRange,
              fuzz::kCanary);
  // A cookie jar and a client, so that COOKIE options are answered (and replayed) too.
  static const dnsd::CookieJar jar(
      dnsd::CookieSecret{7, 7, 7, 7, 7, 7, 7, 7, 1, 2, 3, 4, 5, 6, 7, 8});
  static const std::array<std::uint8_t, 4> client_ip = {192, 0, 2, 1};
  const dnsd::AnswerContext context{client_ip, 1'800'000'000, &jar};
  dnsd::AnswerInfo info;
  const std::size_t n_udp = dnsd::answer(request, snapshot, false, udp, 0, &context, &info);
  require(std::all_of(udp.begin() + static_cast<std::ptrdiff_t>(udp_limit),
                      udp.begin() + static_cast<std::ptrdiff_t>(udp_limit + fuzz::kCanaryRange),
                      [](std::uint8_t b) { return b == fuzz::kCanary; }),
          "nothing is written past the UDP limit");
  const std::size_t n_tcp = dnsd::answer(request, snapshot, true, tcp, 0, &context);
  if (n_udp == dnsd::kNotAnswered || n_tcp == dnsd::kNotAnswered) {
    // Left to serve_request() (dnsd/transfer.hpp), which needs keys, peer and time: targets
    // of their own cover it.
    require(n_udp == n_tcp, "UDP and TCP agree on what answer() leaves to serve_request()");
    require(q.tsig.has_value() || q.opcode != dnsd::kOpcodeQuery || q.qtype == rrtype::AXFR ||
                q.qtype == rrtype::IXFR,
            "answer() itself answers every unsigned QUERY but zone transfers");
    return 0;
  }
  require(n_udp <= udp_limit, "UDP responses fit max(512, min(EDNS buffer, 1232)) octets");
  require(n_tcp <= tcp.size(), "TCP responses fit the buffer");
  require((n_udp == 0) == dropped && (n_tcp == 0) == dropped,
          "there is a response unless the request is dropped");
  if (dropped)
    return 0;

  const auto u = fuzz::check_response(parsed, std::span(udp).first(n_udp), false);
  const auto t = fuzz::check_response(parsed, std::span(tcp).first(n_tcp), true);
  if (u.tc()) {
    require(n_tcp > udp_limit, "UDP responses are truncated only when the TCP one is too big");
  } else {
    // The same lookup written twice: only glue (additional) that did not fit may be missing.
    const std::size_t authority_end = u.section_end[2];
    require(authority_end == t.section_end[2] &&
                std::equal(udp.begin(), udp.begin() + 10, tcp.begin()) &&
                std::equal(udp.begin() + 12,
                           udp.begin() + static_cast<std::ptrdiff_t>(authority_end),
                           tcp.begin() + 12),
            "an untruncated UDP response equals the TCP one up to the additional section");
  }

  // The cache replays what answer() wrote, exactly, or nothing.
  static dnsd::AnswerCache cache(16);
  static std::vector<std::uint8_t> replayed(dnsd::kMaxResponse);
  dnsd::AnswerInfo replay_info;
  cache.remember(request, snapshot.id, std::span(udp).first(n_udp), info);
  const std::size_t n_replayed =
      cache.replay(request, snapshot.id, replayed, replay_info, &context);
  require(n_replayed == 0 ||
              (n_replayed == n_udp &&
               std::equal(udp.begin(), udp.begin() + static_cast<std::ptrdiff_t>(n_udp),
                          replayed.begin()) &&
               replay_info.cls == info.cls && replay_info.name_hash == info.name_hash &&
               replay_info.question_end == info.question_end &&
               replay_info.cookie_valid == info.cookie_valid),
          "a replayed answer is the answer");
  return 0;
}
