#include "signer/zone_source.hpp"

#include "core/derived_records.hpp"

namespace moat::signer {
namespace {

void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}
void put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v >> 16));
  put16(out, static_cast<std::uint16_t>(v));
}

} // namespace

KeySet ZoneSource::key_set() const {
  KeySet set;
  for (std::size_t i = 0; i < keys.size() && i < uses.size(); ++i) {
    const SigningKey* k = &keys[i];
    if (uses[i].signs && (uses[i].csk || k->is_ksk()))
      set.ksks.push_back(k);
    if (uses[i].signs && (uses[i].csk || !k->is_ksk()))
      set.zsks.push_back(k);
    if (uses[i].published)
      set.dnskeys.push_back(k);
    if (uses[i].cds && k->is_ksk())
      set.cds.push_back(k);
  }
  return set;
}

ZoneSource::Use key_use(const KeyRecord& key) {
  const std::string& s = key.state;
  ZoneSource::Use use;
  use.signs = s == "active" || s == "presigning" || s == "postsigning";
  use.published = s == "active" || s == "published" || s == "retired";
  // The CDS names the DS the parent should hold: every published KSK whose DS is asked for or
  // in place, none that is withdrawn (RFC 7344 §4).
  use.cds = use.published && (key.ds_state == "submit" || key.ds_state == "seen");
  use.csk = key.role == "csk";
  return use;
}

Rr soa_record(const Domain& d) {
  Rr soa{d.name, rrtype::SOA, d.soa.ttl, {}};
  const Name m_name = d.soa.mname.lowercased();
  const Name r_name = d.soa.rname.lowercased();
  const auto& m = m_name.wire();
  const auto& r = r_name.wire();
  soa.rdata.insert(soa.rdata.end(), m.begin(), m.end());
  soa.rdata.insert(soa.rdata.end(), r.begin(), r.end());
  put32(soa.rdata, d.serial);
  put32(soa.rdata, d.soa.refresh);
  put32(soa.rdata, d.soa.retry);
  put32(soa.rdata, d.soa.expire);
  put32(soa.rdata, d.soa.minimum);
  return soa;
}

Result<ZoneSource> load_zone_source(Store& store, const Domain& d) {
  ZoneSource src;
  src.domain = d;
  src.content.apex = d.name;
  auto records = desired_records(store, d);
  if (!records)
    return std::unexpected(records.error());
  src.content.records.reserve(records->size() + 1);
  src.content.records.push_back(soa_record(d));
  for (Rr& rr : *records)
    src.content.records.push_back(std::move(rr));
  auto keys = store.keys(d.id);
  if (!keys)
    return std::unexpected(keys.error());
  bool have_ksk = false, have_zsk = false;
  for (const KeyRecord& k : *keys) {
    const ZoneSource::Use use = key_use(k);
    if (!use.signs && !use.published)
      continue; // removed: gone from the zone
    if (!is_supported_algorithm(k.algorithm))
      return fail(d.name.to_string() + ": key " + std::to_string(k.key_tag) +
                  " has unsupported algorithm " + std::to_string(k.algorithm));
    std::uint16_t flags = k.role == "zsk" ? kZskFlags : kKskFlags;
    auto key = SigningKey::from_pem(k.private_pem, static_cast<Algorithm>(k.algorithm), flags);
    if (!key)
      return fail(d.name.to_string() + ": key " + std::to_string(k.key_tag) + ": " +
                  key.error().message);
    if (use.signs) {
      have_ksk = have_ksk || key->is_ksk();
      have_zsk = have_zsk || use.csk || !key->is_ksk();
    }
    src.keys.push_back(std::move(*key));
    src.uses.push_back(use);
  }
  if (!have_ksk || !have_zsk)
    return fail(d.name.to_string() + " has no active " + (have_ksk ? "ZSK" : "KSK"));
  src.policy.nsec3 = d.nsec3;
  src.policy.dnskey_ttl = d.dnskey_ttl;
  src.policy.sig_validity = d.sig_validity;
  src.policy.sig_refresh = d.sig_refresh;
  return src;
}

} // namespace moat::signer
