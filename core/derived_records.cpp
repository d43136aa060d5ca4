#include "core/derived_records.hpp"

#include "core/policy_state.hpp"

#include <algorithm>

namespace moat {

Result<Name> tlsa_owner(const MxHost& host) {
  auto tcp = host.host.prepend("_tcp");
  if (!tcp)
    return std::unexpected(tcp.error());
  return tcp->prepend("_" + std::to_string(host.port));
}

Result<std::vector<Rr>> derived_records(Store& store, const Domain& d) {
  std::vector<Rr> out;
  auto hosts = store.all_mx_hosts();
  if (!hosts)
    return std::unexpected(hosts.error());
  for (const MxHost& h : *hosts) {
    if (h.domain_id == d.id && h.state == "active") {
      // RFC 7505 null MX aside, an MX RDATA is the preference and the exchange name.
      std::vector<std::uint8_t> rd{static_cast<std::uint8_t>(h.priority >> 8),
                                   static_cast<std::uint8_t>(h.priority)};
      const Name exchange = h.host.lowercased();
      rd.insert(rd.end(), exchange.wire().begin(), exchange.wire().end());
      out.push_back(Rr{d.name, rrtype::MX, kMxTtl, std::move(rd)});
    }
    if (!h.host.is_subdomain_of(d.name))
      continue;
    for (const std::string& addr : h.addresses) {
      std::uint16_t type = addr.find(':') != std::string::npos ? rrtype::AAAA : rrtype::A;
      auto rd = parse_rdata(type, addr, d.name);
      if (!rd)
        return fail("MX host " + h.host.to_string() + ": " + rd.error().message);
      out.push_back(Rr{h.host.lowercased(), type, kMxTtl, std::move(*rd)});
    }
    auto owner = tlsa_owner(h);
    if (!owner)
      return std::unexpected(owner.error());
    auto certs = store.certificates(h.id);
    if (!certs)
      return std::unexpected(certs.error());
    // The mail domain decides about 2 1 1; the host's TLSA may live in another zone.
    bool issuer = d.tlsa_issuer;
    if (h.domain_id != d.id) {
      auto mail_domain = store.find_domain_by_id(h.domain_id);
      if (!mail_domain)
        return std::unexpected(mail_domain.error());
      issuer = *mail_domain && (*mail_domain)->tlsa_issuer;
    }
    for (const CertificateRecord& c : *certs) {
      if (c.state != "staged" && c.state != "live")
        continue;
      // 3 1 1: DANE-EE, SubjectPublicKeyInfo, SHA-256 (RFC 7671 §5.1, RFC 7672 §3.1.1).
      std::vector<std::uint8_t> rd{3, 1, 1};
      rd.insert(rd.end(), c.spki_sha256.begin(), c.spki_sha256.end());
      out.push_back(Rr{owner->lowercased(), rrtype::TLSA, kTlsaTtl, std::move(rd)});
      // 2 1 1: DANE-TA, the issuing CA's key, which the host presents in its chain (§5.2.3).
      if (issuer && !c.issuer_spki_sha256.empty()) {
        std::vector<std::uint8_t> ta{2, 1, 1};
        ta.insert(ta.end(), c.issuer_spki_sha256.begin(), c.issuer_spki_sha256.end());
        Rr rr{owner->lowercased(), rrtype::TLSA, kTlsaTtl, std::move(ta)};
        if (std::ranges::find(out, rr) == out.end()) // two certificates from one CA
          out.push_back(std::move(rr));
      }
    }
  }
  auto policy = policy_records(store, d);
  if (!policy)
    return std::unexpected(policy.error());
  out.insert(out.end(), policy->begin(), policy->end());
  return out;
}

namespace {

// The operator's `records` with the derived ones and the ACME challenges added, without
// duplicates. Works as well on the records at one name as on the whole zone.
std::vector<Rr> merged(std::vector<Rr> records, std::vector<Rr> derived,
                       std::vector<AcmeChallenge> challenges) {
  for (Rr& rr : derived)
    if (std::ranges::find(records, rr) == records.end())
      records.push_back(std::move(rr));
  // TXT records received by UPDATE for ACME DNS-01. They take the TTL of a TXT RRset already at
  // their name (one TTL per RRset), and give way to a CNAME there.
  for (AcmeChallenge& c : challenges) {
    Rr rr{c.owner, rrtype::TXT, c.ttl, std::move(c.rdata)};
    bool blocked = false;
    for (const Rr& other : records) {
      if (other.owner != rr.owner)
        continue;
      blocked = blocked || other.type == rrtype::CNAME || other.type == rrtype::DNAME;
      if (other.type == rrtype::TXT)
        rr.ttl = other.ttl;
    }
    if (!blocked && std::ranges::find(records, rr) == records.end())
      records.push_back(std::move(rr));
  }
  return records;
}

} // namespace

Result<std::vector<Rr>> desired_records(Store& store, const Domain& d) {
  auto records = store.records(d.id);
  if (!records)
    return std::unexpected(records.error());
  auto derived = derived_records(store, d);
  if (!derived)
    return std::unexpected(derived.error());
  auto challenges = store.acme_challenges(d.id);
  if (!challenges)
    return std::unexpected(challenges.error());
  return merged(std::move(*records), std::move(*derived), std::move(*challenges));
}

Result<std::vector<Rr>> desired_records_at(Store& store, const Domain& d,
                                           const std::vector<Rr>& derived, const Name& owner) {
  const Name name = owner.lowercased();
  auto records = store.records_at(d.id, name);
  if (!records)
    return std::unexpected(records.error());
  std::vector<Rr> here;
  for (const Rr& rr : derived)
    if (rr.owner.lowercased() == name)
      here.push_back(rr);
  auto challenges = store.acme_challenges(d.id);
  if (!challenges)
    return std::unexpected(challenges.error());
  std::erase_if(*challenges, [&](const AcmeChallenge& c) { return c.owner.lowercased() != name; });
  return merged(std::move(*records), std::move(here), std::move(*challenges));
}

} // namespace moat
