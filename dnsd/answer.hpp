#pragma once

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

/// Answers one request from `snapshot` into `out` (at least kMaxResponse bytes) and returns
/// the response length, 0 when nothing must be sent, or kNotAnswered. `reserve` bytes of the
/// size limit are kept free (for a TSIG record to be appended). Over UDP answers are limited to the
/// requester's EDNS buffer (at most 1232, 512 without EDNS) and truncated with TC when the
/// answer or authority section does not fit. Never throws, never blocks.
[[nodiscard]] std::size_t answer(std::span<const std::uint8_t> request, const Snapshot& snapshot,
                                 bool over_tcp, std::span<std::uint8_t> out,
                                 std::size_t reserve = 0);

} // namespace moat::dnsd
