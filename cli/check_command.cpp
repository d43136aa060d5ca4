// `moat check DOMAIN`: audits the live deployment the way a DANE- and MTA-STS-aware sender
// would, and says in plain words what is wrong and how to fix it. Exit status 0 only when
// everything a sender checks passes; warnings (expiry ahead, reports of failures, no TLSRPT)
// do not fail it.
#include "cli/commands.hpp"
#include "cli/input.hpp"
#include "cli/key_info.hpp"
#include "cli/output.hpp"
#include "core/dns_check.hpp"
#include "core/live_files.hpp"
#include "core/mta_sts.hpp"
#include "core/policy_state.hpp"
#include "core/rotation.hpp"
#include "core/tls_probe.hpp"
#include "core/tlsrpt_summary.hpp"

#include <arpa/inet.h>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

namespace moat::cli {
namespace {

constexpr UnixTime kDay = 86400;
/// Certificates are renewed 30 days ahead by certbot; under 14 days left something is stuck.
constexpr UnixTime kCertificateWarning = 14 * kDay;
/// Signatures are refreshed days ahead by moat-dnsd; under 3 days left it is not running.
constexpr UnixTime kSignatureWarning = 3 * kDay;

struct CheckOptions {
  std::string domain;
  std::string server = "127.0.0.1:53";
  std::string trust_anchor;
  std::string ca_file;
  std::vector<std::string> connect;
  int timeout_s = 10;
};

enum class Status { kOk, kWarn, kFail };

struct Finding {
  Status status;
  std::string subject; ///< what it is about: "dnssec", "mx1.example.test", "mta-sts", ...
  std::string message;
  std::string fix; ///< what to do, when something is wrong
};

class Report {
public:
  void ok(std::string subject, std::string message) {
    findings_.push_back({Status::kOk, std::move(subject), std::move(message), {}});
  }
  void warn(std::string subject, std::string message, std::string fix = {}) {
    findings_.push_back({Status::kWarn, std::move(subject), std::move(message), std::move(fix)});
  }
  void fail(std::string subject, std::string message, std::string fix = {}) {
    findings_.push_back({Status::kFail, std::move(subject), std::move(message), std::move(fix)});
  }
  [[nodiscard]] const std::vector<Finding>& findings() const { return findings_; }
  [[nodiscard]] std::size_t count(Status s) const {
    return static_cast<std::size_t>(std::ranges::count_if(findings_, [s](const Finding& f) { return f.status == s; }));
  }

private:
  std::vector<Finding> findings_;
};

std::string host_text(const Name& n) {
  std::string s = n.lowercased().to_string();
  if (s.size() > 1)
    s.pop_back();
  return s;
}

std::string day(UnixTime t) { return iso8601(t).substr(0, 10); }

std::string days_left(UnixTime until, UnixTime now) {
  const UnixTime d = (until - now) / kDay;
  return std::to_string(d) + (d == 1 ? " day" : " days");
}

/// The character-strings of a TXT RDATA, concatenated (RFC 7208 §3.3 style).
std::string txt_text(const std::vector<std::uint8_t>& rdata) {
  std::string out;
  for (std::size_t at = 0; at < rdata.size();) {
    const std::size_t len = rdata[at];
    out.append(reinterpret_cast<const char*>(rdata.data() + at + 1),
               std::min(len, rdata.size() - at - 1));
    at += len + 1;
  }
  return out;
}

/// "v=STSv1; id=abc" → {"v": "STSv1", "id": "abc"}.
std::map<std::string, std::string> tag_values(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  for (std::string item; std::getline(in, item, ';');) {
    const auto eq = item.find('=');
    if (eq == std::string::npos)
      continue;
    auto trim = [](std::string s) {
      while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.erase(0, 1);
      while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.pop_back();
      return s;
    };
    out[trim(item.substr(0, eq))] = trim(item.substr(eq + 1));
  }
  return out;
}

/// `--connect HOST=ADDR:PORT`, like curl's --resolve.
std::map<std::string, ListenAddress> parse_connect(const std::vector<std::string>& specs) {
  std::map<std::string, ListenAddress> out;
  for (const auto& spec : specs) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0)
      throw CliError("--connect " + spec + ": give HOST=ADDR:PORT");
    auto a = parse_listen_address(spec.substr(eq + 1));
    if (!a)
      throw CliError("--connect " + spec + ": " + a.error().message);
    std::string host = ascii_lower(spec.substr(0, eq));
    if (host.ends_with('.'))
      host.pop_back();
    out[host] = *a;
  }
  return out;
}

std::string status_word(CheckedAnswer::Status s) {
  switch (s) {
  case CheckedAnswer::Status::kSecure:
    return "signed";
  case CheckedAnswer::Status::kAbsent:
    return "absent (denial validated)";
  case CheckedAnswer::Status::kBogus:
    return "bogus";
  case CheckedAnswer::Status::kFailed:
    return "not answered";
  }
  return "?";
}

/// Everything checked, in the order a sender meets it.
class Checker {
public:
  Checker(const Context& ctx, const CheckOptions& o) : ctx_(ctx), o_(o) {}

  Report run() {
    now_ = ctx_.clock->now();
    apex_ = parse_domain_name(o_.domain);
    connect_ = parse_connect(o_.connect);
    auto server = parse_listen_address(o_.server);
    if (!server)
      throw CliError("--server " + o_.server + ": " + server.error().message);
    timeout_ = std::chrono::seconds(o_.timeout_s);
    open_store();
    auto anchors = trust_anchors();
    auto dns = DnsChecker::open(*server, apex_, anchors, now_);
    if (!dns) {
      report_.fail("dnssec", dns.error().message,
                   "make sure moat-dnsd serves the zone there and the parent holds the DS that "
                   "`moat ds " + host_text(apex_) + "` prints");
      return std::move(report_);
    }
    dns_.emplace(std::move(*dns));
    std::string tags;
    for (auto t : dns_->anchored_key_tags())
      tags += (tags.empty() ? "" : ", ") + std::to_string(t);
    report_.ok("dnssec", "DNSKEY RRset of " + apex_.to_string() + " validated from " + anchor_source_ +
                             " (key " + tags + ")");
    signature_expiry("DNSKEY", dns_->dnskey_expires());
    const auto policy = check_mta_sts();
    check_mx(policy);
    check_tlsrpt();
    check_store_state();
    return std::move(report_);
  }

private:
  void open_store() {
    if (!o_.trust_anchor.empty() && ctx_.db_option.empty() && std::getenv("MOAT_DB") == nullptr)
      return; // checking from elsewhere: no database needed
    auto s = Store::open(ctx_.db_path(), Store::Mode::kOpenExisting);
    if (!s)
      return;
    auto d = s->find_domain(apex_);
    if (!d || !*d)
      return;
    store_.emplace(std::move(*s));
    domain_ = **d;
  }

  std::vector<Rr> trust_anchors() {
    std::vector<Rr> out;
    if (!o_.trust_anchor.empty()) {
      auto text = read_file(o_.trust_anchor, 1 << 20);
      if (!text)
        throw CliError("--trust-anchor: " + text.error().message);
      std::istringstream in(*text);
      for (std::string line; std::getline(in, line);) {
        if (line.find_first_not_of(" \t\r") == std::string::npos || line.starts_with(";"))
          continue;
        auto rr = parse_rr(line, apex_, 3600);
        if (!rr)
          throw CliError("--trust-anchor " + o_.trust_anchor + ": " + rr.error().message);
        if (rr->type == rrtype::DS || rr->type == rrtype::DNSKEY)
          out.push_back(std::move(*rr));
      }
      if (out.empty())
        throw CliError("--trust-anchor " + o_.trust_anchor + " holds no DS or DNSKEY record");
      anchor_source_ = "the trust anchor in " + o_.trust_anchor;
      return out;
    }
    if (!domain_)
      throw CliError(apex_.to_string() + " is not in the database (" + ctx_.db_path() +
                     "): give --trust-anchor FILE with its DS or DNSKEY records");
    for (const DsView& ds : wanted_ds(*domain_, unwrap(store_->keys(domain_->id)))) {
      auto rr = parse_rr(ds.record, apex_, 3600);
      if (rr)
        out.push_back(std::move(*rr));
    }
    anchor_source_ = "the DS the parent holds (moat ds)";
    return out;
  }

  void signature_expiry(const std::string& what, UnixTime expires) {
    if (expires - now_ < kSignatureWarning)
      report_.warn("dnssec", "the signature of " + what + " expires in " + days_left(expires, now_) +
                                 " (" + iso8601(expires) + ")",
                   "moat-dnsd refreshes signatures days ahead: is it running?");
  }

  /// An address for `host`: from --connect, else its A (then AAAA) record, validated.
  std::optional<ListenAddress> address_of(const Name& host, std::uint16_t port,
                                          const std::string& subject) {
    if (auto it = connect_.find(host_text(host)); it != connect_.end())
      return it->second;
    for (std::uint16_t type : {rrtype::A, rrtype::AAAA}) {
      CheckedAnswer a = dns_->query(host, type);
      if (a.status == CheckedAnswer::Status::kBogus) {
        report_.fail(subject, "the address of " + host.to_string() + " is bogus: " + a.detail,
                     "see moat-dnsd's log; `moat zone export --signed` shows what it signs");
        return std::nullopt;
      }
      if (a.status != CheckedAnswer::Status::kSecure || a.records.empty())
        continue;
      char text[INET6_ADDRSTRLEN];
      const auto& rd = a.records.front().rdata;
      inet_ntop(type == rrtype::A ? AF_INET : AF_INET6, rd.data(), text, sizeof text);
      return ListenAddress{text, port, type == rrtype::AAAA};
    }
    report_.fail(subject, "no validated address for " + host.to_string(),
                 "publish its A or AAAA record (moat record add), or give --connect " +
                     host_text(host) + "=ADDR:PORT");
    return std::nullopt;
  }

  std::optional<StsPolicy> check_mta_sts() {
    const Name txt_name = *apex_.prepend("_mta-sts");
    CheckedAnswer txt = dns_->query(txt_name, rrtype::TXT);
    if (txt.status == CheckedAnswer::Status::kAbsent) {
      report_.warn("mta-sts", "no _mta-sts record: senders without DANE deliver without TLS "
                              "protection",
                   "moat policy set " + host_text(apex_));
      return std::nullopt;
    }
    if (txt.status != CheckedAnswer::Status::kSecure) {
      report_.fail("mta-sts", txt_name.to_string() + " TXT is " + status_word(txt.status) + ": " +
                                  txt.detail);
      return std::nullopt;
    }
    signature_expiry(txt_name.to_string() + " TXT", txt.expires);
    std::string id;
    for (const Rr& r : txt.records) {
      auto tags = tag_values(txt_text(r.rdata));
      if (tags["v"] == "STSv1")
        id = tags["id"];
    }
    if (id.empty()) {
      report_.fail("mta-sts", txt_name.to_string() + " has no \"v=STSv1; id=...\" record");
      return std::nullopt;
    }
    const Name web = *apex_.prepend("mta-sts");
    auto where = address_of(web, 443, "mta-sts");
    if (!where)
      return std::nullopt;
    PolicyFetch f = fetch_sts_policy(host_text(web), *where, o_.ca_file, now_, timeout_);
    const std::string url = "https://" + host_text(web) + "/.well-known/mta-sts.txt";
    if (!f.failure.empty()) {
      report_.fail("mta-sts", url + ": " + f.failure,
                   f.pkix.detail.empty() || f.pkix.ok
                       ? "is moat-httpsd running and reachable at " + where->to_string() + "?"
                       : "deploy a certificate for " + host_text(web) +
                             " from a CA senders trust (moat cert deploy)");
      return std::nullopt;
    }
    if (f.status >= 300 && f.status < 400) {
      report_.fail("mta-sts", url + " redirects (" + std::to_string(f.status) + " to " +
                                  f.location + "): senders must not follow it (RFC 8461 §3.3)");
      return std::nullopt;
    }
    if (f.status != 200) {
      report_.fail("mta-sts", url + " answered " + std::to_string(f.status));
      return std::nullopt;
    }
    if (f.content_type != "text/plain") {
      report_.fail("mta-sts", url + " is served as " +
                                  (f.content_type.empty() ? "no media type" : f.content_type) +
                                  ", not text/plain (RFC 8461 §3.2)");
      return std::nullopt;
    }
    auto policy = parse_policy_text(f.body);
    if (!policy) {
      report_.fail("mta-sts", url + ": " + policy.error().message);
      return std::nullopt;
    }
    report_.ok("mta-sts", "policy fetched over HTTPS (" + f.pkix.detail + "): mode " +
                              to_string(policy->mode) + ", max_age " +
                              std::to_string(policy->max_age));
    const std::string served_id = policy_id(f.body);
    if (id != served_id)
      report_.fail("mta-sts", "the _mta-sts id " + id + " is not that of the policy served (" +
                                  served_id + "): senders that cached the old policy keep it",
                   "moat-httpsd tells moat which policy it serves; is it running on this "
                   "database? then moat tick");
    else
      report_.ok("mta-sts", "the _mta-sts id " + id + " is that of the policy served");
    if (policy->mode != StsMode::kNone && policy->max_age < kDay)
      report_.warn("mta-sts", "max_age " + std::to_string(policy->max_age) +
                                  " s is short: RFC 8461 §3.2 suggests weeks",
                   "moat policy set " + host_text(apex_) + " --max-age 604800");
    return *policy;
  }

  void check_mx(const std::optional<StsPolicy>& policy) {
    CheckedAnswer mx = dns_->query(apex_, rrtype::MX);
    if (mx.status != CheckedAnswer::Status::kSecure) {
      const bool hosts_waiting =
        domain_ && !unwrap(store_->mx_hosts(domain_->id)).empty();
    report_.fail("mx", "MX of " + apex_.to_string() + " is " + status_word(mx.status) +
                             (mx.detail.empty() ? "" : ": " + mx.detail),
                 hosts_waiting ? "the MX is published once a host's certificate is live: see "
                                 "moat status " + host_text(apex_)
                               : "moat mx add " + host_text(apex_) + " HOST");
      return;
    }
    signature_expiry("MX", mx.expires);
    std::vector<std::pair<std::uint16_t, Name>> hosts;
    for (const Rr& r : mx.records) {
      if (r.rdata.size() < 3)
        continue;
      auto host = Name::from_wire(std::span<const std::uint8_t>(r.rdata).subspan(2));
      if (host)
        hosts.emplace_back(static_cast<std::uint16_t>((r.rdata[0] << 8) | r.rdata[1]), *host);
    }
    std::ranges::sort(hosts, [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string list;
    for (const auto& [pref, host] : hosts)
      list += (list.empty() ? "" : ", ") + std::to_string(pref) + " " + host.to_string();
    report_.ok("mx", "MX validated: " + list);
    for (const auto& [pref, host] : hosts)
      check_mx_host(host, policy);
  }

  void check_mx_host(const Name& host, const std::optional<StsPolicy>& policy) {
    const std::string subject = host_text(host);
    const Name tlsa_name = *(*host.prepend("_tcp")).prepend("_25");
    CheckedAnswer tlsa = dns_->query(tlsa_name, rrtype::TLSA);
    std::vector<TlsaData> records;
    if (tlsa.status == CheckedAnswer::Status::kSecure) {
      signature_expiry(tlsa_name.to_string() + " TLSA", tlsa.expires);
      for (const Rr& r : tlsa.records)
        if (r.rdata.size() > 3)
          records.push_back({r.rdata[0], r.rdata[1], r.rdata[2],
                             std::vector<std::uint8_t>(r.rdata.begin() + 3, r.rdata.end())});
    } else if (tlsa.status == CheckedAnswer::Status::kAbsent) {
      report_.warn(subject, "no TLSA records at " + tlsa_name.to_string() +
                                ": DANE senders cannot authenticate this host",
                   "moat cert deploy for " + subject + " publishes them");
    } else {
      report_.fail(subject, "TLSA at " + tlsa_name.to_string() + " is " + status_word(tlsa.status) +
                                ": " + tlsa.detail + "; DANE senders defer mail to this host");
    }
    if (policy && policy->mode != StsMode::kNone) {
      const bool listed =
          std::ranges::any_of(policy->mx, [&](const std::string& p) { return mx_pattern_matches(p, host); });
      if (!listed) {
        const std::string msg = subject + " matches no mx pattern of the MTA-STS policy";
        if (policy->mode == StsMode::kEnforce)
          report_.fail(subject, msg + ": enforcing senders will not deliver to it",
                       "moat policy set " + host_text(apex_) + " --mx-pattern " + subject);
        else
          report_.warn(subject, msg, "moat policy set " + host_text(apex_) + " --mx-pattern " + subject);
      }
    }
    auto where = address_of(host, 25, subject);
    if (!where)
      return;
    SmtpTlsProbe p = probe_smtp_starttls(subject, *where, records, o_.ca_file, now_, timeout_);
    if (!p.failure.empty()) {
      report_.fail(subject, "SMTP at " + where->to_string() + ": " + p.failure,
                   p.starttls_offered || p.banner.empty()
                       ? "is the mail server running, with a certificate and key it can read?"
                       : "turn on STARTTLS in the mail server (Postfix: smtpd_tls_security_level = may)");
      return;
    }
    report_.ok(subject, "STARTTLS at " + where->to_string() + ": " + p.protocol + " " + p.cipher +
                            ", certificate " + p.chain.subject + " valid until " +
                            day(p.chain.not_after));
    if (p.dane) {
      if (p.dane->ok)
        report_.ok(subject, "DANE: " + p.dane->detail);
      else
        report_.fail(subject, "DANE: " + p.dane->detail +
                                  "; DANE senders defer mail to this host",
                     "the TLSA records must follow the certificate the server presents: deploy "
                     "it with moat cert deploy (or the certbot hook) and let moat tick run");
    } else if (tlsa.status == CheckedAnswer::Status::kSecure) {
      report_.fail(subject, "no TLSA record usable for SMTP (only PKIX-TA/PKIX-EE, RFC 7672 §3.1.3)");
    }
    if (policy && policy->mode != StsMode::kNone) {
      if (p.pkix.ok) {
        report_.ok(subject, "MTA-STS: " + p.pkix.detail);
      } else {
        const std::string msg = "MTA-STS: the certificate fails WebPKI validation: " + p.pkix.detail;
        const std::string fix = "deploy a certificate from a public CA naming " + subject;
        if (policy->mode == StsMode::kEnforce)
          report_.fail(subject, msg + "; enforcing senders will not deliver", fix);
        else
          report_.warn(subject, msg + " (mode testing: senders only report it)", fix);
      }
    }
    // Only MTA-STS senders refuse an expired certificate: DANE ignores expiry (RFC 7672
    // §3.1.1) and opportunistic TLS does not look.
    if (p.chain.not_after > 0 && p.chain.not_after < now_) {
      const std::string msg = "the certificate expired on " + iso8601(p.chain.not_after);
      const std::string fix = "renew it (certbot renew) and deploy it (moat cert deploy)";
      if (policy && policy->mode == StsMode::kEnforce)
        report_.fail(subject, msg, fix);
      else
        report_.warn(subject, msg, fix);
    }
    else if (p.chain.not_after > 0 && p.chain.not_after - now_ < kCertificateWarning)
      report_.warn(subject, "the certificate expires in " + days_left(p.chain.not_after, now_),
                   "renew it (certbot renew; the deploy hook runs moat cert deploy)");
  }

  void check_tlsrpt() {
    const Name name = *(*apex_.prepend("_tls")).prepend("_smtp");
    CheckedAnswer txt = dns_->query(name, rrtype::TXT);
    if (txt.status == CheckedAnswer::Status::kAbsent) {
      report_.warn("tlsrpt", "no _smtp._tls record: senders will not report TLS failures to you",
                   "moat tlsrpt set " + host_text(apex_) + " --builtin");
      return;
    }
    if (txt.status != CheckedAnswer::Status::kSecure) {
      report_.fail("tlsrpt", name.to_string() + " TXT is " + status_word(txt.status) + ": " + txt.detail);
      return;
    }
    signature_expiry(name.to_string() + " TXT", txt.expires);
    std::string rua;
    for (const Rr& r : txt.records) {
      auto tags = tag_values(txt_text(r.rdata));
      if (tags["v"] == "TLSRPTv1")
        rua = tags["rua"];
    }
    if (rua.empty())
      report_.fail("tlsrpt", name.to_string() + " has no \"v=TLSRPTv1; rua=...\" record");
    else
      report_.ok("tlsrpt", "reports go to " + rua);
  }

  /// What only the appliance knows: steps that should have happened, and what senders reported.
  void check_store_state() {
    if (!store_)
      return;
    for (const PendingStep& s : unwrap(pending_steps(*store_, now_))) {
      if (s.domain != domain_->name.to_string() || !s.not_before || *s.not_before + kDay > now_)
        continue;
      std::string subject = s.host.empty() ? "rotation" : s.host;
      if (subject.size() > 1 && subject.ends_with('.'))
        subject.pop_back(); // the host as in every other finding about it
      report_.warn(subject,
                   s.what + " could have happened on " + day(*s.not_before) + " (after " +
                       s.waits_for + ") and has not",
                   "moat tick takes the step: is its timer running? (systemctl status "
                   "moat-tick.timer)");
    }
    for (const PolicyWait& w : unwrap(policy_waits(*store_, *domain_, now_))) {
      if (!w.not_before || *w.not_before + kDay > now_)
        continue;
      report_.warn("mta-sts",
                   w.what + " could have happened on " + day(*w.not_before) + " (after " +
                       w.waits_for + ") and has not",
                   "moat tick takes the step: is its timer running? (systemctl status "
                   "moat-tick.timer)");
    }
    for (const auto& row : unwrap(summarise_tlsrpt(*store_, domain_->id, now_ - 7 * kDay))) {
      if (row.failed == 0)
        continue;
      std::string kinds;
      for (const auto& f : row.failures)
        kinds += (kinds.empty() ? "" : ", ") + std::to_string(f.sessions) + " " + f.result_type +
                 (f.receiving_mx_hostname.empty() ? "" : " at " + f.receiving_mx_hostname);
      report_.warn("tlsrpt", row.organization + " reported " + std::to_string(row.failed) + " failed " +
                                 row.policy_type + " sessions in the last 7 days" +
                                 (kinds.empty() ? "" : " (" + kinds + ")"),
                   "moat reports " + host_text(apex_) + " --since 7d");
    }
  }

  const Context& ctx_;
  const CheckOptions& o_;
  Report report_;
  UnixTime now_ = 0;
  Name apex_;
  std::map<std::string, ListenAddress> connect_;
  std::chrono::milliseconds timeout_{10000};
  std::optional<Store> store_;
  std::optional<Domain> domain_;
  std::optional<DnsChecker> dns_;
  std::string anchor_source_;
};

const char* word(Status s) {
  return s == Status::kOk ? "ok" : s == Status::kWarn ? "warn" : "FAIL";
}

void run_check(const Context& ctx, const CheckOptions& o) {
  Checker checker(ctx, o);
  const Report report = checker.run();
  const std::size_t failures = report.count(Status::kFail);
  const std::size_t warnings = report.count(Status::kWarn);
  if (ctx.json) {
    Json arr = Json::array();
    for (const Finding& f : report.findings()) {
      Json j = {{"status", word(f.status) == std::string("FAIL") ? "fail" : word(f.status)},
                {"subject", f.subject},
                {"message", f.message}};
      if (!f.fix.empty())
        j["fix"] = f.fix;
      arr.push_back(j);
    }
    print_json({{"domain", parse_domain_name(o.domain).to_string()},
                {"ok", failures == 0},
                {"failures", failures},
                {"warnings", warnings},
                {"checks", arr}});
  } else {
    for (const Finding& f : report.findings()) {
      std::string line = std::string(word(f.status));
      line.resize(6, ' ');
      std::string subject = f.subject;
      if (subject.size() < 20)
        subject.resize(20, ' ');
      print_line(line + subject + " " + f.message);
      if (!f.fix.empty())
        print_line("      " + std::string(20, ' ') + " fix: " + f.fix);
    }
    print_line(std::to_string(failures) + " failure" + (failures == 1 ? "" : "s") + ", " +
               std::to_string(warnings) + " warning" + (warnings == 1 ? "" : "s"));
  }
  if (failures > 0)
    throw CliError(parse_domain_name(o.domain).to_string() + " fails " + std::to_string(failures) +
                   " check" + (failures == 1 ? "" : "s") + " a sender makes");
}

} // namespace

void add_check_command(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<CheckOptions>();
  CLI::App* check = app.add_subcommand(
      "check", "Audit the live domain as a DANE- and MTA-STS-aware sender would");
  check->add_option("DOMAIN", o->domain, "The mail domain")->required();
  check->add_option("--server", o->server,
                    "DNS server to ask, ADDR:PORT (default 127.0.0.1:53, the local moat-dnsd)");
  check->add_option("--trust-anchor", o->trust_anchor,
                    "File of DS or DNSKEY records to validate from (default: the DS `moat ds` "
                    "prints, which the parent should hold)");
  check->add_option("--ca-file", o->ca_file,
                    "CA certificates (PEM) for WebPKI checks instead of the system's");
  check->add_option("--connect", o->connect,
                    "HOST=ADDR:PORT: connect there for HOST instead of its address and port "
                    "(repeatable, like curl --resolve)")
      ->allow_extra_args(false); // one value each time: DOMAIN may follow it
  check->add_option("--timeout", o->timeout_s, "Seconds for each network step (default 10)")
      ->check(CLI::Range(1, 120));
  on_run(check, ctx, [&ctx, o] { run_check(ctx, *o); });
}

} // namespace moat::cli
