#include "httpsd/sites.hpp"

#include "core/policy_state.hpp"

namespace moat::httpsd {

Result<SiteSet> read_sites(Store& store) {
  SiteSet out;
  Result<void> tx = store.read_transaction([&]() -> Result<void> {
    auto domains = store.list_domains();
    if (!domains)
      return std::unexpected(domains.error());
    for (const Domain& d : *domains) {
      auto policy = current_policy(store, d);
      if (!policy)
        return std::unexpected(policy.error());
      if (!*policy)
        continue;
      if (auto ok = check_policy(**policy); !ok) {
        out.skipped.push_back(d.name.to_string() + ": " + ok.error().message);
        continue;
      }
      auto cert = store.web_certificate(d.id);
      if (!cert)
        return std::unexpected(cert.error());
      std::string host = d.name.lowercased().to_string();
      host = "mta-sts." + host.substr(0, host.size() - 1);
      if (!*cert) {
        out.skipped.push_back(d.name.to_string() + ": no certificate for " + host +
                              " (moat cert deploy)");
        continue;
      }
      Site s;
      s.domain_id = d.id;
      s.domain = d.name.to_string();
      s.host = host;
      s.policy_text = policy_text(**policy);
      s.fullchain_pem = (*cert)->fullchain_pem;
      s.key_pem = (*cert)->key_pem;
      auto rua = store.tlsrpt_rua(d.id);
      if (!rua)
        return std::unexpected(rua.error());
      if (*rua)
        s.report_path = builtin_tlsrpt_path(**rua, d.name);
      out.sites.emplace(s.host, std::move(s));
    }
    return {};
  });
  if (!tx)
    return std::unexpected(tx.error());
  return out;
}

Result<bool> acknowledge_served(Store& store, const Site& site, UnixTime now) {
  auto d = store.find_domain_by_id(site.domain_id);
  if (!d)
    return std::unexpected(d.error());
  if (!*d)
    return false; // deleted meanwhile; the next reload drops the site
  return report_policy_served(store, **d, site.policy_text, now, "moat-httpsd");
}

} // namespace moat::httpsd
