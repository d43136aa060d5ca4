#include "cli/provision.hpp"

#include "signer/key.hpp"
#include "signer/key_rollover.hpp"

#include <cctype>

namespace moat::cli {
namespace {

KeyRecord generate_key(signer::Algorithm alg, const char* role,
                       const std::vector<KeyRecord>& existing, UnixTime now) {
  KeyRecord k = unwrap(signer::generate_key_record(alg, role, existing, now));
  k.state = "active"; // a new domain's first keys are published and sign at once
  k.published_at = now;
  k.active_at = now;
  // The parent has no DS yet: CDS asks for it and `moat status` tells the admin to add it.
  if (signer::is_sep(k))
    k.ds_state = "submit";
  return k;
}

} // namespace

std::vector<KeyRecord> create_domain(const Context& ctx, Store& store, Domain& domain,
                                     const std::vector<Rr>& records, UnixTime now,
                                     std::string_view action, const std::string& detail, bool csk) {
  // Fail before the (slow, for RSA) key generation when the name is taken; the insert below
  // checks again inside the transaction in case another moat got there first.
  if (unwrap(store.find_domain(domain.name)))
    throw CliError("domain " + domain.name.to_string() + " already exists");
  if (!signer::is_supported_algorithm(domain.algorithm))
    throw CliError("unsupported DNSSEC algorithm " + std::to_string(domain.algorithm));
  auto alg = static_cast<signer::Algorithm>(domain.algorithm);
  std::vector<KeyRecord> keys;
  if (csk) {
    keys.push_back(generate_key(alg, "csk", keys, now));
  } else {
    keys.push_back(generate_key(alg, "ksk", keys, now));
    keys.push_back(generate_key(alg, "zsk", keys, now));
  }

  ctx.commit(store, now, action, detail, [&]() -> Result<void> {
    auto id = store.insert_domain(domain);
    if (!id)
      return std::unexpected(id.error());
    domain.id = *id;
    for (const Rr& rr : records) {
      if (auto r = store.insert_record(domain.id, rr); !r)
        return std::unexpected(r.error());
    }
    for (KeyRecord& k : keys) {
      k.domain_id = domain.id;
      k.state_serial = domain.serial;
      auto key_id = store.insert_key(k);
      if (!key_id)
        return std::unexpected(key_id.error());
      k.id = *key_id;
    }
    return {};
  });
  return keys;
}

std::string key_tags_summary(const std::vector<KeyRecord>& keys) {
  std::string out;
  for (const KeyRecord& k : keys) {
    if (!out.empty())
      out += ", ";
    std::string role = k.role;
    for (char& c : role)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    out += role + " " + std::to_string(k.key_tag);
  }
  return out;
}

} // namespace moat::cli
