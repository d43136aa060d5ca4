// A patched zone is exactly the zone a whole build makes of the same content: checked after each
// of many random changes (names coming and going, empty non-terminals, wildcards, TTLs), under
// NSEC and NSEC3, by signing the whole content with the patched zone as the previous build —
// which must then find nothing to sign and nothing changed — and comparing every record.
#include "core/rr.hpp"
#include "dnsd/snapshot.hpp"
#include "dnsd/zone_patch.hpp"
#include "signed_zone.hpp"
#include "signer/key.hpp"
#include "signer/zone_signer.hpp"

#include <algorithm>
#include <gtest/gtest.h>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace moat::dnsd {
namespace {

using testing::records_of;
using testing::rr;
using Record = testing::ZoneRecordSet::value_type;

Record record_of(const ZoneRecord& r) { return {r.owner.wire(), r.type, r.ttl, r.rdata}; }

class ZonePatchTest : public ::testing::TestWithParam<bool> {
protected:
  static constexpr std::int64_t kNow = 1'800'000'000;

  ZonePatchTest() {
    policy_.nsec3 = GetParam();
    content_ = {rr("@", rrtype::SOA, soa_text(1)),
                rr("@", rrtype::NS, "ns1"),
                rr("@", rrtype::MX, "10 mail"),
                rr("ns1", rrtype::A, "192.0.2.53"),
                rr("mail", rrtype::A, "192.0.2.25"),
                rr("_25._tcp.mail", rrtype::TLSA, "3 1 1 0102030405060708"),
                rr("a.b.deep", rrtype::TXT, "\"deep\""),
                rr("*.wild", rrtype::TXT, "\"wild\""),
                rr("sub", rrtype::NS, "ns.sub"),
                rr("ns.sub", rrtype::A, "192.0.2.99")};
  }

  static std::string soa_text(std::uint32_t serial, std::uint32_t minimum = 300) {
    return "ns1 hostmaster " + std::to_string(serial) + " 14400 3600 1209600 " +
           std::to_string(minimum);
  }

  signer::KeySet keys() { return {{&ksk_}, {&zsk_}, {&ksk_, &zsk_}, {&ksk_}}; }

  std::shared_ptr<ServedZone> whole(const ServedZone* previous, std::int64_t now,
                                    signer::SignedZone* out = nullptr) {
    auto z = signer::sign_zone({*Name::parse("example.test."), content_}, keys(), policy_, now,
                               previous);
    EXPECT_TRUE(z) << z.error().message;
    if (out != nullptr)
      *out = *z;
    return ServedZone::build(std::move(*z));
  }

  // Replaces the records at `owner` by `now_there` and the SOA by one with `serial`; returns the
  // change as the loader would hand it over.
  ZoneChangeSet change(const std::string& owner, const std::vector<Rr>& now_there,
                       std::uint32_t serial, std::uint32_t minimum = 300) {
    const Name name = rr(owner, rrtype::A, "192.0.2.1").owner;
    std::erase_if(content_, [&](const Rr& r) { return r.owner == name || r.type == rrtype::SOA; });
    content_.push_back(rr("@", rrtype::SOA, soa_text(serial, minimum)));
    content_.insert(content_.end(), now_there.begin(), now_there.end());
    ZoneChangeSet c{content_.back(), {}};
    c.soa = rr("@", rrtype::SOA, soa_text(serial, minimum));
    c.owners[name] = now_there;
    return c;
  }

  // The patched zone must be what a whole build makes: nothing to sign, nothing changed, the
  // same records; its diff must take the old records to the new.
  void expect_whole(const ServedZone& before, const PatchedZone& p, std::int64_t now) {
    signer::SignedZone full;
    auto rebuilt = whole(p.zone.get(), now, &full);
    EXPECT_EQ(full.signatures_made, 0u);
    EXPECT_EQ(full.rrsets_changed, 0u);
    EXPECT_EQ(records_of(*rebuilt), records_of(*p.zone));
    EXPECT_EQ(p.zone->record_count, rebuilt->record_count);
    EXPECT_EQ(p.zone->signed_rrset_count, rebuilt->signed_rrset_count);
    EXPECT_TRUE(std::ranges::is_sorted(p.zone->nodes, {}, &ServedNode::owner));
    EXPECT_TRUE(std::ranges::is_sorted(p.zone->nsec3_hashes));
    ASSERT_EQ(p.zone->nodes.size(), rebuilt->nodes.size());
    for (std::size_t i = 0; i < rebuilt->nodes.size(); ++i) {
      EXPECT_EQ(p.zone->nodes[i].owner, rebuilt->nodes[i].owner);
      EXPECT_EQ(p.zone->nodes[i].delegation, rebuilt->nodes[i].delegation);
      EXPECT_EQ(p.zone->nodes[i].glue, rebuilt->nodes[i].glue);
    }
    std::set<Record> applied = records_of(before);
    applied.erase(record_of(p.diff.from_soa));
    for (const ZoneRecord& r : p.diff.removed)
      EXPECT_EQ(applied.erase(record_of(r)), 1u) << r.owner.to_string() << " " << r.type;
    for (const ZoneRecord& r : p.diff.added)
      EXPECT_TRUE(applied.insert(record_of(r)).second) << r.owner.to_string() << " " << r.type;
    applied.insert(record_of(p.diff.to_soa));
    EXPECT_EQ(applied, records_of(*p.zone));
  }

  signer::SignPolicy policy_;
  std::vector<Rr> content_;
  signer::SigningKey ksk_ =
      *signer::SigningKey::generate(signer::Algorithm::kEcdsaP256Sha256, signer::kKskFlags);
  signer::SigningKey zsk_ =
      *signer::SigningKey::generate(signer::Algorithm::kEcdsaP256Sha256, signer::kZskFlags);
};

TEST_P(ZonePatchTest, ManyRandomChangesGiveWhatAWholeBuildGives) {
  std::mt19937 random(GetParam() ? 5155 : 4034);
  // Names that come and go: leaves, deep ones that make and unmake empty non-terminals, a
  // wildcard, the apex itself, and names in between existing ones.
  const std::vector<std::string> names = {
      "@",  "mail",    "new",      "x.y.z.deep", "b.deep",  "a.b.deep", "*.wild",    "wild",
      "zz", "aa.mail", "c.b.deep", "0",          "q.r.s.t", "r.s.t",    "_smtp._tls"};
  auto current = whole(nullptr, kNow);
  std::uint32_t serial = 1;
  int patched = 0;
  for (int step = 0; step < 60; ++step) {
    const std::string& owner = names[random() % names.size()];
    std::vector<Rr> there;
    const unsigned what = random() % 4;
    const std::uint32_t ttl = what == 3 ? 600 : 3600;
    if (what != 0) // 0: the name goes
      for (unsigned n = 0; n < 1 + random() % 3; ++n)
        there.push_back(rr(owner, rrtype::TXT, "\"v" + std::to_string(random() % 5) + "\"", ttl));
    if (owner == "@") { // the apex keeps what makes it a zone
      there.push_back(rr("@", rrtype::NS, "ns1"));
      there.push_back(rr("@", rrtype::MX, "10 mail"));
    }
    if (owner == "mail")
      there.push_back(rr("mail", rrtype::A, "192.0.2.25"));
    const std::int64_t now = kNow + step * 60;
    ZoneChangeSet c = change(owner, there, ++serial);
    auto p = patch_zone(*current, c, keys(), policy_, now);
    ASSERT_TRUE(p) << p.error().message;
    ASSERT_TRUE(p->has_value()) << "step " << step << ": " << owner;
    SCOPED_TRACE("step " + std::to_string(step) + ": " + owner);
    expect_whole(*current, **p, now);
    // The SOA, the RRset, and NSEC3s of the name, two new empty non-terminals and three
    // predecessors at most.
    EXPECT_LE((*p)->counts.made, 8u) << "only the change is signed";
    current = (*p)->zone;
    ++patched;
    if (::testing::Test::HasFailure())
      return;
  }
  EXPECT_EQ(patched, 60);
}

TEST_P(ZonePatchTest, ZoneCutsAndNsecTtlsAreLeftToAWholeBuild) {
  auto zone = whole(nullptr, kNow);
  // NS below the apex makes a cut; glue sits under one; the SOA MINIMUM is every NSEC's TTL.
  for (auto [owner, records] : std::vector<std::pair<std::string, std::vector<Rr>>>{
           {"other", {rr("other", rrtype::NS, "ns.other")}},
           {"ns.sub", {rr("ns.sub", rrtype::A, "192.0.2.98")}},
           {"sub", {}},
           {"x.ns.sub", {rr("x.ns.sub", rrtype::A, "192.0.2.97")}}}) {
    SCOPED_TRACE(owner);
    auto p = patch_zone(*zone, change(owner, records, 2), keys(), policy_, kNow);
    ASSERT_TRUE(p);
    EXPECT_FALSE(p->has_value());
  }
  auto ttl = patch_zone(*zone, change("new", {rr("new", rrtype::A, "192.0.2.7")}, 3, 60), keys(),
                        policy_, kNow);
  ASSERT_TRUE(ttl);
  EXPECT_FALSE(ttl->has_value());
}

TEST_P(ZonePatchTest, AChainOfPatchesEndsInAWholeBuild) {
  auto zone = whole(nullptr, kNow);
  for (std::size_t i = 0; i < kMaxPatchChain; ++i) {
    auto p = patch_zone(*zone,
                        change("n" + std::to_string(i),
                               {rr("n" + std::to_string(i), rrtype::A, "192.0.2.8")},
                               static_cast<std::uint32_t>(i + 2)),
                        keys(), policy_, kNow);
    ASSERT_TRUE(p && p->has_value());
    zone = (*p)->zone;
  }
  auto p = patch_zone(*zone, change("last", {rr("last", rrtype::A, "192.0.2.9")}, 999), keys(),
                      policy_, kNow);
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->has_value());
}

INSTANTIATE_TEST_SUITE_P(Denial, ZonePatchTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Nsec3" : "Nsec"; });

} // namespace
} // namespace moat::dnsd
