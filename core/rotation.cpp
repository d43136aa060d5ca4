// The safe order of RFC 7671 §8.1 and RFC 7672 §2.2, as store transitions: TLSA before the
// certificate, TLSA before the MX, MX out before TLSA out. Every transition is one transaction;
// the file writes and reload commands around them are repeated by `tick` until they succeed.
#include "core/rotation.hpp"

#include "core/certificate.hpp"
#include "core/derived_records.hpp"
#include "core/live_files.hpp"
#include "core/policy_state.hpp"

#include <algorithm>

namespace moat {
namespace {

std::string hex(const std::vector<std::uint8_t>& v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (auto b : v) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

// The domain moat serves that `name` lies in (the deepest one).
Result<Domain> containing_domain(Store& store, const Name& name) {
  for (Name n = name; !n.is_root(); n = n.parent()) {
    auto d = store.find_domain(n);
    if (!d)
      return std::unexpected(d.error());
    if (*d)
      return **d;
  }
  return fail(name.to_string() + " is not inside any domain moat serves, so moat cannot publish "
                                 "its TLSA records");
}

std::optional<CertificateRecord> find_state(const std::vector<CertificateRecord>& certs,
                                            std::string_view state) {
  for (const auto& c : certs)
    if (c.state == state)
      return c;
  return std::nullopt;
}

Result<Domain> domain_by_id(Store& store, std::int64_t id) {
  auto d = store.find_domain_by_id(id);
  if (!d)
    return std::unexpected(d.error());
  if (!*d)
    return fail("no domain with id " + std::to_string(id));
  return **d;
}

std::string join_names(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v)
    out += (out.empty() ? "" : " ") + s;
  return out;
}

} // namespace

Result<void> FileRotationEffects::install(const MxHost& host, const CertificateRecord& cert) {
  if (auto r = make_directories(host.live_dir); !r)
    return r;
  // The key first: a reader that sees the new chain must find its key already there.
  if (auto r = write_file_atomically(host.live_dir + "/privkey.pem", cert.key_pem, 0600); !r)
    return r;
  return write_file_atomically(host.live_dir + "/fullchain.pem", cert.fullchain_pem, 0644);
}

bool FileRotationEffects::installed(const MxHost& host, const CertificateRecord& cert) {
  auto chain = read_file(host.live_dir + "/fullchain.pem");
  auto key = read_file(host.live_dir + "/privkey.pem");
  return chain && key && *chain == cert.fullchain_pem && *key == cert.key_pem;
}

Result<void> FileRotationEffects::reload(const MxHost& host) { return run_command(host.on_live); }

Result<MxHost> add_mx_host(Store& store, const Name& domain_name, MxHostRequest req,
                           const std::string& state_dir, UnixTime now, std::string_view actor) {
  if (req.port == 0)
    return fail("port 0 is not a port");
  for (const auto& a : req.addresses) {
    std::uint16_t type = a.find(':') != std::string::npos ? rrtype::AAAA : rrtype::A;
    if (auto rd = parse_rdata(type, a, req.host); !rd)
      return fail("bad address '" + a + "' for " + req.host.to_string());
  }
  MxHost host;
  Result<void> tx = store.transaction([&]() -> Result<void> {
    auto d = store.find_domain(domain_name);
    if (!d)
      return std::unexpected(d.error());
    if (!*d)
      return fail("no domain " + domain_name.to_string());
    auto tlsa_domain = containing_domain(store, req.host);
    if (!tlsa_domain)
      return std::unexpected(tlsa_domain.error());
    auto existing = store.mx_hosts((*d)->id);
    if (!existing)
      return std::unexpected(existing.error());
    for (const auto& h : *existing)
      if (h.host == req.host)
        return fail(req.host.to_string() + " is already an MX host of " +
                    (*d)->name.to_string());
    std::string host_dir = req.host.lowercased().to_string();
    host_dir.pop_back(); // no trailing dot in a directory name
    host.domain_id = (*d)->id;
    host.host = req.host.lowercased();
    host.priority = req.priority;
    host.port = req.port;
    host.addresses = req.addresses;
    host.live_dir = req.live_dir.empty() ? state_dir + "/live/" + host_dir : req.live_dir;
    host.on_live = req.on_live;
    host.state = "adding";
    host.created = now;
    // A host another domain already manages keeps its certificates: copy the live one over.
    auto same = store.mx_hosts_named(host.host);
    if (!same)
      return std::unexpected(same.error());
    auto serial = store.touch_domain(tlsa_domain->id, now);
    if (!serial)
      return std::unexpected(serial.error());
    host.wait_serial = *serial;
    auto id = store.insert_mx_host(host);
    if (!id)
      return std::unexpected(id.error());
    host.id = *id;
    for (const auto& other : *same) {
      auto certs = store.certificates(other.id);
      if (!certs)
        return std::unexpected(certs.error());
      for (CertificateRecord c : *certs) {
        if (c.state == "retired")
          continue;
        c.mx_host_id = host.id;
        if (auto r = store.insert_certificate(c); !r)
          return std::unexpected(r.error());
      }
      break;
    }
    return store.audit(now, actor, "mx add",
                       host.host.to_string() + " priority " + std::to_string(host.priority) +
                           " to " + (*d)->name.to_string());
  });
  if (!tx)
    return std::unexpected(tx.error());
  return host;
}

Result<MxHost> remove_mx_host(Store& store, const Name& domain_name, const Name& host_name,
                              UnixTime now, std::string_view actor) {
  MxHost host;
  Result<void> tx = store.transaction([&]() -> Result<void> {
    auto d = store.find_domain(domain_name);
    if (!d)
      return std::unexpected(d.error());
    if (!*d)
      return fail("no domain " + domain_name.to_string());
    auto hosts = store.mx_hosts((*d)->id);
    if (!hosts)
      return std::unexpected(hosts.error());
    auto it = std::ranges::find_if(*hosts, [&](const MxHost& h) { return h.host == host_name; });
    if (it == hosts->end())
      return fail(host_name.to_string() + " is not an MX host of " + (*d)->name.to_string());
    host = *it;
    if (host.state == "removing")
      return fail(host_name.to_string() + " is already being removed");
    if (host.state == "adding") {
      // Never in the MX RRset: nothing to wait for.
      auto tlsa_domain = containing_domain(store, host.host);
      if (!tlsa_domain)
        return std::unexpected(tlsa_domain.error());
      if (auto r = store.delete_mx_host(host.id); !r)
        return r;
      if (auto s = store.touch_domain(tlsa_domain->id, now); !s)
        return std::unexpected(s.error());
      host.state = "removed";
    } else {
      auto serial = store.touch_domain((*d)->id, now);
      if (!serial)
        return std::unexpected(serial.error());
      host.state = "removing";
      host.wait_serial = *serial;
      if (auto r = store.update_mx_host(host); !r)
        return r;
    }
    return store.audit(now, actor, "mx del",
                       host.host.to_string() + " from " + (*d)->name.to_string());
  });
  if (!tx)
    return std::unexpected(tx.error());
  return host;
}

Result<std::vector<DeployResult>> deploy_certificate(Store& store, std::string_view fullchain_pem,
                                                     std::string_view key_pem,
                                                     const std::vector<Name>& hosts, UnixTime now,
                                                     std::string_view actor,
                                                     RotationEffects& effects) {
  auto info = inspect_certificate(fullchain_pem, key_pem, now);
  if (!info)
    return std::unexpected(info.error());
  std::vector<DeployResult> results;
  std::vector<std::pair<MxHost, CertificateRecord>> install_now;
  Result<void> tx = store.transaction([&]() -> Result<void> {
    auto all = store.all_mx_hosts();
    if (!all)
      return std::unexpected(all.error());
    auto domains = store.list_domains();
    if (!domains)
      return std::unexpected(domains.error());
    // mta-sts.DOMAIN of every domain moat serves: moat-httpsd presents the certificate there.
    std::vector<std::pair<Name, Domain>> web_names;
    for (const Domain& d : *domains)
      if (auto n = d.name.prepend("mta-sts"); n)
        web_names.emplace_back(*n, d);
    std::vector<MxHost> targets;
    std::vector<std::pair<Name, Domain>> web_targets;
    if (hosts.empty()) {
      for (const auto& h : *all)
        if (h.state != "removing" && certificate_covers(*info, h.host))
          targets.push_back(h);
      for (const auto& w : web_names)
        if (certificate_covers(*info, w.first))
          web_targets.push_back(w);
      if (targets.empty() && web_targets.empty())
        return fail("the certificate (" + join_names(info->dns_names) +
                    ") covers no MX host moat manages and no mta-sts name");
    } else {
      for (const Name& n : hosts) {
        bool found = false;
        for (const auto& h : *all)
          if (h.host == n) {
            found = true;
            if (!certificate_covers(*info, h.host))
              return fail("the certificate (" + join_names(info->dns_names) + ") does not cover " +
                          n.to_string());
            targets.push_back(h);
          }
        for (const auto& w : web_names)
          if (w.first == n) {
            found = true;
            if (!certificate_covers(*info, n))
              return fail("the certificate (" + join_names(info->dns_names) + ") does not cover " +
                          n.to_string());
            web_targets.push_back(w);
          }
        if (!found)
          return fail(n.to_string() + " is not an MX host moat manages (moat mx add first) nor "
                                      "the mta-sts name of a domain");
      }
    }
    for (const auto& [web_name, d] : web_targets) {
      // WebPKI only (RFC 8461 §3.3): no TLSA to wait for, so it is moat-httpsd's at once.
      WebCertificate w{d.id, std::string(fullchain_pem), std::string(key_pem), info->not_after,
                       now};
      if (auto r = store.put_web_certificate(w); !r)
        return r;
      results.push_back(DeployResult{web_name, true, std::nullopt, true});
    }
    for (const MxHost& h : targets) {
      auto mail_domain = domain_by_id(store, h.domain_id);
      if (!mail_domain)
        return std::unexpected(mail_domain.error());
      if (mail_domain->tlsa_issuer && info->issuer_spki_sha256.empty())
        return fail(mail_domain->name.to_string() + " publishes TLSA 2 1 1 for the issuing CA, "
                    "so " + h.host.to_string() + " must present it: deploy the full chain, not "
                    "the leaf alone (RFC 7671 §5.2.3)");
      auto certs = store.certificates(h.id);
      if (!certs)
        return std::unexpected(certs.error());
      CertificateRecord c;
      c.mx_host_id = h.id;
      c.fullchain_pem = std::string(fullchain_pem);
      c.key_pem = std::string(key_pem);
      c.spki_sha256 = info->spki_sha256;
      c.issuer_spki_sha256 = info->issuer_spki_sha256;
      c.names = join_names(info->dns_names);
      c.not_before = info->not_before;
      c.not_after = info->not_after;
      c.deployed = now;
      DeployResult result{h.host, false, std::nullopt};
      auto live = find_state(*certs, "live");
      auto staged = find_state(*certs, "staged");
      if (live && live->spki_sha256 == info->spki_sha256) {
        // Same key (certbot --reuse-key): the published TLSA already matches it.
        c.id = live->id;
        c.state = "live";
        c.live_since.reset(); // set once the host has been reloaded with it
        if (auto r = store.update_certificate(c); !r)
          return r;
        if (staged) { // an older staged key lost the race to a renewal of the live one
          if (auto r = store.delete_certificate(staged->id); !r)
            return r;
          // Its TLSA goes with it: a change of the zone, so it needs a new serial.
          auto tlsa_domain = containing_domain(store, h.host);
          if (!tlsa_domain)
            return std::unexpected(tlsa_domain.error());
          if (auto s = store.touch_domain(tlsa_domain->id, now); !s)
            return std::unexpected(s.error());
        }
        result.live_now = true;
        install_now.emplace_back(h, c);
      } else if (staged && staged->spki_sha256 == info->spki_sha256) {
        // A renewal of the staged key (certbot renews the lineage's newest key with
        // --reuse-key): its TLSA is the one already published, so the wait goes on unchanged.
        c.id = staged->id;
        c.state = "staged";
        c.wait_serial = staged->wait_serial;
        if (auto r = store.update_certificate(c); !r)
          return r;
        result.wait_serial = staged->wait_serial;
      } else {
        if (staged)
          if (auto r = store.delete_certificate(staged->id); !r)
            return r;
        auto tlsa_domain = containing_domain(store, h.host);
        if (!tlsa_domain)
          return std::unexpected(tlsa_domain.error());
        auto serial = store.touch_domain(tlsa_domain->id, now);
        if (!serial)
          return std::unexpected(serial.error());
        c.state = "staged";
        c.wait_serial = *serial;
        if (auto r = store.insert_certificate(c); !r)
          return std::unexpected(r.error());
        result.wait_serial = *serial;
        if (h.state == "adding") {
          // The MX waits for this TLSA, not only for the records of `mx add`: a resolver may
          // hold a "no such TLSA" answer for the negative TTL counted from this serial.
          MxHost moved = h;
          moved.wait_serial = *serial;
          if (auto r = store.update_mx_host(moved); !r)
            return r;
        }
      }
      results.push_back(result);
    }
    return store.audit(now, actor, "cert deploy",
                       "SPKI " + hex(info->spki_sha256) + " for " + join_names(info->dns_names));
  });
  if (!tx)
    return std::unexpected(tx.error());
  // After the commit: a crash here leaves files that `tick` rewrites (it compares them).
  for (auto& [h, c] : install_now) {
    if (auto r = effects.install(h, c); !r)
      return fail("stored, but not installed yet (moat tick retries): " + r.error().message);
    if (auto r = effects.reload(h); !r)
      return fail("installed, but the reload failed (moat tick retries): " + r.error().message);
    c.live_since = now;
    if (auto r = store.update_certificate(c); !r)
      return fail("installed and reloaded, but not recorded (moat tick finishes it): " +
                  r.error().message);
  }
  return results;
}

Result<void> set_tlsa_issuer(Store& store, const Name& domain, bool on, UnixTime now,
                             std::string_view actor) {
  return store.transaction([&]() -> Result<void> {
    auto found = store.find_domain(domain);
    if (!found)
      return std::unexpected(found.error());
    if (!*found)
      return fail("no domain " + domain.to_string());
    Domain d = **found;
    if (d.tlsa_issuer == on)
      return {};
    if (on) {
      auto hosts = store.mx_hosts(d.id);
      if (!hosts)
        return std::unexpected(hosts.error());
      for (const MxHost& h : *hosts) {
        auto certs = store.certificates(h.id);
        if (!certs)
          return std::unexpected(certs.error());
        for (const CertificateRecord& c : *certs)
          if ((c.state == "live" || c.state == "staged") && c.issuer_spki_sha256.empty())
            return fail("the " + c.state + " certificate of " + h.host.to_string() +
                        " was deployed without its issuing CA: deploy the full chain first "
                        "(RFC 7671 §5.2.3)");
      }
    }
    d.tlsa_issuer = on;
    if (auto r = store.update_domain(d); !r)
      return r;
    // The 2 1 1 records of every host of the domain change; their zones get new serials.
    auto hosts = store.mx_hosts(d.id);
    if (!hosts)
      return std::unexpected(hosts.error());
    std::vector<std::int64_t> touched;
    for (const MxHost& h : *hosts) {
      auto zone = containing_domain(store, h.host);
      if (!zone)
        return std::unexpected(zone.error());
      if (std::ranges::find(touched, zone->id) != touched.end())
        continue;
      touched.push_back(zone->id);
      if (auto s = store.touch_domain(zone->id, now); !s)
        return std::unexpected(s.error());
    }
    return store.audit(now, actor, "domain set",
                       d.name.to_string() + " tlsa-issuer " + (on ? "on" : "off"));
  });
}

Result<std::vector<std::string>> tick(Store& store, UnixTime now, std::string_view actor,
                                      RotationEffects& effects) {
  std::vector<std::string> done;
  auto hosts = store.all_mx_hosts();
  if (!hosts)
    return std::unexpected(hosts.error());
  for (MxHost& h : *hosts) {
    auto certs = store.certificates(h.id);
    if (!certs)
      return std::unexpected(certs.error());
    auto tlsa_domain = containing_domain(store, h.host);
    if (!tlsa_domain) {
      done.push_back("error: " + tlsa_domain.error().message);
      continue;
    }
    auto live = find_state(*certs, "live");
    auto staged = find_state(*certs, "staged");

    // 1. A staged certificate whose TLSA has been served for two TTLs goes live.
    if (staged && staged->wait_serial) {
      auto since = store.published_since(tlsa_domain->id, *staged->wait_serial);
      if (!since)
        return std::unexpected(since.error());
      if (*since && now >= **since + 2 * static_cast<UnixTime>(kTlsaTtl)) {
        if (auto r = effects.install(h, *staged); !r) {
          done.push_back("error: " + h.host.to_string() + ": " + r.error().message);
          continue;
        }
        if (auto r = effects.reload(h); !r) {
          // The running server still presents the old certificate: keep its TLSA, retry.
          done.push_back("error: " + h.host.to_string() + ": " + r.error().message);
          continue;
        }
        CertificateRecord promoted = *staged;
        promoted.state = "live";
        promoted.wait_serial.reset();
        promoted.live_since = now; // installed and reloaded just above
        auto tx = store.transaction([&]() -> Result<void> {
          if (live) {
            CertificateRecord old = *live;
            old.state = "retired";
            if (auto r = store.update_certificate(old); !r)
              return r;
          }
          CertificateRecord& c = promoted;
          if (auto r = store.update_certificate(c); !r)
            return r;
          if (auto s = store.touch_domain(tlsa_domain->id, now); !s)
            return std::unexpected(s.error());
          return store.audit(now, actor, "tick",
                             "certificate " + std::to_string(c.id) + " live on " +
                                 h.host.to_string());
        });
        if (!tx)
          return std::unexpected(tx.error());
        done.push_back("certificate " + std::to_string(staged->id) + " is live on " +
                       h.host.to_string() + (live ? "; the old TLSA is withdrawn" : ""));
        live = promoted;
        staged.reset();
      }
    }
    // 2. The live certificate must be what is on disk and what the host was reloaded with
    //    (a crash or a failed reload after a deploy, a lost file).
    const bool files_ok = live && effects.installed(h, *live);
    if (live && (!files_ok || !live->live_since)) {
      if (auto r = files_ok ? Result<void>{} : effects.install(h, *live); !r) {
        done.push_back("error: " + h.host.to_string() + ": " + r.error().message);
      } else if (auto rl = effects.reload(h); !rl) {
        done.push_back("error: " + h.host.to_string() + ": " + rl.error().message);
      } else {
        if (!live->live_since) {
          live->live_since = now;
          if (auto u = store.update_certificate(*live); !u)
            return std::unexpected(u.error());
        }
        done.push_back((files_ok ? "reloaded " : "reinstalled ") +
                       std::string("the live certificate of ") + h.host.to_string());
      }
    }
    // 3. A new host enters the MX RRset once it has a live certificate and its records have
    //    been served for their TTL.
    if (h.state == "adding" && live && h.wait_serial) {
      auto since = store.published_since(tlsa_domain->id, *h.wait_serial);
      if (!since)
        return std::unexpected(since.error());
      const UnixTime negative = std::min(tlsa_domain->soa.minimum, tlsa_domain->soa.ttl);
      const UnixTime wait = std::max<UnixTime>(kTlsaTtl, negative);
      auto mail_domain = domain_by_id(store, h.domain_id);
      if (!mail_domain)
        return std::unexpected(mail_domain.error());
      auto policy_ok = policy_allows_mx(store, *mail_domain, h.host, now);
      if (!policy_ok)
        return std::unexpected(policy_ok.error());
      if (*since && now >= **since + wait && *policy_ok) {
        auto tx = store.transaction([&]() -> Result<void> {
          auto d = domain_by_id(store, h.domain_id);
          if (!d)
            return std::unexpected(d.error());
          auto serial = store.touch_domain(d->id, now);
          if (!serial)
            return std::unexpected(serial.error());
          h.state = "active";
          h.wait_serial = *serial;
          if (auto r = store.update_mx_host(h); !r)
            return r;
          return store.audit(now, actor, "tick", "MX " + h.host.to_string() + " published");
        });
        if (!tx)
          return std::unexpected(tx.error());
        done.push_back("MX " + h.host.to_string() + " is published");
      }
    }
    // 4. A removed host's TLSA goes once the MX RRset without it has been served for its TTL.
    if (h.state == "removing" && h.wait_serial) {
      auto since = store.published_since(h.domain_id, *h.wait_serial);
      if (!since)
        return std::unexpected(since.error());
      if (*since && now >= **since + static_cast<UnixTime>(kMxTtl)) {
        auto tx = store.transaction([&]() -> Result<void> {
          if (auto r = store.delete_mx_host(h.id); !r)
            return r;
          if (auto s = store.touch_domain(tlsa_domain->id, now); !s)
            return std::unexpected(s.error());
          return store.audit(now, actor, "tick", "MX host " + h.host.to_string() + " removed");
        });
        if (!tx)
          return std::unexpected(tx.error());
        done.push_back("MX host " + h.host.to_string() + " is gone, with its TLSA");
      }
    }
  }
  auto policies = tick_policies(store, now, actor);
  if (!policies)
    return std::unexpected(policies.error());
  done.insert(done.end(), policies->begin(), policies->end());
  return done;
}

Result<std::vector<PendingStep>> pending_steps(Store& store, UnixTime now) {
  std::vector<PendingStep> out;
  auto hosts = store.all_mx_hosts();
  if (!hosts)
    return std::unexpected(hosts.error());
  for (const MxHost& h : *hosts) {
    auto d = domain_by_id(store, h.domain_id);
    auto tlsa_domain = containing_domain(store, h.host);
    auto certs = store.certificates(h.id);
    if (!d || !tlsa_domain || !certs)
      return fail("cannot read the state of " + h.host.to_string());
    const std::string domain = d->name.to_string();
    const std::string host = h.host.to_string();
    auto served = [&](const Domain& zone, std::uint32_t serial, UnixTime wait,
                      std::string what) -> Result<void> {
      auto since = store.published_since(zone.id, serial);
      if (!since)
        return std::unexpected(since.error());
      if (!*since)
        out.push_back({domain, host, std::move(what),
                       "moat-dnsd to serve " + zone.name.to_string() + " serial " +
                           std::to_string(serial),
                       std::nullopt});
      else
        out.push_back({domain, host, std::move(what),
                       "caches to expire (" + std::to_string(wait) + " s after it was served)",
                       **since + wait});
      return {};
    };
    auto live = find_state(*certs, "live");
    if (auto staged = find_state(*certs, "staged"); staged && staged->wait_serial)
      if (auto r = served(*tlsa_domain, *staged->wait_serial, 2 * kTlsaTtl,
                          "certificate " + std::to_string(staged->id) + " goes live");
          !r)
        return std::unexpected(r.error());
    if (h.state == "adding") {
      if (!live && find_state(*certs, "staged"))
        out.push_back({domain, host, "MX record published",
                       "its staged certificate to go live (see above)", std::nullopt});
      else if (!live)
        out.push_back({domain, host, "MX record published",
                       "a certificate: moat cert deploy --fullchain F --key K --host " + host,
                       std::nullopt});
      else if (auto ok = policy_allows_mx(store, *d, h.host, now); !ok)
        return std::unexpected(ok.error());
      else if (!*ok)
        out.push_back({domain, host, "MX record published",
                       "the MTA-STS policy listing it to be served and its id published for " +
                           std::to_string(kStsTxtTtl) + " s",
                       std::nullopt});
      else if (h.wait_serial)
        if (auto r = served(*tlsa_domain, *h.wait_serial,
                            std::max<UnixTime>(kTlsaTtl, std::min(tlsa_domain->soa.minimum,
                                                                  tlsa_domain->soa.ttl)),
                            "MX record published");
            !r)
          return std::unexpected(r.error());
    }
    if (h.state == "removing" && h.wait_serial)
      if (auto r = served(*d, *h.wait_serial, kMxTtl, "TLSA withdrawn and host forgotten"); !r)
        return std::unexpected(r.error());
  }
  auto domains = store.list_domains();
  if (!domains)
    return std::unexpected(domains.error());
  for (const Domain& d : *domains) {
    auto waits = policy_waits(store, d, now);
    if (!waits)
      return std::unexpected(waits.error());
    for (auto& w : *waits)
      out.push_back({d.name.to_string(), "mta-sts." + d.name.to_string(), std::move(w.what),
                     std::move(w.waits_for), w.not_before});
  }
  return out;
}

} // namespace moat
