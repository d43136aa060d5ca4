// ZoneSigner over small zones: every signature checked by ldns, the denial chain walked, and
// re-signing limited to what changed.
#include "core/rr.hpp"
#include "signer/key.hpp"
#include "signer/nsec3.hpp"
#include "signer/rrsig.hpp"
#include "signer/zone_signer.hpp"

#include <algorithm>
#include <gtest/gtest.h>
#include <memory>
#include <set>
#include <stdbool.h>

#include <ldns/ldns.h>

namespace moat::signer {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;

struct RrListFree {
  void operator()(ldns_rr_list* l) const { ldns_rr_list_deep_free(l); }
};
using RrList = std::unique_ptr<ldns_rr_list, RrListFree>;

ldns_rr* to_ldns(const Name& owner, std::uint16_t type, std::uint32_t ttl,
                 const std::vector<std::uint8_t>& rdata) {
  std::vector<std::uint8_t> wire = owner.wire();
  for (std::uint8_t b : {static_cast<std::uint8_t>(type >> 8), static_cast<std::uint8_t>(type),
                         std::uint8_t{0}, std::uint8_t{1}, static_cast<std::uint8_t>(ttl >> 24),
                         static_cast<std::uint8_t>(ttl >> 16), static_cast<std::uint8_t>(ttl >> 8),
                         static_cast<std::uint8_t>(ttl), static_cast<std::uint8_t>(rdata.size() >> 8),
                         static_cast<std::uint8_t>(rdata.size())})
    wire.push_back(b);
  wire.insert(wire.end(), rdata.begin(), rdata.end());
  ldns_rr* rr = nullptr;
  size_t pos = 0;
  EXPECT_EQ(ldns_wire2rr(&rr, wire.data(), wire.size(), &pos, LDNS_SECTION_ANSWER), LDNS_STATUS_OK);
  return rr;
}

Rr rr(const std::string& owner, std::uint16_t type, const std::string& rdata) {
  auto apex = Name::parse("example.test.");
  auto rd = parse_rdata(type, rdata, *apex);
  EXPECT_TRUE(rd.has_value()) << rdata;
  return Rr{Name::parse(owner, &*apex)->lowercased(), type, 3600, *rd};
}

class ZoneSignerTest : public ::testing::TestWithParam<Algorithm> {
protected:
  void SetUp() override {
    ksk_ = std::make_unique<SigningKey>(*SigningKey::generate(GetParam(), kKskFlags));
    zsk_ = std::make_unique<SigningKey>(*SigningKey::generate(GetParam(), kZskFlags));
    content_.apex = *Name::parse("example.test.");
    content_.records = {
        rr("@", rrtype::SOA, "ns1 hostmaster 1 14400 3600 1209600 300"),
        rr("@", rrtype::NS, "ns1"),
        rr("@", rrtype::MX, "10 mail"),
        rr("ns1", rrtype::A, "192.0.2.53"),
        rr("mail", rrtype::A, "192.0.2.25"),
        rr("_25._tcp.mail", rrtype::TLSA,
           "3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
        rr("*.wild", rrtype::TXT, "\"w\""),
        rr("sub", rrtype::NS, "ns.sub"),
        rr("ns.sub", rrtype::A, "192.0.2.99"),
    };
  }

  KeySet keys() const {
    return {{ksk_.get()}, {zsk_.get()}, {ksk_.get(), zsk_.get()}, {ksk_.get()}};
  }

  // Verifies every RRSIG in the zone with ldns against the zone's DNSKEY RRset.
  void expect_all_signatures_valid(const SignedZone& zone, std::int64_t at = kNow) {
    RrList dnskeys(ldns_rr_list_new());
    for (const auto& set : zone.rrsets)
      if (set.type == rrtype::DNSKEY)
        for (const auto& rd : set.rdatas)
          ldns_rr_list_push_rr(dnskeys.get(), to_ldns(set.owner, set.type, set.ttl, rd));
    ASSERT_EQ(ldns_rr_list_rr_count(dnskeys.get()), 2u);
    for (const auto& set : zone.rrsets) {
      if (set.rrsigs.empty())
        continue;
      RrList rrset(ldns_rr_list_new()), sigs(ldns_rr_list_new());
      for (const auto& rd : set.rdatas)
        ldns_rr_list_push_rr(rrset.get(), to_ldns(set.owner, set.type, set.ttl, rd));
      for (const auto& rd : set.rrsigs)
        ldns_rr_list_push_rr(sigs.get(), to_ldns(set.owner, rrtype::RRSIG, set.ttl, rd));
      ldns_rr_list* good = ldns_rr_list_new();
      EXPECT_EQ(ldns_verify_time(rrset.get(), sigs.get(), dnskeys.get(), at, good),
                LDNS_STATUS_OK)
          << set.owner.to_string() << " " << type_to_string(set.type);
      ldns_rr_list_free(good);
    }
  }

  std::unique_ptr<SigningKey> ksk_, zsk_;
  ZoneContent content_;
};

TEST_P(ZoneSignerTest, SignsEveryAuthoritativeRrsetValidly) {
  ZoneSigner signer;
  auto zone = signer.sign(content_, keys(), {}, kNow);
  ASSERT_TRUE(zone.has_value()) << zone.error().message;
  expect_all_signatures_valid(*zone);
  EXPECT_EQ(zone->rrsets.front().type, rrtype::SOA);
  for (const auto& set : zone->rrsets) {
    const bool delegation_ns = set.owner.to_string() == "sub.example.test." && set.type == rrtype::NS;
    const bool glue = set.owner.to_string() == "ns.sub.example.test.";
    EXPECT_EQ(set.rrsigs.empty(), delegation_ns || glue)
        << set.owner.to_string() << " " << type_to_string(set.type);
  }
}

TEST_P(ZoneSignerTest, PublishesCdsAndCdnskeyForTheKsk) {
  ZoneSigner signer;
  auto zone = signer.sign(content_, keys(), {}, kNow);
  ASSERT_TRUE(zone.has_value());
  int found = 0;
  for (const auto& set : zone->rrsets) {
    if (set.type == rrtype::CDS) {
      ASSERT_EQ(set.rdatas.size(), 1u);
      EXPECT_EQ(set.rdatas[0], ds_rdata(content_.apex, ksk_->dnskey_rdata()));
      ++found;
    }
    if (set.type == rrtype::CDNSKEY) {
      EXPECT_EQ(set.rdatas, std::vector<std::vector<std::uint8_t>>{ksk_->dnskey_rdata()});
      ++found;
    }
  }
  EXPECT_EQ(found, 2);
}

TEST_P(ZoneSignerTest, NsecChainVisitsEveryAuthoritativeNameOnceAndCloses) {
  ZoneSigner signer;
  auto zone = signer.sign(content_, keys(), {}, kNow);
  ASSERT_TRUE(zone.has_value());
  std::vector<Name> owners, nexts;
  for (const auto& set : zone->rrsets)
    if (set.type == rrtype::NSEC) {
      owners.push_back(set.owner);
      auto rd = set.rdatas.front();
      std::size_t i = 0;
      while (rd[i] != 0)
        i += rd[i] + 1;
      nexts.push_back(*Name::from_wire(std::span(rd).first(i + 1)));
    }
  // apex, *.wild, _25._tcp.mail, mail, ns1, sub — not the glue below the cut.
  ASSERT_EQ(owners.size(), 6u);
  for (std::size_t i = 0; i < owners.size(); ++i)
    EXPECT_EQ(nexts[i], owners[(i + 1) % owners.size()]);
  EXPECT_EQ(std::ranges::count(owners, *Name::parse("ns.sub.example.test.")), 0);
}

TEST_P(ZoneSignerTest, Nsec3ChainCoversNamesAndEmptyNonTerminals) {
  SignPolicy policy;
  policy.nsec3 = true;
  ZoneSigner signer;
  auto zone = signer.sign(content_, keys(), policy, kNow);
  ASSERT_TRUE(zone.has_value());
  expect_all_signatures_valid(*zone);
  std::set<std::string> owners;
  bool param = false;
  for (const auto& set : zone->rrsets) {
    if (set.type == rrtype::NSEC3) {
      owners.insert(std::string(set.owner.first_label()));
      EXPECT_EQ(set.rdatas.front()[0], 1); // SHA-1
      EXPECT_EQ(set.rdatas.front()[2], 0); // no extra iterations
      EXPECT_EQ(set.rdatas.front()[4], 0); // no salt
    }
    param = param || set.type == rrtype::NSEC3PARAM;
    EXPECT_NE(set.type, rrtype::NSEC);
  }
  EXPECT_TRUE(param);
  // 6 names + the empty non-terminals wild and _tcp.mail.
  EXPECT_EQ(owners.size(), 8u);
  for (const char* n : {"example.test.", "_tcp.mail.example.test.", "wild.example.test."})
    EXPECT_TRUE(owners.contains(base32hex_encode(nsec3_hash(*Name::parse(n), {}, 0)))) << n;
}

TEST_P(ZoneSignerTest, OneChangedRecordReSignsOnlyItsRrsetAndTheChainAroundIt) {
  ZoneSigner signer;
  auto first = signer.sign(content_, keys(), {}, kNow);
  ASSERT_TRUE(first.has_value());
  const std::size_t total = first->signatures_made;
  content_.records.push_back(rr("mail", rrtype::AAAA, "2001:db8::25"));
  content_.records.front() = rr("@", rrtype::SOA, "ns1 hostmaster 2 14400 3600 1209600 300");
  auto second = signer.sign(content_, keys(), {}, kNow + 10);
  ASSERT_TRUE(second.has_value());
  // SOA, the new AAAA RRset and the NSEC at mail (its bitmap changed).
  EXPECT_EQ(second->signatures_made, 3u);
  EXPECT_EQ(second->signatures_reused + second->signatures_made, total + 1);
  expect_all_signatures_valid(*second);
}

TEST_P(ZoneSignerTest, SignaturesDueForRefreshAreRenewed) {
  ZoneSigner signer;
  SignPolicy policy;
  auto first = signer.sign(content_, keys(), policy, kNow);
  ASSERT_TRUE(first.has_value());
  auto same = signer.sign(content_, keys(), policy, kNow + 86400);
  EXPECT_EQ(same->signatures_made, 0u);
  auto later = signer.sign(content_, keys(), policy,
                           kNow + policy.sig_validity - policy.sig_refresh + 1);
  ASSERT_TRUE(later.has_value());
  EXPECT_EQ(later->signatures_made, first->signatures_made);
  EXPECT_EQ(later->signatures_reused, 0u);
}

TEST_P(ZoneSignerTest, PublishedKeysAreInDnskeyButSignNothing) {
  // A rollover's next ZSK and next KSK: published, not yet signing (RFC 7583 §3.2, §3.3).
  const auto next_zsk = *SigningKey::generate(GetParam(), kZskFlags);
  const auto next_ksk = *SigningKey::generate(GetParam(), kKskFlags);
  KeySet set = keys();
  set.dnskeys.push_back(&next_zsk);
  set.dnskeys.push_back(&next_ksk);
  set.cds.push_back(&next_ksk);
  ZoneSigner signer;
  auto zone = signer.sign(content_, set, {}, kNow);
  ASSERT_TRUE(zone.has_value()) << zone.error().message;
  std::set<std::uint16_t> signing_tags;
  std::size_t dnskeys = 0, cds = 0;
  for (const auto& rrset : zone->rrsets) {
    if (rrset.type == rrtype::DNSKEY)
      dnskeys = rrset.rdatas.size();
    if (rrset.type == rrtype::CDS)
      cds = rrset.rdatas.size();
    for (const auto& sig : rrset.rrsigs)
      signing_tags.insert(static_cast<std::uint16_t>(sig[16] << 8 | sig[17])); // key tag
  }
  EXPECT_EQ(dnskeys, 4u) << "both active keys and both published ones";
  EXPECT_EQ(cds, 2u) << "the published KSK asks the parent for its DS too";
  EXPECT_EQ(signing_tags, (std::set<std::uint16_t>{ksk_->key_tag(), zsk_->key_tag()}));
}

// RRSIG RDATA: type covered (2), algorithm (1), labels (1), original TTL (4), expiration (4).
std::uint32_t rrsig_expiration(const std::vector<std::uint8_t>& rd) {
  return static_cast<std::uint32_t>(rd[8]) << 24 | static_cast<std::uint32_t>(rd[9]) << 16 |
         static_cast<std::uint32_t>(rd[10]) << 8 | rd[11];
}

TEST_P(ZoneSignerTest, SignaturesMadeTogetherExpireSpreadOutSoRefreshesAreSpreadToo) {
  SignPolicy policy;
  ZoneSigner signer;
  auto zone = signer.sign(content_, keys(), policy, kNow);
  ASSERT_TRUE(zone.has_value());
  std::set<std::uint32_t> expirations;
  std::map<std::pair<std::string, std::uint16_t>, std::uint32_t> by_rrset;
  for (const auto& set : zone->rrsets)
    for (const auto& sig : set.rrsigs) {
      const std::uint32_t e = rrsig_expiration(sig);
      EXPECT_LE(e, kNow + policy.sig_validity);
      EXPECT_GT(e, kNow + policy.sig_validity - policy.sig_validity / 8);
      expirations.insert(e);
      by_rrset[{set.owner.to_string(), set.type}] = e;
    }
  EXPECT_GE(expirations.size(), 5u) << "expirations should differ between RRsets";
  EXPECT_EQ(zone->earliest_expiration, *expirations.begin());

  // The spread is a property of the RRset, not of the run: another signer agrees.
  ZoneSigner other;
  auto again = other.sign(content_, keys(), policy, kNow);
  ASSERT_TRUE(again.has_value());
  for (const auto& set : again->rrsets)
    for (const auto& sig : set.rrsigs)
      EXPECT_EQ(rrsig_expiration(sig), (by_rrset[{set.owner.to_string(), set.type}]));

  // Half-way into the window, some RRsets are due for refresh and some are not.
  const std::int64_t mid = kNow + policy.sig_validity - policy.sig_refresh - policy.sig_validity / 16;
  auto partial = signer.sign(content_, keys(), policy, mid);
  ASSERT_TRUE(partial.has_value());
  EXPECT_GT(partial->signatures_made, 0u);
  EXPECT_GT(partial->signatures_reused, 0u);
  expect_all_signatures_valid(*partial, mid);

  // The first refresh takes along every RRset coming due within the batch, and no other.
  ZoneSigner batched;
  auto base = batched.sign(content_, keys(), policy, kNow);
  ASSERT_TRUE(base.has_value());
  const std::int64_t first_due = base->earliest_expiration - policy.sig_refresh;
  auto refresh = batched.sign(content_, keys(), policy, first_due);
  ASSERT_TRUE(refresh.has_value());
  for (const auto& set : refresh->rrsets)
    for (const auto& sig : set.rrsigs) {
      const std::uint32_t before = by_rrset[{set.owner.to_string(), set.type}];
      const bool due = before <= base->earliest_expiration + policy.refresh_batch;
      EXPECT_EQ(rrsig_expiration(sig) != before, due) << set.owner.to_string() << " " << set.type;
    }
  EXPECT_GT(refresh->signatures_reused, 0u);
}

TEST_P(ZoneSignerTest, RefusesAZoneWithoutSoa) {
  content_.records.erase(content_.records.begin());
  ZoneSigner signer;
  EXPECT_FALSE(signer.sign(content_, keys(), {}, kNow).has_value());
}

INSTANTIATE_TEST_SUITE_P(Algorithms, ZoneSignerTest,
                         ::testing::Values(Algorithm::kEcdsaP256Sha256, Algorithm::kEd25519,
                                           Algorithm::kRsaSha256),
                         [](const auto& info) { return algorithm_name(info.param); });

} // namespace
} // namespace moat::signer
