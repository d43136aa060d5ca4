#pragma once
// Bounded gzip decompression (RFC 1952) for reports that arrive compressed: the output limit is
// checked while inflating, so a small "bomb" costs at most `max_output` bytes of work.

#include "core/error.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace moat {

/// The data of a gzip stream (one or more members, nothing after them). Fails on data that is
/// not gzip, that is damaged or cut short, or that would decompress to more than `max_output`
/// octets (the error then says so, and nothing more is inflated).
[[nodiscard]] Result<std::string> gunzip(std::string_view compressed, std::size_t max_output);

/// True when `data` starts with the gzip magic number.
[[nodiscard]] bool looks_gzipped(std::string_view data);

} // namespace moat
