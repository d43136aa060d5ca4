#include "dnsd/answer_cache.hpp"

#include "core/rr.hpp"
#include "dnsd/wire.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <optional>

namespace moat::dnsd {
namespace {

constexpr std::size_t kMaxKey = 255 + 3; // name, QTYPE, EDNS/DO flags

// What decides a plain query's answer, read without allocating; see AnswerCache.
struct PlainQuery {
  std::size_t question_end = 0; ///< offset after QCLASS
  std::size_t limit = 512;      ///< the requester's UDP limit, as answer() computes it
  bool largest_limit = false;   ///< the limit is the largest its kind of query gets
  bool edns = false, dnssec_ok = false;
  std::optional<CookieOption> cookie; ///< a well-formed COOKIE, the OPT's only option
  std::array<std::uint8_t, kMaxKey> key;
  std::size_t key_size = 0;
  std::uint64_t hash = 0;
};

std::uint16_t get16(std::span<const std::uint8_t> p, std::size_t at) {
  return static_cast<std::uint16_t>((p[at] << 8) | p[at + 1]);
}

// Types whose queries answer() does not answer from the zone: OPT, TKEY and TSIG get FORMERR,
// IXFR and AXFR go to serve_request().
bool special_type(std::uint16_t t) { return t == rrtype::OPT || (t >= 249 && t <= 252); }

bool parse_plain(std::span<const std::uint8_t> p, PlainQuery& q) {
  if (p.size() < kHeaderSize + 5)
    return false;
  if ((p[2] & 0xf8) != 0) // QR set, or an opcode other than QUERY
    return false;
  if (get16(p, 4) != 1 || get16(p, 6) != 0 || get16(p, 8) != 0)
    return false;
  const std::uint16_t arcount = get16(p, 10);
  if (arcount > 1)
    return false;
  std::size_t pos = kHeaderSize;
  std::size_t k = 0;
  while (true) {
    const std::uint8_t len = p[pos];
    if ((len & 0xc0) != 0 || pos + len + 1 > p.size() || k + len + 1 > 255)
      return false;
    q.key[k++] = len;
    for (std::size_t i = 1; i <= len; ++i) {
      const std::uint8_t c = p[pos + i];
      q.key[k++] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
    }
    pos += len + 1;
    if (len == 0)
      break;
    if (pos >= p.size())
      return false;
  }
  if (pos + 4 > p.size())
    return false;
  const std::uint16_t qtype = get16(p, pos);
  if (special_type(qtype) || get16(p, pos + 2) != kClassIN)
    return false;
  pos += 4;
  q.question_end = pos;
  if (arcount == 1) {
    // An OPT with no option but a COOKIE: root owner, type, UDP size, extended RCODE, version
    // 0, flags, RDLENGTH, then nothing or the one option.
    if (pos + 11 > p.size() || p[pos] != 0 || get16(p, pos + 1) != rrtype::OPT || p[pos + 6] != 0)
      return false;
    const std::size_t rdlength = get16(p, pos + 9);
    if (pos + 11 + rdlength != p.size())
      return false;
    if (rdlength != 0) {
      const std::size_t o = pos + 11;
      if (rdlength < 4 || get16(p, o) != kEdnsCookie || get16(p, o + 2) + 4u != rdlength)
        return false;
      q.cookie = parse_cookie(p.subspan(o + 4, rdlength - 4));
      if (!q.cookie)
        return false; // FORMERR, on the full path
    }
    q.edns = true;
    q.dnssec_ok = (p[pos + 7] & 0x80) != 0;
    const std::size_t udp = std::max<std::size_t>(get16(p, pos + 3), 512);
    q.limit = std::min<std::size_t>(udp, kEdnsBufferSize);
    q.largest_limit = q.limit == kEdnsBufferSize;
  } else {
    if (pos != p.size())
      return false;
    q.limit = 512;
    q.largest_limit = true;
  }
  q.key[k++] = static_cast<std::uint8_t>(qtype >> 8);
  q.key[k++] = static_cast<std::uint8_t>(qtype);
  q.key[k++] = static_cast<std::uint8_t>((q.edns ? 1 : 0) | (q.dnssec_ok ? 2 : 0));
  q.key_size = k;
  // FNV-1a. Chosen collisions only cost misses: a hit compares the whole key.
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::size_t i = 0; i < k; ++i) {
    h ^= q.key[i];
    h *= 0x100000001b3ULL;
  }
  q.hash = h;
  return true;
}

} // namespace

struct AnswerCache::Entry {
  std::uint64_t snapshot_id = 0;
  std::array<std::uint8_t, kMaxKey> key;
  std::size_t key_size = 0;
  std::uint8_t aa_flag = 0;                  ///< 0x04 when authoritative
  std::uint8_t rcode = 0;                    ///< NOERROR or NXDOMAIN
  std::array<std::uint8_t, 6> counts{};      ///< ANCOUNT, NSCOUNT, ARCOUNT without the OPT
  std::vector<std::uint8_t> sections;        ///< after the question, up to the OPT record
  ResponseClass cls = ResponseClass::kError; ///< for the rate limiter, as answer() said
  std::uint64_t name_hash = 0;
};

AnswerCache::AnswerCache(std::size_t slots)
    : slots_(std::bit_ceil(std::max<std::size_t>(slots, 1))) {}

AnswerCache::~AnswerCache() = default;

std::size_t AnswerCache::replay(std::span<const std::uint8_t> request, std::uint64_t snapshot_id,
                                std::span<std::uint8_t> out, AnswerInfo& info,
                                const AnswerContext* context) {
  PlainQuery q;
  if (!parse_plain(request, q)) {
    ++stats_.misses;
    return 0;
  }
  const Entry* e = slots_[q.hash & (slots_.size() - 1)].get();
  const std::size_t limit = std::min(q.limit, out.size());
  if (e == nullptr || e->snapshot_id != snapshot_id || e->key_size != q.key_size ||
      std::memcmp(e->key.data(), q.key.data(), q.key_size) != 0 ||
      q.question_end + e->sections.size() > limit) {
    ++stats_.misses;
    return 0;
  }
  out[0] = request[0];
  out[1] = request[1];
  // QR, AA as answered, RD and CD copied (as ResponseWriter::start does).
  out[2] = static_cast<std::uint8_t>(0x80 | e->aa_flag | (request[2] & 0x01));
  out[3] = static_cast<std::uint8_t>((request[3] & 0x10) | e->rcode);
  out[4] = 0;
  out[5] = 1;
  std::copy(e->counts.begin(), e->counts.end(), out.begin() + 6);
  std::copy(request.begin() + kHeaderSize,
            request.begin() + static_cast<std::ptrdiff_t>(q.question_end),
            out.begin() + kHeaderSize);
  std::copy(e->sections.begin(), e->sections.end(),
            out.begin() + static_cast<std::ptrdiff_t>(q.question_end));
  info = AnswerInfo{};
  info.cls = e->cls;
  info.name_hash = e->name_hash;
  info.question_end = q.question_end;
  std::size_t size = q.question_end + e->sections.size();
  if (q.edns) {
    // The OPT record as answer() writes it, with our Server Cookie when the query had a COOKIE.
    // The sections were remembered from a query without one, which had 28 octets more room:
    // when they fit with the cookie here, the full path would have written the very same.
    ServerCookie server_cookie{};
    std::span<const std::uint8_t> cookie_out;
    if (q.cookie && context != nullptr && context->cookies != nullptr) {
      server_cookie = answer_cookie(*q.cookie, *context, info.cookie_valid);
      cookie_out = server_cookie;
    }
    ResponseWriter w(out, limit);
    w.resume(size);
    if (!w.add_opt(q.dnssec_ok, e->rcode, cookie_out.empty() ? nullptr : &q.cookie->client,
                   cookie_out)) {
      ++stats_.misses;
      return 0;
    }
    info.opt_at = size;
    size = w.size();
  }
  ++stats_.hits;
  return size;
}

void AnswerCache::remember(std::span<const std::uint8_t> request, std::uint64_t snapshot_id,
                           std::span<const std::uint8_t> response, const AnswerInfo& info) {
  PlainQuery q;
  // A smaller buffer than the largest may have left optional glue out: not for everyone.
  // An answer to a COOKIE had less room for its sections: remembered only without one.
  if (!parse_plain(request, q) || !q.largest_limit || q.cookie || response.size() < q.question_end)
    return;
  const std::uint8_t rc = response[3] & 0x0f;
  if ((response[2] & 0x02) != 0 || (rc != rcode::kNoError && rc != rcode::kNxDomain) ||
      response.size() - q.question_end > kEdnsBufferSize)
    return;
  // What follows the question up to the OPT record, which a replay writes afresh.
  std::size_t end = response.size();
  auto arcount = static_cast<std::uint16_t>((response[10] << 8) | response[11]);
  if (q.edns) {
    if (info.opt_at < q.question_end || info.opt_at >= response.size() || arcount == 0)
      return; // no OPT was written (no room): not a case to replay
    end = info.opt_at;
    --arcount;
  }
  auto& slot = slots_[q.hash & (slots_.size() - 1)];
  if (slot == nullptr)
    slot = std::make_unique<Entry>();
  Entry& e = *slot;
  e.snapshot_id = snapshot_id;
  std::copy_n(q.key.begin(), q.key_size, e.key.begin());
  e.key_size = q.key_size;
  e.aa_flag = response[2] & 0x04;
  e.rcode = rc;
  std::copy_n(response.begin() + 6, 4, e.counts.begin());
  e.counts[4] = static_cast<std::uint8_t>(arcount >> 8);
  e.counts[5] = static_cast<std::uint8_t>(arcount);
  e.sections.assign(response.begin() + static_cast<std::ptrdiff_t>(q.question_end),
                    response.begin() + static_cast<std::ptrdiff_t>(end));
  e.cls = info.cls;
  e.name_hash = info.name_hash;
}

} // namespace moat::dnsd
