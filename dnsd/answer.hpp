#pragma once

#include "dnsd/snapshot.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace moat::dnsd {

/// Largest response written, the TCP limit; `out` must be at least this large.
inline constexpr std::size_t kMaxResponse = 65535;

/// Answers one request from `snapshot` into `out` (at least kMaxResponse bytes) and returns
/// the response length, or 0 when nothing must be sent. Over UDP answers are limited to the
/// requester's EDNS buffer (at most 1232, 512 without EDNS) and truncated with TC when the
/// answer or authority section does not fit. Never throws, never blocks.
[[nodiscard]] std::size_t answer(std::span<const std::uint8_t> request, const Snapshot& snapshot,
                                 bool over_tcp, std::span<std::uint8_t> out);

} // namespace moat::dnsd
