// Answers of the lookup engine over a real signed zone, checked by parsing them with ldns.
#include "core/rr.hpp"
#include "dnsd/answer.hpp"
#include "signed_zone.hpp"
#include "signer/key.hpp"
#include "signer/zone_signer.hpp"

#include <gtest/gtest.h>
#include <ldns/ldns.h>
#include <memory>
#include <stdbool.h>

namespace moat::dnsd {
namespace {

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktFree>;

using testing::rr;

class AnswerTest : public ::testing::TestWithParam<bool> {
protected:
  void SetUp() override {
    ksk_ = std::make_unique<signer::SigningKey>(
        *signer::SigningKey::generate(signer::Algorithm::kEcdsaP256Sha256, signer::kKskFlags));
    zsk_ = std::make_unique<signer::SigningKey>(
        *signer::SigningKey::generate(signer::Algorithm::kEcdsaP256Sha256, signer::kZskFlags));
    signer::ZoneContent content{*Name::parse("example.test."), {}};
    content.records = {
        rr("@", rrtype::SOA, "ns1 hostmaster 1 14400 3600 1209600 300"),
        rr("@", rrtype::NS, "ns1"),
        rr("@", rrtype::MX, "10 mail"),
        rr("ns1", rrtype::A, "192.0.2.53"),
        rr("mail", rrtype::A, "192.0.2.25"),
        rr("mail", rrtype::AAAA, "2001:db8::25"),
        rr("www", rrtype::CNAME, "mail"),
        rr("loop1", rrtype::CNAME, "loop2"),
        rr("loop2", rrtype::CNAME, "loop1"),
        rr("*.wild", rrtype::TXT, "\"wildcard\""),
        rr("a.b.deep", rrtype::A, "192.0.2.1"),
        rr("sub", rrtype::NS, "ns.sub"),
        rr("ns.sub", rrtype::A, "192.0.2.99"),
    };
    for (int i = 0; i < 60; ++i)
      content.records.push_back(
          rr("big", rrtype::TXT, "\"filler text number " + std::to_string(i) + "\""));
    signer::SignPolicy policy;
    policy.nsec3 = GetParam();
    signer::ZoneSigner zs;
    auto signed_zone =
        zs.sign(content, {{ksk_.get()}, {zsk_.get()}, {ksk_.get(), zsk_.get()}, {ksk_.get()}},
                policy, 1'800'000'000);
    ASSERT_TRUE(signed_zone.has_value()) << signed_zone.error().message;
    snapshot_.zones.push_back(ServedZone::build(std::move(*signed_zone)));
  }

  Pkt ask(const std::string& name, std::uint16_t type, bool dnssec_ok = true, bool tcp = false,
          std::uint16_t bufsize = 1232) {
    ldns_pkt* q = nullptr;
    auto t = type_to_string(type);
    EXPECT_EQ(ldns_pkt_query_new_frm_str(&q, name.c_str(), static_cast<ldns_rr_type>(type),
                                         LDNS_RR_CLASS_IN, 0),
              LDNS_STATUS_OK);
    Pkt query(q);
    ldns_pkt_set_edns_udp_size(q, bufsize);
    ldns_pkt_set_edns_do(q, dnssec_ok);
    uint8_t* wire = nullptr;
    size_t len = 0;
    EXPECT_EQ(ldns_pkt2wire(&wire, q, &len), LDNS_STATUS_OK);
    std::vector<std::uint8_t> req(wire, wire + len);
    free(wire);
    std::vector<std::uint8_t> out(kMaxResponse);
    std::size_t n = answer(req, snapshot_, tcp, out);
    EXPECT_GT(n, 0u);
    ldns_pkt* r = nullptr;
    EXPECT_EQ(ldns_wire2pkt(&r, out.data(), n), LDNS_STATUS_OK);
    return Pkt(r);
  }

  static int count_type(ldns_rr_list* list, ldns_rr_type t) {
    int n = 0;
    for (size_t i = 0; i < ldns_rr_list_rr_count(list); ++i)
      n += ldns_rr_get_type(ldns_rr_list_rr(list, i)) == t;
    return n;
  }
  ldns_rr_type denial() const { return GetParam() ? LDNS_RR_TYPE_NSEC3 : LDNS_RR_TYPE_NSEC; }

  std::unique_ptr<signer::SigningKey> ksk_, zsk_;
  Snapshot snapshot_;
};

TEST_P(AnswerTest, PositiveAnswerIsAuthoritativeAndSigned) {
  auto p = ask("example.test.", rrtype::MX);
  EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NOERROR);
  EXPECT_TRUE(ldns_pkt_aa(p.get()));
  EXPECT_EQ(count_type(ldns_pkt_answer(p.get()), LDNS_RR_TYPE_MX), 1);
  EXPECT_EQ(count_type(ldns_pkt_answer(p.get()), LDNS_RR_TYPE_RRSIG), 1);
  // The MX target's addresses ride along in the additional section.
  EXPECT_EQ(count_type(ldns_pkt_additional(p.get()), LDNS_RR_TYPE_A), 1);
  EXPECT_TRUE(ldns_pkt_edns_do(p.get()));
  EXPECT_EQ(ldns_pkt_edns_udp_size(p.get()), 1232);
}

TEST_P(AnswerTest, WithoutDoThereAreNoSignatures) {
  auto p = ask("example.test.", rrtype::MX, false);
  EXPECT_EQ(count_type(ldns_pkt_answer(p.get()), LDNS_RR_TYPE_RRSIG), 0);
}

TEST_P(AnswerTest, NxdomainCarriesSignedSoaAndDenial) {
  auto p = ask("nope.example.test.", rrtype::A);
  EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NXDOMAIN);
  auto* auth = ldns_pkt_authority(p.get());
  EXPECT_EQ(count_type(auth, LDNS_RR_TYPE_SOA), 1);
  EXPECT_GE(count_type(auth, denial()), GetParam() ? 2 : 1);
  EXPECT_EQ(count_type(auth, LDNS_RR_TYPE_RRSIG), 1 + count_type(auth, denial()));
}

TEST_P(AnswerTest, NodataCarriesSoaAndDenial) {
  auto p = ask("mail.example.test.", rrtype::TXT);
  EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NOERROR);
  EXPECT_EQ(ldns_pkt_ancount(p.get()), 0);
  EXPECT_EQ(count_type(ldns_pkt_authority(p.get()), LDNS_RR_TYPE_SOA), 1);
  EXPECT_EQ(count_type(ldns_pkt_authority(p.get()), denial()), 1);
}

TEST_P(AnswerTest, EmptyNonTerminalIsNodata) {
  auto p = ask("b.deep.example.test.", rrtype::A);
  EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NOERROR);
  EXPECT_EQ(count_type(ldns_pkt_authority(p.get()), denial()), 1);
}

TEST_P(AnswerTest, WildcardAnswerUsesQnameAndProvesIt) {
  auto p = ask("anything.wild.example.test.", rrtype::TXT);
  EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NOERROR);
  auto* ans = ldns_pkt_answer(p.get());
  ASSERT_EQ(count_type(ans, LDNS_RR_TYPE_TXT), 1);
  char* owner = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ans, 0)));
  EXPECT_STREQ(owner, "anything.wild.example.test.");
  free(owner);
  EXPECT_EQ(count_type(ldns_pkt_authority(p.get()), denial()), 1);
}

TEST_P(AnswerTest, CnameChainIsFollowedInsideTheZone) {
  auto p = ask("www.example.test.", rrtype::A);
  EXPECT_EQ(count_type(ldns_pkt_answer(p.get()), LDNS_RR_TYPE_CNAME), 1);
  EXPECT_EQ(count_type(ldns_pkt_answer(p.get()), LDNS_RR_TYPE_A), 1);
}

// Found by fuzz_query: a loop used to repeat its CNAMEs until the hop limit.
TEST_P(AnswerTest, CnameLoopGivesEachCnameOnce) {
  auto p = ask("loop1.example.test.", rrtype::A);
  EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NOERROR);
  EXPECT_EQ(count_type(ldns_pkt_answer(p.get()), LDNS_RR_TYPE_CNAME), 2);
}

TEST_P(AnswerTest, DelegationGivesReferralWithGlue) {
  auto p = ask("host.sub.example.test.", rrtype::A);
  EXPECT_FALSE(ldns_pkt_aa(p.get()));
  EXPECT_EQ(ldns_pkt_ancount(p.get()), 0);
  EXPECT_EQ(count_type(ldns_pkt_authority(p.get()), LDNS_RR_TYPE_NS), 1);
  EXPECT_EQ(count_type(ldns_pkt_additional(p.get()), LDNS_RR_TYPE_A), 1);
  // No DS: the referral proves it is insecure.
  EXPECT_EQ(count_type(ldns_pkt_authority(p.get()), denial()), 1);
}

TEST_P(AnswerTest, OutsideTheZoneIsRefused) {
  auto p = ask("example.org.", rrtype::A);
  EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_REFUSED);
  EXPECT_FALSE(ldns_pkt_aa(p.get()));
}

TEST_P(AnswerTest, AnyIsAnsweredMinimally) {
  auto p = ask("mail.example.test.", rrtype::ANY, false);
  EXPECT_EQ(ldns_pkt_ancount(p.get()), 1);
}

TEST_P(AnswerTest, BigAnswerOverUdpIsTruncatedWithOptKept) {
  auto p = ask("big.example.test.", rrtype::TXT, true, false, 512);
  EXPECT_TRUE(ldns_pkt_tc(p.get()));
  EXPECT_EQ(ldns_pkt_ancount(p.get()), 0);
  EXPECT_TRUE(ldns_pkt_edns(p.get()));
  auto full = ask("big.example.test.", rrtype::TXT, true, true);
  EXPECT_FALSE(ldns_pkt_tc(full.get()));
  EXPECT_EQ(count_type(ldns_pkt_answer(full.get()), LDNS_RR_TYPE_TXT), 60);
}

TEST_P(AnswerTest, UnknownTypeIsNodata) {
  auto p = ask("mail.example.test.", 65280);
  EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NOERROR);
  EXPECT_EQ(ldns_pkt_ancount(p.get()), 0);
  EXPECT_EQ(count_type(ldns_pkt_authority(p.get()), LDNS_RR_TYPE_SOA), 1);
}

INSTANTIATE_TEST_SUITE_P(NsecAndNsec3, AnswerTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Nsec3" : "Nsec"; });

} // namespace
} // namespace moat::dnsd
