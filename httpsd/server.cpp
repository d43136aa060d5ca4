// The Beast side of moat-httpsd: accept, TLS handshake with SNI, one request at a time per
// connection, a deadline on every step (do_x/on_x pairs as in Beast's async-ssl example).
#include "httpsd/server.hpp"

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <map>
#include <openssl/ssl.h>
#include <optional>
#include <spdlog/spdlog.h>

namespace moat::httpsd {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

constexpr std::string_view kPolicyPath = "/.well-known/mta-sts.txt";

// Mozilla's "intermediate" profile: TLS 1.2 and 1.3, ECDHE with AEAD only.
constexpr const char* kTls12Ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                      "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

void harden(ssl::context& ctx) {
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                  ssl::context::single_dh_use);
  SSL_CTX* native = ctx.native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_cipher_list(native, kTls12Ciphers);
}

/// One served host and the TLS context holding its certificate.
struct ServedSite {
  Site site;
  std::shared_ptr<ssl::context> tls;
};
using Catalog = std::map<std::string, ServedSite>;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

} // namespace

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  asio::io_context io{1};
  ssl::context base{ssl::context::tls_server};
  std::shared_ptr<const Catalog> catalog = std::make_shared<Catalog>();
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::shared_ptr<spdlog::logger> log;
  Limits limits;
  std::size_t connections = 0;
  /// A task run on the io thread every `period`.
  struct Periodic {
    asio::steady_timer timer;
    std::chrono::milliseconds period;
    std::function<void()> task;
  };
  std::vector<std::unique_ptr<Periodic>> periodic;

  void fire(Periodic& p, beast::error_code ec) {
    if (ec)
      return;
    p.task();
    p.timer.expires_after(p.period);
    p.timer.async_wait([self = shared_from_this(), &p](beast::error_code e) { self->fire(p, e); });
  }

  Impl(std::shared_ptr<spdlog::logger> l, Limits lim) : log(std::move(l)), limits(lim) {
    harden(base);
    SSL_CTX_set_tlsext_servername_callback(base.native_handle(), &Impl::on_server_name);
    SSL_CTX_set_tlsext_servername_arg(base.native_handle(), this);
  }

  // SNI: switch the connection to the context of the site it names. A name moat does not serve
  // (or no name at all) ends the handshake: there is no certificate to present for it.
  static int on_server_name(SSL* ssl, int* alert, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name == nullptr) {
      *alert = SSL_AD_UNRECOGNIZED_NAME;
      return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    auto it = self->catalog->find(lower(name));
    if (it == self->catalog->end()) {
      *alert = SSL_AD_UNRECOGNIZED_NAME;
      return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    SSL_set_SSL_CTX(ssl, it->second.tls->native_handle());
    return SSL_TLSEXT_ERR_OK;
  }

  void do_accept(tcp::acceptor& acceptor);
  void on_accept(tcp::acceptor& acceptor, beast::error_code ec, tcp::socket socket);
};

namespace {

/// One client connection: handshake, then requests until the client closes, misbehaves or
/// reaches a limit.
class Session : public std::enable_shared_from_this<Session> {
public:
  Session(tcp::socket socket, std::shared_ptr<Server::Impl> server)
      : stream_(std::move(socket), server->base), server_(std::move(server)) {
    ++server_->connections;
  }
  ~Session() { --server_->connections; }

  void run() {
    beast::get_lowest_layer(stream_).expires_after(server_->limits.handshake_and_header_timeout);
    stream_.async_handshake(ssl::stream_base::server,
                            beast::bind_front_handler(&Session::on_handshake, shared_from_this()));
  }

private:
  void on_handshake(beast::error_code ec) {
    if (ec)
      return; // scanners and clients without SNI: nothing worth a log line
    do_read();
  }

  void do_read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_->limits.max_header_bytes));
    parser_->body_limit(0); // GET and HEAD carry no body
    beast::get_lowest_layer(stream_).expires_after(
        requests_ == 0 ? server_->limits.handshake_and_header_timeout
                       : server_->limits.idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof ||
        ec == ssl::error::stream_truncated)
      return do_close();
    if (ec) {
      // A request that does not parse, or is too large: answer it and close.
      if (ec == http::error::header_limit)
        return respond(http::status::request_header_fields_too_large, "header too large\n", false,
                       11, false);
      if (ec == http::error::body_limit)
        return respond(http::status::payload_too_large, "body too large\n", false, 11, false);
      return respond(http::status::bad_request, "bad request\n", false, 11, false);
    }
    ++requests_;
    const auto& req = parser_->get();
    const bool keep = req.keep_alive() && requests_ < server_->limits.max_requests_per_connection;
    handle(req, keep);
  }

  void handle(const http::request<http::empty_body>& req, bool keep) {
    const unsigned version = req.version();
    if (req.method() != http::verb::get && req.method() != http::verb::head)
      return respond(http::status::method_not_allowed, "method not allowed\n", keep, version, false,
                     "GET, HEAD");
    auto host_field = req[http::field::host];
    if (host_field.empty())
      return respond(http::status::bad_request, "no Host header\n", false, version, false);
    std::string host = lower(host_field.substr(0, host_field.find(':')));
    const auto& catalog = *server_->catalog;
    auto it = catalog.find(host);
    if (it == catalog.end() || req.target() != kPolicyPath)
      return respond(http::status::not_found, "not found\n", keep, version,
                     req.method() == http::verb::head);
    respond(http::status::ok, it->second.site.policy_text, keep, version,
            req.method() == http::verb::head);
  }

  void respond(http::status status, std::string body, bool keep, unsigned version, bool head,
               std::string_view allow = {}) {
    auto res = std::make_shared<http::response<http::string_body>>(status, version);
    res->set(http::field::server, "moat-httpsd");
    res->set(http::field::content_type, "text/plain");
    res->set(http::field::cache_control, "no-cache");
    if (!allow.empty())
      res->set(http::field::allow, allow);
    res->keep_alive(keep);
    res->body() = std::move(body);
    res->prepare_payload();
    if (head)
      res->body().clear(); // Content-Length stays that of the GET answer
    response_ = res;
    beast::get_lowest_layer(stream_).expires_after(server_->limits.idle_timeout);
    http::async_write(stream_, *res,
                      beast::bind_front_handler(&Session::on_write, shared_from_this(), keep));
  }

  void on_write(bool keep, beast::error_code ec, std::size_t) {
    if (ec)
      return;
    if (!keep)
      return do_close();
    do_read();
  }

  void do_close() {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {});
  }

  beast::ssl_stream<beast::tcp_stream> stream_;
  std::shared_ptr<Server::Impl> server_;
  beast::flat_buffer buffer_{8 * 1024};
  std::optional<http::request_parser<http::empty_body>> parser_;
  std::shared_ptr<http::response<http::string_body>> response_;
  std::size_t requests_ = 0;
};

} // namespace

void Server::Impl::do_accept(tcp::acceptor& acceptor) {
  acceptor.async_accept(
      io, [self = shared_from_this(), &acceptor](beast::error_code ec, tcp::socket socket) {
        self->on_accept(acceptor, ec, std::move(socket));
      });
}

void Server::Impl::on_accept(tcp::acceptor& acceptor, beast::error_code ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted)
    return;
  if (ec) {
    // Out of file descriptors, say: log, pause briefly, keep accepting (never stop for good).
    log->warn("accept: {}", ec.message());
    auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(100));
    timer->async_wait([self = shared_from_this(), timer, &acceptor](beast::error_code) {
      self->do_accept(acceptor);
    });
    return;
  }
  if (connections >= limits.max_connections) {
    beast::error_code ignored;
    socket.close(ignored); // over the limit: refuse rather than queue
  } else {
    std::make_shared<Session>(std::move(socket), shared_from_this())->run();
  }
  do_accept(acceptor);
}

Server::Server(std::shared_ptr<spdlog::logger> log, Limits limits)
    : impl_(std::make_shared<Impl>(std::move(log), limits)) {}

Server::~Server() = default;

Result<void> Server::listen(const std::vector<ListenAddress>& addresses) {
  for (const auto& a : addresses) {
    beast::error_code ec;
    tcp::endpoint endpoint(asio::ip::make_address(a.host, ec), a.port);
    auto acceptor = std::make_unique<tcp::acceptor>(impl_->io);
    if (!ec)
      acceptor->open(endpoint.protocol(), ec);
    if (!ec)
      acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && endpoint.address().is_v6())
      acceptor->set_option(asio::ip::v6_only(true), ec);
    if (!ec)
      acceptor->bind(endpoint, ec);
    if (!ec)
      acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return fail("cannot listen on " + a.to_string() + ": " + ec.message());
    impl_->acceptors.push_back(std::move(acceptor));
  }
  for (auto& acceptor : impl_->acceptors)
    impl_->do_accept(*acceptor);
  return {};
}

std::vector<std::string> Server::publish(const SiteSet& sites) {
  auto next = std::make_shared<Catalog>();
  std::vector<std::string> served;
  for (const auto& [host, site] : sites.sites) {
    auto old = impl_->catalog->find(host);
    std::shared_ptr<ssl::context> tls;
    if (old != impl_->catalog->end() && old->second.site.fullchain_pem == site.fullchain_pem &&
        old->second.site.key_pem == site.key_pem) {
      tls = old->second.tls; // unchanged certificate: keep its context (and session cache)
    } else {
      tls = std::make_shared<ssl::context>(ssl::context::tls_server);
      harden(*tls);
      beast::error_code ec;
      tls->use_certificate_chain(asio::buffer(site.fullchain_pem), ec);
      if (!ec)
        tls->use_private_key(asio::buffer(site.key_pem), ssl::context::pem, ec);
      if (ec || SSL_CTX_check_private_key(tls->native_handle()) != 1) {
        impl_->log->error("not serving {}: its certificate or key is unusable ({})", host,
                          ec ? ec.message() : "key does not match");
        continue;
      }
    }
    next->emplace(host, ServedSite{site, std::move(tls)});
    served.push_back(host);
  }
  // Sessions in flight keep the SSL_CTX they were switched to (OpenSSL counts references).
  impl_->catalog = std::move(next);
  return served;
}

void Server::every(std::chrono::milliseconds period, std::function<void()> task) {
  auto& p = *impl_->periodic.emplace_back(
      std::make_unique<Impl::Periodic>(asio::steady_timer(impl_->io), period, std::move(task)));
  asio::post(impl_->io, [impl = impl_, &p] { impl->fire(p, {}); });
}

void Server::run() {
  asio::signal_set signals(impl_->io, SIGINT, SIGTERM);
  signals.async_wait([this](beast::error_code, int sig) {
    impl_->log->info("stopping on signal {}", sig);
    impl_->io.stop();
  });
  impl_->io.run();
}

} // namespace moat::httpsd
