#pragma once

#include "dnsd/cookies.hpp"
#include "dnsd/rate_limit.hpp"
#include "dnsd/snapshot.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace moat::dnsd {

/// Largest response written, the TCP limit; `out` must be at least this large.
inline constexpr std::size_t kMaxResponse = 65535;

/// What answer() returns for a request it leaves to serve_request() (dnsd/transfer.hpp): zone
/// transfers, UPDATEs and requests signed with TSIG, which need the peer, the keys and the time.
inline constexpr std::size_t kNotAnswered = static_cast<std::size_t>(-1);

/// Who asked, for DNS cookies (RFC 7873, RFC 9018): without it, no cookie is answered.
struct AnswerContext {
  std::span<const std::uint8_t> client_ip; ///< 4 or 16 bytes, as received
  std::uint32_t now = 0;                   ///< seconds since the epoch
  const CookieJar* cookies = nullptr;
};

/// What answer() tells its caller about the response, for Response Rate Limiting.
struct AnswerInfo {
  ResponseClass cls = ResponseClass::kError;
  std::uint64_t name_hash = 0;  ///< of the name the answer is accounted to (see ResponseClass)
  bool cookie_valid = false;    ///< the client proved its address with our server cookie
  std::size_t question_end = 0; ///< where the echoed question ends (a slip keeps only that)
  std::size_t opt_at = 0;       ///< where the OPT record starts; 0 when there is none
};

/// The Server Cookie to answer a request's COOKIE with (RFC 7873 §5.2): the one received when it
/// is ours, valid and fresh (RFC 9018 §4.3), else a new one. `valid` says whether the client
/// proved its address with it.
[[nodiscard]] ServerCookie answer_cookie(const CookieOption& cookie, const AnswerContext& context,
                                         bool& valid);

/// Answers one request from `snapshot` into `out` (at least kMaxResponse bytes) and returns
/// the response length, 0 when nothing must be sent, or kNotAnswered. `reserve` bytes of the
/// size limit are kept free (for a TSIG record to be appended). Over UDP answers are limited to the
/// requester's EDNS buffer (at most 1232, 512 without EDNS) and truncated with TC when the
/// answer or authority section does not fit. Never throws, never blocks.
[[nodiscard]] std::size_t answer(std::span<const std::uint8_t> request, const Snapshot& snapshot,
                                 bool over_tcp, std::span<std::uint8_t> out,
                                 std::size_t reserve = 0, const AnswerContext* context = nullptr,
                                 AnswerInfo* info = nullptr);

} // namespace moat::dnsd
