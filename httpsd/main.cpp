// moat-httpsd: serves each domain's MTA-STS policy at https://mta-sts.DOMAIN/ with the
// certificate deployed for that name, and tells the store what it serves so that the
// `_mta-sts` id follows (DESIGN.md rule 2).
#include "core/clock.hpp"
#include "core/locations.hpp"
#include "core/metrics_listener.hpp"
#include "core/metrics_text.hpp"
#include "core/mta_sts.hpp"
#include "core/store.hpp"
#include "core/tlsrpt_intake.hpp"
#include "httpsd/server.hpp"
#include "httpsd/sites.hpp"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace {

/// RFC 8460 §5.3: success is a 2xx; the sender may retry after anything else, so a refusal of
/// the report itself is a 4xx and only a failure of ours a 5xx.
unsigned status_of(moat::TlsrptRefusal why) {
  switch (why) {
  case moat::TlsrptRefusal::kTooLarge:
    return 413;
  case moat::TlsrptRefusal::kMalformed:
    return 400;
  case moat::TlsrptRefusal::kNotOurs:
    return 403;
  case moat::TlsrptRefusal::kTooMany:
    return 429;
  case moat::TlsrptRefusal::kStore:
    return 503;
  }
  return 500;
}

// What a site looks like to the poller: a change in any of these means publishing again.
std::string fingerprint(const moat::httpsd::Site& s) {
  return s.policy_text + '\0' + s.fullchain_pem + '\0' + s.key_pem + '\0' + s.report_path;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"moat-httpsd: serves the MTA-STS policies of moat's domains over HTTPS"};
  std::string db = moat::default_database_path();
  std::vector<std::string> listen;
  int poll_ms = 1000;
  std::string level = "info";
  moat::httpsd::Limits limits;
  int header_timeout_s = static_cast<int>(limits.handshake_and_header_timeout.count());
  int idle_timeout_s = static_cast<int>(limits.idle_timeout.count());
  std::int64_t max_reports_per_day = 1000;
  std::int64_t max_report_mib_per_day = 64;
  app.add_option("--db", db,
                 "database written by the moat CLI (default $MOAT_DB or /var/lib/moat/moat.db)");
  app.add_option("--listen", listen,
                 "ADDR:PORT or [ADDR6]:PORT, repeatable (default 0.0.0.0:443 and [::]:443)");
  app.add_option("--poll-ms", poll_ms, "how often to look for changes in the database")
      ->check(CLI::Range(10, 60000));
  app.add_option("--header-timeout", header_timeout_s,
                 "seconds for the TLS handshake and for each request head (default 10)")
      ->check(CLI::Range(1, 10));
  app.add_option("--idle-timeout", idle_timeout_s,
                 "seconds a kept-alive connection may wait for its next request (default 30)")
      ->check(CLI::Range(1, 300));
  app.add_option("--max-connections", limits.max_connections,
                 "connections served at once; more are closed at accept (default 512)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--max-connections-per-source", limits.max_connections_per_source,
                 "connections one client address may hold open (default 16)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--max-reports-per-day", max_reports_per_day,
                 "TLS reports one domain may receive in 24 hours; more get 429 (default 1000)")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--max-report-mib-per-day", max_report_mib_per_day,
                 "MiB of TLS reports one domain may receive in 24 hours; more get 429 (default 64)")
      ->check(CLI::Range(1, 100000));
  std::optional<std::string> metrics;
  app.add_option("--metrics", metrics,
                 "ADDR:PORT on loopback for Prometheus scrapes of /metrics, or off (default "
                 "127.0.0.1:9354)");
  app.add_option("--log-level", level, "trace|debug|info|warn|error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  CLI11_PARSE(app, argc, argv);

  auto log = spdlog::stderr_color_mt("httpsd");
  log->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  log->set_level(spdlog::level::from_str(level));

  auto addresses = moat::parse_listen_addresses(listen, {"0.0.0.0:443", "[::]:443"});
  if (!addresses) {
    log->error("{}", addresses.error().message);
    return 2;
  }
  auto store = moat::Store::open(db, moat::Store::Mode::kOpenExisting);
  if (!store) {
    log->error("{}", store.error().message);
    return 1;
  }

  limits.handshake_and_header_timeout = std::chrono::seconds(header_timeout_s);
  limits.idle_timeout = std::chrono::seconds(idle_timeout_s);
  limits.max_body_bytes = moat::kMaxTlsrptBody;
  moat::httpsd::Server server(log, limits);
  if (auto r = server.listen(*addresses); !r) {
    log->error("{}", r.error().message);
    return 1;
  }

  std::map<std::string, std::string> published; // host -> fingerprint of what is served
  std::set<std::string> acknowledged;           // hosts whose current text the store knows
  std::set<std::string> skipped_logged;
  const std::shared_ptr<moat::Clock> clock = moat::system_clock();
  auto poll = [&] {
    auto sites = moat::httpsd::read_sites(*store);
    if (!sites) {
      log->error("cannot read {}: {} (still serving the previous sites)", db,
                 sites.error().message);
      return;
    }
    std::map<std::string, std::string> wanted;
    for (const auto& [host, site] : sites->sites)
      wanted.emplace(host, fingerprint(site));
    if (wanted != published) {
      auto served = server.publish(*sites);
      std::map<std::string, std::string> now_published;
      for (const auto& host : served) {
        now_published.emplace(host, wanted.at(host));
        if (published.count(host) == 0 || published.at(host) != wanted.at(host))
          acknowledged.erase(host);
      }
      published = std::move(now_published);
      log->info("serving {} site(s)", published.size());
    }
    for (const auto& why : sites->skipped)
      if (skipped_logged.insert(why).second)
        log->warn("not serving {}", why);
    // Only what is really served is reported; a failed report is retried on the next poll.
    for (const auto& [host, fp] : published) {
      if (acknowledged.count(host) != 0)
        continue;
      const auto& site = sites->sites.at(host);
      auto changed = moat::httpsd::acknowledge_served(*store, site, clock->now());
      if (!changed) {
        log->error("cannot record what {} serves: {}", host, changed.error().message);
        continue;
      }
      if (*changed)
        log->info("{} serves policy id {}", host, moat::policy_id(site.policy_text));
      acknowledged.insert(host);
    }
  };
  server.every(std::chrono::milliseconds(poll_ms), poll);
  server.on_report([&](const moat::httpsd::Site& site, std::string_view body,
                       const std::string& peer) -> moat::httpsd::ReportAnswer {
    moat::TlsrptSubmission submission;
    submission.body = body;
    submission.for_domain = site.domain_id;
    submission.source = "https " + peer;
    submission.max_per_day = max_reports_per_day;
    submission.max_octets_per_day = max_report_mib_per_day * 1024 * 1024;
    auto taken = moat::take_tlsrpt_report(*store, submission, clock->now());
    if (!taken) {
      log->warn("report for {} from {} refused: {}", site.domain, peer, taken.error().message);
      return {status_of(taken.error().why), taken.error().message};
    }
    const auto& r = taken->report;
    if (!taken->stored) {
      log->info("report {} of {} for {} from {} received again", r.report_id,
                r.organization_name, site.domain, peer);
      return {200, "report already received"};
    }
    std::uint64_t failed = 0;
    for (const auto& p : r.policies)
      failed += p.failed_sessions;
    log->info("report {} of {} for {} from {}: {} polic{}, {} failed session{}", r.report_id,
              r.organization_name, site.domain, peer, r.policies.size(),
              r.policies.size() == 1 ? "y" : "ies", failed, failed == 1 ? "" : "s");
    return {201, "report received"};
  });
  auto metrics_listener = moat::start_metrics(metrics, "127.0.0.1:9354", [&server] {
    moat::MetricsText out;
    server.write_metrics(out);
    return out.text();
  });
  if (!metrics_listener) {
    log->error("{}", metrics_listener.error().message);
    return 1;
  }
  if (!metrics_listener->warning.empty())
    log->warn("{}", metrics_listener->warning);
  for (const auto& a : *addresses)
    log->info("listening on {} (https)", a.to_string());
  if (metrics_listener->listener)
    log->info("metrics on http://{}/metrics", metrics.value_or("127.0.0.1:9354"));
  log->info("moat-httpsd started with {}", db);
  server.run();
  return 0;
}
