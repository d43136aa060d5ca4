#pragma once

#include "core/clock.hpp"
#include "dnsd/snapshot.hpp"

#include <memory>

namespace spdlog {
class logger;
}

namespace moat::dnsd {

/// Sends NOTIFY (RFC 1996) to every secondary of a zone when the zone's serial changes, signed
/// with the secondary's TSIG key when it has one, and sends it again with a growing interval
/// (2 s doubling to 10 min, RFC 1996 §3.6) until the secondary answers NOERROR, a newer serial
/// replaces it, or the secondary is removed. Runs its own thread.
class Notifier {
public:
  Notifier(std::shared_ptr<Clock> clock, std::shared_ptr<spdlog::logger> log);
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  /// Call after `snapshot` was published: every secondary not yet told of its zone's serial
  /// is notified.
  void published(std::shared_ptr<const Snapshot> snapshot);

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace moat::dnsd
