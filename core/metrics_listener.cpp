#include "core/metrics_listener.hpp"

#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace moat {
namespace {

constexpr int kPollMs = 200;          ///< how soon a stop is noticed
constexpr int kRequestTimeoutMs = 2000;
constexpr std::size_t kMaxRequest = 4096;

bool is_loopback(const ListenAddress& a) {
  if (a.ipv6) {
    in6_addr v6{};
    return inet_pton(AF_INET6, a.host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
  }
  in_addr v4{};
  return inet_pton(AF_INET, a.host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

void write_all(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, kRequestTimeoutMs) <= 0)
      return;
    const ssize_t k = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (k <= 0) {
      if (k < 0 && errno == EINTR)
        continue;
      return;
    }
    sent += static_cast<std::size_t>(k);
  }
}

std::string response(const char* status, const std::string& type, const std::string& body,
                     const char* extra = "") {
  return std::string("HTTP/1.1 ") + status + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra +
         "Connection: close\r\n\r\n" + body;
}

} // namespace

struct MetricsListener::Impl {
  int fd = -1;
  Render render;
  std::atomic<bool> stopping{false};
  std::thread thread;

  void serve(int client) {
    // Reads the request head within the deadline; only its first line matters.
    std::string request;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kRequestTimeoutMs);
    char buf[1024];
    while (request.find("\r\n\r\n") == std::string::npos &&
           request.find("\n\n") == std::string::npos && request.size() < kMaxRequest) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      pollfd p{client, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0)
        return;
      const ssize_t k = ::recv(client, buf, sizeof buf, 0);
      if (k <= 0)
        return;
      request.append(buf, static_cast<std::size_t>(k));
    }
    const std::string line = request.substr(0, request.find_first_of("\r\n"));
    if (line.rfind("GET ", 0) != 0 && line.rfind("HEAD ", 0) != 0)
      return write_all(client, response("405 Method Not Allowed", "text/plain",
                                        "method not allowed\n", "Allow: GET, HEAD\r\n"));
    const std::size_t path_at = line.find(' ') + 1;
    const std::string path = line.substr(path_at, line.find(' ', path_at) - path_at);
    if (path != "/metrics")
      return write_all(client, response("404 Not Found", "text/plain", "not found\n"));
    std::string body = render();
    if (line.rfind("HEAD ", 0) == 0) {
      std::string head = response("200 OK", "text/plain; version=0.0.4; charset=utf-8", body);
      head.resize(head.size() - body.size());
      return write_all(client, head);
    }
    write_all(client, response("200 OK", "text/plain; version=0.0.4; charset=utf-8", body));
  }

  void loop() {
    while (!stopping.load()) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, kPollMs) <= 0)
        continue;
      const int client = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) {
        if (errno == EMFILE || errno == ENFILE) // out of descriptors: back off, stay alive
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      serve(client);
      ::close(client);
    }
  }
};

Result<std::unique_ptr<MetricsListener>> MetricsListener::start(const ListenAddress& address,
                                                                Render render) {
  if (!is_loopback(address))
    return fail("metrics listen on loopback only (127.0.0.0/8 or ::1), not " + address.to_string());
  auto impl = std::make_unique<Impl>();
  impl->render = std::move(render);
  sockaddr_storage ss{};
  const socklen_t len = socket_address(address, ss); // the address parsed: is_loopback read it
  impl->fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  if (impl->fd < 0 || ::setsockopt(impl->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::bind(impl->fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(impl->fd, 16) != 0) {
    const std::string why = std::strerror(errno);
    if (impl->fd >= 0)
      ::close(impl->fd);
    return fail("cannot listen for metrics on " + address.to_string() + ": " + why);
  }
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->loop(); });
  return std::unique_ptr<MetricsListener>(new MetricsListener(std::move(impl)));
}

MetricsListener::MetricsListener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsListener::~MetricsListener() {
  impl_->stopping = true;
  if (impl_->thread.joinable())
    impl_->thread.join();
  ::close(impl_->fd);
}

Result<MetricsStart> start_metrics(const std::optional<std::string>& given,
                                   const std::string& default_address,
                                   MetricsListener::Render render) {
  MetricsStart out;
  const std::string text = given.value_or(default_address);
  if (text == "off")
    return out;
  auto address = parse_listen_address(text);
  Result<std::unique_ptr<MetricsListener>> listener =
      address ? MetricsListener::start(*address, std::move(render))
              : fail("--metrics " + text + ": " + address.error().message);
  if (listener) {
    out.listener = std::move(*listener);
    return out;
  }
  if (given)
    return std::unexpected(listener.error());
  out.warning = listener.error().message + " (no metrics; --metrics ADDR:PORT or off)";
  return out;
}

} // namespace moat
