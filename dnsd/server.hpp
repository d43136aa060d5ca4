#pragma once

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/locations.hpp"
#include "dnsd/rate_limit.hpp"
#include "dnsd/snapshot_holder.hpp"
#include "dnsd/update.hpp"

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace moat {
class MetricsText;
}

namespace spdlog {
class logger;
}

namespace moat::dnsd {

using moat::ListenAddress;

/// Tunables of the network side.
struct ServerOptions {
  std::size_t udp_workers = 1; ///< threads (each with its own SO_REUSEPORT socket)
  std::size_t max_tcp_connections = 128;
  std::size_t max_tcp_per_source = 16; ///< connections one address may hold at once
  int tcp_idle_timeout_ms = 10000;     ///< close a TCP client silent for this long
  std::size_t tcp_queries_per_connection = 1000;
  int max_transfers = 10; ///< zone transfers at once; more get SERVFAIL
  /// The time TSIG checks and signs with; the system clock when null.
  std::shared_ptr<Clock> clock;
  /// Response Rate Limiting of UDP answers (on by default, 20 a second with slip 2).
  RateLimitOptions rate_limit;
  /// Stores what an accepted UPDATE changes; UPDATE is refused when empty.
  ApplyChallenges apply_challenges;
};

/// UDP and TCP listeners answering from the published snapshot.
class Server {
public:
  Server(const SnapshotHolder& holder, ServerOptions options, std::shared_ptr<spdlog::logger> log);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds every socket now, so that a taken port fails at start-up with a clear message.
  [[nodiscard]] Result<void> bind(const std::vector<ListenAddress>& addresses);
  /// Starts the threads; returns immediately.
  void start();
  /// Stops accepting, lets in-flight work finish, joins every thread.
  void stop();

  /// Appends the server's metrics (queries, responses, answer cache, RRL, transfers and
  /// UPDATEs, TCP connections). Any thread, any time after start().
  void write_metrics(MetricsText& out) const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace moat::dnsd
