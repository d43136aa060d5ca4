// moat-dnsd: wires the store, the loader and the network together, then waits for a signal.
#include "core/clock.hpp"
#include "core/live_files.hpp"
#include "core/locations.hpp"
#include "core/metrics_listener.hpp"
#include "core/store.hpp"
#include "dnsd/challenge_writer.hpp"
#include "dnsd/metrics.hpp"
#include "dnsd/notifier.hpp"
#include "dnsd/server.hpp"
#include "dnsd/snapshot_holder.hpp"
#include "dnsd/zone_loader.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <malloc.h>
#include <optional>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <thread>

namespace {

void log_event(spdlog::logger& log, const moat::dnsd::ZoneEvent& e) {
  using Kind = moat::dnsd::ZoneEvent::Kind;
  switch (e.kind) {
  case Kind::kLoaded:
  case Kind::kReloaded:
    if (!e.warning.empty())
      log.warn("{}: {}", e.zone, e.warning);
    log.info("{} {} serial {}: {} rrsets changed, {} signatures made, {} reused in {:.1f} ms{}",
             e.kind == Kind::kLoaded ? "load" : "reload", e.zone, e.serial, e.rrsets_changed,
             e.signatures_made, e.signatures_reused, e.milliseconds,
             e.patched ? " (changed names only)" : "");
    break;
  case Kind::kRemoved:
    log.info("removed {}", e.zone);
    break;
  case Kind::kFailed:
    log.error("cannot load {}: {} (still serving the previous version)", e.zone, e.error);
    break;
  }
}

void count_event(moat::dnsd::LoadCounters& c, const moat::dnsd::ZoneEvent& e) {
  using Kind = moat::dnsd::ZoneEvent::Kind;
  if (e.kind == Kind::kFailed)
    moat::dnsd::bump(c.failed);
  if (e.kind != Kind::kLoaded && e.kind != Kind::kReloaded)
    return;
  moat::dnsd::bump(e.patched ? c.patched : c.whole);
  moat::dnsd::bump(c.signatures_made, e.signatures_made);
  moat::dnsd::bump(c.signatures_reused, e.signatures_reused);
}

/// The zones served now: how many, and each one's serial.
void write_zone_metrics(moat::MetricsText& out, const moat::dnsd::Snapshot& snapshot) {
  out.family("moat_dnsd_zones", "gauge", "Zones served");
  out.sample("moat_dnsd_zones", static_cast<double>(snapshot.zones.size()));
  out.family("moat_dnsd_zone_serial", "gauge", "SOA serial served, per zone");
  for (const auto& z : snapshot.zones)
    out.sample("moat_dnsd_zone_serial", {{"zone", z->apex.to_string()}},
               static_cast<double>(z->serial));
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"moat-dnsd: DNSSEC-signing authoritative nameserver of moat"};
  std::string db = moat::default_database_path();
  std::vector<std::string> listen;
  std::size_t workers = 1;
  int poll_ms = 100;
  std::string level = "info";
  std::string dump_dir;
  app.add_option("--db", db,
                 "database written by the moat CLI (default $MOAT_DB or /var/lib/moat/moat.db)");
  app.add_option("--listen", listen,
                 "ADDR:PORT or [ADDR6]:PORT, repeatable (default 0.0.0.0:53 and [::]:53)");
  app.add_option("--workers", workers, "UDP worker threads per address")->check(CLI::Range(1, 64));
  app.add_option("--poll-ms", poll_ms,
                 "how often to look at the whole database at the latest (a commit to it is "
                 "noticed within 10 ms)")
      ->check(CLI::Range(10, 10000));
  app.add_option("--zone-dump", dump_dir,
                 "directory to write each signed zone to (APEXzone) as it is served")
      ->check(CLI::ExistingDirectory);
  std::optional<std::string> state_dir;
  app.add_option("--state-dir", state_dir,
                 "directory where the signed zones are kept between runs, so that a restart "
                 "re-uses their signatures (default: 'signed' beside the database; '' for none)");
  moat::dnsd::RateLimitOptions rrl;
  app.add_option("--rrl-rate", rrl.responses_per_second,
                 "UDP answers a second to one client network for one name (0: no rate limit)")
      ->check(CLI::Range(0, 16000));
  app.add_option("--rrl-slip", rrl.slip,
                 "of the answers over the limit, send every Nth truncated (0: drop all)")
      ->check(CLI::Range(0, 255));
  std::size_t tcp_per_source = 16;
  int tcp_idle_ms = 10000;
  app.add_option("--tcp-idle-ms", tcp_idle_ms, "close a TCP client silent this long (RFC 7766)")
      ->check(CLI::Range(100, 120000));
  app.add_option("--tcp-per-source", tcp_per_source, "TCP connections one address may hold")
      ->check(CLI::Range(1, 1024));
  std::optional<std::string> metrics;
  app.add_option("--metrics", metrics,
                 "ADDR:PORT on loopback for Prometheus scrapes of /metrics, or off (default "
                 "127.0.0.1:9353)");
  app.add_option("--log-level", level, "trace|debug|info|warn|error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  CLI11_PARSE(app, argc, argv);
  rrl.enabled = rrl.responses_per_second > 0;

  auto log = spdlog::stderr_color_mt("dnsd");
  log->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  log->set_level(spdlog::level::from_str(level));

  auto addresses = moat::parse_listen_addresses(listen, {"0.0.0.0:53", "[::]:53"});
  if (!addresses) {
    log->error("{}", addresses.error().message);
    return 2;
  }

  auto store = moat::Store::open(db, moat::Store::Mode::kOpenExisting);
  if (!store) {
    log->error("{}", store.error().message);
    return 1;
  }
  // SIGINT/SIGTERM are taken with sigwait by this thread only; block them before any thread
  // starts so the others inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // A directory asked for must work; the default is a convenience: without it a restart only
  // signs the zones anew, which is no reason not to serve them.
  const bool state_dir_asked = state_dir.has_value();
  if (!state_dir)
    state_dir = (std::filesystem::path(db).parent_path() / "signed").string();
  if (!state_dir->empty())
    if (auto r = moat::make_directories(*state_dir); !r) {
      if (state_dir_asked) {
        log->error("{}", r.error().message);
        return 1;
      }
      log->warn("signed zones will not be kept across restarts: {}", r.error().message);
      state_dir->clear();
    }
  moat::dnsd::ZoneLoader loader(std::move(*store), moat::system_clock(), dump_dir, *state_dir);
  auto save_state = [&] {
    for (const std::string& e : loader.save_state())
      log->warn("cannot keep the signed zone for the next run: {}", e);
  };
  moat::dnsd::SnapshotHolder holder;
  // Serials are reported as served only once the server answers queries: the first load's
  // report waits until the sockets are bound and the workers run.
  bool serving = false;
  std::vector<moat::dnsd::ZoneEvent> unreported;
  std::unique_ptr<moat::dnsd::Notifier> notifier; // once serving: secondaries ask at once
  // Reads the store, publishes a new snapshot when something changed. Says whether it did,
  // and whether a zone was read and signed whole (which leaves much memory to give back).
  enum class Loaded { kNothing, kPatched, kWhole };
  moat::dnsd::LoadCounters load_counters;
  auto load = [&] {
    std::vector<moat::dnsd::ZoneEvent> events;
    auto snap = loader.poll(events);
    for (const auto& e : events) {
      log_event(*log, e);
      count_event(load_counters, e);
    }
    if (!snap) {
      log->error("cannot read {}: {}", db, snap.error().message);
      return Loaded::kNothing;
    }
    if (*snap) {
      holder.publish(*snap);
      if (notifier)
        notifier->published(*snap);
    }
    const Loaded whole = *snap == nullptr ? Loaded::kNothing
                         : std::ranges::any_of(events,
                                               [](const auto& e) {
                                                 return e.kind == moat::dnsd::ZoneEvent::Kind::kRemoved ||
                                                        !e.patched;
                                               })
                             ? Loaded::kWhole
                             : Loaded::kPatched;
    if (!serving) {
      unreported.insert(unreported.end(), events.begin(), events.end());
      return whole;
    }
    // Only now is the new serial really served: tell the store, which `moat tick` reads.
    if (auto r = loader.acknowledge(events); !r)
      log->error("cannot record what is served in {}: {}", db, r.error().message);
    return whole;
  };
  // UPDATEs of ACME challenge records arrive on the server's threads: they get a connection of
  // their own (the loader's belongs to its thread), used under a mutex, as they are rare.
  auto update_store = moat::Store::open(db, moat::Store::Mode::kOpenExisting);
  if (!update_store) {
    log->error("{}", update_store.error().message);
    return 1;
  }
  moat::dnsd::ChallengeWriter challenges(std::move(*update_store), moat::system_clock());
  moat::dnsd::Server server(
      holder,
      {.udp_workers = workers,
       .max_tcp_per_source = tcp_per_source,
       .tcp_idle_timeout_ms = tcp_idle_ms,
       .clock = moat::system_clock(),
       .rate_limit = rrl,
       .apply_challenges = [&](std::int64_t domain,
                               const auto& changes) { return challenges.apply(domain, changes); }},
      log);
  if (auto r = server.bind(*addresses); !r) {
    log->error("{}", r.error().message);
    return 1;
  }
  // Bound first, so that a port in use fails at once rather than after signing every zone;
  // queries that arrive meanwhile wait in the sockets and are answered from the signed zones.
  (void)load();   // serve signed zones from the first answer on
  malloc_trim(0); // signing the zones took far more memory than serving them does
  server.start();
  serving = true;
  notifier = std::make_unique<moat::dnsd::Notifier>(moat::system_clock(), log);
  notifier->published(holder.current());
  if (auto r = loader.acknowledge(unreported); !r)
    log->error("cannot record what is served in {}: {}", db, r.error().message);
  unreported.clear();
  auto metrics_listener = moat::start_metrics(metrics, "127.0.0.1:9353", [&] {
    moat::MetricsText out;
    server.write_metrics(out);
    moat::dnsd::write_load_metrics(out, load_counters);
    write_zone_metrics(out, *holder.current());
    return out.text();
  });
  if (!metrics_listener) {
    log->error("{}", metrics_listener.error().message);
    return 1;
  }
  if (!metrics_listener->warning.empty())
    log->warn("{}", metrics_listener->warning);
  for (const auto& a : *addresses)
    log->info("listening on {} (udp+tcp)", a.to_string());
  if (metrics_listener->listener)
    log->info("metrics on http://{}/metrics", metrics.value_or("127.0.0.1:9353"));
  log->info("moat-dnsd started: {} zone(s) from {}", holder.current()->zones.size(), db);
  save_state(); // serving already: a crash from here on finds these signatures
  malloc_trim(0);

  std::atomic<bool> stopping{false};
  // Every kWatch the store is asked whether another connection committed (the CLI, or this
  // daemon's UPDATE connection), which costs microseconds; the full look (which also finds
  // signatures due for refresh and expired challenges) runs on a change and every --poll-ms.
  constexpr auto kWatch = std::chrono::milliseconds(10);
  std::thread watcher([&] {
    auto last_poll = std::chrono::steady_clock::now();
    std::optional<std::chrono::steady_clock::time_point> trim_at;
    while (!stopping.load()) {
      std::this_thread::sleep_for(kWatch);
      (void)holder.reclaim(); // replaced zones are freed here, not on a query thread
      const auto now = std::chrono::steady_clock::now();
      // A reload frees the previous zone once every worker has moved to the new snapshot (they
      // look at least every 200 ms); give its pages back to the system then, or the process
      // keeps the high-water mark of the reload for good. After a patch (which copies only the
      // zone's index) not before changes have stopped for a while: trimming takes milliseconds
      // a change arriving meanwhile would wait.
      if (trim_at && now >= *trim_at) {
        save_state(); // once quiet too: writing a big zone takes a while
        malloc_trim(0);
        trim_at.reset();
      }
      if (now - last_poll < std::chrono::milliseconds(poll_ms) && !loader.store_changed())
        continue;
      last_poll = now;
      switch (load()) {
      case Loaded::kWhole:
        trim_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
        break;
      case Loaded::kPatched:
        trim_at = std::chrono::steady_clock::now() + std::chrono::seconds(3);
        break;
      case Loaded::kNothing:
        break;
      }
    }
  });
  int sig = 0;
  sigwait(&signals, &sig);
  log->info("stopping on signal {}", sig);
  stopping = true;
  watcher.join();
  server.stop();
  save_state();
  return 0;
}
