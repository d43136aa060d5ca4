#pragma once

#include "core/clock.hpp"
#include "core/store.hpp"
#include "dnsd/update.hpp"

#include <memory>
#include <mutex>

namespace moat::dnsd {

/// Stores the ACME challenge records accepted by UPDATE: one transaction per UPDATE, which also
/// bumps the zone's serial so that the loader signs and serves the change. Thread-safe.
class ChallengeWriter {
public:
  /// A challenge record lives this long unless deleted or renewed.
  static constexpr UnixTime kLifetime = 86400;
  /// The most challenge records one domain may hold (a key holder cannot fill the zone).
  static constexpr std::size_t kMaxPerDomain = 64;

  ChallengeWriter(Store store, std::shared_ptr<Clock> clock)
      : store_(std::move(store)), clock_(std::move(clock)) {}

  [[nodiscard]] Result<void> apply(std::int64_t domain_id,
                                   const std::vector<ChallengeChange>& changes);

private:
  std::mutex mutex_; ///< guards store_; a leaf lock
  Store store_;
  std::shared_ptr<Clock> clock_;
};

} // namespace moat::dnsd
