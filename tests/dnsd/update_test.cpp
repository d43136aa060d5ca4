// UPDATE (RFC 2136) narrowed to ACME challenges: what is admitted, what is refused and with
// which RCODE, built with ldns's own UPDATE packets.
#include "dnsd/transfer.hpp"
#include "dnsd/update.hpp"
#include "signed_zone.hpp"

#include <ctime>
#include <gtest/gtest.h>
#include <ldns/ldns.h>
#include <sstream>
#include <stdbool.h>

namespace moat::dnsd {
namespace {

using testing::rr;
constexpr const char* kSecret = "c2VjcmV0IHNoYXJlZCB3aXRoIHRoZSBhY21lIGNsaWVudA==";

// An UPDATE of example.test. with `updates` (master-file lines; class IN adds, ANY/NONE
// deletes) and optional prerequisites, signed when `key` is given.
std::vector<std::uint8_t> update(const std::vector<std::string>& updates,
                                 const std::vector<std::string>& prerequisites = {},
                                 const char* key = nullptr, const char* zone = "example.test.") {
  auto list = [](const std::vector<std::string>& lines) {
    ldns_rr_list* l = ldns_rr_list_new();
    for (const auto& line : lines) {
      ldns_rr* r = nullptr;
      std::istringstream words(line);
      std::string owner, ttl, klass, type, rest;
      words >> owner >> ttl >> klass >> type;
      if (klass == "ANY" && !(words >> rest)) {
        // A delete without RDATA (RFC 2136 §2.5.2), which ldns's text parser cannot read.
        r = ldns_rr_new();
        ldns_rr_set_owner(r, ldns_dname_new_frm_str(owner.c_str()));
        ldns_rr_set_type(r, ldns_get_rr_type_by_name(type.c_str()));
        ldns_rr_set_class(r, LDNS_RR_CLASS_ANY);
        ldns_rr_set_ttl(r, 0);
      } else {
        EXPECT_EQ(ldns_rr_new_frm_str(&r, line.c_str(), 0, nullptr, nullptr), LDNS_STATUS_OK)
            << line;
      }
      ldns_rr_list_push_rr(l, r);
    }
    return l;
  };
  ldns_rdf* zone_rdf = ldns_dname_new_frm_str(zone);
  // ldns copies the records out of the lists it is given: they are ours to free.
  ldns_rr_list* pr = list(prerequisites);
  ldns_rr_list* up = list(updates);
  ldns_pkt* p = ldns_update_pkt_new(zone_rdf, LDNS_RR_CLASS_IN, pr, up, nullptr);
  ldns_rr_list_deep_free(pr);
  ldns_rr_list_deep_free(up);
  ldns_pkt_set_id(p, 99);
  if (key != nullptr) {
    EXPECT_EQ(ldns_pkt_tsig_sign(p, key, kSecret, 300, "hmac-sha256.", nullptr), LDNS_STATUS_OK);
  }
  uint8_t* wire = nullptr;
  size_t len = 0;
  EXPECT_EQ(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
  std::vector<std::uint8_t> out(wire, wire + len);
  free(wire);
  ldns_pkt_free(p);
  return out;
}

UpdatePlan read(const std::vector<std::uint8_t>& wire) {
  Parsed p = parse_query(wire);
  EXPECT_EQ(p.verdict, Verdict::kAnswer);
  EXPECT_EQ(p.query.opcode, kOpcodeUpdate);
  return read_acme_update(wire, p.query, *Name::parse("example.test."));
}

TEST(AcmeUpdate, AddsAndDeletesTxtAtChallengeNames) {
  UpdatePlan plan = read(update({"_acme-challenge.mail.example.test. 86400 IN TXT \"token\"",
                                 "_ACME-Challenge.example.test. 0 ANY TXT",
                                 "_acme-challenge.www.example.test. 0 NONE TXT \"old\""}));
  ASSERT_EQ(plan.rcode, rcode::kNoError) << plan.why;
  ASSERT_EQ(plan.changes.size(), 3u);
  EXPECT_EQ(plan.changes[0].kind, ChallengeChange::Kind::kAdd);
  EXPECT_EQ(plan.changes[0].owner.to_string(), "_acme-challenge.mail.example.test.");
  EXPECT_EQ(plan.changes[0].ttl, kMaxChallengeTtl) << "a day's TTL is cut to an hour";
  EXPECT_EQ(plan.changes[0].rdata, (std::vector<std::uint8_t>{5, 't', 'o', 'k', 'e', 'n'}));
  EXPECT_EQ(plan.changes[1].kind, ChallengeChange::Kind::kDeleteAll);
  EXPECT_EQ(plan.changes[1].owner.to_string(), "_acme-challenge.example.test.");
  EXPECT_EQ(plan.changes[2].kind, ChallengeChange::Kind::kDeleteOne);
}

TEST(AcmeUpdate, EverythingElseIsRefused) {
  EXPECT_EQ(read(update({"mail.example.test. 60 IN A 192.0.2.1"})).rcode, rcode::kRefused);
  EXPECT_EQ(read(update({"www.example.test. 60 IN TXT \"x\""})).rcode, rcode::kRefused);
  EXPECT_EQ(read(update({"_acme-challenge.example.test. 60 IN A 192.0.2.1"})).rcode,
            rcode::kRefused);
  EXPECT_EQ(read(update({"mail.example.test. 0 ANY ANY"})).rcode, rcode::kRefused);
  EXPECT_EQ(read(update({"example.test. 0 ANY MX"})).rcode, rcode::kRefused);
  // One bad record refuses the whole UPDATE.
  UpdatePlan mixed = read(update({"_acme-challenge.example.test. 60 IN TXT \"ok\"",
                                  "example.test. 60 IN TXT \"v=spf1 -all\""}));
  EXPECT_EQ(mixed.rcode, rcode::kRefused);
  EXPECT_TRUE(mixed.changes.empty());
}

TEST(AcmeUpdate, OutsideTheZoneIsNotZoneAndPrerequisitesAreNotImplemented) {
  EXPECT_EQ(read(update({"_acme-challenge.other.test. 60 IN TXT \"x\""})).rcode, rcode::kNotZone);
  EXPECT_EQ(read(update({"_acme-challenge.example.test. 60 IN TXT \"x\""},
                        {"_acme-challenge.example.test. 0 ANY TXT"}))
                .rcode,
            rcode::kNotImp);
  EXPECT_EQ(read(update({"_acme-challenge.example.test. 60 ANY TXT \"x\""})).rcode, rcode::kFormErr)
      << "a delete carries no RDATA";
}

// Through serve_request: only a signed UPDATE with a key the zone allows reaches `apply`.
class UpdateRequestTest : public ::testing::Test {
protected:
  void SetUp() override {
    auto zone = zones_.build({rr("@", rrtype::SOA, "ns1 hostmaster 7 14400 3600 1209600 300"),
                              rr("@", rrtype::NS, "ns1"), rr("ns1", rrtype::A, "192.0.2.53")});
    zone->domain_id = 42;
    zone->acme_keys = {*Name::parse("acme-key.")};
    snapshot_.zones.push_back(zone);
    auto keys = std::make_shared<Keyring>();
    for (const char* name : {"acme-key.", "other-key."})
      keys->add({*Name::parse(name), "hmac-sha256", *base64_decode(kSecret), 0});
    snapshot_.keys = keys;
    apply_ = [this](std::int64_t domain, const std::vector<ChallengeChange>& changes) {
      applied_domain_ = domain;
      applied_ += changes.size();
      return Result<void>{};
    };
  }

  std::uint8_t send(const std::vector<std::uint8_t>& wire) {
    std::uint8_t rc = 255;
    TransferLimits limits;
    (void)serve_request(
        wire, snapshot_, {"192.0.2.9", 5000}, true, std::time(nullptr), limits,
        [&](auto m) {
          rc = m[3] & 0x0f;
          return true;
        },
        &apply_);
    return rc;
  }

  testing::ZoneBuilder zones_;
  Snapshot snapshot_;
  ApplyChallenges apply_;
  std::int64_t applied_domain_ = 0;
  std::size_t applied_ = 0;
};

TEST_F(UpdateRequestTest, AnAllowedKeyIsApplied) {
  EXPECT_EQ(send(update({"_acme-challenge.example.test. 60 IN TXT \"t\""}, {}, "acme-key.")),
            rcode::kNoError);
  EXPECT_EQ(applied_domain_, 42);
  EXPECT_EQ(applied_, 1u);
}

TEST_F(UpdateRequestTest, UnsignedOrOtherKeysAreRefusedAndNothingIsApplied) {
  const std::vector<std::string> add = {"_acme-challenge.example.test. 60 IN TXT \"t\""};
  EXPECT_EQ(send(update(add)), rcode::kRefused);
  EXPECT_EQ(send(update(add, {}, "other-key.")), rcode::kRefused);
  EXPECT_EQ(send(update(add, {}, "acme-key.", "nosuch.test.")), rcode::kNotAuth);
  EXPECT_EQ(applied_, 0u);
}

} // namespace
} // namespace moat::dnsd
