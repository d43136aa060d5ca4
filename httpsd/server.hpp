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
  std::size_t max_requests_per_connection = 100;
};

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

  /// Runs `task` now and then every `period` on the io thread.
  void every(std::chrono::milliseconds period, std::function<void()> task);

  /// Serves until SIGINT or SIGTERM.
  void run();

  struct Impl; ///< the Beast and OpenSSL state, in server.cpp

private:
  std::shared_ptr<Impl> impl_;
};

} // namespace moat::httpsd
