#pragma once

#include <cstdint>
#include <memory>

namespace moat {

/// Seconds since the Unix epoch. All time in moat is read through a Clock so that tests can
/// move it forward by months in a few seconds.
using UnixTime = std::int64_t;

/// The time source. Implementations are thread-safe.
class Clock {
public:
  virtual ~Clock() = default;
  [[nodiscard]] virtual UnixTime now() const = 0;
};

/// The wall clock, unless the environment variable MOAT_FAKE_TIME holds a Unix time, in which
/// case that fixed time is returned (used by system tests to run the CLI "in the future"), or
/// MOAT_FAKE_TIME_FILE names a file holding one, read at every call (a daemon's time moved by
/// a simulation).
std::shared_ptr<Clock> system_clock();

/// A clock that only moves when told to; for tests.
class ManualClock final : public Clock {
public:
  explicit ManualClock(UnixTime start) : now_(start) {}
  [[nodiscard]] UnixTime now() const override { return now_; }
  void advance(std::int64_t seconds) { now_ += seconds; }
  void set(UnixTime t) { now_ = t; }

private:
  UnixTime now_;
};

} // namespace moat
