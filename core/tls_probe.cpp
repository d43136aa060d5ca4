// Blocking sockets with per-step timeouts and OpenSSL directly: a probe is one connection at a
// time, and OpenSSL's DANE support (SSL_dane_enable, SSL_dane_tlsa_add) is what Postfix uses.
#include "core/tls_probe.hpp"

#include "core/c_handles.hpp"
#include "core/name.hpp"

#include <arpa/inet.h>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace moat {
namespace {

using SslCtx = std::unique_ptr<SSL_CTX, ossl::Deleter<SSL_CTX, SSL_CTX_free>>;
using Ssl = std::unique_ptr<SSL, ossl::Deleter<SSL, SSL_free>>;
using Store = std::unique_ptr<X509_STORE, ossl::Deleter<X509_STORE, X509_STORE_free>>;
using StoreCtx = std::unique_ptr<X509_STORE_CTX, ossl::Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0)
      ::close(fd);
  }
};

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  if (e == 0)
    return "connection closed or timed out";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

/// Connects within `timeout`, then gives the socket that timeout for every read and write.
std::string connect_to(Fd& s, const ListenAddress& where, std::chrono::milliseconds timeout) {
  sockaddr_storage ss{};
  const socklen_t len = socket_address(where, ss);
  if (len == 0)
    return "bad address " + where.host;
  s.fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s.fd < 0)
    return std::strerror(errno);
  if (::connect(s.fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS)
    return "cannot connect to " + where.to_string() + ": " + std::strerror(errno);
  pollfd p{s.fd, POLLOUT, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0)
    return "cannot connect to " + where.to_string() + ": timed out";
  int err = 0;
  socklen_t elen = sizeof err;
  ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &elen);
  if (err != 0)
    return "cannot connect to " + where.to_string() + ": " + std::strerror(err);
  ::fcntl(s.fd, F_SETFL, ::fcntl(s.fd, F_GETFL) & ~O_NONBLOCK);
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(s.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const int one = 1;
  ::setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return {};
}

UnixTime to_unix(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1)
    return 0;
  return static_cast<UnixTime>(timegm(&tm));
}

PresentedChain describe(SSL* ssl) {
  PresentedChain out;
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
  out.length = chain ? static_cast<std::size_t>(sk_X509_num(chain)) : 0;
  X509* leaf = SSL_get0_peer_certificate(ssl);
  if (leaf == nullptr)
    return out;
  char subject[512];
  X509_NAME_oneline(X509_get_subject_name(leaf), subject, sizeof subject);
  out.subject = subject;
  out.not_before = to_unix(X509_get0_notBefore(leaf));
  out.not_after = to_unix(X509_get0_notAfter(leaf));
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type != GEN_DNS)
      continue;
    out.dns_names.push_back(ascii_lower(
        std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)),
                         static_cast<std::size_t>(ASN1_STRING_length(n->d.dNSName)))));
  }
  GENERAL_NAMES_free(names);
  return out;
}

/// The presented chain checked as a WebPKI client does: up to a CA of `ca_file` (or the
/// system's), valid at `now`, for server authentication, naming `host`.
TlsVerdict verify_pkix(SSL* ssl, const std::string& host, const std::string& ca_file,
                       UnixTime now) {
  X509* leaf = SSL_get0_peer_certificate(ssl);
  if (leaf == nullptr)
    return {false, "no certificate presented"};
  Store store(X509_STORE_new());
  const bool loaded = ca_file.empty() ? X509_STORE_set_default_paths(store.get()) == 1
                                      : X509_STORE_load_file(store.get(), ca_file.c_str()) == 1;
  if (!loaded)
    return {false, "cannot load the CA certificates" + (ca_file.empty() ? "" : " of " + ca_file)};
  StoreCtx ctx(X509_STORE_CTX_new());
  if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf, SSL_get_peer_cert_chain(ssl)) != 1)
    return {false, openssl_error()};
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(now));
  X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
  if (X509_verify_cert(ctx.get()) == 1)
    return {true, "chain to a trusted CA, valid, names " + host};
  return {false, X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()))};
}

/// SMTP replies, line by line: a reply ends with a line "NNN text" (a space after the code).
class SmtpReader {
public:
  explicit SmtpReader(int fd) : fd_(fd) {}

  /// The next whole reply (its lines joined by "\n"), or nullopt on timeout, close or garbage.
  std::optional<std::string> reply(std::string& why) {
    std::string out;
    for (;;) {
      std::size_t eol;
      while ((eol = buffer_.find("\r\n")) == std::string::npos) {
        if (buffer_.size() > 64 * 1024) {
          why = "a reply longer than 64 KiB";
          return std::nullopt;
        }
        char chunk[4096];
        const ssize_t k = ::recv(fd_, chunk, sizeof chunk, 0);
        if (k <= 0) {
          why = k == 0 ? "the server closed the connection" : "no reply in time";
          return std::nullopt;
        }
        buffer_.append(chunk, static_cast<std::size_t>(k));
      }
      std::string line = buffer_.substr(0, eol);
      buffer_.erase(0, eol + 2);
      if (line.size() < 3 || !std::isdigit(static_cast<unsigned char>(line[0]))) {
        why = "not an SMTP reply: " + line.substr(0, 80);
        return std::nullopt;
      }
      out += (out.empty() ? "" : "\n") + line;
      if (line.size() == 3 || line[3] == ' ')
        return out;
    }
  }
  /// Bytes received beyond the last reply (a server must send none after 220 to STARTTLS).
  [[nodiscard]] bool has_more() const { return !buffer_.empty(); }

private:
  int fd_;
  std::string buffer_;
};

bool send_all(int fd, const std::string& s) {
  return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
}

} // namespace

SmtpTlsProbe probe_smtp_starttls(const std::string& mx_host, const ListenAddress& where,
                                 const std::vector<TlsaData>& tlsa, const std::string& ca_file,
                                 UnixTime now, std::chrono::milliseconds timeout) {
  SmtpTlsProbe out;
  Fd s;
  if (out.failure = connect_to(s, where, timeout); !out.failure.empty())
    return out;
  SmtpReader reader(s.fd);
  std::string why;
  auto greeting = reader.reply(why);
  if (!greeting || !greeting->starts_with("220")) {
    out.failure = greeting ? "greeting was not 220: " + greeting->substr(0, 120) : "greeting: " + why;
    return out;
  }
  out.banner = greeting->substr(0, greeting->find('\n'));
  auto ehlo = send_all(s.fd, "EHLO moat-check.invalid\r\n") ? reader.reply(why) : std::nullopt;
  if (!ehlo || !ehlo->starts_with("250")) {
    out.failure = ehlo ? "EHLO refused: " + ehlo->substr(0, 120) : "EHLO: " + why;
    return out;
  }
  // Extension keywords follow "250-" / "250 " on each line.
  std::size_t at = 0;
  while (at < ehlo->size()) {
    const std::size_t end = std::min(ehlo->find('\n', at), ehlo->size());
    const std::string keyword = ascii_lower(ehlo->substr(at + 4, end - at - 4));
    if (at > 0 && (keyword == "starttls" || keyword.starts_with("starttls ")))
      out.starttls_offered = true;
    at = end + 1;
  }
  if (!out.starttls_offered) {
    out.failure = "STARTTLS is not offered after EHLO";
    if (send_all(s.fd, "QUIT\r\n"))
      (void)reader.reply(why); // part politely
    return out;
  }
  auto ready = send_all(s.fd, "STARTTLS\r\n") ? reader.reply(why) : std::nullopt;
  if (!ready || !ready->starts_with("220")) {
    out.failure = ready ? "STARTTLS refused: " + ready->substr(0, 120) : "STARTTLS: " + why;
    return out;
  }
  if (reader.has_more()) {
    // Plain-text bytes that would be taken as inside TLS (CVE-2011-0411).
    out.failure = "the server sent data after its 220 to STARTTLS";
    return out;
  }

  SslCtx ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_dane_enable(ctx.get());
  Ssl ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), s.fd);
  SSL_set_tlsext_host_name(ssl.get(), mx_host.c_str());
  SSL_set_verify(ssl.get(), SSL_VERIFY_NONE, nullptr); // judged below, not at the handshake
  X509_VERIFY_PARAM_set_time(SSL_get0_param(ssl.get()), static_cast<time_t>(now));
  std::size_t usable = 0;
  if (!tlsa.empty() && SSL_dane_enable(ssl.get(), mx_host.c_str()) > 0) {
    // RFC 7672 §3.2.3: no name checks for DANE-EE, the MX host as reference identifier else.
    SSL_dane_set_flags(ssl.get(), DANE_FLAG_NO_DANE_EE_NAMECHECKS);
    for (const TlsaData& t : tlsa)
      if ((t.usage == 2 || t.usage == 3) &&
          SSL_dane_tlsa_add(ssl.get(), t.usage, t.selector, t.matching_type, t.data.data(),
                            t.data.size()) > 0)
        ++usable;
  }
  if (SSL_connect(ssl.get()) != 1) {
    out.failure = "TLS handshake after STARTTLS failed: " + openssl_error();
    return out;
  }
  out.protocol = SSL_get_version(ssl.get());
  out.cipher = SSL_get_cipher_name(ssl.get());
  out.chain = describe(ssl.get());
  if (usable > 0) {
    TlsVerdict dane;
    std::uint8_t usage = 0, selector = 0, mtype = 0;
    const int depth = SSL_get0_dane_tlsa(ssl.get(), &usage, &selector, &mtype, nullptr, nullptr);
    dane.ok = SSL_get_verify_result(ssl.get()) == X509_V_OK && depth >= 0;
    dane.detail = dane.ok ? "TLSA " + std::to_string(usage) + " " + std::to_string(selector) +
                                " " + std::to_string(mtype) + " matches the certificate at depth " +
                                std::to_string(depth)
                          : std::string("no TLSA record matches the chain presented (") +
                                X509_verify_cert_error_string(SSL_get_verify_result(ssl.get())) + ")";
    out.dane = dane;
  }
  out.pkix = verify_pkix(ssl.get(), mx_host, ca_file, now);
  const std::string quit = "QUIT\r\n";
  (void)SSL_write(ssl.get(), quit.data(), static_cast<int>(quit.size()));
  (void)SSL_shutdown(ssl.get());
  return out;
}

PolicyFetch fetch_sts_policy(const std::string& web_host, const ListenAddress& where,
                             const std::string& ca_file, UnixTime now,
                             std::chrono::milliseconds timeout) {
  namespace http = boost::beast::http;
  PolicyFetch out;
  Fd s;
  if (out.failure = connect_to(s, where, timeout); !out.failure.empty())
    return out;
  SslCtx ctx(SSL_CTX_new(TLS_client_method()));
  Ssl ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), s.fd);
  SSL_set_tlsext_host_name(ssl.get(), web_host.c_str());
  SSL_set_verify(ssl.get(), SSL_VERIFY_NONE, nullptr);
  if (SSL_connect(ssl.get()) != 1) {
    out.failure = "TLS handshake failed: " + openssl_error();
    return out;
  }
  out.pkix = verify_pkix(ssl.get(), web_host, ca_file, now);
  if (!out.pkix.ok) {
    out.failure = "certificate not valid for " + web_host + ": " + out.pkix.detail;
    return out; // a sender stops here (RFC 8461 §3.3)
  }
  const std::string request = "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: " + web_host +
                              "\r\nUser-Agent: moat-check\r\nAccept: text/plain\r\n"
                              "Connection: close\r\n\r\n";
  if (SSL_write(ssl.get(), request.data(), static_cast<int>(request.size())) <= 0) {
    out.failure = "cannot send the request: " + openssl_error();
    return out;
  }
  http::response_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(kMaxPolicyBytes);
  parser.eager(true);
  std::string pending;
  char chunk[8192];
  boost::beast::error_code ec;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!parser.is_done()) {
    if (std::chrono::steady_clock::now() > deadline) {
      out.failure = "no whole answer in time";
      return out;
    }
    const int k = SSL_read(ssl.get(), chunk, sizeof chunk);
    if (k <= 0) {
      // The end of a body delimited by the connection closing.
      parser.put_eof(ec);
      if (ec) {
        out.failure = "the answer ended early: " + ec.message();
        return out;
      }
      break;
    }
    pending.append(chunk, static_cast<std::size_t>(k));
    while (!pending.empty() && !parser.is_done()) {
      const std::size_t used = parser.put(boost::asio::buffer(pending), ec);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec) {
        out.failure = ec == http::error::body_limit
                          ? "the policy is larger than " + std::to_string(kMaxPolicyBytes) + " octets"
                          : "bad HTTP answer: " + ec.message();
        return out;
      }
      pending.erase(0, used);
    }
  }
  const auto& res = parser.get();
  out.status = static_cast<int>(res.result_int());
  std::string type(res[http::field::content_type]);
  type = ascii_lower(type.substr(0, type.find(';')));
  while (!type.empty() && type.back() == ' ')
    type.pop_back();
  out.content_type = type;
  out.location = std::string(res[http::field::location]);
  out.body = res.body();
  (void)SSL_shutdown(ssl.get());
  return out;
}

} // namespace moat
