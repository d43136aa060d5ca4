#include "dnsd/server.hpp"

#include "dnsd/answer.hpp"
#include "dnsd/answer_cache.hpp"
#include "dnsd/metrics.hpp"
#include "dnsd/transfer.hpp"

#include <arpa/inet.h>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/uio.h>
#include <thread>
#include <unistd.h>

namespace moat::dnsd {
namespace {

constexpr int kPollMs = 200; // how quickly threads notice stop()

class Fd {
public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~Fd() { reset(); }
  void reset() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }
  [[nodiscard]] int get() const { return fd_; }

private:
  int fd_;
};

Result<Fd> open_socket(const ListenAddress& a, int type, bool reuseport) {
  sockaddr_storage ss{};
  const socklen_t len = socket_address(a, ss);
  if (len == 0)
    return fail(std::string("bad ") + (a.ipv6 ? "IPv6" : "IPv4") + " address " + a.host);
  Fd fd(::socket(ss.ss_family, type | SOCK_CLOEXEC, 0));
  if (fd.get() < 0)
    return fail("socket: " + std::string(std::strerror(errno)));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuseport)
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (a.ipv6) // [::]:53 must not collide with 0.0.0.0:53
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (type == SOCK_DGRAM) {
    // Ignore path MTU information: a forged ICMP "fragmentation needed" must not make answers
    // leave in fragments, which an off-path attacker can replace (as NSD and Knot do). Answers
    // are at most 1232 bytes, which needs no fragmenting on any real path.
    int omit = a.ipv6 ? IPV6_PMTUDISC_OMIT : IP_PMTUDISC_OMIT;
    ::setsockopt(fd.get(), a.ipv6 ? IPPROTO_IPV6 : IPPROTO_IP,
                 a.ipv6 ? IPV6_MTU_DISCOVER : IP_MTU_DISCOVER, &omit, sizeof omit);
  }
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
    return fail("cannot listen on " + std::string(type == SOCK_DGRAM ? "udp " : "tcp ") +
                a.to_string() + ": " + std::strerror(errno));
  if (type == SOCK_STREAM && ::listen(fd.get(), 128) != 0)
    return fail("listen " + a.to_string() + ": " + std::strerror(errno));
  return fd;
}

// Reads exactly `n` bytes, giving up after `timeout_ms` of silence or when `stop` is set.
bool read_full(int fd, std::uint8_t* p, std::size_t n, int timeout_ms,
               const std::atomic<bool>& stop) {
  std::size_t got = 0;
  int waited = 0;
  while (got < n) {
    pollfd pfd{fd, POLLIN, 0};
    int r = ::poll(&pfd, 1, kPollMs);
    if (stop.load())
      return false;
    if (r == 0) {
      waited += kPollMs;
      if (waited >= timeout_ms)
        return false;
      continue;
    }
    if (r < 0 && errno == EINTR)
      continue;
    ssize_t k = ::recv(fd, p + got, n - got, 0);
    if (k <= 0)
      return false;
    got += static_cast<std::size_t>(k);
    waited = 0;
  }
  return true;
}

bool write_full(int fd, const std::uint8_t* p, std::size_t n, int timeout_ms) {
  std::size_t sent = 0;
  while (sent < n) {
    pollfd pfd{fd, POLLOUT, 0};
    int r = ::poll(&pfd, 1, timeout_ms);
    if (r <= 0) {
      if (r < 0 && errno == EINTR)
        continue;
      return false; // a reader that stopped reading is cut off
    }
    ssize_t k = ::send(fd, p + sent, n - sent, MSG_NOSIGNAL);
    if (k <= 0)
      return false;
    sent += static_cast<std::size_t>(k);
  }
  return true;
}

// The client's address as it goes into cookies and rate limiting: 4 or 16 bytes.
std::span<const std::uint8_t> address_bytes(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET6)
    return {reinterpret_cast<const std::uint8_t*>(
                &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr),
            16};
  return {
      reinterpret_cast<const std::uint8_t*>(&reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr),
      4};
}

Peer peer_of(const sockaddr_storage& ss) {
  char text[INET6_ADDRSTRLEN] = {};
  Peer p;
  if (ss.ss_family == AF_INET6) {
    const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &s6->sin6_addr, text, sizeof text);
    p.port = ntohs(s6->sin6_port);
  } else {
    const auto* s4 = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &s4->sin_addr, text, sizeof text);
    p.port = ntohs(s4->sin_port);
  }
  p.address = text;
  auto bytes = address_bytes(ss);
  p.ip.assign(bytes.begin(), bytes.end());
  return p;
}

std::int64_t monotonic_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

// RRL's "slip": the answer cut down to its header and question with TC set, so that a real
// client asks again over TCP while a forged source gains nothing to reflect.
std::size_t slip(std::span<std::uint8_t> out, std::size_t len) {
  if (len < kHeaderSize)
    return 0;
  std::size_t end = kHeaderSize;
  if (out[5] == 1) { // the echoed question's name is written uncompressed
    while (end < len && out[end] != 0)
      end += out[end] + 1;
    end += 5;
    if (end > len)
      return 0;
  }
  out[2] |= 0x02;
  std::fill(out.begin() + 6, out.begin() + 12, 0);
  out[5] = end > kHeaderSize ? 1 : 0;
  return end;
}

CookieSecret random_secret() {
  CookieSecret s{};
  if (RAND_bytes(s.data(), static_cast<int>(s.size())) != 1)
    throw std::runtime_error("no random bytes for the DNS cookie secret");
  return s;
}

} // namespace

struct Server::Impl {
  const SnapshotHolder& holder;
  ServerOptions options;
  std::shared_ptr<spdlog::logger> log;
  std::vector<Fd> udp, tcp;
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  TransferLimits transfers;
  RateLimiter limiter{options.rate_limit};
  // Cookies are checked against a secret drawn at start: after a restart clients learn a new
  // server cookie, which RFC 7873 §5.2.3 allows for.
  CookieJar cookies{random_secret()};
  std::map<std::string, std::size_t> connections_per_source; ///< guarded by conn_mutex
  // Metrics: one set of counters per UDP worker (made before the workers start, never moved),
  // one shared by the TCP connections.
  std::list<QueryCounters> udp_counters;
  QueryCounters tcp_counters{.shared = true};
  RequestCounters requests;
  std::atomic<std::uint64_t> tcp_refused{0};

  struct Connection {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::mutex conn_mutex; ///< guards connections and live_connections; a leaf lock
  std::list<Connection> connections;
  std::size_t live_connections = 0;

  // Joins the threads of connections that have ended. Called with conn_mutex held.
  void reap_locked() {
    for (auto it = connections.begin(); it != connections.end();) {
      if (it->done->load()) {
        it->thread.join();
        it = connections.erase(it);
      } else {
        ++it;
      }
    }
  }

  // One worker: takes the datagrams waiting on its socket in batches (recvmmsg), answers each
  // from its answer cache or the snapshot, and sends the batch's answers with one sendmmsg.
  void udp_loop(int fd, QueryCounters& counters) {
    constexpr std::size_t kBatch = 32;
    constexpr std::size_t kMaxDatagram = 65535;
    // A blocking receive that gives up now and then, so that stop() is noticed.
    timeval timeout{0, kPollMs * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    SnapshotHolder::Reader reader(holder);
    AnswerCache cache;
    // Untouched pages of these stay virtual: only what datagrams and answers use is resident.
    auto in = std::make_unique_for_overwrite<std::uint8_t[]>(kBatch * kMaxDatagram);
    auto out = std::make_unique_for_overwrite<std::uint8_t[]>(kBatch * kMaxResponse);
    std::array<sockaddr_storage, kBatch> peers{};
    std::array<iovec, kBatch> in_iov{}, out_iov{};
    std::array<mmsghdr, kBatch> received{}, replies{};
    for (std::size_t i = 0; i < kBatch; ++i)
      in_iov[i] = {in.get() + i * kMaxDatagram, kMaxDatagram};
    while (!stopping.load(std::memory_order_relaxed)) {
      for (std::size_t i = 0; i < kBatch; ++i) {
        received[i].msg_hdr = {};
        received[i].msg_hdr.msg_name = &peers[i];
        received[i].msg_hdr.msg_namelen = sizeof peers[i];
        received[i].msg_hdr.msg_iov = &in_iov[i];
        received[i].msg_hdr.msg_iovlen = 1;
      }
      const int n = ::recvmmsg(fd, received.data(), kBatch, MSG_WAITFORONE, nullptr);
      if (n <= 0) {
        // The timeout, or a signal. Let go of a replaced snapshot even when no query comes.
        (void)reader.get();
        continue;
      }
      const auto now = static_cast<std::uint32_t>(std::time(nullptr));
      const std::int64_t now_ms = options.rate_limit.enabled ? monotonic_ms() : 0;
      const Snapshot& snapshot = reader.get();
      std::size_t queued = 0;
      for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i) {
        const sockaddr_storage& peer = peers[i];
        const socklen_t plen = received[i].msg_hdr.msg_namelen;
        std::span<const std::uint8_t> request(in.get() + i * kMaxDatagram, received[i].msg_len);
        std::span<std::uint8_t> answer_out(out.get() + queued * kMaxResponse, kMaxResponse);
        AnswerInfo info;
        const AnswerContext context{address_bytes(peer), now, &cookies};
        std::size_t len = cache.replay(request, snapshot.id, answer_out, info, &context);
        const bool cache_hit = len != 0;
        if (len == 0) {
          len = answer(request, snapshot, false, answer_out, 0, &context, &info);
          if (len == kNotAnswered) {
            serve_slowly(request, snapshot, peer_of(peer), false, [&](auto message) {
              ::sendto(fd, message.data(), message.size(), MSG_DONTWAIT,
                       reinterpret_cast<const sockaddr*>(&peer), plen);
              return true;
            });
            continue;
          }
          if (len > 0)
            cache.remember(request, snapshot.id, answer_out.first(len), info);
        }
        if (len > 0)
          counters.count(answer_out.first(len), cache_hit);
        // A client that proved its address with our server cookie is not limited: answers to
        // it cannot be reflected at anyone else (RFC 7873 §1).
        if (len > 0 && options.rate_limit.enabled && !info.cookie_valid) {
          const RateDecision d =
              limiter.check(address_bytes(peer), info.cls, info.name_hash, now_ms);
          if (d != RateDecision::kSend) {
            if (auto r = limiter.report(now_ms))
              log->info("rate limit: {} answers dropped, {} slipped (truncated) since the last "
                        "report",
                        r->dropped, r->slipped);
            if (d == RateDecision::kDrop)
              continue;
            len = slip(answer_out, len);
          }
        }
        if (len == 0)
          continue;
        out_iov[queued] = {answer_out.data(), len};
        replies[queued].msg_hdr = {};
        replies[queued].msg_hdr.msg_name = const_cast<sockaddr_storage*>(&peer);
        replies[queued].msg_hdr.msg_namelen = plen;
        replies[queued].msg_hdr.msg_iov = &out_iov[queued];
        replies[queued].msg_hdr.msg_iovlen = 1;
        ++queued;
      }
      // Answers the socket cannot take now are dropped, as a lost datagram would be.
      for (std::size_t sent = 0; sent < queued;) {
        const int k = ::sendmmsg(fd, replies.data() + sent, static_cast<unsigned>(queued - sent),
                                 MSG_DONTWAIT);
        if (k <= 0) {
          if (k < 0 && errno == EINTR)
            continue;
          // One answer that cannot be sent (e.g. to an unreachable address) must not take the
          // rest of the batch with it.
          ++sent;
          continue;
        }
        sent += static_cast<std::size_t>(k);
      }
    }
  }

  // Transfers and signed requests: rare, and free to allocate, take the clock and log.
  void serve_slowly(std::span<const std::uint8_t> request, const Snapshot& snapshot,
                    const Peer& peer, bool over_tcp, const SendMessage& send) {
    const UnixTime now = options.clock ? options.clock->now() : std::time(nullptr);
    RequestOutcome o =
        serve_request(request, snapshot, peer, over_tcp, now, transfers, send,
                      options.apply_challenges ? &options.apply_challenges : nullptr);
    if (!o.summary.empty())
      requests.count(request, o.refused);
    if (!o.summary.empty())
      log->log(o.refused ? spdlog::level::warn : spdlog::level::info, "{}", o.summary);
  }

  void tcp_connection(Fd fd, Peer peer, std::shared_ptr<std::atomic<bool>> done) {
    SnapshotHolder::Reader reader(holder);
    std::vector<std::uint8_t> in(65535), out(kMaxResponse + 2);
    for (std::size_t q = 0; q < options.tcp_queries_per_connection; ++q) {
      std::uint8_t lenbuf[2];
      if (!read_full(fd.get(), lenbuf, 2, options.tcp_idle_timeout_ms, stopping))
        break;
      std::size_t len = (std::size_t{lenbuf[0]} << 8) | lenbuf[1];
      if (len == 0 || !read_full(fd.get(), in.data(), len, options.tcp_idle_timeout_ms, stopping))
        break;
      std::span<const std::uint8_t> request(in.data(), len);
      const AnswerContext context{peer.ip, static_cast<std::uint32_t>(std::time(nullptr)),
                                  &cookies};
      std::size_t n =
          answer(request, reader.get(), true, std::span<std::uint8_t>(out).subspan(2), 0, &context);
      if (n == kNotAnswered) {
        bool alive = true;
        serve_slowly(request, reader.get(), peer, true, [&](auto message) {
          std::uint8_t prefix[2] = {static_cast<std::uint8_t>(message.size() >> 8),
                                    static_cast<std::uint8_t>(message.size())};
          alive = alive && write_full(fd.get(), prefix, 2, options.tcp_idle_timeout_ms) &&
                  write_full(fd.get(), message.data(), message.size(), options.tcp_idle_timeout_ms);
          return alive;
        });
        if (!alive)
          break;
        continue;
      }
      if (n == 0)
        break; // nothing sensible to say: a response or a runt; hang up
      tcp_counters.count(std::span<const std::uint8_t>(out).subspan(2, n), false);
      out[0] = static_cast<std::uint8_t>(n >> 8);
      out[1] = static_cast<std::uint8_t>(n);
      if (!write_full(fd.get(), out.data(), n + 2, options.tcp_idle_timeout_ms))
        break;
    }
    std::lock_guard lock(conn_mutex);
    --live_connections;
    if (--connections_per_source[peer.address] == 0)
      connections_per_source.erase(peer.address);
    done->store(true);
  }

  void tcp_accept_loop(int lfd) {
    while (!stopping.load()) {
      pollfd pfd{lfd, POLLIN, 0};
      if (::poll(&pfd, 1, kPollMs) <= 0)
        continue;
      sockaddr_storage peer{};
      socklen_t plen = sizeof peer;
      Fd fd(::accept4(lfd, reinterpret_cast<sockaddr*>(&peer), &plen, SOCK_CLOEXEC));
      if (fd.get() < 0) {
        if (errno == EMFILE || errno == ENFILE) // out of descriptors: back off, stay alive
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      std::lock_guard lock(conn_mutex);
      reap_locked();
      Peer p = peer_of(peer);
      // RFC 7766 §6.2.2: bounds on connections in total and per client; past them a
      // connection is closed at once (Fd's destructor does it).
      auto from_source = connections_per_source.find(p.address);
      if (live_connections >= options.max_tcp_connections ||
          (from_source != connections_per_source.end() &&
           from_source->second >= options.max_tcp_per_source)) {
        tcp_refused.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      ++live_connections;
      ++connections_per_source[p.address];
      auto done = std::make_shared<std::atomic<bool>>(false);
      connections.push_back(
          {std::thread([this, f = std::move(fd), p = std::move(p), done]() mutable {
             tcp_connection(std::move(f), std::move(p), done);
           }),
           done});
    }
  }
};

Server::Server(const SnapshotHolder& holder, ServerOptions options,
               std::shared_ptr<spdlog::logger> log)
    : impl_(std::make_unique<Impl>(holder, options, std::move(log))) {
  impl_->transfers.max_running = options.max_transfers;
}

Server::~Server() { stop(); }

Result<void> Server::bind(const std::vector<ListenAddress>& addresses) {
  for (const auto& a : addresses) {
    for (std::size_t w = 0; w < std::max<std::size_t>(1, impl_->options.udp_workers); ++w) {
      auto fd = open_socket(a, SOCK_DGRAM, true);
      if (!fd)
        return std::unexpected(fd.error());
      impl_->udp.push_back(std::move(*fd));
    }
    auto fd = open_socket(a, SOCK_STREAM, false);
    if (!fd)
      return std::unexpected(fd.error());
    impl_->tcp.push_back(std::move(*fd));
  }
  return {};
}

void Server::start() {
  for (const Fd& fd : impl_->udp)
    impl_->threads.emplace_back(
        [this, f = fd.get(), &c = impl_->udp_counters.emplace_back()] { impl_->udp_loop(f, c); });
  for (const Fd& fd : impl_->tcp)
    impl_->threads.emplace_back([this, f = fd.get()] { impl_->tcp_accept_loop(f); });
}

void Server::stop() {
  if (!impl_ || impl_->stopping.exchange(true))
    return;
  for (auto& t : impl_->threads)
    t.join();
  std::list<Impl::Connection> conns;
  {
    std::lock_guard lock(impl_->conn_mutex);
    conns.swap(impl_->connections);
  }
  for (auto& c : conns)
    c.thread.join();
}

void Server::write_metrics(MetricsText& out) const {
  std::vector<const QueryCounters*> udp;
  for (const auto& c : impl_->udp_counters)
    udp.push_back(&c);
  write_query_metrics(out, udp, impl_->tcp_counters);
  const RateLimitStats rrl = impl_->limiter.totals();
  out.family("moat_dnsd_rrl_answers_total", "counter",
             "UDP answers held back by response rate limiting: dropped, or slipped (truncated)");
  out.sample("moat_dnsd_rrl_answers_total", {{"action", "dropped"}}, static_cast<double>(rrl.dropped));
  out.sample("moat_dnsd_rrl_answers_total", {{"action", "slipped"}}, static_cast<double>(rrl.slipped));
  write_request_metrics(out, impl_->requests);
  std::size_t live = 0;
  {
    std::lock_guard lock(impl_->conn_mutex);
    live = impl_->live_connections;
  }
  out.family("moat_dnsd_tcp_connections", "gauge", "TCP connections open now");
  out.sample("moat_dnsd_tcp_connections", static_cast<double>(live));
  out.family("moat_dnsd_tcp_connections_refused_total", "counter",
             "TCP connections closed at accept: over the total or per-source bound");
  out.sample("moat_dnsd_tcp_connections_refused_total",
             static_cast<double>(impl_->tcp_refused.load(std::memory_order_relaxed)));
}

} // namespace moat::dnsd
