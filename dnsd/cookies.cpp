#include "dnsd/cookies.hpp"

#include <algorithm>
#include <openssl/crypto.h>

namespace moat::dnsd {
namespace {

constexpr std::uint8_t kCookieVersion = 1;
// RFC 9018 §4.3: accepted from an hour in the past to five minutes ahead (servers of an
// anycast set may disagree a little on the time), renewed after half an hour.
constexpr std::int32_t kMaxAge = 3600;
constexpr std::int32_t kMaxAhead = 300;
constexpr std::int32_t kRenewAge = 1800;

constexpr std::size_t kClientCookieSize = 8;
constexpr std::size_t kMinServerCookieSize = 8;
constexpr std::size_t kMaxServerCookieSize = 32;
// Client Cookie, Version, Reserved, Timestamp, and an IPv6 address at most.
constexpr std::size_t kMaxHashInput = kClientCookieSize + 8 + 16;

// SipHash-2-4 of Client Cookie | the first 8 bytes of the Server Cookie | Client-IP.
std::uint64_t cookie_hash(const CookieSecret& secret, const std::array<std::uint8_t, 8>& client,
                          std::span<const std::uint8_t, 8> head,
                          std::span<const std::uint8_t> client_ip) {
  std::array<std::uint8_t, kMaxHashInput> input{};
  const std::size_t ip_size = std::min(client_ip.size(), std::size_t{16});
  auto out = std::copy(client.begin(), client.end(), input.begin());
  out = std::copy(head.begin(), head.end(), out);
  std::copy_n(client_ip.begin(), ip_size, out);
  return siphash24(secret, std::span(input).first(kClientCookieSize + 8 + ip_size));
}

std::array<std::uint8_t, 8> le_bytes(std::uint64_t v) {
  std::array<std::uint8_t, 8> out{};
  for (auto& b : out) {
    b = static_cast<std::uint8_t>(v);
    v >>= 8;
  }
  return out;
}

bool hash_matches(const CookieSecret& secret, const CookieOption& cookie,
                  std::span<const std::uint8_t> client_ip) {
  const auto server = cookie.server();
  const auto want = le_bytes(cookie_hash(secret, cookie.client, server.first<8>(), client_ip));
  // Constant time, so that the hash cannot be guessed a byte at a time from response times.
  return CRYPTO_memcmp(want.data(), server.data() + 8, want.size()) == 0;
}

} // namespace

std::optional<CookieOption> parse_cookie(std::span<const std::uint8_t> data) {
  const std::size_t server_size = data.size() - std::min(data.size(), kClientCookieSize);
  if (data.size() < kClientCookieSize || (server_size != 0 && (server_size < kMinServerCookieSize ||
                                                               server_size > kMaxServerCookieSize)))
    return std::nullopt;
  CookieOption cookie;
  std::copy_n(data.begin(), kClientCookieSize, cookie.client.begin());
  std::copy(data.begin() + kClientCookieSize, data.end(), cookie.server_data.begin());
  cookie.server_size = static_cast<std::uint8_t>(server_size);
  return cookie;
}

CookieJar::CookieJar(const CookieSecret& secret, const std::optional<CookieSecret>& previous)
    : secret_(secret), previous_(previous) {}

CookieJar::~CookieJar() {
  OPENSSL_cleanse(secret_.data(), secret_.size());
  if (previous_)
    OPENSSL_cleanse(previous_->data(), previous_->size());
}

ServerCookie CookieJar::make(const std::array<std::uint8_t, 8>& client,
                             std::span<const std::uint8_t> client_ip, std::uint32_t now) const {
  ServerCookie cookie{};
  cookie[0] = kCookieVersion; // then three Reserved bytes, zero
  for (int i = 0; i < 4; ++i)
    cookie[4 + i] = static_cast<std::uint8_t>(now >> (24 - 8 * i));
  const auto hash = le_bytes(cookie_hash(secret_, client, std::span(cookie).first<8>(), client_ip));
  std::copy(hash.begin(), hash.end(), cookie.begin() + 8);
  return cookie;
}

CookieJar::Verdict CookieJar::check(const CookieOption& cookie,
                                    std::span<const std::uint8_t> client_ip,
                                    std::uint32_t now) const {
  const auto server = cookie.server();
  if (server.empty())
    return {Check::kNone, true};
  // Other sizes and versions may be another server's format (RFC 7873 allows 8 to 32 bytes):
  // not ours, so not valid here.
  if (server.size() != kServerCookieSize || server[0] != kCookieVersion)
    return {Check::kInvalid, true};

  const std::uint32_t stamp = static_cast<std::uint32_t>(server[4]) << 24 |
                              static_cast<std::uint32_t>(server[5]) << 16 |
                              static_cast<std::uint32_t>(server[6]) << 8 | server[7];
  // Serial number arithmetic (RFC 1982): the signed distance, right across the 2106 wrap.
  const auto age = static_cast<std::int32_t>(now - stamp);
  if (age > kMaxAge || age < -kMaxAhead)
    return {Check::kInvalid, true};

  if (hash_matches(secret_, cookie, client_ip))
    return {Check::kValid, age > kRenewAge};
  // A cookie of the previous secret is good, but the client should learn one of the new.
  if (previous_ && hash_matches(*previous_, cookie, client_ip))
    return {Check::kValid, true};
  return {Check::kInvalid, true};
}

} // namespace moat::dnsd
