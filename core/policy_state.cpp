// MTA-STS policy and TLSRPT state transitions (RFC 8461, RFC 8460), each one transaction.
#include "core/policy_state.hpp"

#include "core/certificate.hpp"
#include "core/rr.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>

namespace moat {
namespace {

// A TXT RDATA holding `text` as character-strings of at most 255 octets (RFC 1035 §3.3.14).
std::vector<std::uint8_t> txt_rdata(std::string_view text) {
  std::vector<std::uint8_t> rd;
  do {
    const std::size_t n = std::min<std::size_t>(text.size(), 255);
    rd.push_back(static_cast<std::uint8_t>(n));
    rd.insert(rd.end(), text.begin(), text.begin() + static_cast<std::ptrdiff_t>(n));
    text.remove_prefix(n);
  } while (!text.empty());
  return rd;
}

Result<StsPolicy> policy_from(Store& store, const Domain& d, const StsPolicyRecord& rec) {
  StsPolicy p;
  auto mode = sts_mode_from_string(rec.mode);
  if (!mode)
    return std::unexpected(mode.error());
  p.mode = *mode;
  p.max_age = rec.max_age;
  if (!rec.mx_patterns.empty()) {
    p.mx = rec.mx_patterns;
    return p;
  }
  auto hosts = store.mx_hosts(d.id);
  if (!hosts)
    return std::unexpected(hosts.error());
  std::set<std::string> names;
  for (const MxHost& h : *hosts)
    names.insert(host_name_text(h.host));
  p.mx.assign(names.begin(), names.end());
  return p;
}

Result<CertificateInfo> live_certificate(Store& store, const MxHost& h) {
  auto certs = store.certificates(h.id);
  if (!certs)
    return std::unexpected(certs.error());
  for (const CertificateRecord& c : *certs)
    if (c.state == "live") {
      CertificateInfo info;
      std::istringstream in(c.names);
      for (std::string n; in >> n;)
        info.dns_names.push_back(n);
      info.not_before = c.not_before;
      info.not_after = c.not_after;
      return info;
    }
  return fail("MX host " + h.host.to_string() + " has no live certificate yet");
}

} // namespace

Result<std::optional<StsPolicy>> current_policy(Store& store, const Domain& d) {
  auto rec = store.sts_policy(d.id);
  if (!rec)
    return std::unexpected(rec.error());
  if (!*rec)
    return std::optional<StsPolicy>();
  auto p = policy_from(store, d, **rec);
  if (!p)
    return std::unexpected(p.error());
  return std::optional<StsPolicy>(std::move(*p));
}

Result<StsPolicyRecord> set_policy(Store& store, const Domain& d, const StsPolicyRecord& wanted,
                                   UnixTime now, std::string_view actor) {
  StsPolicyRecord rec = wanted;
  rec.domain_id = d.id;
  rec.updated = now;
  rec.delete_requested = false;
  for (std::string& p : rec.mx_patterns) {
    std::ranges::transform(p, p.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (p.size() > 1 && p.back() == '.')
      p.pop_back();
  }
  Result<void> tx = store.transaction([&]() -> Result<void> {
    auto policy = policy_from(store, d, rec);
    if (!policy)
      return std::unexpected(policy.error());
    if (auto ok = check_policy(*policy); !ok)
      return fail(ok.error().message + (rec.mx_patterns.empty()
                                            ? " (add an MX host with moat mx add, or give "
                                              "--mx-pattern)"
                                            : ""));
    auto hosts = store.mx_hosts(d.id);
    if (!hosts)
      return std::unexpected(hosts.error());
    for (const MxHost& h : *hosts) {
      // A host being removed is still in cached MX RRsets until tick forgets it (rule 3).
      if (!std::ranges::any_of(policy->mx,
                               [&](const std::string& p) { return mx_pattern_matches(p, h.host); }))
        return fail("the mx patterns do not cover MX host " + h.host.to_string() +
                    " (RFC 8461 §4.1: senders would refuse to deliver to it)");
      if (h.state == "removing")
        continue;
      if (policy->mode == StsMode::kEnforce) {
        auto cert = live_certificate(store, h);
        if (!cert)
          return fail("mode enforce refused: " + cert.error().message +
                      " (deploy one with moat cert deploy, then wait for moat tick)");
        if (!certificate_covers(*cert, h.host))
          return fail("mode enforce refused: the live certificate of " + h.host.to_string() +
                      " does not cover that name");
      }
    }
    for (const std::string& addr : rec.https_addresses) {
      const std::uint16_t type = addr.find(':') != std::string::npos ? rrtype::AAAA : rrtype::A;
      if (auto rd = parse_rdata(type, addr, d.name); !rd)
        return fail("bad --https-addr '" + addr + "': not an IPv4 or IPv6 address");
    }
    auto old = store.sts_policy(d.id);
    if (!old)
      return std::unexpected(old.error());
    if (auto r = store.put_sts_policy(rec); !r)
      return r;
    // The A/AAAA records of mta-sts.DOMAIN are zone content: a change needs a new serial.
    if (!*old || (*old)->https_addresses != rec.https_addresses)
      if (auto t = store.touch_domain(d.id, now); !t)
        return std::unexpected(t.error());
    return store.audit(now, actor, "policy set",
                       d.name.to_string() + ": " + policy_id(policy_text(*policy)));
  });
  if (!tx)
    return std::unexpected(tx.error());
  return rec;
}

Result<void> request_policy_delete(Store& store, const Domain& d, UnixTime now,
                                   std::string_view actor) {
  return store.transaction([&]() -> Result<void> {
    auto rec = store.sts_policy(d.id);
    if (!rec)
      return std::unexpected(rec.error());
    if (!*rec)
      return fail(d.name.to_string() + " has no MTA-STS policy");
    if ((*rec)->mode != "none")
      return fail("set the policy to mode none first (moat policy set " + d.name.to_string() +
                  " --mode none) and let senders see it: RFC 8461 §8.3");
    StsPolicyRecord r = **rec;
    r.delete_requested = true;
    if (auto ok = store.put_sts_policy(r); !ok)
      return ok;
    return store.audit(now, actor, "policy del", d.name.to_string());
  });
}

Result<bool> report_policy_served(Store& store, const Domain& d, std::string_view text,
                                  UnixTime now, std::string_view actor) {
  auto parsed = parse_policy_text(text);
  if (!parsed)
    return fail("moat-httpsd reported an invalid policy: " + parsed.error().message);
  const std::string id = policy_id(text);
  bool changed = false;
  Result<void> tx = store.transaction([&]() -> Result<void> {
    // A late report (read before tick removed the policy) must not leave a served row that
    // the next policy's _mta-sts record would name before that policy is served (rule 2).
    auto policy = store.sts_policy(d.id);
    if (!policy)
      return std::unexpected(policy.error());
    if (!*policy)
      return {};
    auto old = store.sts_served(d.id);
    if (!old)
      return std::unexpected(old.error());
    if (*old && (*old)->policy_id == id)
      return {};
    StsServed now_served;
    now_served.domain_id = d.id;
    now_served.policy_id = id;
    now_served.policy_text = std::string(text);
    now_served.since = now;
    // Senders may hold any policy served so far for its max_age from the moment it was
    // replaced (RFC 8461 §8.3 warns about earlier, longer max_age values): carry the latest
    // such expiry forward through every change, so that removal waits for all of them.
    UnixTime cached_until = now;
    if (*old) {
      cached_until = std::max(cached_until, (*old)->none_until.value_or(now));
      auto old_policy = parse_policy_text((*old)->policy_text);
      if (old_policy && old_policy->mode != StsMode::kNone)
        cached_until = std::max(cached_until, now + static_cast<UnixTime>(old_policy->max_age));
    }
    now_served.none_until = cached_until;
    auto serial = store.touch_domain(d.id, now);
    if (!serial)
      return std::unexpected(serial.error());
    now_served.wait_serial = *serial;
    if (auto r = store.put_sts_served(now_served); !r)
      return r;
    changed = true;
    return store.audit(now, actor, "policy served", d.name.to_string() + ": id " + id);
  });
  if (!tx)
    return std::unexpected(tx.error());
  return changed;
}

Result<bool> policy_allows_mx(Store& store, const Domain& d, const Name& host, UnixTime now) {
  auto rec = store.sts_policy(d.id);
  if (!rec)
    return std::unexpected(rec.error());
  if (!*rec)
    return true;
  auto served = store.sts_served(d.id);
  if (!served)
    return std::unexpected(served.error());
  if (!*served)
    return false;
  auto policy = parse_policy_text((*served)->policy_text);
  if (!policy || !std::ranges::any_of(
                     policy->mx, [&](const std::string& p) { return mx_pattern_matches(p, host); }))
    return false;
  auto since = store.published_since(d.id, (*served)->wait_serial);
  if (!since)
    return std::unexpected(since.error());
  return *since && now >= **since + static_cast<UnixTime>(kStsTxtTtl);
}

Result<std::vector<std::string>> tick_policies(Store& store, UnixTime now, std::string_view actor) {
  std::vector<std::string> done;
  auto domains = store.list_domains();
  if (!domains)
    return std::unexpected(domains.error());
  for (const Domain& d : *domains) {
    auto rec = store.sts_policy(d.id);
    if (!rec)
      return std::unexpected(rec.error());
    if (!*rec || !(*rec)->delete_requested)
      continue;
    auto served = store.sts_served(d.id);
    if (!served)
      return std::unexpected(served.error());
    // Never served: no sender can hold it and no _mta-sts record names it, so it can go now.
    if (*served) {
      if (!(*served)->none_until || now < *(*served)->none_until)
        continue;
      auto served_mode = parse_policy_text((*served)->policy_text);
      if (!served_mode || served_mode->mode != StsMode::kNone)
        continue;
    }
    Result<void> tx = store.transaction([&]() -> Result<void> {
      if (auto r = store.delete_sts_policy(d.id); !r)
        return r;
      if (auto r = store.delete_sts_served(d.id); !r)
        return r;
      if (auto s = store.touch_domain(d.id, now); !s)
        return std::unexpected(s.error());
      return store.audit(now, actor, "tick",
                         "MTA-STS policy of " + d.name.to_string() + " removed");
    });
    if (!tx)
      return std::unexpected(tx.error());
    done.push_back("the MTA-STS policy and _mta-sts record of " + d.name.to_string() +
                   " are removed");
  }
  return done;
}

Result<std::vector<PolicyWait>> policy_waits(Store& store, const Domain& d, UnixTime now) {
  std::vector<PolicyWait> out;
  auto rec = store.sts_policy(d.id);
  if (!rec)
    return std::unexpected(rec.error());
  if (!*rec)
    return out;
  auto policy = policy_from(store, d, **rec);
  if (!policy)
    return std::unexpected(policy.error());
  auto served = store.sts_served(d.id);
  if (!served)
    return std::unexpected(served.error());
  const std::string id = policy_id(policy_text(*policy));
  if (!check_policy(*policy))
    out.push_back({"MTA-STS policy served",
                   "a valid policy: " + check_policy(*policy).error().message, std::nullopt});
  else if (!*served || (*served)->policy_id != id)
    out.push_back({"MTA-STS policy id " + id + " served",
                   "moat-httpsd to serve it (then the _mta-sts record follows)", std::nullopt});
  if (*served) {
    auto since = store.published_since(d.id, (*served)->wait_serial);
    if (!since)
      return std::unexpected(since.error());
    if (!*since)
      out.push_back({"_mta-sts id " + (*served)->policy_id + " published",
                     "moat-dnsd to serve serial " + std::to_string((*served)->wait_serial),
                     std::nullopt});
    if ((*rec)->delete_requested)
      out.push_back({"MTA-STS policy removed",
                     "senders' cached policies to expire (the previous max_age)",
                     (*served)->none_until.value_or(now)});
  }
  return out;
}

Result<void> check_tlsrpt_rua(std::string_view rua) {
  const auto bad = [&](std::string_view why) {
    return fail("bad TLSRPT rua '" + std::string(rua) + "': " + std::string(why));
  };
  if (rua.empty())
    return bad("empty");
  if (rua.size() > 200)
    return bad("longer than 200 characters");
  std::size_t start = 0;
  while (start <= rua.size()) {
    auto end = rua.find(',', start);
    if (end == std::string_view::npos)
      end = rua.size();
    const std::string_view uri = rua.substr(start, end - start);
    if (uri.find_first_of(" \t;\"\\") != std::string_view::npos ||
        std::ranges::any_of(uri, [](unsigned char c) { return c < 0x21 || c > 0x7e; }))
      return bad("a URI may not hold blanks, ';', quotes or non-ASCII characters");
    if (uri.starts_with("mailto:")) {
      const auto at = uri.find('@');
      if (at == std::string_view::npos || at <= 7 || at + 1 >= uri.size())
        return bad("a mailto: URI needs an address (mailto:tlsrpt@example.net)");
    } else if (uri.starts_with("https://")) {
      if (uri.size() <= 8 || uri[8] == '/')
        return bad("an https: URI needs a host");
    } else {
      return bad("each URI must be mailto: or https: (RFC 8460 §3)");
    }
    start = end + 1;
  }
  return {};
}

namespace {

/// "mta-sts.example.test" for example.test., lower case.
std::string web_host(const Name& domain) {
  std::string host = "mta-sts." + domain.lowercased().to_string();
  host.pop_back();
  return host;
}

} // namespace

Result<std::string> builtin_tlsrpt_uri(const Name& domain, std::string_view path) {
  const auto allowed = [](unsigned char c) {
    return std::isalnum(c) != 0 || std::string_view("/-._~%!$&'()*+=:@").find(static_cast<char>(c)) !=
                                       std::string_view::npos;
  };
  if (!path.starts_with('/') || path.starts_with("//") || path.size() > 100 ||
      !std::ranges::all_of(path, allowed))
    return fail("bad report path '" + std::string(path) +
                "': give an absolute URI path of at most 100 characters, like " +
                std::string(kDefaultTlsrptPath));
  return "https://" + web_host(domain) + std::string(path);
}

std::string builtin_tlsrpt_path(std::string_view rua, const Name& domain) {
  const std::string host = web_host(domain);
  std::size_t start = 0;
  while (start <= rua.size()) {
    auto end = rua.find(',', start);
    if (end == std::string_view::npos)
      end = rua.size();
    std::string_view uri = rua.substr(start, end - start);
    start = end + 1;
    if (!uri.starts_with("https://"))
      continue;
    uri.remove_prefix(8);
    const std::size_t slash = uri.find('/');
    std::string_view authority = uri.substr(0, slash);
    authority = authority.substr(0, authority.find(':'));
    if (ascii_lower(authority) != host)
      continue;
    return slash == std::string_view::npos ? "/" : std::string(uri.substr(slash));
  }
  return {};
}

Result<std::vector<Rr>> policy_records(Store& store, const Domain& d) {
  std::vector<Rr> out;
  auto rec = store.sts_policy(d.id);
  if (!rec)
    return std::unexpected(rec.error());
  if (*rec) {
    // Where senders fetch the policy: the addresses moat-httpsd listens on.
    auto web = d.name.prepend("mta-sts");
    if (!web)
      return std::unexpected(web.error());
    for (const std::string& addr : (*rec)->https_addresses) {
      const std::uint16_t type = addr.find(':') != std::string::npos ? rrtype::AAAA : rrtype::A;
      auto rd = parse_rdata(type, addr, d.name);
      if (!rd)
        return fail("mta-sts address " + addr + ": " + rd.error().message);
      out.push_back(Rr{web->lowercased(), type, kStsTxtTtl, std::move(*rd)});
    }
    auto served = store.sts_served(d.id);
    if (!served)
      return std::unexpected(served.error());
    if (*served) {
      auto owner = d.name.prepend("_mta-sts");
      if (!owner)
        return std::unexpected(owner.error());
      out.push_back(Rr{owner->lowercased(), rrtype::TXT, kStsTxtTtl,
                       txt_rdata("v=STSv1; id=" + (*served)->policy_id)});
    }
  }
  auto rua = store.tlsrpt_rua(d.id);
  if (!rua)
    return std::unexpected(rua.error());
  if (*rua) {
    auto owner = d.name.prepend("_tls");
    auto smtp = owner ? owner->prepend("_smtp") : owner;
    if (!smtp)
      return std::unexpected(smtp.error());
    out.push_back(
        Rr{smtp->lowercased(), rrtype::TXT, kStsTxtTtl, txt_rdata("v=TLSRPTv1; rua=" + **rua)});
  }
  return out;
}

} // namespace moat
