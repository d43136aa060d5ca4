#pragma once

#include "dnsd/snapshot.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace moat::dnsd {

/// Publishes immutable snapshots to the query threads. The writer swaps the pointer under a
/// mutex and bumps a generation counter; each reader keeps its own reference and takes the
/// mutex only when the generation moved, so a query normally takes no lock (GCC 12's
/// atomic<shared_ptr> would lock on every load).
class SnapshotHolder {
public:
  SnapshotHolder() : current_(std::make_shared<const Snapshot>()) {}

  /// Makes `next` the snapshot readers see from their next query on. Thread-safe. The one it
  /// replaces is kept until reclaim() finds no reader holding it.
  void publish(std::shared_ptr<const Snapshot> next) {
    {
      std::lock_guard lock(mutex_);
      retired_.push_back(std::exchange(current_, std::move(next)));
    }
    generation_.fetch_add(1, std::memory_order_release);
  }

  /// Frees, on the calling thread, the replaced snapshots that no reader holds any more;
  /// returns how many are still held. Without it the last query thread to let go of a
  /// snapshot would free it, and a zone of 100,000 names takes milliseconds to free: the
  /// first query after a change would wait for them. Thread-safe.
  std::size_t reclaim() {
    std::vector<std::shared_ptr<const Snapshot>> unused;
    std::size_t held = 0;
    {
      std::lock_guard lock(mutex_);
      // Readers take references only from current_, so a retired snapshot's count only falls.
      for (auto& s : retired_)
        if (s.use_count() == 1)
          unused.push_back(std::move(s));
      std::erase(retired_, nullptr);
      held = retired_.size();
    }
    return held; // `unused` is freed here, outside the lock
  }

  /// The snapshot now published. Thread-safe.
  [[nodiscard]] std::shared_ptr<const Snapshot> current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }

  /// One per query thread; not shareable between threads.
  class Reader {
  public:
    explicit Reader(const SnapshotHolder& holder) : holder_(holder) { refresh(); }
    /// The newest snapshot; valid until the next call.
    const Snapshot& get() {
      if (holder_.generation_.load(std::memory_order_acquire) != seen_)
        refresh();
      return *local_;
    }

  private:
    void refresh() {
      seen_ = holder_.generation_.load(std::memory_order_acquire);
      local_ = holder_.current();
    }
    const SnapshotHolder& holder_;
    std::shared_ptr<const Snapshot> local_;
    std::uint64_t seen_ = 0;
  };

private:
  mutable std::mutex mutex_; ///< guards current_; a leaf lock, nothing is taken while held
  std::shared_ptr<const Snapshot> current_;
  std::vector<std::shared_ptr<const Snapshot>> retired_; ///< replaced, maybe still read
  std::atomic<std::uint64_t> generation_{0};
};

} // namespace moat::dnsd
