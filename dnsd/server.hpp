#pragma once

#include "core/error.hpp"
#include "dnsd/snapshot_holder.hpp"

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace spdlog {
class logger;
}

namespace moat::dnsd {

/// An address to listen on, parsed from "127.0.0.1:53", "[::1]:5353" or "[::]:53".
struct ListenAddress {
  std::string host;
  std::uint16_t port = 53;
  bool ipv6 = false;
  [[nodiscard]] std::string to_string() const;
};
[[nodiscard]] Result<ListenAddress> parse_listen_address(std::string_view text);

/// Tunables of the network side.
struct ServerOptions {
  std::size_t udp_workers = 1;        ///< threads (each with its own SO_REUSEPORT socket)
  std::size_t max_tcp_connections = 128;
  int tcp_idle_timeout_ms = 10000;    ///< close a TCP client silent for this long
  std::size_t tcp_queries_per_connection = 1000;
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

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace moat::dnsd
