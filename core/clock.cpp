#include "core/clock.hpp"

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>

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

} // namespace

std::shared_ptr<Clock> system_clock() {
  std::int64_t fixed = 0;
  if (const char* env = std::getenv("MOAT_FAKE_TIME"); env != nullptr) {
    std::from_chars(env, env + std::strlen(env), fixed);
  }
  return std::make_shared<SystemClock>(fixed);
}

} // namespace moat
