// NOTIFY (RFC 1996) to the secondaries, retried until each one answers.
#include "dnsd/notifier.hpp"

#include "dnsd/tsig.hpp"
#include "dnsd/wire.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <optional>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <thread>
#include <tuple>
#include <unistd.h>

namespace moat::dnsd {
namespace {

using Steady = std::chrono::steady_clock;
constexpr auto kFirstRetry = std::chrono::seconds(2);
constexpr auto kLongestRetry = std::chrono::minutes(10);
constexpr int kPollMs = 100; // how quickly a new serial or stop() is noticed

struct Target {
  Name zone;
  std::string address;
  std::uint16_t port;
  auto operator<=>(const Target&) const = default;
};

struct Pending {
  std::uint32_t serial = 0;
  ZoneRecord soa;
  std::optional<TsigKey> key;
  std::optional<TsigSession> session; ///< of the last NOTIFY sent, to check the answer
  std::uint16_t id = 0;
  int attempts = 0;
  Steady::time_point due;
  Steady::duration interval = kFirstRetry;
};

bool to_sockaddr(const std::string& address, std::uint16_t port, sockaddr_storage& ss,
                 socklen_t& len) {
  ss = {};
  auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
  if (inet_pton(AF_INET, address.c_str(), &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    len = sizeof(sockaddr_in);
    return true;
  }
  auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET6, address.c_str(), &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

std::string address_of(const sockaddr_storage& ss, std::uint16_t& port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET6) {
    const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &s6->sin6_addr, text, sizeof text);
    port = ntohs(s6->sin6_port);
  } else {
    const auto* s4 = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &s4->sin_addr, text, sizeof text);
    port = ntohs(s4->sin_port);
  }
  return text;
}

std::string where(const Target& t) {
  return (t.address.find(':') != std::string::npos ? "[" + t.address + "]" : t.address) + ":" +
         std::to_string(t.port);
}

} // namespace

struct Notifier::Impl {
  std::shared_ptr<Clock> clock;
  std::shared_ptr<spdlog::logger> log;
  int fd4 = -1, fd6 = -1;
  std::mutex mutex; ///< guards pending and acknowledged; a leaf lock
  std::map<Target, Pending> pending;
  std::map<Target, std::uint32_t> acknowledged; ///< the last serial each target answered for
  std::atomic<bool> stopping{false};
  std::thread thread;

  // Builds, signs and sends one NOTIFY for `p`. Called with the mutex held.
  void send(const Target& t, Pending& p) {
    std::vector<std::uint8_t> buf(1024);
    RAND_bytes(reinterpret_cast<unsigned char*>(&p.id), sizeof p.id);
    Query q;
    q.id = p.id;
    q.opcode = kOpcodeNotify;
    q.has_question = true;
    q.qname = t.zone;
    q.qtype = rrtype::SOA;
    q.qclass = kClassIN;
    ResponseWriter w(buf, buf.size() - 256);
    w.start(q, rcode::kNoError, true);
    buf[2] &= 0x7f; // a request: start() writes responses
    (void)w.add(ResponseWriter::Section::kAnswer, p.soa.owner, rrtype::SOA, p.soa.ttl,
                p.soa.rdata); // RFC 1996 §3.7: the new SOA, a hint
    std::size_t n = w.size();
    p.session.reset();
    if (p.key) {
      p.session.emplace(*p.key);
      n = p.session->sign(buf, n, clock->now());
    }
    sockaddr_storage ss;
    socklen_t len;
    if (n == 0 || !to_sockaddr(t.address, t.port, ss, len))
      return;
    int fd = ss.ss_family == AF_INET6 ? fd6 : fd4;
    if (fd >= 0)
      ::sendto(fd, buf.data(), n, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&ss), len);
    p.attempts += 1;
    if (p.attempts == 2 || p.attempts % 10 == 0)
      log->warn("NOTIFY of {} serial {} to {}: no answer after {} tries, trying again",
                t.zone.to_string(), p.serial, where(t), p.attempts - 1);
    p.due = Steady::now() + p.interval;
    p.interval = std::min<Steady::duration>(p.interval * 2, kLongestRetry);
  }

  // One answer from a secondary: matched by source, ID and (when keyed) a valid TSIG.
  void receive(int fd) {
    std::uint8_t buf[4096];
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ssize_t n =
        ::recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&ss), &len);
    if (n < static_cast<ssize_t>(kHeaderSize))
      return;
    std::span<const std::uint8_t> msg(buf, static_cast<std::size_t>(n));
    if ((msg[2] & 0x80) == 0 || ((msg[2] >> 3) & 0x0f) != kOpcodeNotify)
      return;
    std::uint16_t port = 0;
    const std::string address = address_of(ss, port);
    const std::uint16_t id = static_cast<std::uint16_t>((msg[0] << 8) | msg[1]);
    const std::uint16_t rc = msg[3] & 0x0f;
    std::lock_guard lock(mutex);
    for (auto it = pending.begin(); it != pending.end(); ++it) {
      const Target& t = it->first;
      Pending& p = it->second;
      if (t.address != address || t.port != port || p.id != id)
        continue;
      if (p.session) {
        auto tsig = find_tsig(msg);
        if (!tsig || !p.session->verify_response(msg, *tsig, clock->now())) {
          log->warn("NOTIFY of {} to {}: answer without a valid TSIG, ignored", t.zone.to_string(),
                    where(t));
          return;
        }
      }
      if (rc != rcode::kNoError) {
        log->warn("NOTIFY of {} serial {} to {}: answered with RCODE {}; will retry",
                  t.zone.to_string(), p.serial, where(t), rc);
        return;
      }
      log->info("NOTIFY of {} serial {} acknowledged by {}", t.zone.to_string(), p.serial,
                where(t));
      acknowledged[t] = p.serial;
      pending.erase(it);
      return;
    }
  }

  void run() {
    while (!stopping.load()) {
      pollfd fds[2] = {{fd4, POLLIN, 0}, {fd6, POLLIN, 0}};
      int r = ::poll(fds, 2, kPollMs);
      if (r > 0) {
        for (const pollfd& f : fds)
          if (f.fd >= 0 && (f.revents & POLLIN) != 0)
            receive(f.fd);
      }
      std::lock_guard lock(mutex);
      const auto now = Steady::now();
      for (auto& [t, p] : pending)
        if (p.due <= now)
          send(t, p);
    }
  }
};

Notifier::Notifier(std::shared_ptr<Clock> clock, std::shared_ptr<spdlog::logger> log)
    : impl_(std::make_unique<Impl>()) {
  impl_->clock = std::move(clock);
  impl_->log = std::move(log);
  impl_->fd4 = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  impl_->fd6 = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0); // -1 without IPv6: fine
  impl_->thread = std::thread([this] { impl_->run(); });
}

Notifier::~Notifier() {
  impl_->stopping = true;
  impl_->thread.join();
  if (impl_->fd4 >= 0)
    ::close(impl_->fd4);
  if (impl_->fd6 >= 0)
    ::close(impl_->fd6);
}

void Notifier::published(std::shared_ptr<const Snapshot> snapshot) {
  std::lock_guard lock(impl_->mutex);
  std::map<Target, Pending> next;
  for (const auto& zone : snapshot->zones) {
    for (const TransferPeer& s : zone->secondaries) {
      Target t{zone->apex, s.address, s.port};
      auto acked = impl_->acknowledged.find(t);
      if (acked != impl_->acknowledged.end() && acked->second == zone->serial)
        continue;
      auto old = impl_->pending.find(t);
      if (old != impl_->pending.end() && old->second.serial == zone->serial) {
        next.insert(impl_->pending.extract(old)); // already on its way
        continue;
      }
      Pending p;
      p.serial = zone->serial;
      p.soa = zone->soa_record();
      if (s.key)
        if (const TsigKey* k = snapshot->keys->find(*s.key))
          p.key = *k;
      p.due = Steady::now();
      next.emplace(t, std::move(p));
    }
  }
  // Secondaries no longer listed, and serials superseded, are dropped with the old map.
  impl_->pending = std::move(next);
}

} // namespace moat::dnsd
