#include "core/clock.hpp"

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace moat {
namespace {

class SystemClock final : public Clock {
public:
  explicit SystemClock(std::int64_t fixed) : fixed_(fixed) {}
  [[nodiscard]] UnixTime now() const override {
    if (fixed_ > 0)
      return fixed_;
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

private:
  std::int64_t fixed_;
};

// The time written in a file, re-read on every call; the last good value if it cannot be
// read (a writer replacing it).
class FileClock final : public Clock {
public:
  explicit FileClock(std::string path) : path_(std::move(path)) {}
  [[nodiscard]] UnixTime now() const override {
    char buf[32] = {};
    if (std::FILE* f = std::fopen(path_.c_str(), "r"); f != nullptr) {
      const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
      std::fclose(f);
      std::int64_t t = 0;
      auto [end, ec] = std::from_chars(buf, buf + n, t);
      if (ec == std::errc() && t > 0)
        last_.store(t);
    }
    return last_.load();
  }

private:
  std::string path_;
  mutable std::atomic<std::int64_t> last_{0};
};

} // namespace

std::shared_ptr<Clock> system_clock() {
  if (const char* file = std::getenv("MOAT_FAKE_TIME_FILE"); file != nullptr && *file != 0)
    return std::make_shared<FileClock>(file);
  std::int64_t fixed = 0;
  if (const char* env = std::getenv("MOAT_FAKE_TIME"); env != nullptr) {
    std::from_chars(env, env + std::strlen(env), fixed);
  }
  return std::make_shared<SystemClock>(fixed);
}

} // namespace moat
