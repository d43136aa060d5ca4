#include "core/store.hpp"
#include "core/store_impl.hpp"
#include "tests/support/temp_dir.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <vector>

namespace moat {
namespace {

// Passes when `message` contains `what`; the failure shows both.
testing::AssertionResult mentions(const std::string& message, std::string_view what) {
  if (message.find(what) != std::string::npos)
    return testing::AssertionSuccess();
  return testing::AssertionFailure()
         << "message '" << message << "' does not mention '" << what << "'";
}

Name name(std::string_view text) {
  auto n = Name::parse(text);
  EXPECT_TRUE(n) << text << ": " << n.error().message;
  return n ? *n : Name();
}

Domain make_domain(std::string_view apex) {
  Domain d;
  d.name = name(apex);
  d.soa.mname = *d.name.prepend("ns1");
  d.soa.rname = *d.name.prepend("hostmaster");
  d.serial = 1;
  d.created = 1'700'000'000;
  return d;
}

Rr a_record(std::string_view owner, std::uint32_t ttl, std::uint8_t last_octet) {
  return Rr{name(owner), rrtype::A, ttl, {192, 0, 2, last_octet}};
}

KeyRecord make_key(std::int64_t domain_id, std::string role, std::uint16_t tag) {
  KeyRecord k;
  k.domain_id = domain_id;
  k.role = std::move(role);
  k.algorithm = 13;
  k.key_tag = tag;
  k.dnskey_rdata = {1, 1, 3, 13, 0xAA, 0xBB};
  k.private_pem = "-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n";
  k.state = "active";
  k.created = 1'700'000'000;
  return k;
}

// Each test gets a fresh directory under $TMPDIR, removed afterwards.
class StoreTest : public testing::Test {
protected:
  void SetUp() override { path_ = dir_.file("moat.db"); }

  // A newly created store; the test stops if it cannot be opened.
  Store create() {
    auto s = Store::open(path_, Store::Mode::kCreate);
    if (!s)
      throw std::runtime_error("cannot create store: " + s.error().message);
    return std::move(*s);
  }

  std::int64_t add_domain(Store& store, std::string_view apex) {
    auto id = store.insert_domain(make_domain(apex));
    if (!id)
      throw std::runtime_error("cannot insert domain: " + id.error().message);
    return *id;
  }

  testing_support::TempDir dir_{"moat-store-test"};
  std::string path_;
};

std::vector<Rr> sorted(std::vector<Rr> v) {
  std::ranges::sort(v, [](const Rr& a, const Rr& b) {
    if (a.owner != b.owner)
      return a.owner < b.owner;
    if (a.type != b.type)
      return a.type < b.type;
    return a.rdata < b.rdata;
  });
  return v;
}

// ---- opening ------------------------------------------------------------------------------

TEST_F(StoreTest, CreatesThenReopensWithDataKept) {
  std::int64_t id = 0;
  {
    Store store = create();
    id = add_domain(store, "example.test.");
  }
  auto reopened = Store::open(path_, Store::Mode::kOpenExisting);
  ASSERT_TRUE(reopened) << reopened.error().message;
  auto found = reopened->find_domain(name("example.test."));
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->id, id);
}

TEST_F(StoreTest, CreateOpensAnExistingDatabaseToo) {
  {
    Store store = create();
    add_domain(store, "example.test.");
  }
  auto again = Store::open(path_, Store::Mode::kCreate);
  ASSERT_TRUE(again) << again.error().message;
  auto list = again->list_domains();
  ASSERT_TRUE(list) << list.error().message;
  EXPECT_EQ(list->size(), 1u);
}

TEST_F(StoreTest, OpenExistingFailsClearlyOnMissingFile) {
  auto s = Store::open(path_, Store::Mode::kOpenExisting);
  ASSERT_FALSE(s);
  EXPECT_TRUE(mentions(s.error().message, path_));
  EXPECT_EQ(s.error().message.find('\n'), std::string::npos);
  // Failing to open must not leave an empty database behind.
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(StoreTest, CreatesDatabaseFileWithMode0600) {
  Store store = create();
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600) << std::oct << (st.st_mode & 0777);
}

TEST_F(StoreTest, HasAPositiveSchemaVersion) {
  Store store = create();
  auto v = store.schema_version();
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_GT(*v, 0);
}

TEST_F(StoreTest, ReopeningKeepsTheSchemaVersion) {
  int first = 0;
  {
    Store store = create();
    auto v = store.schema_version();
    ASSERT_TRUE(v) << v.error().message;
    first = *v;
  }
  auto s = Store::open(path_, Store::Mode::kOpenExisting);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->schema_version(), first);
}

// A database made by the first release (schema 1) is brought up to date on open, keeping its
// data: each later migration runs once, in order, and what it adds is usable.
TEST_F(StoreTest, MigratesASchemaOneDatabaseKeepingItsDomainsAndKeys) {
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &raw), SQLITE_OK);
    Db db(raw);
    ASSERT_EQ(sqlite3_exec(db.get(), kMigrations[0], nullptr, nullptr, nullptr), SQLITE_OK);
    const char* v1 =
        "INSERT INTO domains (name, soa_mname, soa_rname, soa_refresh, soa_retry, soa_expire, "
        "soa_minimum, soa_ttl, serial, algorithm, created) VALUES ('example.test.', "
        "'ns1.example.test.', 'hostmaster.example.test.', 14400, 3600, 1209600, 300, 3600, 7, "
        "13, 1700000000);"
        "INSERT INTO keys (domain_id, role, algorithm, key_tag, dnskey_rdata, private_pem, "
        "state, created) VALUES (1, 'ksk', 13, 4242, x'0101030d', 'PEM', 'active', 1700000000);"
        "PRAGMA user_version = 1;";
    ASSERT_EQ(sqlite3_exec(db.get(), v1, nullptr, nullptr, nullptr), SQLITE_OK);
  }
  auto s = Store::open(path_, Store::Mode::kOpenExisting);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->schema_version(), kSchemaVersion);
  auto d = s->find_domain(name("example.test."));
  ASSERT_TRUE(d && *d);
  EXPECT_EQ((*d)->serial, 7u);
  EXPECT_FALSE((*d)->tlsa_issuer); // migration 5's default
  auto keys = s->keys((*d)->id);
  ASSERT_TRUE(keys);
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].published_at, 1'700'000'000); // migration 6 dates the active key
  EXPECT_EQ((*keys)[0].active_at, 1'700'000'000);
  EXPECT_FALSE((*keys)[0].retired_at);
  // Migration 7: the KSK in use is taken as delegated to; rollover defaults.
  EXPECT_EQ((*keys)[0].ds_state, "seen");
  EXPECT_FALSE((*keys)[0].state_serial);
  EXPECT_EQ((*d)->zsk_lifetime, 90u * 86400);
  EXPECT_EQ((*d)->ksk_lifetime, 0u);
  EXPECT_EQ((*d)->parent_ds_ttl, 86400u);
  auto policy = s->sts_policy((*d)->id); // migration 3's table exists and is empty
  ASSERT_TRUE(policy);
  EXPECT_FALSE(*policy);
  EXPECT_TRUE(s->mx_hosts((*d)->id)); // migration 2
}

TEST_F(StoreTest, KeyStateAndDatesAreWrittenAndReadBack) {
  Store store = create();
  const auto id = add_domain(store, "example.test.");
  KeyRecord k = make_key(id, "zsk", 7);
  k.state = "published";
  k.published_at = 1'700'000'100;
  auto key_id = store.insert_key(k);
  ASSERT_TRUE(key_id);
  k.id = *key_id;
  k.state = "active";
  k.active_at = 1'700'000'200;
  k.state_serial = 4'000'000'000u; // above INT32_MAX: stored as a full unsigned serial
  k.ds_state = "submit";
  ASSERT_TRUE(store.update_key_state(k));
  auto keys = store.keys(id);
  ASSERT_TRUE(keys && keys->size() == 1u);
  EXPECT_EQ((*keys)[0].state, "active");
  EXPECT_EQ((*keys)[0].published_at, 1'700'000'100);
  EXPECT_EQ((*keys)[0].active_at, 1'700'000'200);
  EXPECT_FALSE((*keys)[0].removed_at);
  EXPECT_EQ((*keys)[0].state_serial, 4'000'000'000u);
  EXPECT_EQ((*keys)[0].ds_state, "submit");
  EXPECT_FALSE((*keys)[0].ds_seen_at);
  k.id = 999;
  EXPECT_FALSE(store.update_key_state(k));
}

TEST_F(StoreTest, EnforcesForeignKeys) {
  // With PRAGMA foreign_keys on, a record of a domain that does not exist is refused.
  Store store = create();
  EXPECT_FALSE(store.insert_record(4242, a_record("www.example.test.", 300, 1)));
  EXPECT_FALSE(store.insert_key(make_key(4242, "ksk", 1)));
}

TEST_F(StoreTest, UsesWriteAheadLog) {
  Store store = create();
  add_domain(store, "example.test.");
  EXPECT_TRUE(std::filesystem::exists(path_ + "-wal"));
}

TEST_F(StoreTest, RefusesFileThatIsNotADatabase) {
  {
    std::ofstream garbage(path_);
    garbage << std::string(4096, 'x');
  }
  auto s = Store::open(path_, Store::Mode::kOpenExisting);
  ASSERT_FALSE(s);
  EXPECT_TRUE(mentions(s.error().message, path_));
  EXPECT_EQ(s.error().message.find('\n'), std::string::npos);
}

TEST_F(StoreTest, RefusesDatabaseWithNewerSchema) {
  {
    Store store = create();
    ASSERT_TRUE(store.exec("PRAGMA user_version=9999"));
  }
  auto s = Store::open(path_, Store::Mode::kOpenExisting);
  ASSERT_FALSE(s);
  EXPECT_TRUE(mentions(s.error().message, "9999"));
}

// ---- domains ------------------------------------------------------------------------------

TEST_F(StoreTest, InsertsAndFindsDomain) {
  Store store = create();
  Domain d = make_domain("example.test.");
  d.soa.refresh = 7200;
  d.soa.retry = 900;
  d.soa.expire = 604800;
  d.soa.minimum = 60;
  d.soa.ttl = 1800;
  d.serial = 2024010101;
  d.algorithm = 15;
  d.nsec3 = true;
  d.dnskey_ttl = 7200;
  auto id = store.insert_domain(d);
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_GT(*id, 0);

  auto found = store.find_domain(name("example.test."));
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_TRUE(found->has_value());
  const Domain& f = **found;
  EXPECT_EQ(f.id, *id);
  EXPECT_EQ(f.name, d.name);
  EXPECT_EQ(f.soa.mname, name("ns1.example.test."));
  EXPECT_EQ(f.soa.rname, name("hostmaster.example.test."));
  EXPECT_EQ(f.soa.refresh, 7200u);
  EXPECT_EQ(f.soa.retry, 900u);
  EXPECT_EQ(f.soa.expire, 604800u);
  EXPECT_EQ(f.soa.minimum, 60u);
  EXPECT_EQ(f.soa.ttl, 1800u);
  EXPECT_EQ(f.serial, 2024010101u);
  EXPECT_EQ(f.algorithm, 15);
  EXPECT_TRUE(f.nsec3);
  EXPECT_EQ(f.dnskey_ttl, 7200u);
  EXPECT_EQ(f.created, d.created);
}

TEST_F(StoreTest, FindsNothingForUnknownDomain) {
  Store store = create();
  add_domain(store, "example.test.");
  auto found = store.find_domain(name("other.test."));
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_FALSE(found->has_value());
}

TEST_F(StoreTest, ListsDomains) {
  Store store = create();
  auto a = add_domain(store, "example.test.");
  auto b = add_domain(store, "other.test.");
  auto list = store.list_domains();
  ASSERT_TRUE(list) << list.error().message;
  ASSERT_EQ(list->size(), 2u);
  std::vector<std::int64_t> ids;
  for (const auto& d : *list)
    ids.push_back(d.id);
  std::ranges::sort(ids);
  EXPECT_EQ(ids, (std::vector<std::int64_t>{std::min(a, b), std::max(a, b)}));

  auto versions = store.domain_versions();
  ASSERT_TRUE(versions) << versions.error().message;
  EXPECT_EQ(versions->size(), 2u);
}

TEST_F(StoreTest, RefusesDuplicateDomainName) {
  Store store = create();
  add_domain(store, "example.test.");
  auto again = store.insert_domain(make_domain("example.test."));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().message.find('\n'), std::string::npos);
  auto list = store.list_domains();
  ASSERT_TRUE(list) << list.error().message;
  EXPECT_EQ(list->size(), 1u);
}

TEST_F(StoreTest, UpdatesDomain) {
  Store store = create();
  auto id = add_domain(store, "example.test.");
  auto found = store.find_domain(name("example.test."));
  ASSERT_TRUE(found && found->has_value());
  Domain d = **found;
  d.soa.refresh = 1234;
  d.soa.mname = name("ns2.example.test.");
  d.algorithm = 8;
  d.nsec3 = true;
  d.dnskey_ttl = 60;
  auto updated = store.update_domain(d);
  ASSERT_TRUE(updated) << updated.error().message;

  auto after = store.find_domain(name("example.test."));
  ASSERT_TRUE(after && after->has_value());
  EXPECT_EQ((*after)->id, id);
  EXPECT_EQ((*after)->soa.refresh, 1234u);
  EXPECT_EQ((*after)->soa.mname, name("ns2.example.test."));
  EXPECT_EQ((*after)->algorithm, 8);
  EXPECT_TRUE((*after)->nsec3);
  EXPECT_EQ((*after)->dnskey_ttl, 60u);
}

TEST_F(StoreTest, RefusesToUpdateOrDeleteUnknownDomain) {
  Store store = create();
  Domain ghost = make_domain("example.test.");
  ghost.id = 4242;
  EXPECT_FALSE(store.update_domain(ghost));
  EXPECT_FALSE(store.delete_domain(4242));
  EXPECT_FALSE(store.touch_domain(4242, 1'700'000'000));
}

TEST_F(StoreTest, DeletesDomainWithItsRecordsAndKeys) {
  Store store = create();
  auto id = add_domain(store, "example.test.");
  auto keep = add_domain(store, "other.test.");
  ASSERT_TRUE(store.insert_record(id, a_record("www.example.test.", 300, 1)));
  ASSERT_TRUE(store.insert_record(keep, a_record("www.other.test.", 300, 2)));
  ASSERT_TRUE(store.insert_key(make_key(id, "ksk", 11)));
  ASSERT_TRUE(store.insert_key(make_key(keep, "ksk", 22)));

  auto del = store.delete_domain(id);
  ASSERT_TRUE(del) << del.error().message;

  auto gone = store.find_domain(name("example.test."));
  ASSERT_TRUE(gone) << gone.error().message;
  EXPECT_FALSE(gone->has_value());
  auto recs = store.records(id);
  ASSERT_TRUE(recs) << recs.error().message;
  EXPECT_TRUE(recs->empty());
  auto keys = store.keys(id);
  ASSERT_TRUE(keys) << keys.error().message;
  EXPECT_TRUE(keys->empty());

  // The other domain is untouched.
  auto other = store.records(keep);
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_EQ(other->size(), 1u);
  auto other_keys = store.keys(keep);
  ASSERT_TRUE(other_keys) << other_keys.error().message;
  EXPECT_EQ(other_keys->size(), 1u);

  // A domain created afterwards (SQLite may reuse the id) starts empty.
  auto fresh = add_domain(store, "example.test.");
  auto fresh_recs = store.records(fresh);
  ASSERT_TRUE(fresh_recs) << fresh_recs.error().message;
  EXPECT_TRUE(fresh_recs->empty());
}

TEST_F(StoreTest, RecordsAtReadsOneNameOfOneDomainInAnyCase) {
  Store store = create();
  auto id = add_domain(store, "example.test.");
  auto other = add_domain(store, "other.test.");
  ASSERT_TRUE(store.insert_record(id, a_record("www.example.test.", 300, 1)));
  ASSERT_TRUE(store.insert_record(id, a_record("www.example.test.", 300, 2)));
  ASSERT_TRUE(store.insert_record(id, a_record("mail.example.test.", 300, 3)));
  ASSERT_TRUE(store.insert_record(other, a_record("www.other.test.", 300, 4)));
  auto at = store.records_at(id, name("WWW.Example.TEST."));
  ASSERT_TRUE(at) << at.error().message;
  ASSERT_EQ(at->size(), 2u);
  for (const Rr& r : *at)
    EXPECT_EQ(r.owner, name("www.example.test."));
  auto none = store.records_at(other, name("www.example.test."));
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_TRUE(none->empty());
}

TEST_F(StoreTest, TheChangeLogNamesEveryChangedNameInOrderAndSurvivesBeingForgotten) {
  Store store = create();
  auto id = add_domain(store, "example.test.");
  auto start = store.last_zone_change();
  ASSERT_TRUE(start) << start.error().message;
  ASSERT_TRUE(store.insert_record(id, a_record("www.example.test.", 300, 1)));
  ASSERT_TRUE(store.insert_record(id, a_record("www.example.test.", 600, 2))); // TTL: an update
  ASSERT_TRUE(store.delete_records(id, name("mail.example.test."), rrtype::A, nullptr));
  ASSERT_TRUE(store.insert_record(id, a_record("mail.example.test.", 300, 3)));
  ASSERT_TRUE(store.put_acme_challenge(
      id, AcmeChallenge{name("_acme-challenge.example.test."), 60, {3, 'a', 'b', 'c'}, 1, 2}));
  auto log = store.zone_changes(*start, 100);
  ASSERT_TRUE(log) << log.error().message;
  EXPECT_FALSE(log->missed);
  std::set<std::string> names;
  std::int64_t last = *start;
  for (const auto& c : log->changes) {
    EXPECT_EQ(c.domain_id, id);
    EXPECT_GT(c.id, last) << "in commit order";
    last = c.id;
    names.insert(c.owner.to_string());
  }
  EXPECT_EQ(names, (std::set<std::string>{"www.example.test.", "mail.example.test.",
                                          "_acme-challenge.example.test."}));
  auto limited = store.zone_changes(*start, 2);
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->changes.size(), 2u);

  // Forgotten up to the end: the log is empty, yet its ids go on from where they were, and a
  // reader still behind knows it missed changes.
  ASSERT_TRUE(store.forget_zone_changes(last));
  auto end = store.last_zone_change();
  ASSERT_TRUE(end);
  EXPECT_EQ(*end, last);
  ASSERT_TRUE(store.insert_record(id, a_record("new.example.test.", 300, 4)));
  auto after = store.zone_changes(last, 100);
  ASSERT_TRUE(after);
  EXPECT_FALSE(after->missed);
  ASSERT_EQ(after->changes.size(), 1u);
  EXPECT_GT(after->changes[0].id, last);
  auto behind = store.zone_changes(*start, 100);
  ASSERT_TRUE(behind);
  EXPECT_TRUE(behind->missed);
}

TEST_F(StoreTest, TouchDomainBumpsVersionAndSerialToNow) {
  Store store = create();
  auto id = add_domain(store, "example.test."); // serial 1
  auto before = store.find_domain(name("example.test."));
  ASSERT_TRUE(before && before->has_value());
  const std::int64_t v0 = (*before)->version;

  const UnixTime now = 1'700'000'000;
  ASSERT_TRUE(store.touch_domain(id, now));
  auto after = store.find_domain(name("example.test."));
  ASSERT_TRUE(after && after->has_value());
  EXPECT_EQ((*after)->serial, static_cast<std::uint32_t>(now)); // max(1 + 1, now)
  EXPECT_EQ((*after)->version, v0 + 1);

  // Same second again: the serial must still move forward, and touch says which it is.
  auto touched = store.touch_domain(id, now);
  ASSERT_TRUE(touched);
  EXPECT_EQ(*touched, static_cast<std::uint32_t>(now) + 1);
  auto again = store.find_domain(name("example.test."));
  ASSERT_TRUE(again && again->has_value());
  EXPECT_EQ((*again)->serial, static_cast<std::uint32_t>(now) + 1); // max(now + 1, now)
  EXPECT_EQ((*again)->version, v0 + 2);

  auto versions = store.domain_versions();
  ASSERT_TRUE(versions) << versions.error().message;
  ASSERT_EQ(versions->size(), 1u);
  EXPECT_EQ((*versions)[0].id, id);
  EXPECT_EQ((*versions)[0].version, v0 + 2);
}

TEST_F(StoreTest, TouchDomainKeepsSerialAheadOfAnOlderClock) {
  Store store = create();
  Domain d = make_domain("example.test.");
  d.serial = 2'000'000'000;
  auto id = store.insert_domain(d);
  ASSERT_TRUE(id) << id.error().message;
  ASSERT_TRUE(store.touch_domain(*id, 1'700'000'000));
  auto after = store.find_domain(name("example.test."));
  ASSERT_TRUE(after && after->has_value());
  EXPECT_EQ((*after)->serial, 2'000'000'001u);
}

// ---- records ------------------------------------------------------------------------------

TEST_F(StoreTest, InsertsAndListsRecords) {
  Store store = create();
  auto id = add_domain(store, "example.test.");
  Rr a = a_record("www.example.test.", 300, 1);
  Rr mx{name("example.test."), rrtype::MX, 3600,
        *parse_rdata(rrtype::MX, "10 mail.example.test.", name("example.test."))};
  auto r1 = store.insert_record(id, a);
  ASSERT_TRUE(r1) << r1.error().message;
  EXPECT_TRUE(*r1);
  auto r2 = store.insert_record(id, mx);
  ASSERT_TRUE(r2) << r2.error().message;
  EXPECT_TRUE(*r2);
  auto recs = store.records(id);
  ASSERT_TRUE(recs) << recs.error().message;
  EXPECT_EQ(sorted(*recs), sorted({a, mx}));
}

TEST_F(StoreTest, InsertRecordReturnsFalseForIdenticalDuplicate) {
  Store store = create();
  auto id = add_domain(store, "example.test.");
  Rr a = a_record("www.example.test.", 300, 1);
  ASSERT_TRUE(store.insert_record(id, a));
  auto dup = store.insert_record(id, a);
  ASSERT_TRUE(dup) << dup.error().message;
  EXPECT_FALSE(*dup);
  auto recs = store.records(id);
  ASSERT_TRUE(recs) << recs.error().message;
  EXPECT_EQ(recs->size(), 1u);
}

TEST_F(StoreTest, NewTtlInAnRrsetAppliesToTheWholeRrset) {
  Store store = create();
  auto id = add_domain(store, "example.test.");
  ASSERT_TRUE(store.insert_record(id, a_record("www.example.test.", 300, 1)));
  ASSERT_TRUE(store.insert_record(id, a_record("www.example.test.", 300, 2)));
  ASSERT_TRUE(store.insert_record(id, a_record("other.example.test.", 300, 9)));
  auto r = store.insert_record(id, a_record("www.example.test.", 600, 3));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(*r);

  auto recs = store.records(id);
  ASSERT_TRUE(recs) << recs.error().message;
  ASSERT_EQ(recs->size(), 4u);
  for (const auto& rr : *recs) {
    if (rr.owner == name("www.example.test."))
      EXPECT_EQ(rr.ttl, 600u) << rr_to_string(rr);
    else
      EXPECT_EQ(rr.ttl, 300u) << rr_to_string(rr); // another RRset keeps its TTL
  }
}

TEST_F(StoreTest, SameRecordWithNewTtlUpdatesTheTtl) {
  Store store = create();
  auto id = add_domain(store, "example.test.");
  ASSERT_TRUE(store.insert_record(id, a_record("www.example.test.", 300, 1)));
  auto r = store.insert_record(id, a_record("www.example.test.", 600, 1));
  ASSERT_TRUE(r) << r.error().message;
  auto recs = store.records(id);
  ASSERT_TRUE(recs) << recs.error().message;
  ASSERT_EQ(recs->size(), 1u);
  EXPECT_EQ((*recs)[0].ttl, 600u);
}

TEST_F(StoreTest, DeletesOneRecordByRdata) {
  Store store = create();
  auto id = add_domain(store, "example.test.");
  Rr one = a_record("www.example.test.", 300, 1);
  Rr two = a_record("www.example.test.", 300, 2);
  ASSERT_TRUE(store.insert_record(id, one));
  ASSERT_TRUE(store.insert_record(id, two));
  auto n = store.delete_records(id, one.owner, rrtype::A, &one.rdata);
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 1);
  auto recs = store.records(id);
  ASSERT_TRUE(recs) << recs.error().message;
  EXPECT_EQ(*recs, std::vector<Rr>{two});
}

TEST_F(StoreTest, DeletesWholeRrsetWithoutRdata) {
  Store store = create();
  auto id = add_domain(store, "example.test.");
  ASSERT_TRUE(store.insert_record(id, a_record("www.example.test.", 300, 1)));
  ASSERT_TRUE(store.insert_record(id, a_record("www.example.test.", 300, 2)));
  Rr txt{name("www.example.test."), rrtype::TXT, 300, {2, 'h', 'i'}};
  ASSERT_TRUE(store.insert_record(id, txt));
  auto n = store.delete_records(id, name("WWW.example.test."), rrtype::A, nullptr);
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 2);
  auto recs = store.records(id);
  ASSERT_TRUE(recs) << recs.error().message;
  EXPECT_EQ(*recs, std::vector<Rr>{txt});

  auto none = store.delete_records(id, name("nothing.example.test."), rrtype::A, nullptr);
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_EQ(*none, 0);
}

TEST_F(StoreTest, DeletesAllRecordsOfOneDomain) {
  Store store = create();
  auto id = add_domain(store, "example.test.");
  auto other = add_domain(store, "other.test.");
  ASSERT_TRUE(store.insert_record(id, a_record("www.example.test.", 300, 1)));
  ASSERT_TRUE(store.insert_record(id, a_record("mail.example.test.", 300, 2)));
  ASSERT_TRUE(store.insert_record(other, a_record("www.other.test.", 300, 3)));
  ASSERT_TRUE(store.delete_all_records(id));
  auto recs = store.records(id);
  ASSERT_TRUE(recs) << recs.error().message;
  EXPECT_TRUE(recs->empty());
  auto kept = store.records(other);
  ASSERT_TRUE(kept) << kept.error().message;
  EXPECT_EQ(kept->size(), 1u);
}

// ---- transactions -------------------------------------------------------------------------

TEST_F(StoreTest, FailedTransactionLeavesNothingWritten) {
  Store store = create();
  auto id = add_domain(store, "example.test.");
  bool inserted = false;
  auto r = store.transaction([&]() -> Result<void> {
    auto ins = store.insert_record(id, a_record("www.example.test.", 300, 1));
    if (!ins)
      return std::unexpected(ins.error());
    inserted = *ins;
    if (auto t = store.touch_domain(id, 1'700'000'000); !t)
      return std::unexpected(t.error());
    return fail("abandoned on purpose");
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "abandoned on purpose");
  EXPECT_TRUE(inserted);

  auto recs = store.records(id);
  ASSERT_TRUE(recs) << recs.error().message;
  EXPECT_TRUE(recs->empty());
  auto d = store.find_domain(name("example.test."));
  ASSERT_TRUE(d && d->has_value());
  EXPECT_EQ((*d)->serial, 1u);

  // The store is usable afterwards: no transaction was left open.
  auto next = store.transaction([&]() -> Result<void> {
    auto ins = store.insert_record(id, a_record("www.example.test.", 300, 2));
    if (!ins)
      return std::unexpected(ins.error());
    return {};
  });
  ASSERT_TRUE(next) << next.error().message;
}

TEST_F(StoreTest, SuccessfulTransactionCommits) {
  Store store = create();
  auto id = add_domain(store, "example.test.");
  auto r = store.transaction([&]() -> Result<void> {
    for (std::uint8_t i = 1; i <= 3; ++i) {
      auto ins = store.insert_record(id, a_record("www.example.test.", 300, i));
      if (!ins)
        return std::unexpected(ins.error());
    }
    return {};
  });
  ASSERT_TRUE(r) << r.error().message;

  // Visible through a second connection: it really was committed.
  auto other = Store::open(path_, Store::Mode::kOpenExisting);
  ASSERT_TRUE(other) << other.error().message;
  auto recs = other->records(id);
  ASSERT_TRUE(recs) << recs.error().message;
  EXPECT_EQ(recs->size(), 3u);
}

// ---- keys and audit -----------------------------------------------------------------------

TEST_F(StoreTest, InsertsAndListsKeys) {
  Store store = create();
  auto id = add_domain(store, "example.test.");
  KeyRecord ksk = make_key(id, "ksk", 12345);
  KeyRecord zsk = make_key(id, "zsk", 54321);
  zsk.algorithm = 15;
  zsk.dnskey_rdata = {1, 0, 3, 15, 1, 2, 3};
  auto k1 = store.insert_key(ksk);
  ASSERT_TRUE(k1) << k1.error().message;
  auto k2 = store.insert_key(zsk);
  ASSERT_TRUE(k2) << k2.error().message;
  EXPECT_NE(*k1, *k2);

  auto keys = store.keys(id);
  ASSERT_TRUE(keys) << keys.error().message;
  ASSERT_EQ(keys->size(), 2u);
  auto by_tag = [&](std::uint16_t tag) {
    return std::ranges::find_if(*keys, [&](const KeyRecord& k) { return k.key_tag == tag; });
  };
  auto got_ksk = by_tag(12345);
  auto got_zsk = by_tag(54321);
  ASSERT_NE(got_ksk, keys->end());
  ASSERT_NE(got_zsk, keys->end());
  EXPECT_EQ(got_ksk->id, *k1);
  EXPECT_EQ(got_ksk->domain_id, id);
  EXPECT_EQ(got_ksk->role, "ksk");
  EXPECT_EQ(got_ksk->algorithm, 13);
  EXPECT_EQ(got_ksk->dnskey_rdata, ksk.dnskey_rdata);
  EXPECT_EQ(got_ksk->private_pem, ksk.private_pem);
  EXPECT_EQ(got_ksk->state, "active");
  EXPECT_EQ(got_ksk->created, ksk.created);
  EXPECT_EQ(got_zsk->id, *k2);
  EXPECT_EQ(got_zsk->role, "zsk");
  EXPECT_EQ(got_zsk->algorithm, 15);
  EXPECT_EQ(got_zsk->dnskey_rdata, zsk.dnskey_rdata);
}

TEST_F(StoreTest, AppendsAndListsAuditEntriesInOrder) {
  Store store = create();
  ASSERT_TRUE(store.audit(1000, "admin", "domain add", "example.test."));
  ASSERT_TRUE(store.audit(1001, "tick", "key roll", "zsk 54321 -> retired"));
  auto log = store.audit_log();
  ASSERT_TRUE(log) << log.error().message;
  ASSERT_EQ(log->size(), 2u);
  EXPECT_EQ((*log)[0].at, 1000);
  EXPECT_EQ((*log)[0].actor, "admin");
  EXPECT_EQ((*log)[0].action, "domain add");
  EXPECT_EQ((*log)[0].detail, "example.test.");
  EXPECT_EQ((*log)[1].at, 1001);
  EXPECT_EQ((*log)[1].actor, "tick");
  EXPECT_EQ((*log)[1].action, "key roll");
  EXPECT_EQ((*log)[1].detail, "zsk 54321 -> retired");
}

TEST_F(StoreTest, KeepsAuditLogAppendOnly) {
  Store store = create();
  ASSERT_TRUE(store.audit(1000, "admin", "domain add", "example.test."));
  EXPECT_FALSE(store.exec("DELETE FROM audit"));
  EXPECT_FALSE(store.exec("UPDATE audit SET actor = 'someone else'"));
  auto log = store.audit_log();
  ASSERT_TRUE(log) << log.error().message;
  ASSERT_EQ(log->size(), 1u);
  EXPECT_EQ((*log)[0].actor, "admin");
}

TEST_F(StoreTest, KeepsAuditLogAcrossReopen) {
  {
    Store store = create();
    ASSERT_TRUE(store.audit(1000, "admin", "domain add", "example.test."));
  }
  auto s = Store::open(path_, Store::Mode::kOpenExisting);
  ASSERT_TRUE(s) << s.error().message;
  auto log = s->audit_log();
  ASSERT_TRUE(log) << log.error().message;
  EXPECT_EQ(log->size(), 1u);
}

TEST_F(StoreTest, OldPublicationReportsAreForgottenButOldSerialsStillCountAsServed) {
  Store store = create();
  const auto id = add_domain(store, "example.test.");
  const UnixTime t0 = 1'700'000'000;
  // A serial served every day for 200 days.
  for (std::uint32_t day = 0; day < 200; ++day)
    ASSERT_TRUE(store.record_publication(id, 1000 + day, t0 + day * 86400));
  // Serial 1000 was served on day 0; its report is gone, so the first report at or after it
  // that is left answers: a later time, which only makes a wait longer, never shorter.
  auto since = store.published_since(id, 1000);
  ASSERT_TRUE(since && *since);
  EXPECT_GT(**since, t0);
  EXPECT_GE(**since, t0 + 199 * 86400 - Store::kPublicationHistory);
  // Recent ones are exact.
  auto recent = store.published_since(id, 1190);
  ASSERT_TRUE(recent && *recent);
  EXPECT_EQ(**recent, t0 + 190 * 86400);
  auto latest = store.latest_publication(id);
  ASSERT_TRUE(latest && *latest);
  EXPECT_EQ((*latest)->serial, 1199u);
  // A serial never served is still not served.
  auto never = store.published_since(id, 5000);
  ASSERT_TRUE(never);
  EXPECT_FALSE(*never);
}

TEST_F(StoreTest, TheLongestTtlServedLatelyIsRemembered) {
  Store store = create();
  const auto id = add_domain(store, "example.test.");
  const UnixTime t0 = 1'700'000'000;
  EXPECT_EQ(store.max_published_ttl(id), 0u) << "nothing served yet";
  ASSERT_TRUE(store.record_publication(id, 1, t0, 604800));
  ASSERT_TRUE(store.record_publication(id, 2, t0 + 60, 3600));
  EXPECT_EQ(store.max_published_ttl(id), 604800u) << "a lowered TTL does not lower it";
  // Once the old report is forgotten, so is its TTL.
  ASSERT_TRUE(store.record_publication(id, 3, t0 + Store::kPublicationHistory + 120, 3600));
  EXPECT_EQ(store.max_published_ttl(id), 3600u);
}

} // namespace
} // namespace moat
