#pragma once
// moat-httpsd's HTTPS front: TLS with one certificate per mta-sts.DOMAIN chosen by SNI,
// /.well-known/mta-sts.txt answered from an immutable catalog that publish() swaps. Everything
// runs on one io thread (accepts, sessions, the poll timer), so the catalog needs no lock.

#include "core/error.hpp"
#include "core/locations.hpp"
#include "httpsd/sites.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
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

namespace moat::httpsd {

using moat::ListenAddress;


/// Bounds on what one client may cost.
struct Limits {
  std::chrono::seconds handshake_and_header_timeout{10}; ///< TLS handshake, then each request head
  std::chrono::seconds idle_timeout{30};                 ///< between keep-alive requests
  std::size_t max_header_bytes = 8 * 1024;
  std::size_t max_connections = 512;
  std::size_t max_connections_per_source = 16; ///< per client address
  std::size_t max_requests_per_connection = 100;
  std::size_t max_body_bytes = 1024 * 1024; ///< a POSTed report, as sent
};

/// The answer to one POSTed report: an HTTP status and a line of text for the sender.
struct ReportAnswer {
  unsigned status = 500;
  std::string text;
};

/// Takes in a report POSTed to `site`'s report path by `peer` (an address). Runs on the io
/// thread, so it must be quick (one small SQLite transaction is).
using ReportHandler =
    std::function<ReportAnswer(const Site& site, std::string_view body, const std::string& peer)>;

class Server {
public:
  Server(std::shared_ptr<spdlog::logger> log, Limits limits = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds every address (SO_REUSEADDR); fails with the address that could not be bound.
  [[nodiscard]] Result<void> listen(const std::vector<ListenAddress>& addresses);

  /// Serves `sites` from now on. A site whose certificate or key OpenSSL refuses is left out
  /// (and logged). Returns the hosts now served. Call on the io thread (from `every`) or
  /// before run().
  std::vector<std::string> publish(const SiteSet& sites);

  /// Where POSTed reports go; without a handler every POST is refused with 405.
  void on_report(ReportHandler handler);

  /// Runs `task` now and then every `period` on the io thread.
  void every(std::chrono::milliseconds period, std::function<void()> task);

  /// Serves until SIGINT or SIGTERM.
  void run();

  /// Appends the server's metrics (TLS handshakes, requests by status, policy fetches, reports,
  /// connections). Any thread.
  void write_metrics(MetricsText& out) const;

  struct Impl; ///< the Beast and OpenSSL state, in server.cpp

private:
  std::shared_ptr<Impl> impl_;
};

} // namespace moat::httpsd
