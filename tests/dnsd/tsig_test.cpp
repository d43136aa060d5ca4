// TSIG (RFC 8945) checked against ldns's implementation: requests ldns signs verify here, and
// answers signed here (every message of a transfer, chained) verify in ldns.
#include "dnsd/transfer.hpp"
#include "dnsd/tsig.hpp"
#include "dnsd/wire.hpp"
#include "signed_zone.hpp"

#include <ctime>
#include <gtest/gtest.h>
#include <ldns/ldns.h>
#include <stdbool.h>

namespace moat::dnsd {
namespace {

using testing::rr;

constexpr const char* kSecret = "c2VjcmV0IHNoYXJlZCB3aXRoIHRoZSBzZWNvbmRhcnk="; // base64

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktFree>;

TsigKey key(const std::string& name = "xfr-key.", const std::string& alg = "hmac-sha256") {
  return TsigKey{*Name::parse(name), alg, *base64_decode(kSecret), 0};
}

Keyring keyring() {
  Keyring k;
  k.add(key());
  return k;
}

std::vector<std::uint8_t> to_wire(ldns_pkt* p) {
  uint8_t* wire = nullptr;
  size_t len = 0;
  EXPECT_EQ(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
  std::vector<std::uint8_t> out(wire, wire + len);
  free(wire);
  return out;
}

// A query signed by ldns with `key_name`/`alg`/`secret`.
Pkt signed_query(const char* qname, ldns_rr_type type, const char* key_name = "xfr-key.",
                 const char* alg = "hmac-sha256.", const char* secret = kSecret) {
  ldns_pkt* q = nullptr;
  EXPECT_EQ(ldns_pkt_query_new_frm_str(&q, qname, type, LDNS_RR_CLASS_IN, 0), LDNS_STATUS_OK);
  ldns_pkt_set_id(q, 4242);
  EXPECT_EQ(ldns_pkt_tsig_sign(q, key_name, secret, 300, alg, nullptr), LDNS_STATUS_OK);
  return Pkt(q);
}

TsigVerdict check(const std::vector<std::uint8_t>& wire, UnixTime now = std::time(nullptr)) {
  Parsed p = parse_query(wire);
  EXPECT_TRUE(p.query.tsig.has_value());
  if (!p.query.tsig)
    return {};
  static const Keyring keys = keyring();
  return verify_tsig(wire, *p.query.tsig, keys, now);
}

TEST(Tsig, RequestSignedByLdnsVerifies) {
  Pkt q = signed_query("example.test.", LDNS_RR_TYPE_SOA);
  TsigVerdict v = check(to_wire(q.get()));
  EXPECT_EQ(v.rcode, rcode::kNoError);
  EXPECT_EQ(v.error, 0);
  ASSERT_NE(v.key, nullptr);
  EXPECT_EQ(v.key->name.to_string(), "xfr-key.");
}

TEST(Tsig, AnyChangedByteIsBadSig) {
  auto wire = to_wire(signed_query("example.test.", LDNS_RR_TYPE_SOA).get());
  wire[14] ^= 0x20; // a letter of the question's name changes case: still a MAC mismatch
  TsigVerdict v = check(wire);
  EXPECT_EQ(v.rcode, rcode::kNotAuth);
  EXPECT_EQ(v.error, tsig_error::kBadSig);
  EXPECT_FALSE(v.sign_answer()); // §5.2.2: an unverified request gets an unsigned answer
}

TEST(Tsig, WrongSecretIsBadSig) {
  auto wire = to_wire(signed_query("example.test.", LDNS_RR_TYPE_SOA, "xfr-key.", "hmac-sha256.",
                                   "d3Jvbmcgc2VjcmV0IHdyb25nIHNlY3JldCB3cm9uZw==")
                          .get());
  EXPECT_EQ(check(wire).error, tsig_error::kBadSig);
}

TEST(Tsig, UnknownKeyOrOtherAlgorithmIsBadKey) {
  EXPECT_EQ(
      check(to_wire(signed_query("example.test.", LDNS_RR_TYPE_SOA, "other-key.").get())).error,
      tsig_error::kBadKey);
  TsigVerdict v = check(
      to_wire(signed_query("example.test.", LDNS_RR_TYPE_SOA, "xfr-key.", "hmac-sha512.").get()));
  EXPECT_EQ(v.rcode, rcode::kNotAuth);
  EXPECT_EQ(v.error, tsig_error::kBadKey);
}

TEST(Tsig, TimeOutsideTheFudgeIsBadTimeAndStillSigned) {
  auto wire = to_wire(signed_query("example.test.", LDNS_RR_TYPE_SOA).get());
  const std::uint64_t signed_at = parse_query(wire).query.tsig->time_signed;
  const auto at = static_cast<UnixTime>(signed_at);
  EXPECT_EQ(check(wire, at + 300).error, 0);
  EXPECT_EQ(check(wire, at - 300).error, 0);
  TsigVerdict late = check(wire, at + 301);
  EXPECT_EQ(late.error, tsig_error::kBadTime);
  EXPECT_TRUE(late.sign_answer());
  EXPECT_EQ(check(wire, at - 301).error, tsig_error::kBadTime);
}

TEST(Tsig, TsigThatIsNotTheLastRecordIsFormErr) {
  auto wire = to_wire(signed_query("example.test.", LDNS_RR_TYPE_SOA).get());
  // Append an OPT record after the TSIG record.
  const std::uint8_t opt[] = {0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0};
  wire.insert(wire.end(), std::begin(opt), std::end(opt));
  wire[11] += 1;
  Parsed p = parse_query(wire);
  EXPECT_EQ(p.verdict, Verdict::kError);
  EXPECT_EQ(p.error_rcode, rcode::kFormErr);
}

TEST(Tsig, TruncatedMacIsRefused) {
  auto wire = to_wire(signed_query("example.test.", LDNS_RR_TYPE_SOA).get());
  Parsed p = parse_query(wire);
  TsigRecord t = *p.query.tsig;
  const Keyring keys = keyring();
  t.mac.resize(8); // below max(10, 32/2): meaningless, FORMERR (§5.2.2.1)
  EXPECT_EQ(verify_tsig(wire, t, keys, std::time(nullptr)).rcode, rcode::kFormErr);
  t = *p.query.tsig;
  t.mac.resize(20); // a real prefix of the MAC, but moat wants it whole: BADTRUNC
  TsigVerdict v = verify_tsig(wire, t, keys, std::time(nullptr));
  EXPECT_EQ(v.error, tsig_error::kBadTrunc);
}

// Every message of a multi-message AXFR is signed, each chaining on the previous MAC; ldns
// verifies the first against the request's MAC and the rest with the timers only.
TEST(Tsig, EveryMessageOfATransferVerifiesInLdns) {
  testing::ZoneBuilder zones;
  std::vector<Rr> records = {rr("@", rrtype::SOA, "ns1 hostmaster 7 14400 3600 1209600 300"),
                             rr("@", rrtype::NS, "ns1"), rr("ns1", rrtype::A, "192.0.2.53")};
  for (int i = 0; i < 1500; ++i)
    records.push_back(
        rr("host" + std::to_string(i), rrtype::TXT,
           "\"a text long enough to fill messages quickly, number " + std::to_string(i) + "\""));
  auto zone = zones.build(records);
  zone->secondaries.push_back({"127.0.0.1", 53, *Name::parse("xfr-key.")});
  Snapshot snapshot;
  snapshot.zones.push_back(zone);
  snapshot.keys = std::make_shared<const Keyring>(keyring());

  Pkt request = signed_query("example.test.", LDNS_RR_TYPE_AXFR);
  auto wire = to_wire(request.get());
  std::vector<std::vector<std::uint8_t>> messages;
  TransferLimits limits;
  RequestOutcome o = serve_request(wire, snapshot, {"127.0.0.1", 40000}, true, std::time(nullptr),
                                   limits, [&](auto m) {
                                     messages.emplace_back(m.begin(), m.end());
                                     return true;
                                   });
  EXPECT_FALSE(o.refused) << o.summary;
  ASSERT_GT(messages.size(), 2u) << "the zone should need several messages";
  ldns_rdf* mac = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(request.get()), 3));
  std::size_t records_seen = 0;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    ldns_pkt* raw = nullptr;
    ASSERT_EQ(ldns_wire2pkt(&raw, messages[i].data(), messages[i].size()), LDNS_STATUS_OK);
    Pkt pkt(raw);
    records_seen += ldns_pkt_ancount(pkt.get());
    ASSERT_TRUE(ldns_pkt_tsig_verify_next(pkt.get(), messages[i].data(), messages[i].size(),
                                          "xfr-key.", kSecret, mac, i > 0 ? 1 : 0))
        << "message " << i << " of " << messages.size();
    ldns_rdf_deep_free(mac);
    mac = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(pkt.get()), 3));
  }
  ldns_rdf_deep_free(mac);
  EXPECT_EQ(records_seen, zone->record_count + 1); // the SOA twice, its RRSIG once
}

TEST(Tsig, BadTimeAnswerCarriesTheServerClockAndVerifies) {
  testing::ZoneBuilder zones;
  auto zone = zones.build({rr("@", rrtype::SOA, "ns1 hostmaster 7 14400 3600 1209600 300"),
                           rr("@", rrtype::NS, "ns1"), rr("ns1", rrtype::A, "192.0.2.53")});
  Snapshot snapshot;
  snapshot.zones.push_back(zone);
  snapshot.keys = std::make_shared<const Keyring>(keyring());
  Pkt request = signed_query("example.test.", LDNS_RR_TYPE_SOA);
  auto wire = to_wire(request.get());
  const UnixTime server_now = std::time(nullptr) + 3600;
  std::vector<std::uint8_t> answer;
  TransferLimits limits;
  RequestOutcome o =
      serve_request(wire, snapshot, {"127.0.0.1", 40000}, false, server_now, limits, [&](auto m) {
        answer.assign(m.begin(), m.end());
        return true;
      });
  EXPECT_TRUE(o.refused);
  auto tsig = find_tsig(answer);
  ASSERT_TRUE(tsig.has_value());
  EXPECT_EQ(answer[3] & 0x0f, rcode::kNotAuth);
  EXPECT_EQ(tsig->error, tsig_error::kBadTime);
  ASSERT_EQ(tsig->other.size(), 6u);
  std::uint64_t clock = 0;
  for (std::uint8_t b : tsig->other)
    clock = (clock << 8) | b;
  EXPECT_EQ(clock, static_cast<std::uint64_t>(server_now));
  ldns_pkt* raw = nullptr;
  ASSERT_EQ(ldns_wire2pkt(&raw, answer.data(), answer.size()), LDNS_STATUS_OK);
  Pkt pkt(raw);
  EXPECT_TRUE(ldns_pkt_tsig_verify(pkt.get(), answer.data(), answer.size(), "xfr-key.", kSecret,
                                   ldns_rr_rdf(ldns_pkt_tsig(request.get()), 3)));
}

TEST(Tsig, NotifyWeSignVerifiesInLdnsAndItsAnswerVerifiesHere) {
  TsigSession session(key());
  std::vector<std::uint8_t> buf(512);
  Query q;
  q.id = 777;
  q.opcode = kOpcodeNotify;
  q.has_question = true;
  q.qname = *Name::parse("example.test.");
  q.qtype = rrtype::SOA;
  q.qclass = kClassIN;
  ResponseWriter w(buf, 400);
  w.start(q, 0, true);
  buf[2] &= 0x7f;
  std::size_t n = session.sign(buf, w.size(), std::time(nullptr));
  ASSERT_GT(n, 0u);
  ldns_pkt* raw = nullptr;
  ASSERT_EQ(ldns_wire2pkt(&raw, buf.data(), n), LDNS_STATUS_OK);
  Pkt notify(raw);
  EXPECT_TRUE(ldns_pkt_tsig_verify(notify.get(), buf.data(), n, "xfr-key.", kSecret, nullptr));
  // The secondary's answer, signed by ldns against our MAC.
  ldns_pkt* reply = ldns_pkt_new();
  ldns_pkt_set_id(reply, 777);
  ldns_pkt_set_qr(reply, true);
  ldns_pkt_set_opcode(reply, LDNS_PACKET_NOTIFY);
  ASSERT_EQ(ldns_pkt_tsig_sign(reply, "xfr-key.", kSecret, 300, "hmac-sha256.",
                               ldns_rr_rdf(ldns_pkt_tsig(notify.get()), 3)),
            LDNS_STATUS_OK);
  Pkt answer(reply);
  auto wire = to_wire(answer.get());
  auto t = find_tsig(wire);
  ASSERT_TRUE(t.has_value());
  EXPECT_TRUE(session.verify_response(wire, *t, std::time(nullptr)));
  wire[5] ^= 1; // tampered
  EXPECT_FALSE(session.verify_response(wire, *t, std::time(nullptr)));
}

} // namespace
} // namespace moat::dnsd
