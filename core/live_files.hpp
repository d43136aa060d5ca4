#pragma once

#include "core/error.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace moat {

/// Writes `content` to `path` so that readers see the old file or the new one, never a mix:
/// a temporary file in the same directory, fsync, rename, fsync of the directory. `mode` is
/// applied to the temporary file before any byte is written (0600 for private keys).
[[nodiscard]] Result<void> write_file_atomically(const std::string& path, std::string_view content,
                                                 unsigned mode);

/// The whole content of `path`, or an error (missing, unreadable, a directory, or larger than
/// `max_bytes`: input is bounded everywhere).
[[nodiscard]] Result<std::string> read_file(const std::string& path,
                                            std::size_t max_bytes = 64 << 20);

/// Creates `dir` and its missing parents with mode 0700.
[[nodiscard]] Result<void> make_directories(const std::string& dir);

/// Runs `command` split on white space (no shell: no quoting, globbing or expansion), waits for
/// it, and fails with its exit status. An empty command succeeds at once.
[[nodiscard]] Result<void> run_command(std::string_view command);

} // namespace moat
