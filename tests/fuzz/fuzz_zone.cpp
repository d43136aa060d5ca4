// A small mail domain with a little of everything the lookup treats differently: MX, SRV and
// NS targets with addresses (and one without), TLSA, TXT, CNAMEs (in the zone, out of it, in a
// loop), plain and CNAME wildcards, an empty non-terminal, a signed and an unsigned delegation
// with glue, and an RRset too big for UDP.
#include "tests/fuzz/fuzz_zone.hpp"

#include "core/rr.hpp"
#include "signer/key.hpp"
#include "signer/zone_signer.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace moat::fuzz {
namespace {

// Test-only keys (openssl genpkey -algorithm ed25519), fixed so that every run serves the same
// bytes.
constexpr std::string_view kKskPem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIGPJ6djWq306JarmON4UaVmQ2oAyk813OZ8gWcmuLIBu\n"
    "-----END PRIVATE KEY-----\n";
constexpr std::string_view kZskPem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIHCQiuWC/ErKd+KEdtCwaGTwNqbQBYhG3Hq7nW5vMTAs\n"
    "-----END PRIVATE KEY-----\n";

struct Record {
  const char* owner; // relative to the apex
  std::uint16_t type;
  const char* rdata;
};

constexpr Record kRecords[] = {
    {"@", rrtype::SOA, "ns1 hostmaster 2026010101 14400 3600 1209600 300"},
    {"@", rrtype::NS, "ns1"},
    {"@", rrtype::NS, "ns2.elsewhere.example."},
    {"@", rrtype::MX, "10 mx1"},
    {"@", rrtype::MX, "20 mx2"},
    {"@", rrtype::TXT, "\"v=spf1 mx -all\""},
    {"_dmarc", rrtype::TXT, "\"v=DMARC1; p=reject; rua=mailto:reports@elsewhere.example\""},
    {"_mta-sts", rrtype::TXT, "\"v=STSv1; id=2026010101\""},
    {"mta-sts", rrtype::CNAME, "mx1"},
    {"ns1", rrtype::A, "192.0.2.53"},
    {"ns1", rrtype::AAAA, "2001:db8::53"},
    {"mx1", rrtype::A, "192.0.2.25"},
    {"mx1", rrtype::AAAA, "2001:db8::25"},
    {"mx2", rrtype::A, "192.0.2.26"},
    {"_25._tcp.mx1", rrtype::TLSA,
     "3 1 1 a4da35805f4ac5383a84060468bc69ebddd7e8df642b205b33843ef21c8ae5d3"},
    {"_25._tcp.mx2", rrtype::TLSA,
     "3 1 1 c4b3b7371af634b0e79d0e7215bf9b0e9b5ab2edca1c38deb96e82b832a30cdb"},
    {"_submission._tcp", rrtype::SRV, "0 1 587 mx1"},
    {"_imaps._tcp", rrtype::SRV, "0 1 993 gone"}, // a target in the zone that does not exist
    {"www", rrtype::CNAME, "mx1"},
    {"out", rrtype::CNAME, "mail.elsewhere.example."},
    {"loop1", rrtype::CNAME, "loop2"},
    {"loop2", rrtype::CNAME, "loop1"},
    {"*.wild", rrtype::TXT, "\"wildcard\""},
    {"*.wild", rrtype::MX, "10 mx1"},
    {"*.wcname", rrtype::CNAME, "mx2"},
    {"*.wout", rrtype::CNAME, "mail.elsewhere.example."},
    {"a.b.deep", rrtype::A, "192.0.2.1"},
    {"secure", rrtype::NS, "ns.secure"},
    {"secure", rrtype::DS,
     "12345 15 2 8581d71e308ac4915fa5dcdb8255eeb4d58cbd5b22bc9c67428466da972451dc"},
    {"ns.secure", rrtype::A, "192.0.2.99"},
    {"ns.secure", rrtype::AAAA, "2001:db8::99"},
    {"insecure", rrtype::NS, "ns.insecure"},
    {"insecure", rrtype::NS, "ns1"},
    {"ns.insecure", rrtype::A, "192.0.2.98"},
};

[[noreturn]] void harness_broken(const std::string& what) {
  std::fprintf(stderr, "fuzz zone: %s\n", what.c_str());
  std::abort();
}

signer::SigningKey load_key(std::string_view pem, std::uint16_t flags) {
  auto key = signer::SigningKey::from_pem(pem, signer::Algorithm::kEd25519, flags);
  if (!key)
    harness_broken("key: " + key.error().message);
  return std::move(*key);
}

Rr make_rr(const Name& apex, std::string_view owner, std::uint16_t type, std::string_view rdata) {
  auto name = Name::parse(owner, &apex);
  auto rd = parse_rdata(type, rdata, apex);
  if (!name || !rd)
    harness_broken("record " + std::string(owner) + " " + std::string(rdata));
  return Rr{name->lowercased(), type, 3600, std::move(*rd)};
}

// Version `version` of the zone at `apex_text`: 0 is kRecords as they are; each later version
// bumps the serial by one and changes a little (see zone_version in fuzz_zone.hpp).
std::shared_ptr<dnsd::ServedZone> signed_zone(const char* apex_text, bool nsec3,
                                              const signer::KeySet& keys, int version = 0) {
  const Name apex = *Name::parse(apex_text);
  signer::ZoneContent content{apex, {}};
  for (const Record& r : kRecords) {
    std::string rdata = r.rdata;
    if (r.type == rrtype::SOA)
      rdata = "ns1 hostmaster " + std::to_string(kZoneSerial + version) + " 14400 3600 1209600 300";
    else if (version >= 1 && r.type == rrtype::A && std::string_view(r.owner) == "mx2")
      rdata = "192.0.2.27";
    content.records.push_back(make_rr(apex, r.owner, r.type, rdata));
  }
  if (version >= 2)
    content.records.push_back(make_rr(apex, "new", rrtype::A, "192.0.2.8"));
  // More than fits in 1232 octets, so that UDP answers truncate.
  for (int i = 0; i < 40; ++i)
    content.records.push_back(
        make_rr(apex, "big", rrtype::TXT, "\"filler text number " + std::to_string(i) + "\""));
  signer::SignPolicy policy;
  policy.nsec3 = nsec3;
  signer::ZoneSigner zone_signer;
  auto zone = zone_signer.sign(content, keys, policy, kSignTime);
  if (!zone)
    harness_broken(std::string(apex_text) + ": " + zone.error().message);
  return dnsd::ServedZone::build(std::move(*zone));
}

struct ZoneKeys {
  signer::SigningKey ksk = load_key(kKskPem, signer::kKskFlags);
  signer::SigningKey zsk = load_key(kZskPem, signer::kZskFlags);
  [[nodiscard]] signer::KeySet set() const { return {{&ksk}, {&zsk}, {&ksk, &zsk}, {&ksk}}; }
};

dnsd::Snapshot build_snapshot() {
  const ZoneKeys keys;
  dnsd::Snapshot snapshot;
  snapshot.zones.push_back(signed_zone(kNsecApex, false, keys.set()));
  snapshot.zones.push_back(signed_zone(kNsec3Apex, true, keys.set()));
  return snapshot;
}

} // namespace

const dnsd::Snapshot& served_snapshot() {
  static const dnsd::Snapshot snapshot = build_snapshot();
  return snapshot;
}

std::shared_ptr<dnsd::ServedZone> zone_version(const char* apex, bool nsec3, int version) {
  if (version < 0 || version > 2)
    harness_broken("no version " + std::to_string(version));
  const ZoneKeys keys;
  return signed_zone(apex, nsec3, keys.set(), version);
}

std::shared_ptr<dnsd::ServedZone> bulk_zone(const char* apex_text, int names) {
  const Name apex = *Name::parse(apex_text);
  signer::ZoneContent content{apex, {}};
  content.records.push_back(
      make_rr(apex, "@", rrtype::SOA,
              "ns1 hostmaster " + std::to_string(kZoneSerial) + " 14400 3600 1209600 300"));
  content.records.push_back(make_rr(apex, "@", rrtype::NS, "ns1"));
  content.records.push_back(make_rr(apex, "ns1", rrtype::A, "192.0.2.53"));
  for (int i = 0; i < names; ++i)
    content.records.push_back(
        make_rr(apex, "host" + std::to_string(i), rrtype::TXT,
                "\"a text to fill messages, number " + std::to_string(i) + "\""));
  const ZoneKeys keys;
  signer::ZoneSigner zone_signer;
  auto zone = zone_signer.sign(content, keys.set(), signer::SignPolicy{}, kSignTime);
  if (!zone)
    harness_broken(std::string(apex_text) + ": " + zone.error().message);
  return dnsd::ServedZone::build(std::move(*zone));
}

} // namespace moat::fuzz
