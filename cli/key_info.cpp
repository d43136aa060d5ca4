#include "cli/key_info.hpp"

#include "cli/output.hpp"
#include "signer/key.hpp"
#include "signer/key_rollover.hpp"

#include <span>

namespace moat::cli {

std::string algorithm_label(std::uint8_t number) {
  if (signer::is_supported_algorithm(number))
    return signer::algorithm_name(static_cast<signer::Algorithm>(number));
  return "algorithm " + std::to_string(number);
}

DsView ds_view(const Domain& domain, const KeyRecord& key) {
  // DS RDATA: key tag (2), algorithm (1), digest type (1), digest (RFC 4034 §5.1).
  std::vector<std::uint8_t> rdata = signer::ds_rdata(domain.name, key.dnskey_rdata);
  DsView ds;
  if (rdata.size() < 4)
    return ds;
  ds.key_tag = static_cast<std::uint16_t>(rdata[0] << 8 | rdata[1]);
  ds.algorithm = rdata[2];
  ds.digest_type = rdata[3];
  ds.digest = hex_upper(std::span(rdata).subspan(4));
  ds.record = domain.name.to_string() + " " + std::to_string(domain.parent_ds_ttl) + " IN DS " +
              std::to_string(ds.key_tag) + " " + std::to_string(ds.algorithm) + " " +
              std::to_string(ds.digest_type) + " " + ds.digest;
  return ds;
}

std::vector<DsView> wanted_ds(const Domain& domain, const std::vector<KeyRecord>& keys) {
  std::vector<DsView> out;
  for (const KeyRecord& k : keys) {
    if (signer::is_sep(k) && k.state != "removed" &&
        (k.ds_state == "submit" || k.ds_state == "seen"))
      out.push_back(ds_view(domain, k));
  }
  return out;
}

Json ds_json(const DsView& ds) {
  return {{"key_tag", ds.key_tag},
          {"algorithm", ds.algorithm},
          {"digest_type", ds.digest_type},
          {"digest", ds.digest},
          {"record", ds.record}};
}

Json key_json(const Domain& domain, const KeyRecord& key) {
  Json j = {{"key_tag", key.key_tag},
            {"role", key.role},
            {"algorithm", algorithm_label(key.algorithm)},
            {"algorithm_number", key.algorithm},
            {"state", key.state},
            {"created", iso8601(key.created)}};
  const auto date = [&](const char* field, const std::optional<UnixTime>& t) {
    j[field] = t ? Json(iso8601(*t)) : Json(nullptr);
  };
  date("published", key.published_at);
  date("active", key.active_at);
  date("retired", key.retired_at);
  date("removed", key.removed_at);
  if (signer::is_sep(key)) {
    j["ds_state"] = key.ds_state.empty() ? "not requested" : key.ds_state;
    date("ds_seen", key.ds_seen_at);
  }
  if (signer::is_sep(key))
    j["ds"] = ds_view(domain, key).record;
  return j;
}

} // namespace moat::cli
