// `moat reports [DOMAIN]` (what senders' SMTP TLS reports say) and `moat reports import`
// (reports that arrived by mail, RFC 8460 §5.2).
#include "cli/commands.hpp"
#include "cli/input.hpp"
#include "cli/output.hpp"
#include "core/live_files.hpp"
#include "core/tlsrpt_intake.hpp"
#include "core/tlsrpt_mail.hpp"
#include "core/tlsrpt_summary.hpp"

#include <algorithm>
#include <memory>

namespace moat::cli {
namespace {

constexpr UnixTime kDay = 86400;

/// `--since`: "30d" (days before now), "2026-11-01" (midnight UTC) or an RFC 3339 date-time.
UnixTime parse_since(const std::string& text, UnixTime now) {
  if (!text.empty() && text.back() == 'd' &&
      std::all_of(text.begin(), text.end() - 1, [](char c) { return c >= '0' && c <= '9'; }) &&
      text.size() >= 2 && text.size() <= 6)
    return now - std::stoll(text.substr(0, text.size() - 1)) * kDay;
  auto t = parse_rfc3339(text.size() == 10 ? text + "T00:00:00Z" : text);
  if (!t)
    throw CliError("--since " + text + ": give a date (2026-11-01), a date-time " +
                   "(2026-11-01T12:00:00Z) or days before now (30d)");
  return *t;
}

std::string day(UnixTime t) { return iso8601(t).substr(0, 10); }

/// "mx1.example.test 192.0.2.25" with blanks for what the reporter did not say.
std::string where(const TlsrptFailureTotal& f) {
  std::string out = f.receiving_mx_hostname.empty() ? "-" : f.receiving_mx_hostname;
  return out + " " + (f.receiving_ip.empty() ? "-" : f.receiving_ip);
}

struct ReportsOptions {
  std::string domain;
  std::string since = "30d";
};

void run_reports(const Context& ctx, const ReportsOptions& o) {
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  std::int64_t domain_id = 0;
  if (!o.domain.empty())
    domain_id = require_domain(store, parse_domain_name(o.domain)).id;
  const UnixTime since = parse_since(o.since, ctx.clock->now());
  const auto rows = unwrap(summarise_tlsrpt(store, domain_id, since));
  if (ctx.json) {
    Json arr = Json::array();
    for (const auto& r : rows) {
      Json failures = Json::array();
      for (const auto& f : r.failures)
        failures.push_back({{"result_type", f.result_type},
                            {"receiving_mx_hostname", f.receiving_mx_hostname},
                            {"receiving_ip", f.receiving_ip},
                            {"sessions", f.sessions}});
      arr.push_back({{"domain", r.domain},
                     {"organization", r.organization},
                     {"policy_type", r.policy_type},
                     {"reports", r.reports},
                     {"start", iso8601(r.first_start)},
                     {"end", iso8601(r.last_end)},
                     {"successful_sessions", r.successful},
                     {"failed_sessions", r.failed},
                     {"failures", failures}});
    }
    print_json({{"since", iso8601(since)}, {"summaries", arr}});
    return;
  }
  if (rows.empty()) {
    print_line("no TLS reports" + (o.domain.empty() ? std::string() : " for " + o.domain) +
               " since " + day(since));
    return;
  }
  std::size_t org_width = 12;
  for (const auto& r : rows)
    org_width = std::max(org_width, r.organization.size());
  std::string current;
  for (const auto& r : rows) {
    if (r.domain != current) {
      current = r.domain;
      print_line(r.domain + " since " + day(since));
    }
    std::string line = "  " + r.organization;
    line.resize(2 + org_width + 2, ' ');
    line += r.policy_type + ": " + std::to_string(r.reports) + " report" +
            (r.reports == 1 ? "" : "s") + " (" + day(r.first_start) + " to " + day(r.last_end) +
            "), " + std::to_string(r.successful) + " successful, " + std::to_string(r.failed) +
            " failed sessions";
    print_line(line);
    for (const auto& f : r.failures)
      print_line("      " + std::to_string(f.sessions) + " " + f.result_type + " at " + where(f));
  }
}

/// Reads every file (or stdin for "-") and stores every report in one transaction: an import
/// stores all of them or, when one is refused, none.
void run_import(const Context& ctx, const std::vector<std::string>& files) {
  std::vector<std::pair<std::string, DecodedTlsrpt>> decoded;
  for (const auto& file : files) {
    const std::string path = file == "-" ? "/dev/stdin" : file;
    const std::string label = file == "-" ? "standard input" : file;
    // A mail may carry the report base64-encoded: a third larger, plus headers.
    auto content = read_file(path, kMaxTlsrptBody * 2);
    if (!content) {
      std::string why = content.error().message; // "cannot read PATH: reason"
      if (const std::string prefix = "cannot read " + path + ": "; why.starts_with(prefix))
        why = why.substr(prefix.size());
      throw CliError(label + ": " + why + "; nothing imported");
    }
    auto bodies = tlsrpt_bodies(*content);
    if (!bodies)
      throw CliError(label + ": " + bodies.error().message + "; nothing imported");
    for (auto& body : *bodies) {
      auto d = decode_tlsrpt(body);
      if (!d)
        throw CliError(label + ": " + d.error().message + "; nothing imported");
      decoded.emplace_back(label, std::move(*d));
    }
  }
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  const UnixTime now = ctx.clock->now();
  std::vector<std::pair<std::string, TlsrptIntake>> taken;
  std::string detail;
  ctx.commit(store, now, "reports import", detail, [&]() -> Result<void> {
    for (auto& [label, d] : decoded) {
      TlsrptSubmission submission;
      submission.source = "import";
      auto t = store_tlsrpt(store, std::move(d), submission, now);
      if (!t)
        return fail(label + ": " + t.error().message + "; nothing imported");
      detail += (detail.empty() ? "" : ", ") + t->report.organization_name + " " +
                t->report.report_id + (t->stored ? "" : " (had it)");
      taken.emplace_back(label, std::move(*t));
    }
    return {};
  });
  if (ctx.json) {
    Json arr = Json::array();
    for (const auto& [label, t] : taken)
      arr.push_back({{"source", label},
                     {"domain", t.domain.name.to_string()},
                     {"organization", t.report.organization_name},
                     {"report_id", t.report.report_id},
                     {"stored", t.stored}});
    print_json({{"ok", true}, {"reports", arr}});
    return;
  }
  for (const auto& [label, t] : taken)
    print_line(std::string(t.stored ? "imported" : "already had") + " the report of " +
               t.report.organization_name + " for " + t.domain.name.to_string() + " (" +
               day(t.report.start) + " to " + day(t.report.end) + ", id " + t.report.report_id +
               ")");
}

} // namespace

void add_report_commands(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<ReportsOptions>();
  CLI::App* reports = app.add_subcommand(
      "reports", "What senders' SMTP TLS reports (RFC 8460) say about your domains");
  reports->add_option("DOMAIN", o->domain, "Only this domain (default: every domain)");
  reports->add_option("--since", o->since,
                      "Reports whose period ends at or after this: 2026-11-01, an RFC 3339 "
                      "date-time, or days before now like 7d (default 30d)");
  // CLI11 runs a parent's callback after its subcommand's: select the summary only when no
  // subcommand was chosen.
  reports->callback([&ctx, o, reports] {
    if (reports->get_subcommands().empty())
      ctx.select([&ctx, o] { run_reports(ctx, *o); });
  });

  auto files = std::make_shared<std::vector<std::string>>();
  CLI::App* import = reports->add_subcommand(
      "import", "Store reports received by mail: gzip, JSON or the whole message; - for stdin");
  import->add_option("FILE", *files, "Report files, or - for standard input")->required();
  on_run(import, ctx, [&ctx, files] { run_import(ctx, *files); });
}

} // namespace moat::cli
