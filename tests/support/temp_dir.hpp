#pragma once
// A directory under $TMPDIR for one test, removed with everything in it when the test ends.

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <stdlib.h>
#include <string>
#include <string_view>
#include <system_error>

namespace moat::testing_support {

class TempDir {
public:
  explicit TempDir(std::string_view prefix = "moat-test") {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed for " + tmpl);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  /// The path of `file` inside the directory.
  [[nodiscard]] std::string file(std::string_view name) const { return (path_ / name).string(); }
  /// Writes `text` to `file` inside the directory; returns its path.
  std::string write(const std::string& file, const std::string& text) const {
    auto p = (path_ / file).string();
    std::ofstream(p) << text;
    return p;
  }

private:
  std::filesystem::path path_;
};

} // namespace moat::testing_support
