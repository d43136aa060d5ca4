// Snapshots replaced by a change are freed by whoever calls reclaim() (moat-dnsd's watcher
// thread), never by a query thread letting go of the last reference.
#include "dnsd/snapshot_holder.hpp"

#include <gtest/gtest.h>
#include <memory>

namespace moat::dnsd {
namespace {

TEST(SnapshotHolderTest, AReplacedSnapshotLivesUntilReclaimedAfterTheLastReaderLeftIt) {
  SnapshotHolder holder;
  auto first = std::make_shared<const Snapshot>();
  std::weak_ptr<const Snapshot> first_alive = first;
  holder.publish(std::move(first));
  SnapshotHolder::Reader reader(holder);
  EXPECT_EQ(&reader.get(), first_alive.lock().get());

  holder.publish(std::make_shared<const Snapshot>());
  EXPECT_EQ(holder.reclaim(), 1u) << "the reader still holds the first one";
  EXPECT_FALSE(first_alive.expired());

  (void)reader.get(); // the reader moves on and lets go of the first snapshot...
  EXPECT_FALSE(first_alive.expired())
      << "...which the holder still keeps, so the reader did not free it";
  EXPECT_EQ(holder.reclaim(), 0u);
  EXPECT_TRUE(first_alive.expired()) << "reclaim() freed it";
}

} // namespace
} // namespace moat::dnsd
