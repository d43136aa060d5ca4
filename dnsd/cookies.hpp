#pragma once

#include "dnsd/siphash.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <span>

namespace moat::dnsd {

/// The EDNS option code of COOKIE (RFC 7873 §4).
inline constexpr std::uint16_t kEdnsCookie = 10;
/// Extended RCODE BADCOOKIE (RFC 7873 §8): the low 4 bits go in the header, the rest in OPT.
inline constexpr std::uint16_t kBadCookie = 23;

/// The data of a COOKIE option as received. Held inline (no allocation per query).
struct CookieOption {
  std::array<std::uint8_t, 8> client{}; ///< the Client Cookie, always present
  /// The Server Cookie as received: `server_size` bytes (0, or 8 to 32) at the front.
  std::array<std::uint8_t, 32> server_data{};
  std::uint8_t server_size = 0;

  [[nodiscard]] std::span<const std::uint8_t> server() const {
    return {server_data.data(), server_size};
  }
};

/// Parses the data of a COOKIE option (option code 10): a Client Cookie of 8 bytes, alone or
/// followed by a Server Cookie of 8 to 32 bytes. Any other length (under 8, 9 to 15, over 40)
/// is malformed: the caller answers FORMERR (RFC 7873 §5.2.2).
[[nodiscard]] std::optional<CookieOption> parse_cookie(std::span<const std::uint8_t> data);

/// A server secret for cookies: 16 bytes, the SipHash-2-4 key (RFC 9018 §4.4). Servers of one
/// anycast set share it, so that any of them accepts the cookies the others hand out.
using CookieSecret = std::array<std::uint8_t, 16>;

/// The size of the Server Cookies moat makes (RFC 9018 §4): Version (1), Reserved (3),
/// Timestamp (4), Hash (8).
inline constexpr std::size_t kServerCookieSize = 16;
using ServerCookie = std::array<std::uint8_t, kServerCookieSize>;

/// Makes and checks interoperable Server Cookies (RFC 9018): version 1, Reserved zero,
/// Timestamp in seconds (network order), and Hash = SipHash-2-4(Client Cookie | Version |
/// Reserved | Timestamp | Client-IP) keyed with the server secret, written little-endian.
/// Immutable after construction, so thread-safe; to change the secret, build a new jar with the
/// old secret as `previous` and publish it in place of the old jar. The secrets are wiped when
/// the jar is destroyed, and it cannot be copied.
class CookieJar {
public:
  /// `previous`, during a secret rollover (RFC 9018 §5): cookies made with it are still
  /// accepted (and renewed), new ones are made with `secret`.
  explicit CookieJar(const CookieSecret& secret,
                     const std::optional<CookieSecret>& previous = std::nullopt);
  ~CookieJar();
  CookieJar(const CookieJar&) = delete;
  CookieJar& operator=(const CookieJar&) = delete;

  /// The Server Cookie for the client with `client` cookie at address `client_ip` (4 bytes for
  /// IPv4, 16 for IPv6, as the request came in) at time `now` (seconds since the epoch, modulo
  /// 2^32), made with the current secret (RFC 9018 §4).
  [[nodiscard]] ServerCookie make(const std::array<std::uint8_t, 8>& client,
                                  std::span<const std::uint8_t> client_ip, std::uint32_t now) const;

  enum class Check {
    kNone,    ///< only a Client Cookie: the client has not learned a Server Cookie yet
    kValid,   ///< ours, for this client and address, and within its lifetime
    kInvalid, ///< not ours (length, version, hash), expired, or from too far in the future
  };

  /// What a request's cookie shows, and whether the answer carries a new Server Cookie.
  struct Verdict {
    Check check = Check::kNone;
    /// Answer with make() rather than echo the client's Server Cookie: always, unless it is
    /// valid, made with the current secret and at most half an hour old (RFC 9018 §4.3).
    bool renew = true;
  };

  /// Checks the Server Cookie of `cookie`, received from `client_ip` at `now`. A cookie is
  /// accepted from one hour in the past to five minutes in the future of `now`, compared in
  /// serial number arithmetic (RFC 9018 §4.3, RFC 1982). The Reserved bytes are hashed as
  /// received, not required to be zero (RFC 9018 §4.2). What to do with kNone and kInvalid
  /// (answer normally with a new cookie, or BADCOOKIE) is the caller's policy (RFC 7873 §5.2).
  [[nodiscard]] Verdict check(const CookieOption& cookie, std::span<const std::uint8_t> client_ip,
                              std::uint32_t now) const;

private:
  CookieSecret secret_;
  std::optional<CookieSecret> previous_;
};

} // namespace moat::dnsd
