// The Prometheus text the daemons expose, and the loopback-only listener that serves it.
#include "core/metrics_listener.hpp"
#include "core/metrics_text.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

namespace moat {
namespace {

TEST(MetricsText, WritesFamiliesAndEscapesLabels) {
  MetricsText m;
  m.family("moat_x_total", "counter", "Things\\counted\nhere");
  m.sample("moat_x_total", {{"zone", "a\"b\\c\nd."}, {"kind", "k"}}, 42);
  m.sample("moat_x_total", 1e17);
  m.sample("moat_x_total", 0.5);
  EXPECT_EQ(m.text(), "# HELP moat_x_total Things\\\\counted\\nhere\n"
                      "# TYPE moat_x_total counter\n"
                      "moat_x_total{zone=\"a\\\"b\\\\c\\nd.\",kind=\"k\"} 42\n"
                      "moat_x_total 1e+17\n"
                      "moat_x_total 0.5\n");
}

// One HTTP exchange with the listener on 127.0.0.1:`port`: what it sent back.
std::string exchange(std::uint16_t port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "connect failed";
  }
  (void)::send(fd, request.data(), request.size(), 0);
  std::string out;
  char buf[4096];
  for (ssize_t k; (k = ::recv(fd, buf, sizeof buf, 0)) > 0;)
    out.append(buf, static_cast<std::size_t>(k));
  ::close(fd);
  return out;
}

// A free port on loopback (bound then released; the listener takes it right after).
std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

TEST(MetricsListener, ServesMetricsOnlyAtTheirPath) {
  const std::uint16_t port = free_port();
  int renders = 0;
  auto started = start_metrics("127.0.0.1:" + std::to_string(port), "127.0.0.1:1", [&] {
    ++renders;
    return std::string("moat_up 1\n");
  });
  ASSERT_TRUE(started) << started.error().message;
  ASSERT_TRUE(started->listener);
  EXPECT_EQ(started->warning, "");
  const std::string ok = exchange(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(ok.starts_with("HTTP/1.1 200 OK\r\n")) << ok;
  EXPECT_NE(ok.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << ok;
  EXPECT_TRUE(ok.ends_with("\r\n\r\nmoat_up 1\n")) << ok;
  EXPECT_TRUE(exchange(port, "GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
  const std::string post = exchange(port, "POST /metrics HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(post.starts_with("HTTP/1.1 405 ")) << post;
  EXPECT_NE(post.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos) << post;
  EXPECT_EQ(renders, 1);
}

TEST(MetricsListener, RefusesAddressesOffLoopbackAndTakenOnes) {
  auto outside = start_metrics("192.0.2.1:9999", "127.0.0.1:1", [] { return std::string(); });
  ASSERT_FALSE(outside);
  EXPECT_EQ(outside.error().message,
            "metrics listen on loopback only (127.0.0.0/8 or ::1), not 192.0.2.1:9999");
  auto bad = start_metrics("localhost:99", "127.0.0.1:1", [] { return std::string(); });
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error().message.starts_with("--metrics localhost:99: ")) << bad.error().message;

  const std::uint16_t port = free_port();
  const std::string address = "127.0.0.1:" + std::to_string(port);
  auto first = start_metrics(address, "127.0.0.1:1", [] { return std::string(); });
  ASSERT_TRUE(first && first->listener);
  // Taken: an error when asked for, a warning when it is only the default.
  auto asked = start_metrics(address, "127.0.0.1:1", [] { return std::string(); });
  ASSERT_FALSE(asked);
  EXPECT_TRUE(asked.error().message.starts_with("cannot listen for metrics on " + address));
  auto by_default = start_metrics(std::nullopt, address, [] { return std::string(); });
  ASSERT_TRUE(by_default);
  EXPECT_FALSE(by_default->listener);
  EXPECT_TRUE(by_default->warning.ends_with("(no metrics; --metrics ADDR:PORT or off)"))
      << by_default->warning;
  auto off = start_metrics("off", address, [] { return std::string(); });
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->listener);
  EXPECT_EQ(off->warning, "");
}

} // namespace
} // namespace moat
