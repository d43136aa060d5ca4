// The served zone as the signer's previous build: moat-dnsd re-signs only what changed, with
// the signatures kept once, in the zone it serves.
#include "core/rr.hpp"
#include "dnsd/snapshot.hpp"
#include "signed_zone.hpp"
#include "signer/key.hpp"
#include "signer/zone_signer.hpp"

#include <gtest/gtest.h>

namespace moat::dnsd {
namespace {

using testing::rr;

class SnapshotTest : public ::testing::TestWithParam<bool> {
protected:
  std::vector<Rr> records() const {
    return {rr("@", rrtype::SOA, "ns1 hostmaster 1 14400 3600 1209600 300"),
            rr("@", rrtype::NS, "ns1"),
            rr("@", rrtype::MX, "10 mail"),
            rr("ns1", rrtype::A, "192.0.2.53"),
            rr("mail", rrtype::A, "192.0.2.25"),
            rr("a.b.deep", rrtype::TXT, "\"deep\""),
            rr("sub", rrtype::NS, "ns.sub"),
            rr("ns.sub", rrtype::A, "192.0.2.99")};
  }
  Result<signer::SignedZone> sign(const std::vector<Rr>& records, std::int64_t now,
                                  const signer::PreviousBuild* previous) {
    signer::SignPolicy policy;
    policy.nsec3 = GetParam();
    return signer::sign_zone({*Name::parse("example.test."), records},
                             {{&ksk_}, {&zsk_}, {&ksk_, &zsk_}, {&ksk_}}, policy, now, previous);
  }

  signer::SigningKey ksk_ =
      *signer::SigningKey::generate(signer::Algorithm::kEcdsaP256Sha256, signer::kKskFlags);
  signer::SigningKey zsk_ =
      *signer::SigningKey::generate(signer::Algorithm::kEcdsaP256Sha256, signer::kZskFlags);
};

TEST_P(SnapshotTest, TheServedZoneLendsItsSignaturesToTheNextBuild) {
  constexpr std::int64_t kNow = 1'800'000'000;
  auto first = sign(records(), kNow, nullptr);
  ASSERT_TRUE(first) << first.error().message;
  const std::size_t made = first->signatures_made;
  auto served = ServedZone::build(std::move(*first));
  EXPECT_EQ(served->signed_rrsets(), made) << "one signing key per RRset";
  EXPECT_EQ(served->nsec3_nodes.empty(), !GetParam());

  // The same content an hour later: every signature re-used, NSEC3 ones included.
  auto same = sign(records(), kNow + 3600, served.get());
  ASSERT_TRUE(same) << same.error().message;
  EXPECT_EQ(same->signatures_made, 0u);
  EXPECT_EQ(same->signatures_reused, made);
  EXPECT_EQ(same->rrsets_changed, 0u);

  // One more record: its RRset, the denial records around it and the SOA are signed anew.
  auto more = records();
  more.push_back(rr("new", rrtype::A, "192.0.2.7"));
  auto changed = sign(more, kNow + 3600, served.get());
  ASSERT_TRUE(changed) << changed.error().message;
  EXPECT_GT(changed->signatures_made, 1u);
  EXPECT_LT(changed->signatures_made, 6u);
  EXPECT_GT(changed->signatures_reused, made - 6);

  // Past the refresh time nothing is re-used.
  auto late = sign(records(), kNow + 8 * 86400, served.get());
  ASSERT_TRUE(late) << late.error().message;
  EXPECT_EQ(late->signatures_reused, 0u);
}

TEST_P(SnapshotTest, EveryNodeIsFoundAndSortedByType) {
  auto zone = sign(records(), 1'800'000'000, nullptr);
  ASSERT_TRUE(zone) << zone.error().message;
  const std::size_t rrsets = zone->rrsets.size();
  auto served = ServedZone::build(std::move(*zone));
  std::size_t seen = 0;
  for (const auto* list : {&served->nodes, &served->nsec3_nodes})
    for (const ServedNode& node : *list) {
      seen += node.rrsets.size();
      EXPECT_TRUE(std::ranges::is_sorted(node.rrsets, {}, &ServedRrset::type));
      if (list == &served->nodes) {
        EXPECT_EQ(served->node_at(node.owner), &node);
      }
    }
  EXPECT_EQ(seen, rrsets);
  EXPECT_EQ(served->node_at(*Name::parse("b.deep.example.test.")), nullptr) << "empty non-terminal";
  ASSERT_NE(served->soa, nullptr);
  EXPECT_TRUE(served->node_at(*Name::parse("sub.example.test."))->delegation);
  EXPECT_TRUE(served->node_at(*Name::parse("ns.sub.example.test."))->glue);
}

INSTANTIATE_TEST_SUITE_P(NsecAndNsec3, SnapshotTest, ::testing::Bool());

} // namespace
} // namespace moat::dnsd
