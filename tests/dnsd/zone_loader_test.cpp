// The loader on a real temporary store and a manual clock: what it signs, when it re-signs,
// and that a refresh is a new serial like any other change.
#include "core/live_files.hpp"
#include "dnsd/zone_loader.hpp"
#include "dnsd/zone_state_file.hpp"
#include "signed_zone.hpp"
#include "signer/key_rollover.hpp"
#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>
#include <filesystem>
#include <memory>
#include <set>
#include <string>

namespace moat::dnsd {
namespace {

constexpr UnixTime kT0 = 1'800'000'000;
constexpr UnixTime kDay = 86400;

class ZoneLoaderTest : public ::testing::Test {
protected:
  void SetUp() override {
    auto s = Store::open(dir_.file("moat.db"), Store::Mode::kCreate);
    ASSERT_TRUE(s) << s.error().message;
    Domain d;
    d.name = *Name::parse("example.test.");
    d.soa.mname = *Name::parse("ns1.example.test.");
    d.soa.rname = *Name::parse("hostmaster.example.test.");
    d.serial = 1;
    d.created = kT0;
    auto id = s->insert_domain(d);
    ASSERT_TRUE(id);
    domain_id_ = *id;
    std::vector<KeyRecord> keys;
    for (const char* role : {"ksk", "zsk"}) {
      auto k = signer::generate_key_record(signer::Algorithm::kEcdsaP256Sha256, role, keys, kT0);
      ASSERT_TRUE(k);
      k->domain_id = *id;
      k->state = "active";
      ASSERT_TRUE(s->insert_key(*k));
      keys.push_back(*k);
    }
    ASSERT_TRUE(s->insert_record(
        *id, Rr{*Name::parse("www.example.test."), rrtype::A, 3600, {192, 0, 2, 80}}));
    auto again = Store::open(dir_.file("moat.db"), Store::Mode::kOpenExisting);
    ASSERT_TRUE(again);
    cli_store_.emplace(std::move(*again));
    loader_ = std::make_unique<ZoneLoader>(std::move(*s), clock_, dir_.path().string());
  }

  std::vector<ZoneEvent> poll() {
    std::vector<ZoneEvent> events;
    auto snap = loader_->poll(events);
    EXPECT_TRUE(snap) << snap.error().message;
    if (snap && *snap)
      last_ = *snap;
    return events;
  }
  // A change the way the CLI makes one: `change` and the serial bump in one transaction.
  template <class F> void commit(F change) {
    ASSERT_TRUE(cli_store_->transaction([&]() -> Result<void> {
      if (auto r = change(); !r)
        return std::unexpected(r.error());
      auto serial = cli_store_->touch_domain(domain_id_, clock_->now());
      return serial ? Result<void>{} : std::unexpected(serial.error());
    }));
  }
  void add_record(const char* owner, std::uint8_t last_octet) {
    commit([&] {
      return cli_store_->insert_record(
          domain_id_, Rr{*Name::parse(owner), rrtype::A, 3600, {192, 0, 2, last_octet}});
    });
  }
  std::uint32_t stored_serial() { return (*cli_store_->find_domain_by_id(domain_id_))->serial; }

  testing_support::TempDir dir_{"moat-loader"};
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>(kT0);
  std::int64_t domain_id_ = 0;
  std::optional<Store> cli_store_;
  std::unique_ptr<ZoneLoader> loader_;
  std::shared_ptr<const Snapshot> last_;
};

TEST_F(ZoneLoaderTest, RefreshedSignaturesComeWithANewSerial) {
  auto first = poll();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].kind, ZoneEvent::Kind::kLoaded);
  const std::uint32_t loaded = first[0].serial;
  EXPECT_TRUE(poll().empty()) << "nothing changed, nothing due";

  // Signatures are valid 14 days, expire up to 1/8 early, and are refreshed when 7 are left.
  clock_->advance(5 * kDay);
  EXPECT_TRUE(poll().empty());
  clock_->advance(3 * kDay);
  auto refreshed = poll();
  ASSERT_EQ(refreshed.size(), 1u);
  EXPECT_EQ(refreshed[0].kind, ZoneEvent::Kind::kReloaded);
  EXPECT_GT(refreshed[0].signatures_made, 0u);
  EXPECT_NE(refreshed[0].serial, loaded) << "a re-signed zone is a new version";
  EXPECT_EQ(refreshed[0].serial, stored_serial()) << "the store knows the serial served";
  EXPECT_TRUE(poll().empty()) << "the bump it made itself is not a second change";
}

TEST_F(ZoneLoaderTest, StoreChangedSaysWhenAnotherConnectionCommitted) {
  EXPECT_TRUE(loader_->store_changed()) << "nothing polled yet";
  poll();
  EXPECT_FALSE(loader_->store_changed());
  EXPECT_FALSE(loader_->store_changed()) << "asking changes nothing";
  add_record("new.example.test.", 7);
  EXPECT_TRUE(loader_->store_changed());
  EXPECT_TRUE(loader_->store_changed()) << "until the next poll";
  auto events = poll();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, ZoneEvent::Kind::kReloaded);
  EXPECT_FALSE(loader_->store_changed());
  // The loader's own commits (a refresh's serial bump) are not a change from elsewhere.
  clock_->advance(8 * kDay);
  events = poll();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(loader_->store_changed());
}

TEST_F(ZoneLoaderTest, TheDumpIsTheSignedZoneAboutToBeServed) {
  auto events = poll();
  ASSERT_EQ(events.size(), 1u);
  auto text = read_file(dir_.file("example.test.zone"));
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_NE(text->find("serial " + std::to_string(events[0].serial)), std::string::npos);
  EXPECT_NE(text->find("RRSIG"), std::string::npos);
  EXPECT_NE(text->find("www.example.test."), std::string::npos);
}

TEST_F(ZoneLoaderTest, AServerDownPastExpiryReSignsEverythingBeforeServing) {
  (void)poll();
  // A new loader (a restart) a month later: nothing of the old signatures is reused.
  auto s = Store::open(dir_.file("moat.db"), Store::Mode::kOpenExisting);
  ASSERT_TRUE(s);
  clock_->advance(30 * kDay);
  ZoneLoader restarted(std::move(*s), clock_);
  std::vector<ZoneEvent> events;
  auto snap = restarted.poll(events);
  ASSERT_TRUE(snap && *snap);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].signatures_reused, 0u);
  const auto read32 = [](std::span<const std::uint8_t> b, std::size_t at) {
    return static_cast<UnixTime>(std::uint32_t{b[at]} << 24 | std::uint32_t{b[at + 1]} << 16 |
                                 std::uint32_t{b[at + 2]} << 8 | b[at + 3]);
  };
  std::size_t checked = 0;
  for (const ServedNode& node : (*snap)->zones.at(0)->nodes)
    for (const ServedRrset& set : node.rrsets)
      for (const auto& sig : set.rrsigs) {
        // RRSIG RDATA: expiration at offset 8, inception at 12 (RFC 4034 §3.1).
        EXPECT_GT(read32(sig, 8), clock_->now() + 7 * kDay) << "valid well beyond now";
        EXPECT_LE(read32(sig, 12), clock_->now()) << "already valid now";
        ++checked;
      }
  EXPECT_GT(checked, 3u);
}

TEST_F(ZoneLoaderTest, ZonesWithSecondariesJournalEachChangeAndCarryTheirRules) {
  poll();
  ASSERT_TRUE(last_);
  EXPECT_TRUE(last_->zones[0]->secondaries.empty());
  add_record("a.example.test.", 1);
  poll();
  EXPECT_TRUE(last_->zones[0]->journal.empty()) << "no secondary, no journal";

  ASSERT_TRUE(cli_store_->insert_tsig_key(
      {*Name::parse("xfr-key."), "hmac-sha256", std::vector<std::uint8_t>(32, 7), kT0}));
  ASSERT_TRUE(cli_store_->insert_secondary(
      {0, domain_id_, "192.0.2.7", 5300, *Name::parse("xfr-key."), kT0}));
  add_record("b.example.test.", 2);
  poll();
  const auto& zone = *last_->zones[0];
  ASSERT_EQ(zone.secondaries.size(), 1u);
  EXPECT_EQ(zone.secondaries[0].address, "192.0.2.7");
  EXPECT_EQ(zone.secondaries[0].port, 5300);
  EXPECT_NE(last_->keys->find(*Name::parse("XFR-key.")), nullptr);
  const std::uint32_t before = zone.serial;

  clock_->advance(10);
  add_record("c.example.test.", 3);
  poll();
  const auto& next = *last_->zones[0];
  ASSERT_EQ(next.journal.size(), 1u);
  EXPECT_EQ(next.journal[0]->from_serial(), before);
  EXPECT_EQ(next.journal[0]->to_serial(), next.serial);
  bool added = false;
  for (const ZoneRecord& r : next.journal[0]->added)
    added = added || (r.owner == *Name::parse("c.example.test.") && r.type == rrtype::A);
  EXPECT_TRUE(added);
}

// Every record of the zone but the bytes of signatures (new ones differ on every signing):
// owner, type, TTL and RDATA, and for RRSIGs what they cover and with which key.
std::multiset<std::string> records_but_signatures(const ServedZone& z) {
  std::multiset<std::string> out;
  z.for_each_record([&](const ZoneRecordView& r) {
    std::vector<std::uint8_t> rd(r.rdata.begin(), r.rdata.end());
    if (r.type == rrtype::RRSIG)
      rd.resize(std::min<std::size_t>(rd.size(), 4) ); // type covered, algorithm, labels
    out.insert(r.owner.to_string() + " " + std::to_string(r.type) + " " + std::to_string(r.ttl) +
               " " + std::string(rd.begin(), rd.end()));
  });
  return out;
}

TEST_F(ZoneLoaderTest, ARecordChangeIsPatchedIntoTheZoneAndEqualsAWholeLoad) {
  poll();
  add_record("mail.example.test.", 25);
  auto events = poll();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, ZoneEvent::Kind::kReloaded);
  EXPECT_TRUE(events[0].patched) << "only the changed name is read and signed";
  EXPECT_LE(events[0].signatures_made, 4u); // SOA, A, its NSEC and its predecessor's
  ASSERT_TRUE(loader_->acknowledge(events));
  // An ACME challenge received by UPDATE is a change of its name too.
  commit([&] {
    return cli_store_->put_acme_challenge(
        domain_id_, {*Name::parse("_acme-challenge.www.example.test."), 60, {2, 'o', 'k'}, kT0,
                     kT0 + kDay});
  });
  events = poll();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].patched);
  ASSERT_TRUE(loader_->acknowledge(events));
  auto log = cli_store_->zone_changes(0, 100);
  ASSERT_TRUE(log);
  EXPECT_TRUE(log->changes.empty()) << "the log read is deleted once served";

  // The same store loaded whole by a new loader: the same records.
  auto s = Store::open(dir_.file("moat.db"), Store::Mode::kOpenExisting);
  ASSERT_TRUE(s);
  ZoneLoader whole(std::move(*s), clock_);
  std::vector<ZoneEvent> whole_events;
  auto snap = whole.poll(whole_events);
  ASSERT_TRUE(snap && *snap);
  EXPECT_FALSE(whole_events.at(0).patched);
  EXPECT_EQ(records_but_signatures(*last_->zones.at(0)),
            records_but_signatures(*(*snap)->zones.at(0)));
  EXPECT_EQ(last_->zones.at(0)->serial, (*snap)->zones.at(0)->serial);
}

TEST_F(ZoneLoaderTest, KeysOrPolicyChangedMeanAWholeLoad) {
  poll();
  // A new ZSK published ahead of a rollover: the DNSKEY RRset changes, the zone is read whole.
  auto keys = cli_store_->keys(domain_id_);
  ASSERT_TRUE(keys);
  auto k = signer::generate_key_record(signer::Algorithm::kEcdsaP256Sha256, "zsk", *keys, kT0);
  ASSERT_TRUE(k);
  k->domain_id = domain_id_;
  k->state = "published";
  commit([&] { return cli_store_->insert_key(*k); });
  auto events = poll();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].patched);
  const ServedNode* apex = last_->zones.at(0)->node_at(*Name::parse("example.test."));
  ASSERT_NE(apex, nullptr);
  EXPECT_EQ(apex->find(rrtype::DNSKEY)->rdatas.size(), 3u);

  // NSEC3 switched on: whole again, and the chain is NSEC3.
  auto d = cli_store_->find_domain_by_id(domain_id_);
  ASSERT_TRUE(d && *d);
  (*d)->nsec3 = true;
  commit([&] { return cli_store_->update_domain(**d); });
  events = poll();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].patched);
  EXPECT_FALSE(last_->zones.at(0)->nsec3_nodes.empty());

  // And the next record change is patched into the NSEC3 chain.
  add_record("mail.example.test.", 25);
  events = poll();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].patched);
  EXPECT_NE(last_->zones.at(0)->node_at(*Name::parse("mail.example.test.")), nullptr);
}

TEST_F(ZoneLoaderTest, ARestartReusesTheSignaturesKeptByTheLastRun) {
  const std::string state = dir_.file("state");
  ASSERT_TRUE(make_directories(state));
  auto run = [&](std::vector<ZoneEvent>& events) {
    auto s = Store::open(dir_.file("moat.db"), Store::Mode::kOpenExisting);
    EXPECT_TRUE(s);
    auto loader = std::make_unique<ZoneLoader>(std::move(*s), clock_, "", state);
    auto snap = loader->poll(events);
    EXPECT_TRUE(snap && *snap);
    return loader;
  };
  std::vector<ZoneEvent> first;
  auto loader = run(first);
  ASSERT_EQ(first.size(), 1u);
  const std::size_t made = first[0].signatures_made;
  EXPECT_GT(made, 3u);
  EXPECT_EQ(first[0].signatures_reused, 0u);
  EXPECT_TRUE(loader->save_state().empty());
  loader.reset();

  clock_->advance(3600); // a restart an hour later: every signature still good
  std::vector<ZoneEvent> second;
  loader = run(second);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].signatures_made, 0u);
  EXPECT_EQ(second[0].signatures_reused, made);
  EXPECT_TRUE(second[0].warning.empty()) << second[0].warning;
  loader.reset();

  // A damaged file is said and left alone: everything is signed anew.
  auto kept = read_file(state + "/example.test.signed");
  ASSERT_TRUE(kept);
  std::string damaged = *kept;
  damaged[damaged.size() / 2] = static_cast<char>(damaged[damaged.size() / 2] ^ 1);
  ASSERT_TRUE(write_file_atomically(state + "/example.test.signed", damaged, 0640));
  std::vector<ZoneEvent> third;
  loader = run(third);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].signatures_made, made);
  EXPECT_NE(third[0].warning.find("checksum"), std::string::npos) << third[0].warning;
  EXPECT_TRUE(loader->save_state().empty());
  loader.reset();

  // A kept zone signed by other keys (the same name deleted and added again) is not used:
  // a signature is re-used by its key tag, and a tag can name another key.
  testing::ZoneBuilder other_keys;
  auto foreign = other_keys.build(
      {testing::rr("@", rrtype::SOA, "ns1 hostmaster 1 14400 3600 1209600 300"),
       testing::rr("www", rrtype::A, "192.0.2.80")});
  ASSERT_TRUE(save_zone_state(*foreign, state + "/example.test.signed"));
  std::vector<ZoneEvent> fourth;
  loader = run(fourth);
  ASSERT_EQ(fourth.size(), 1u);
  EXPECT_EQ(fourth[0].signatures_reused, 0u);
  EXPECT_NE(fourth[0].warning.find("other keys"), std::string::npos) << fourth[0].warning;
  EXPECT_TRUE(loader->save_state().empty());

  // A domain deleted takes its kept zone with it.
  ASSERT_TRUE(std::filesystem::exists(state + "/example.test.signed"));
  ASSERT_TRUE(cli_store_->delete_domain(domain_id_));
  std::vector<ZoneEvent> removed;
  ASSERT_TRUE(loader->poll(removed));
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0].kind, ZoneEvent::Kind::kRemoved);
  EXPECT_FALSE(std::filesystem::exists(state + "/example.test.signed"));
}

} // namespace
} // namespace moat::dnsd
