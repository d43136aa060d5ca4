// Key rollovers on a real temporary store: every step waits for moat-dnsd's acknowledgement
// (simulated with Store::record_publication) and for the TTLs of RFC 7583; at every step the
// zone, signed from what the store says, keeps the properties validators rely on.
#include "signer/key_rollover.hpp"
#include "signer/zone_signer.hpp"
#include "signer/zone_source.hpp"
#include "tests/support/temp_dir.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <gtest/gtest.h>
#include <map>
#include <set>
#include <stdexcept>
#include <unistd.h>

namespace moat::signer {
namespace {

constexpr UnixTime kT0 = 1800000000;
constexpr UnixTime kHour = 3600;
constexpr UnixTime kDay = 86400;

std::uint16_t rrsig_key_tag(const std::vector<std::uint8_t>& rd) {
  return static_cast<std::uint16_t>(rd[16] << 8 | rd[17]);
}

class KeyRolloverTest : public ::testing::Test {
protected:
  void SetUp() override {
    auto s = Store::open(dir_.file("moat.db"), Store::Mode::kCreate);
    ASSERT_TRUE(s) << s.error().message;
    store_.emplace(std::move(*s));
    Domain d;
    d.name = *Name::parse("example.test.");
    d.soa.mname = *Name::parse("ns1.example.test.");
    d.soa.rname = *Name::parse("hostmaster.example.test.");
    d.serial = 1;
    d.created = kT0;
    auto id = store().insert_domain(d);
    ASSERT_TRUE(id) << id.error().message;
    d.id = *id;
    std::vector<KeyRecord> keys;
    const std::vector<const char*> roles =
        csk_ ? std::vector<const char*>{"csk"} : std::vector<const char*>{"ksk", "zsk"};
    for (const char* role : roles) {
      auto k = generate_key_record(Algorithm::kEcdsaP256Sha256, role, keys, kT0);
      ASSERT_TRUE(k) << k.error().message;
      k->domain_id = d.id;
      k->state = "active";
      k->published_at = k->active_at = kT0;
      k->state_serial = 1;
      if (is_sep(*k))
        k->ds_state = "seen";
      ASSERT_TRUE(store().insert_key(*k));
      keys.push_back(*k);
    }
    Rr a{*Name::parse("www.example.test."), rrtype::A, 3600, {192, 0, 2, 80}};
    ASSERT_TRUE(store().insert_record(d.id, a));
    serve(kT0);
  }
  void TearDown() override { store_.reset(); }

  Store& store() { return *store_; }
  Domain domain() { return **store().find_domain(*Name::parse("example.test.")); }
  std::vector<KeyRecord> keys() { return *store().keys(domain().id); }
  KeyRecord key(const std::vector<KeyRecord>& ks, std::uint16_t tag) {
    for (const KeyRecord& k : ks)
      if (k.key_tag == tag)
        return k;
    throw std::runtime_error("no key " + std::to_string(tag));
  }
  std::map<std::uint16_t, std::string> states() {
    std::map<std::uint16_t, std::string> out;
    for (const KeyRecord& k : keys())
      out[k.key_tag] = k.state;
    return out;
  }
  // What moat-dnsd reports after serving the current serial, with that version's longest TTL.
  void serve(UnixTime at) {
    const Domain d = domain();
    auto t = key_timings(store(), d);
    ASSERT_TRUE(t);
    ASSERT_TRUE(store().record_publication(d.id, d.serial, at, t->max_zone_ttl));
  }
  std::vector<std::string> tick(UnixTime at) {
    auto r = tick_keys(store(), at, "test");
    EXPECT_TRUE(r) << r.error().message;
    for (const auto& line : *r)
      EXPECT_FALSE(line.starts_with("error: ")) << line;
    return r ? *r : std::vector<std::string>{};
  }
  std::uint16_t newest(const char* role) {
    std::uint16_t tag = 0;
    std::int64_t id = 0;
    for (const KeyRecord& k : keys())
      if (k.role == role && k.id > id) {
        id = k.id;
        tag = k.key_tag;
      }
    return tag;
  }

  // Signs the zone as moat-dnsd would now and checks what validators need: every algorithm
  // of the DNSKEY RRset signs every RRset (RFC 4035 §2.2, RFC 6781 §4.1.4), the DNSKEY RRset
  // is signed by a key whose DS the parent is asked for, and returns the zone.
  SignedZone signed_now(UnixTime at) {
    auto src = load_zone_source(store(), domain());
    EXPECT_TRUE(src) << src.error().message;
    ZoneSigner signer;
    auto zone = signer.sign(src->content, src->key_set(), src->policy, at);
    EXPECT_TRUE(zone) << zone.error().message;
    std::set<std::uint8_t> published_algs;
    std::set<std::uint16_t> ksk_tags_cds;
    for (const auto& set : zone->rrsets) {
      if (set.type == rrtype::DNSKEY)
        for (const auto& rd : set.rdatas)
          published_algs.insert(rd[3]);
      if (set.type == rrtype::CDS)
        for (const auto& rd : set.rdatas)
          ksk_tags_cds.insert(static_cast<std::uint16_t>(rd[0] << 8 | rd[1]));
    }
    for (const auto& set : zone->rrsets) {
      if (set.rrsigs.empty())
        continue;
      std::set<std::uint8_t> algs;
      for (const auto& sig : set.rrsigs)
        algs.insert(sig[2]);
      for (std::uint8_t a : published_algs)
        EXPECT_TRUE(algs.contains(a)) << set.owner.to_string() << " " << set.type
                                      << " lacks a signature of algorithm " << int(a);
      if (set.type == rrtype::DNSKEY) {
        bool by_cds_key = false;
        for (const auto& sig : set.rrsigs)
          by_cds_key = by_cds_key || ksk_tags_cds.contains(rrsig_key_tag(sig));
        EXPECT_TRUE(by_cds_key) << "the DNSKEY RRset is signed by a key the parent has";
      }
    }
    return *zone;
  }

  std::set<std::uint16_t> dnskey_tags(const SignedZone& z) {
    std::set<std::uint16_t> out;
    for (const auto& set : z.rrsets)
      if (set.type == rrtype::DNSKEY)
        for (const auto& rd : set.rdatas)
          out.insert(key_tag(rd));
    return out;
  }
  std::set<std::uint16_t> signers_of(const SignedZone& z, std::uint16_t type) {
    std::set<std::uint16_t> out;
    for (const auto& set : z.rrsets)
      if (set.type == type)
        for (const auto& sig : set.rrsigs)
          out.insert(rrsig_key_tag(sig));
    return out;
  }
  std::set<std::uint16_t> cds_tags(const SignedZone& z) {
    std::set<std::uint16_t> out;
    for (const auto& set : z.rrsets)
      if (set.type == rrtype::CDS)
        for (const auto& rd : set.rdatas)
          out.insert(static_cast<std::uint16_t>(rd[0] << 8 | rd[1]));
    return out;
  }

  // Walks hourly from `from`, confirming each DS the plan asks for as soon as it does, signing
  // (with the checks of signed_now) and serving every hour, until `steps` steps were taken.
  std::vector<std::string> run_hourly(UnixTime from, std::size_t steps, UnixTime limit) {
    std::vector<std::string> done;
    for (UnixTime now = from; now < from + limit && done.size() < steps; now += kHour) {
      auto plan = plan_keys(store(), domain(), now);
      EXPECT_TRUE(plan);
      for (const KeyRecord& k : plan->ds_to_add)
        EXPECT_TRUE(confirm_ds(store(), domain(), k.key_tag, now, "test"));
      for (auto& l : tick(now))
        done.push_back(l);
      (void)signed_now(now);
      serve(now);
    }
    return done;
  }

  bool csk_ = false;
  testing_support::TempDir dir_{"moat-keyroll"};
  std::optional<Store> store_;
};

class CskRolloverTest : public KeyRolloverTest {
protected:
  void SetUp() override {
    csk_ = true;
    KeyRolloverTest::SetUp();
  }
};

TEST_F(KeyRolloverTest, ZskPrePublicationWaitsForServingAndTtls) {
  const std::uint16_t old_zsk = newest("zsk");
  UnixTime t = kT0 + kDay;
  ASSERT_TRUE(start_rollover(store(), domain(), RolloverKind::kZsk, std::nullopt, t, "test"));
  const std::uint16_t new_zsk = newest("zsk");
  ASSERT_NE(new_zsk, old_zsk);
  EXPECT_EQ(states()[new_zsk], "published");
  SignedZone z = signed_now(t);
  EXPECT_TRUE(dnskey_tags(z).contains(new_zsk)) << "published ahead of use";
  EXPECT_EQ(signers_of(z, rrtype::A), std::set<std::uint16_t>{old_zsk});

  // Nothing moves until moat-dnsd serves the serial, however late it is.
  EXPECT_TRUE(tick(t + 30 * kDay).empty());
  serve(t + kHour);
  const UnixTime ready = t + kHour + 3600 + kPropagation; // DNSKEY TTL + Dprp after serving
  EXPECT_TRUE(tick(ready - 1).empty());
  EXPECT_EQ(tick(ready).size(), 1u);
  EXPECT_EQ(states()[new_zsk], "active");
  EXPECT_EQ(states()[old_zsk], "retired");
  z = signed_now(ready);
  EXPECT_EQ(signers_of(z, rrtype::A), std::set<std::uint16_t>{new_zsk});
  EXPECT_TRUE(dnskey_tags(z).contains(old_zsk)) << "kept while its signatures are cached";

  serve(ready);
  const UnixTime gone = ready + 3600 + kPropagation; // max zone TTL + Dprp
  EXPECT_TRUE(tick(gone - 1).empty());
  EXPECT_EQ(tick(gone).size(), 1u);
  EXPECT_EQ(states()[old_zsk], "removed");
  EXPECT_FALSE(dnskey_tags(signed_now(gone)).contains(old_zsk));
  const KeyRecord& old = key(keys(), old_zsk);
  EXPECT_EQ(old.retired_at, ready);
  EXPECT_EQ(old.removed_at, gone);
}

TEST_F(KeyRolloverTest, ALoweredTtlDoesNotShortenTheWaitForWhatCachesHold) {
  // A TXT with a week's TTL is served, signed by the old ZSK.
  Rr txt{*Name::parse("long.example.test."), rrtype::TXT, 7 * 86400, {3, 'a', 'b', 'c'}};
  ASSERT_TRUE(store().insert_record(domain().id, txt));
  ASSERT_TRUE(store().touch_domain(domain().id, kT0 + 10));
  serve(kT0 + 10);
  const std::uint16_t old_zsk = newest("zsk");
  UnixTime t = kT0 + kDay;
  ASSERT_TRUE(start_rollover(store(), domain(), RolloverKind::kZsk, std::nullopt, t, "test"));
  serve(t);
  const UnixTime active = t + 3600 + kPropagation;
  ASSERT_EQ(tick(active).size(), 1u);
  serve(active);
  // The admin deletes the record a minute later: caches still hold it, signed by the old ZSK.
  ASSERT_TRUE(store().delete_records(domain().id, txt.owner, rrtype::TXT, nullptr));
  ASSERT_TRUE(store().touch_domain(domain().id, active + 60));
  serve(active + 60);
  EXPECT_TRUE(tick(active + 2 * 3600 + kPropagation).empty()) << "not after the new max TTL";
  EXPECT_TRUE(tick(active + 7 * 86400 + kPropagation - 1).empty());
  EXPECT_EQ(tick(active + 7 * 86400 + kPropagation).size(), 1u);
  EXPECT_EQ(states()[old_zsk], "removed");
}

TEST_F(KeyRolloverTest, ConfirmingTheOldDsLateDoesNotWithdrawTheNewOne) {
  // The domain's KSK was never confirmed at the parent.
  KeyRecord first = key(keys(), newest("ksk"));
  first.ds_state = "submit";
  ASSERT_TRUE(store().update_key_state(first));
  UnixTime t = kT0 + kDay;
  ASSERT_TRUE(start_rollover(store(), domain(), RolloverKind::kKsk, std::nullopt, t, "test"));
  const std::uint16_t fresh = newest("ksk");
  serve(t);
  ASSERT_EQ(tick(t + 3600 + kPropagation).size(), 1u); // the new DS is asked for
  // Now the admin confirms the old key's DS: the new key's DS stays wanted.
  ASSERT_TRUE(confirm_ds(store(), domain(), first.key_tag, t + 2 * 3600, "test"));
  EXPECT_EQ(key(keys(), fresh).ds_state, "submit");
  auto plan = plan_keys(store(), domain(), t + 30 * kDay);
  ASSERT_TRUE(plan);
  ASSERT_EQ(plan->ds_to_add.size(), 1u);
  EXPECT_EQ(plan->ds_to_add.front().key_tag, fresh);
  EXPECT_TRUE(tick(t + 30 * kDay).empty()) << "the old key stays until the new DS is seen";
  ASSERT_TRUE(confirm_ds(store(), domain(), fresh, t + 30 * kDay, "test"));
  EXPECT_EQ(key(keys(), first.key_tag).ds_state, "withdrawn");
  EXPECT_EQ(tick(t + 31 * kDay + kParentPropagation).size(), 1u);
  EXPECT_EQ(states()[first.key_tag], "removed");
}

TEST_F(KeyRolloverTest, AKskWhoseDsWasNeverConfirmedIsNotRolledByItsLifetime) {
  Domain d = domain();
  d.ksk_lifetime = 30 * kDay;
  ASSERT_TRUE(store().update_domain(d));
  KeyRecord ksk = key(keys(), newest("ksk"));
  ksk.ds_state = "submit";
  ASSERT_TRUE(store().update_key_state(ksk));
  auto plan = plan_keys(store(), domain(), kT0 + 40 * kDay);
  ASSERT_TRUE(plan);
  EXPECT_FALSE(plan->start) << "it would wait at the parent step for ever";
  ksk.ds_state = "seen";
  ASSERT_TRUE(store().update_key_state(ksk));
  plan = plan_keys(store(), domain(), kT0 + 40 * kDay);
  ASSERT_TRUE(plan && plan->start);
  EXPECT_EQ(*plan->start, RolloverKind::kKsk);
}

TEST_F(KeyRolloverTest, KskRolloverAsksForTheDsAndWaitsForTheAdmin) {
  const std::uint16_t old_ksk = newest("ksk");
  UnixTime t = kT0 + kDay;
  ASSERT_TRUE(start_rollover(store(), domain(), RolloverKind::kKsk, std::nullopt, t, "test"));
  const std::uint16_t new_ksk = newest("ksk");
  SignedZone z = signed_now(t);
  EXPECT_EQ(signers_of(z, rrtype::DNSKEY), (std::set<std::uint16_t>{old_ksk, new_ksk}));
  EXPECT_EQ(cds_tags(z), std::set<std::uint16_t>{old_ksk}) << "not asked for before caches hold it";

  auto early = confirm_ds(store(), domain(), new_ksk, t, "test");
  ASSERT_FALSE(early) << "a DS confirmed before the key is in every cache is refused";
  EXPECT_NE(early.error().message.find("not ready"), std::string::npos) << early.error().message;

  serve(t);
  const UnixTime submit = t + 3600 + kPropagation;
  EXPECT_TRUE(tick(submit - 1).empty());
  EXPECT_EQ(tick(submit).size(), 1u);
  EXPECT_EQ(cds_tags(signed_now(submit)), (std::set<std::uint16_t>{old_ksk, new_ksk}));
  auto plan = plan_keys(store(), domain(), submit);
  ASSERT_TRUE(plan);
  ASSERT_EQ(plan->ds_to_add.size(), 1u);
  EXPECT_EQ(plan->ds_to_add.front().key_tag, new_ksk);
  serve(submit);

  // However long the admin takes, the old key stays.
  EXPECT_TRUE(tick(submit + 200 * kDay).empty());
  EXPECT_EQ(states()[old_ksk], "active");

  const UnixTime seen = submit + 3 * kDay;
  ASSERT_TRUE(confirm_ds(store(), domain(), new_ksk, seen, "test"));
  EXPECT_EQ(cds_tags(signed_now(seen)), std::set<std::uint16_t>{new_ksk});
  plan = plan_keys(store(), domain(), seen);
  ASSERT_EQ(plan->ds_to_remove.size(), 1u);
  EXPECT_EQ(plan->ds_to_remove.front().key_tag, old_ksk);
  const UnixTime gone = seen + 86400 + kParentPropagation; // parent DS TTL + DprpP
  EXPECT_TRUE(tick(gone - 1).empty());
  EXPECT_EQ(tick(gone).size(), 1u);
  EXPECT_EQ(states()[old_ksk], "removed");
  z = signed_now(gone);
  EXPECT_EQ(signers_of(z, rrtype::DNSKEY), std::set<std::uint16_t>{new_ksk});
}

TEST_F(KeyRolloverTest, AlgorithmRolloverSignsWithBothWhileBothArePublished) {
  const auto before = states();
  UnixTime t = kT0 + kDay;
  ASSERT_TRUE(
      start_rollover(store(), domain(), RolloverKind::kAlgorithm, Algorithm::kEd25519, t, "test"));
  EXPECT_EQ(domain().algorithm, static_cast<std::uint8_t>(Algorithm::kEd25519));
  const std::uint16_t new_ksk = newest("ksk"), new_zsk = newest("zsk");
  EXPECT_EQ(states()[new_ksk], "presigning");
  // Signatures first, keys later: the signed_now checks hold at every step below.
  SignedZone z = signed_now(t);
  EXPECT_FALSE(dnskey_tags(z).contains(new_zsk));
  EXPECT_TRUE(signers_of(z, rrtype::A).contains(new_zsk));

  std::vector<std::string> steps;
  UnixTime confirm_at = 0;
  for (UnixTime now = t; now < t + 30 * kDay && steps.size() < 4; now += kHour) {
    if (confirm_at == 0) {
      auto plan = plan_keys(store(), domain(), now);
      if (!plan->ds_to_add.empty()) {
        confirm_at = now;
        ASSERT_TRUE(confirm_ds(store(), domain(), new_ksk, now, "test"));
      }
    }
    for (auto& l : tick(now))
      steps.push_back(l);
    (void)signed_now(now);
    serve(now);
  }
  ASSERT_EQ(steps.size(), 4u) << "publish, ask for DS, withdraw old DNSKEYs, stop old signatures";
  EXPECT_NE(confirm_at, 0);
  for (const auto& [tag, state] : before)
    EXPECT_EQ(states()[tag], "removed");
  EXPECT_EQ(states()[new_ksk], "active");
  EXPECT_EQ(states()[new_zsk], "active");
  z = signed_now(t + 30 * kDay);
  EXPECT_EQ(dnskey_tags(z), (std::set<std::uint16_t>{new_ksk, new_zsk}));
}

TEST_F(KeyRolloverTest, ZskRollsByItselfAtTheEndOfItsLifetime) {
  const std::uint16_t first = newest("zsk");
  std::set<std::uint16_t> zsks{first};
  for (UnixTime now = kT0; now < kT0 + 200 * kDay; now += kHour) {
    (void)tick(now);
    serve(now);
    zsks.insert(newest("zsk"));
  }
  // 90-day lifetime: rolled at about day 90 and day 180.
  EXPECT_EQ(zsks.size(), 3u);
  const KeyRecord& k = key(keys(), first);
  ASSERT_TRUE(k.retired_at);
  EXPECT_LE(*k.retired_at, kT0 + 90 * kDay + kHour) << "replaced when its lifetime ends";
  EXPECT_GE(*k.retired_at, kT0 + 90 * kDay - 2 * kHour);
}

TEST_F(KeyRolloverTest, OneRolloverAtATimeAndKindsThatDoNotFitAreRefused) {
  ASSERT_TRUE(start_rollover(store(), domain(), RolloverKind::kZsk, std::nullopt, kT0, "test"));
  const auto before = keys();
  auto second = start_rollover(store(), domain(), RolloverKind::kKsk, std::nullopt, kT0, "test");
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("zsk rollover is under way"), std::string::npos);
  EXPECT_EQ(keys().size(), before.size()) << "a refused rollover changes nothing";
  auto same_alg = start_rollover(store(), domain(), RolloverKind::kAlgorithm,
                                 Algorithm::kEcdsaP256Sha256, kT0, "test");
  EXPECT_FALSE(same_alg);
  auto csk = start_rollover(store(), domain(), RolloverKind::kCsk, std::nullopt, kT0, "test");
  EXPECT_FALSE(csk);
  EXPECT_FALSE(confirm_ds(store(), domain(), 1, kT0, "test")) << "no such KSK";
}

TEST_F(CskRolloverTest, OneKeySignsEverythingAndIsRolledByDoubleSignature) {
  const std::uint16_t old_csk = newest("csk");
  SignedZone z = signed_now(kT0);
  EXPECT_EQ(signers_of(z, rrtype::A), std::set<std::uint16_t>{old_csk});
  EXPECT_EQ(signers_of(z, rrtype::DNSKEY), std::set<std::uint16_t>{old_csk});
  EXPECT_FALSE(start_rollover(store(), domain(), RolloverKind::kZsk, std::nullopt, kT0, "test"))
      << "a CSK domain has no ZSK to roll";
  EXPECT_FALSE(start_rollover(store(), domain(), RolloverKind::kKsk, std::nullopt, kT0, "test"));

  const UnixTime t = kT0 + kDay;
  ASSERT_TRUE(start_rollover(store(), domain(), RolloverKind::kCsk, std::nullopt, t, "test"));
  const std::uint16_t new_csk = newest("csk");
  z = signed_now(t);
  EXPECT_EQ(signers_of(z, rrtype::A), (std::set<std::uint16_t>{old_csk, new_csk}));
  serve(t);
  auto done = run_hourly(t + kHour, 2, 10 * kDay);
  ASSERT_EQ(done.size(), 2u) << "ask for the DS, then remove the old CSK";
  EXPECT_EQ(states()[old_csk], "removed");
  z = signed_now(t + 10 * kDay);
  EXPECT_EQ(signers_of(z, rrtype::A), std::set<std::uint16_t>{new_csk});
  EXPECT_EQ(cds_tags(z), std::set<std::uint16_t>{new_csk});
}

TEST_F(CskRolloverTest, AlgorithmRolloverOfACskDomainMakesOneNewCsk) {
  const UnixTime t = kT0 + kDay;
  ASSERT_TRUE(
      start_rollover(store(), domain(), RolloverKind::kAlgorithm, Algorithm::kEd25519, t, "test"));
  const std::uint16_t new_csk = newest("csk");
  EXPECT_EQ(keys().size(), 2u);
  auto done = run_hourly(t, 4, 30 * kDay);
  ASSERT_EQ(done.size(), 4u);
  const SignedZone z = signed_now(t + 30 * kDay);
  EXPECT_EQ(dnskey_tags(z), std::set<std::uint16_t>{new_csk});
  EXPECT_EQ(signers_of(z, rrtype::A), std::set<std::uint16_t>{new_csk});
}

} // namespace
} // namespace moat::signer
