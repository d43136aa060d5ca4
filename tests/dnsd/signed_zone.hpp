// Test support: records written as text and zones signed with fresh keys, for the dnsd tests.
#pragma once

#include "core/rr.hpp"
#include "dnsd/snapshot.hpp"
#include "signer/key.hpp"
#include "signer/zone_signer.hpp"

#include <gtest/gtest.h>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace moat::dnsd::testing {

/// A record of example.test. from its presentation form (owner relative to the apex).
inline Rr rr(const std::string& owner, std::uint16_t type, const std::string& rdata,
             std::uint32_t ttl = 3600) {
  auto apex = Name::parse("example.test.");
  auto o = Name::parse(owner, &*apex);
  auto rd = parse_rdata(type, rdata, *apex);
  EXPECT_TRUE(rd.has_value()) << rdata;
  return Rr{o->lowercased(), type, ttl, *rd};
}

/// Every record of a zone, the SOA included, as (owner wire, type, TTL, RDATA): what two
/// zones are compared by.
using ZoneRecordSet = std::set<
    std::tuple<std::vector<std::uint8_t>, std::uint16_t, std::uint32_t, std::vector<std::uint8_t>>>;
inline ZoneRecordSet records_of(const ServedZone& z) {
  ZoneRecordSet out;
  const ZoneRecord soa = z.soa_record();
  out.emplace(soa.owner.wire(), soa.type, soa.ttl, soa.rdata);
  z.for_each_record([&](const ZoneRecordView& r) {
    out.emplace(r.owner.wire(), r.type, r.ttl,
                std::vector<std::uint8_t>(r.rdata.begin(), r.rdata.end()));
  });
  return out;
}

/// Signs versions of example.test. with one pair of keys, as moat-dnsd's loader does.
class ZoneBuilder {
public:
  ZoneBuilder()
      : ksk_(*signer::SigningKey::generate(signer::Algorithm::kEcdsaP256Sha256, signer::kKskFlags)),
        zsk_(*signer::SigningKey::generate(signer::Algorithm::kEcdsaP256Sha256,
                                           signer::kZskFlags)) {}

  /// The served form of `records` (an SOA among them), signed at `now`.
  std::shared_ptr<ServedZone> build(const std::vector<Rr>& records, bool nsec3 = false,
                                    std::int64_t now = 1'800'000'000) {
    signer::ZoneContent content{*Name::parse("example.test."), records};
    signer::SignPolicy policy;
    policy.nsec3 = nsec3;
    auto signed_zone =
        signer_.sign(content, {{&ksk_}, {&zsk_}, {&ksk_, &zsk_}, {&ksk_}}, policy, now);
    EXPECT_TRUE(signed_zone.has_value()) << signed_zone.error().message;
    return ServedZone::build(std::move(*signed_zone));
  }

private:
  signer::SigningKey ksk_, zsk_;
  signer::ZoneSigner signer_;
};

} // namespace moat::dnsd::testing
