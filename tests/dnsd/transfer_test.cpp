// Zone transfers: who may have them, and what AXFR and IXFR (from the journal or as a whole
// zone) send, parsed back with ldns.
#include "dnsd/transfer.hpp"
#include "signed_zone.hpp"

#include <gtest/gtest.h>
#include <ldns/ldns.h>
#include <stdbool.h>

namespace moat::dnsd {
namespace {

using testing::rr;

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktFree>;

const Peer kSecondary{"192.0.2.7", 40000};
const Peer kStranger{"192.0.2.8", 40000};

std::vector<Rr> version(std::uint32_t serial, const std::string& mail_address) {
  return {
      rr("@", rrtype::SOA, "ns1 hostmaster " + std::to_string(serial) + " 14400 3600 1209600 300"),
      rr("@", rrtype::NS, "ns1"), rr("@", rrtype::MX, "10 mail"),
      rr("ns1", rrtype::A, "192.0.2.53"), rr("mail", rrtype::A, mail_address)};
}

class TransferTest : public ::testing::Test {
protected:
  void SetUp() override {
    auto v1 = zones_.build(version(1, "192.0.2.25"));
    auto v2 = zones_.build(version(2, "192.0.2.26"));
    v2->journal =
        kept_journal({}, std::make_shared<const ZoneDiff>(diff_zones(*v1, *v2)), v2->record_count);
    auto v3 = zones_.build(version(3, "192.0.2.27"));
    v3->journal = kept_journal(v2->journal, std::make_shared<const ZoneDiff>(diff_zones(*v2, *v3)),
                               v3->record_count);
    v3->secondaries.push_back({kSecondary.address, 53, std::nullopt});
    zone_ = v3;
    snapshot_.zones.push_back(v3);
  }

  // The messages sent for `type` (AXFR or IXFR from `serial`), parsed.
  std::vector<Pkt> ask(ldns_rr_type type, std::optional<std::uint32_t> serial = {},
                       const Peer& peer = kSecondary, bool tcp = true) {
    ldns_pkt* q = nullptr;
    EXPECT_EQ(ldns_pkt_query_new_frm_str(&q, "example.test.", type, LDNS_RR_CLASS_IN, 0),
              LDNS_STATUS_OK);
    Pkt query(q);
    if (serial) {
      ldns_rr* soa = nullptr;
      std::string text = "example.test. 3600 IN SOA ns1.example.test. hostmaster.example.test. " +
                         std::to_string(*serial) + " 1 1 1 1";
      EXPECT_EQ(ldns_rr_new_frm_str(&soa, text.c_str(), 0, nullptr, nullptr), LDNS_STATUS_OK);
      ldns_pkt_push_rr(q, LDNS_SECTION_AUTHORITY, soa);
    }
    uint8_t* wire = nullptr;
    size_t len = 0;
    EXPECT_EQ(ldns_pkt2wire(&wire, q, &len), LDNS_STATUS_OK);
    std::vector<std::uint8_t> request(wire, wire + len);
    free(wire);
    std::vector<Pkt> out;
    outcome_ = serve_request(request, snapshot_, peer, tcp, 1'800'000'100, limits_, [&](auto m) {
      ldns_pkt* p = nullptr;
      EXPECT_EQ(ldns_wire2pkt(&p, m.data(), m.size()), LDNS_STATUS_OK);
      out.emplace_back(p);
      return true;
    });
    return out;
  }

  // Every answer record of every message, as text lines without TTL noise.
  static std::vector<std::string> records(const std::vector<Pkt>& messages) {
    std::vector<std::string> out;
    for (const Pkt& m : messages) {
      ldns_rr_list* an = ldns_pkt_answer(m.get());
      for (size_t i = 0; i < ldns_rr_list_rr_count(an); ++i) {
        ldns_rr* r = ldns_rr_list_rr(an, i);
        char* owner = ldns_rdf2str(ldns_rr_owner(r));
        char* type = ldns_rr_type2str(ldns_rr_get_type(r));
        char* first = ldns_rdf2str(ldns_rr_rdf(r, 0));
        std::string line = std::string(owner) + " " + type + " " + first;
        if (ldns_rr_get_type(r) == LDNS_RR_TYPE_SOA) {
          char* serial = ldns_rdf2str(ldns_rr_rdf(r, 2));
          line = std::string("SOA ") + serial;
          free(serial);
        }
        free(owner);
        free(type);
        free(first);
        out.push_back(line);
      }
    }
    return out;
  }

  static std::uint8_t rcode_of(const std::vector<Pkt>& messages) {
    return messages.size() == 1 ? ldns_pkt_get_rcode(messages[0].get()) : 255;
  }

  testing::ZoneBuilder zones_;
  std::shared_ptr<const ServedZone> zone_;
  Snapshot snapshot_;
  TransferLimits limits_;
  RequestOutcome outcome_;
};

TEST_F(TransferTest, AxfrToASecondaryIsTheWholeZoneBetweenTwoSoas) {
  auto lines = records(ask(LDNS_RR_TYPE_AXFR));
  ASSERT_EQ(lines.size(), zone_->record_count + 1);
  EXPECT_EQ(lines.front(), "SOA 3");
  EXPECT_EQ(lines.back(), "SOA 3");
  EXPECT_NE(std::find(lines.begin(), lines.end(), "mail.example.test. A 192.0.2.27"), lines.end());
  EXPECT_FALSE(outcome_.refused);
}

TEST_F(TransferTest, AnyoneElseIsRefused) {
  EXPECT_EQ(rcode_of(ask(LDNS_RR_TYPE_AXFR, {}, kStranger)), LDNS_RCODE_REFUSED);
  EXPECT_EQ(rcode_of(ask(LDNS_RR_TYPE_IXFR, 2, kStranger)), LDNS_RCODE_REFUSED);
  EXPECT_TRUE(outcome_.refused);
}

TEST_F(TransferTest, AKeyedSecondaryMustSign) {
  auto keyed = std::make_shared<ServedZone>(*zone_);
  keyed->secondaries = {{kSecondary.address, 53, *Name::parse("xfr-key.")}};
  snapshot_.zones = {keyed};
  EXPECT_EQ(rcode_of(ask(LDNS_RR_TYPE_AXFR)), LDNS_RCODE_REFUSED);
}

TEST_F(TransferTest, IxfrFromTheJournalSendsEachChange) {
  auto lines = records(ask(LDNS_RR_TYPE_IXFR, 1));
  ASSERT_GE(lines.size(), 8u);
  EXPECT_EQ(lines.front(), "SOA 3");
  EXPECT_EQ(lines[1], "SOA 1"); // first change: from 1 ...
  auto at = [&](const std::string& l) { return std::find(lines.begin(), lines.end(), l); };
  EXPECT_LT(at("mail.example.test. A 192.0.2.25"), at("SOA 2")); // ... removes the old A
  EXPECT_LT(at("SOA 2"), at("mail.example.test. A 192.0.2.26")); // ... adds the new one
  EXPECT_NE(at("mail.example.test. A 192.0.2.27"), lines.end());
  EXPECT_EQ(lines.back(), "SOA 3");
  // Far smaller than the zone: only the A records, their RRSIGs and the SOA signatures moved.
  EXPECT_LT(lines.size(), zone_->record_count);
  EXPECT_NE(outcome_.summary.find("from the journal"), std::string::npos) << outcome_.summary;
}

TEST_F(TransferTest, IxfrFromASerialTheJournalDoesNotReachIsTheWholeZone) {
  auto lines = records(ask(LDNS_RR_TYPE_IXFR, 0));
  EXPECT_EQ(lines.size(), zone_->record_count + 1);
  EXPECT_EQ(lines.front(), "SOA 3");
  EXPECT_EQ(lines[1].rfind("SOA", 0), std::string::npos); // not an incremental answer
}

TEST_F(TransferTest, IxfrAtTheCurrentSerialIsTheSoaAlone) {
  EXPECT_EQ(records(ask(LDNS_RR_TYPE_IXFR, 3)), std::vector<std::string>{"SOA 3"});
  EXPECT_EQ(records(ask(LDNS_RR_TYPE_IXFR, 4)), std::vector<std::string>{"SOA 3"});
}

TEST_F(TransferTest, OverUdpIxfrGetsTheSoaAndAxfrFormErr) {
  EXPECT_EQ(records(ask(LDNS_RR_TYPE_IXFR, 1, kSecondary, false)),
            std::vector<std::string>{"SOA 3"});
  EXPECT_EQ(rcode_of(ask(LDNS_RR_TYPE_AXFR, {}, kSecondary, false)), LDNS_RCODE_FORMERR);
}

TEST_F(TransferTest, TooManyTransfersAtOnceGetServfail) {
  limits_.running = limits_.max_running;
  EXPECT_EQ(rcode_of(ask(LDNS_RR_TYPE_AXFR)), LDNS_RCODE_SERVFAIL);
  limits_.running = 0;
  EXPECT_GT(records(ask(LDNS_RR_TYPE_AXFR)).size(), 2u);
  EXPECT_EQ(limits_.running.load(), 0); // released when the transfer ends
}

TEST_F(TransferTest, AStalledReaderIsCutOff) {
  std::vector<std::uint8_t> request;
  {
    ldns_pkt* q = nullptr;
    ldns_pkt_query_new_frm_str(&q, "example.test.", LDNS_RR_TYPE_AXFR, LDNS_RR_CLASS_IN, 0);
    uint8_t* wire = nullptr;
    size_t len = 0;
    ldns_pkt2wire(&wire, q, &len);
    request.assign(wire, wire + len);
    free(wire);
    ldns_pkt_free(q);
  }
  int sent = 0;
  RequestOutcome o = serve_request(request, snapshot_, kSecondary, true, 1'800'000'100, limits_,
                                   [&](auto) { return ++sent < 1; });
  EXPECT_EQ(sent, 1);
  EXPECT_TRUE(o.refused);
  EXPECT_NE(o.summary.find("cut off"), std::string::npos) << o.summary;
}

TEST_F(TransferTest, TheJournalKeepsNoMoreThanTheZoneHolds) {
  auto diff = std::make_shared<const ZoneDiff>(diff_zones(*zone_, *zone_));
  std::vector<std::shared_ptr<const ZoneDiff>> journal;
  for (int i = 0; i < 100; ++i)
    journal = kept_journal(journal, diff, 10);
  EXPECT_EQ(journal.size(), 5u); // each entry counts its two SOAs
  EXPECT_TRUE(kept_journal({}, diff, 0).empty());
}

} // namespace
} // namespace moat::dnsd
