// The Beast side of moat-httpsd: accept, TLS handshake with SNI, one request at a time per
// connection, a deadline on every step (do_x/on_x pairs as in Beast's async-ssl example).
#include "httpsd/server.hpp"

#include "core/metrics_text.hpp"
#include "core/name.hpp"

#include <array>
#include <atomic>
#include <mutex>
#include <sstream>
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
  // The server's order (all of it ECDHE + AEAD): Mozilla lets the client choose, but a server
  // with no order of its own is rated HIGH by testssl. ChaCha20 first for clients that put it
  // first (those without AES instructions).
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                  SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
  SSL_CTX_set_cipher_list(native, kTls12Ciphers);
  // Resumption by ticket only (stateless): a server-side session cache would be walked whole
  // every 255 handshakes to flush it, for clients that mostly never come back. One ticket per
  // handshake is enough for a sender that does.
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(native, 1);
}

/// One served host and the TLS context holding its certificate.
struct ServedSite {
  Site site;
  std::shared_ptr<ssl::context> tls;
  /// The whole HTTP/1.1 answer to GET of the policy, kept-alive and closing: made once per
  /// publish, written as they are (the answer every sender asks for).
  std::shared_ptr<const std::string> policy_keep, policy_close;
  std::shared_ptr<std::atomic<std::uint64_t>> fetches; ///< 200 answers, shared with the metrics
};
using Catalog = std::map<std::string, ServedSite>;

/// The whole answer to an HTTP/1.1 GET of the policy, as Session::respond would write it.
std::shared_ptr<const std::string> policy_answer(const std::string& policy, bool keep) {
  http::response<http::string_body> res(http::status::ok, 11);
  res.set(http::field::server, "moat-httpsd");
  res.set(http::field::content_type, "text/plain");
  res.set(http::field::cache_control, "no-cache");
  res.keep_alive(keep);
  res.body() = policy;
  res.prepare_payload();
  std::ostringstream out;
  out << res;
  return std::make_shared<const std::string>(out.str());
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
  std::map<asio::ip::address, std::size_t> per_source; ///< connections open per client address
  ReportHandler reports;

  // Metrics: written on the io thread, read by the metrics thread.
  struct Counters {
    std::atomic<std::uint64_t> handshakes{0}, handshake_failures{0};
    std::atomic<std::uint64_t> refused_connections{0};
    std::array<std::atomic<std::uint64_t>, 600> by_status{}; ///< responses by HTTP status
    std::atomic<std::uint64_t> reports_by_status[600]{};    ///< answers to POSTed reports
    std::mutex fetch_mutex; ///< guards policy_fetches (the map; the counts are atomics)
    std::map<std::string, std::shared_ptr<std::atomic<std::uint64_t>>> policy_fetches;
  } counters;
  static void bump(std::atomic<std::uint64_t>& c) {
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
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
    auto it = self->catalog->find(ascii_lower(name));
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

/// The media type of a Content-Type value, lower case, without parameters.
std::string media_type(std::string_view value) {
  value = value.substr(0, value.find(';'));
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
    value.remove_suffix(1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
    value.remove_prefix(1);
  return ascii_lower(value);
}

/// One client connection: handshake, then requests until the client closes, misbehaves or
/// reaches a limit. A request head is read first; only a POST to a report path goes on to read a
/// body, within the same deadline as the head (a slow sender cannot hold the connection).
class Session : public std::enable_shared_from_this<Session> {
public:
  Session(tcp::socket socket, std::shared_ptr<Server::Impl> server, asio::ip::address peer)
      : stream_(std::move(socket), server->base), server_(std::move(server)),
        peer_(std::move(peer)) {
    ++server_->connections;
    ++server_->per_source[peer_];
  }
  ~Session() {
    --server_->connections;
    if (auto it = server_->per_source.find(peer_); it != server_->per_source.end() && --it->second == 0)
      server_->per_source.erase(it);
  }

  void run() {
    beast::get_lowest_layer(stream_).expires_after(server_->limits.handshake_and_header_timeout);
    stream_.async_handshake(ssl::stream_base::server,
                            beast::bind_front_handler(&Session::on_handshake, shared_from_this()));
  }

private:
  void on_handshake(beast::error_code ec) {
    if (ec) {
      Server::Impl::bump(server_->counters.handshake_failures);
      return; // scanners and clients without SNI: nothing worth a log line
    }
    Server::Impl::bump(server_->counters.handshakes);
    do_read();
  }

  void do_read() {
    head_.emplace();
    head_->header_limit(static_cast<std::uint32_t>(server_->limits.max_header_bytes));
    // Only the head is read here: a body's length is judged once the path is known (Beast
    // would otherwise refuse a Content-Length over its default 1 MiB while reading the head).
    head_->body_limit(boost::none);
    beast::get_lowest_layer(stream_).expires_after(
        requests_ == 0 ? server_->limits.handshake_and_header_timeout
                       : server_->limits.idle_timeout);
    http::async_read_header(stream_, buffer_, *head_,
                            beast::bind_front_handler(&Session::on_head, shared_from_this()));
  }

  /// A read failed: close quietly when the client went or was too slow, else answer and close.
  void on_read_error(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::eof || ec == ssl::error::stream_truncated)
      return do_close();
    if (ec == http::error::header_limit)
      return fail_request(http::status::request_header_fields_too_large, "header too large\n");
    if (ec == http::error::body_limit)
      return fail_request(http::status::payload_too_large, "body too large\n");
    // Malformed, or framing that could smuggle a request: two different Content-Lengths,
    // Content-Length with Transfer-Encoding (Beast refuses both).
    return fail_request(http::status::bad_request, "bad request\n");
  }

  void fail_request(http::status status, std::string text) {
    respond(status, std::move(text), false, 11, false);
  }

  void on_head(beast::error_code ec, std::size_t) {
    if (ec)
      return on_read_error(ec);
    ++requests_;
    const auto& req = head_->get();
    const bool keep = req.keep_alive() && requests_ < server_->limits.max_requests_per_connection;
    // RFC 9112 §6.3: a Transfer-Encoding whose last coding is not chunked leaves the length
    // unknown; Beast would read no body at all, so refuse it rather than guess.
    if (req.count(http::field::transfer_encoding) != 0 && !head_->chunked())
      return fail_request(http::status::bad_request, "bad Transfer-Encoding\n");
    auto host_field = req[http::field::host];
    if (host_field.empty())
      return fail_request(http::status::bad_request, "no Host header\n");
    const std::string host = ascii_lower(host_field.substr(0, host_field.find(':')));
    auto it = server_->catalog->find(host);
    const Site* site = it == server_->catalog->end() ? nullptr : &it->second.site;
    const bool report_path =
        site != nullptr && !site->report_path.empty() && req.target() == site->report_path;
    if (report_path && req.method() == http::verb::post && server_->reports)
      return start_report(*site, keep);
    const unsigned version = req.version();
    const bool head = req.method() == http::verb::head;
    // A body nobody reads leaves the connection unusable: answer, then close.
    const bool body_pending = !head_->is_done();
    if (report_path && server_->reports)
      return respond(http::status::method_not_allowed, "method not allowed\n",
                     keep && !body_pending, version, head, "POST");
    if (req.method() != http::verb::get && !head)
      return respond(http::status::method_not_allowed, "method not allowed\n",
                     keep && !body_pending, version, false, "GET, HEAD");
    if (body_pending)
      return fail_request(http::status::payload_too_large, "body too large\n"); // GET with a body
    if (site == nullptr || req.target() != kPolicyPath)
      return respond(http::status::not_found, "not found\n", keep, version, head);
    const ServedSite& served = it->second;
    Server::Impl::bump(*served.fetches);
    if (version == 11 && !head) {
      Server::Impl::bump(server_->counters.by_status[200]);
      raw_ = keep ? served.policy_keep : served.policy_close;
      beast::get_lowest_layer(stream_).expires_after(server_->limits.idle_timeout);
      return asio::async_write(stream_, asio::buffer(*raw_),
                               beast::bind_front_handler(&Session::on_write, shared_from_this(), keep));
    }
    respond(http::status::ok, site->policy_text, keep, version, head);
  }

  // A report (RFC 8460 §5.3): application/tlsrpt+gzip or +json, at most max_body_bytes.
  void start_report(const Site& site, bool keep) {
    const auto& req = head_->get();
    const std::string type = media_type(req[http::field::content_type]);
    if (type != "application/tlsrpt+gzip" && type != "application/tlsrpt+json")
      return refuse_report(site, http::status::unsupported_media_type,
                           "send application/tlsrpt+gzip or application/tlsrpt+json");
    if (auto length = head_->content_length();
        length && *length > server_->limits.max_body_bytes)
      return refuse_report(site, http::status::payload_too_large, "report too large");
    body_.emplace(std::move(*head_));
    body_->body_limit(server_->limits.max_body_bytes);
    report_site_ = site;
    keep_ = keep;
    if (beast::iequals(body_->get()[http::field::expect], "100-continue")) {
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_,
                                                                     body_->get().version());
      continue_ = cont;
      http::async_write(stream_, *cont,
                        [self = shared_from_this()](beast::error_code e, std::size_t) {
                          if (e)
                            return;
                          self->read_report();
                        });
      return;
    }
    read_report();
  }

  /// A report refused before it reached the intake: logged like the intake's refusals.
  void refuse_report(const Site& site, http::status status, std::string_view why) {
    server_->log->warn("report for {} from {} refused: {} ({})", site.domain, peer_.to_string(),
                       why, static_cast<unsigned>(status));
    Server::Impl::bump(server_->counters.reports_by_status[static_cast<unsigned>(status)]);
    fail_request(status, std::string(why) + "\n");
  }

  void read_report() {
    // The head's deadline still runs: head and body together within it.
    http::async_read(stream_, buffer_, *body_,
                     beast::bind_front_handler(&Session::on_report, shared_from_this()));
  }

  void on_report(beast::error_code ec, std::size_t) {
    if (ec == http::error::body_limit)
      return refuse_report(report_site_, http::status::payload_too_large, "report too large");
    if (ec)
      return on_read_error(ec);
    const auto& req = body_->get();
    ReportAnswer answer = server_->reports(report_site_, req.body(), peer_.to_string());
    if (answer.status < 600)
      Server::Impl::bump(server_->counters.reports_by_status[answer.status]);
    const bool ok = answer.status < 300;
    respond(static_cast<http::status>(answer.status), answer.text + "\n", ok && keep_,
            req.version(), false);
  }

  void respond(http::status status, std::string body, bool keep, unsigned version, bool head,
               std::string_view allow = {}) {
    if (static_cast<unsigned>(status) < 600)
      Server::Impl::bump(server_->counters.by_status[static_cast<unsigned>(status)]);
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
  asio::ip::address peer_;
  beast::flat_buffer buffer_{8 * 1024};
  std::optional<http::request_parser<http::empty_body>> head_;
  std::optional<http::request_parser<http::string_body>> body_;
  Site report_site_; ///< a copy: the catalog may be replaced while the body is read
  bool keep_ = false;
  std::shared_ptr<void> continue_;
  std::shared_ptr<http::response<http::string_body>> response_;
  std::shared_ptr<const std::string> raw_; ///< a prepared answer being written
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
  beast::error_code peer_ec;
  const asio::ip::address peer = socket.remote_endpoint(peer_ec).address();
  auto open = per_source.find(peer);
  if (peer_ec || connections >= limits.max_connections ||
      (open != per_source.end() && open->second >= limits.max_connections_per_source)) {
    beast::error_code ignored;
    socket.close(ignored); // over a limit: refuse rather than queue
    bump(counters.refused_connections);
  } else {
    // An answer goes out as TLS records of its own (head, body, close_notify): without this,
    // Nagle holds the later ones until the client's delayed ACK, 40 ms a request.
    socket.set_option(tcp::no_delay(true), peer_ec);
    std::make_shared<Session>(std::move(socket), shared_from_this(), peer)->run();
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
    ServedSite entry{site, std::move(tls), policy_answer(site.policy_text, true),
                     policy_answer(site.policy_text, false), nullptr};
    {
      std::lock_guard lock(impl_->counters.fetch_mutex);
      auto& counter = impl_->counters.policy_fetches[host];
      if (!counter)
        counter = std::make_shared<std::atomic<std::uint64_t>>(0);
      entry.fetches = counter;
    }
    next->emplace(host, std::move(entry));
    served.push_back(host);
  }
  // Sessions in flight keep the SSL_CTX they were switched to (OpenSSL counts references).
  impl_->catalog = std::move(next);
  return served;
}

void Server::on_report(ReportHandler handler) { impl_->reports = std::move(handler); }

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

void Server::write_metrics(MetricsText& out) const {
  auto& c = impl_->counters;
  const auto get = [](const std::atomic<std::uint64_t>& a) {
    return static_cast<double>(a.load(std::memory_order_relaxed));
  };
  out.family("moat_httpsd_tls_handshakes_total", "counter",
             "TLS handshakes: completed, or failed (no or unknown SNI, protocol, timeout)");
  out.sample("moat_httpsd_tls_handshakes_total", {{"result", "ok"}}, get(c.handshakes));
  out.sample("moat_httpsd_tls_handshakes_total", {{"result", "failed"}}, get(c.handshake_failures));
  out.family("moat_httpsd_connections_refused_total", "counter",
             "Connections closed at accept: over the total or per-source bound");
  out.sample("moat_httpsd_connections_refused_total", get(c.refused_connections));
  out.family("moat_httpsd_responses_total", "counter", "HTTP responses, by status");
  for (std::size_t code = 100; code < c.by_status.size(); ++code)
    if (const double n = get(c.by_status[code]); n > 0)
      out.sample("moat_httpsd_responses_total", {{"status", std::to_string(code)}}, n);
  out.family("moat_httpsd_policy_fetches_total", "counter",
             "MTA-STS policies served (200), per mta-sts host");
  {
    std::lock_guard lock(c.fetch_mutex);
    for (const auto& [host, n] : c.policy_fetches)
      out.sample("moat_httpsd_policy_fetches_total", {{"host", host}}, get(*n));
  }
  out.family("moat_httpsd_reports_total", "counter",
             "TLS reports POSTed, by the status answered: 201 stored, 200 already had, 4xx "
             "refused, 503 not stored");
  for (std::size_t code = 100; code < 600; ++code)
    if (const double n = get(c.reports_by_status[code]); n > 0)
      out.sample("moat_httpsd_reports_total", {{"status", std::to_string(code)}}, n);
}

} // namespace moat::httpsd
