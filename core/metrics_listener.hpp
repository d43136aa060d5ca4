#pragma once
// A small HTTP listener for Prometheus scrapes, on a loopback address only: metrics say how
// busy and how attacked a server is, which is nobody else's business. One thread, one
// connection at a time, a bounded request, a deadline: a scraper is a trusted local client, and
// anything else gets little.

#include "core/error.hpp"
#include "core/locations.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace moat {

class MetricsListener {
public:
  /// Renders the current metrics (called on the listener's thread: read shared state safely).
  using Render = std::function<std::string()>;

  /// Binds `address` (refused unless it is 127.0.0.0/8 or ::1) and starts answering
  /// `GET /metrics` with `render()`; other paths get 404, other methods 405.
  [[nodiscard]] static Result<std::unique_ptr<MetricsListener>> start(const ListenAddress& address,
                                                                      Render render);
  ~MetricsListener(); ///< stops the thread and closes the socket
  MetricsListener(const MetricsListener&) = delete;
  MetricsListener& operator=(const MetricsListener&) = delete;

  struct Impl;

private:
  explicit MetricsListener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// What the daemons' `--metrics ADDR:PORT|off` started.
struct MetricsStart {
  std::unique_ptr<MetricsListener> listener; ///< null when off
  std::string warning;                       ///< the default address could not be used
};

/// Starts the listener `--metrics` asks for: `given` when the option was given (an error when
/// it cannot be used, "off" for none), else `default_address`, which may fail with only a
/// warning: an optional listener must not stop a nameserver from starting.
[[nodiscard]] Result<MetricsStart> start_metrics(const std::optional<std::string>& given,
                                                 const std::string& default_address,
                                                 MetricsListener::Render render);

} // namespace moat
