// `moat mx ...` and `moat cert ...`: MX hosts and their certificates, in the safe order.
#include "cli/commands.hpp"
#include "cli/input.hpp"
#include "cli/output.hpp"
#include "core/live_files.hpp"
#include "core/rotation.hpp"

#include <cstdlib>
#include <memory>
#include <sstream>

namespace moat::cli {
namespace {

std::string state_dir(const Context& ctx) {
  std::string db = ctx.db_path();
  auto slash = db.rfind('/');
  return slash == std::string::npos ? "." : db.substr(0, slash);
}

struct MxAddOptions {
  std::string domain, host, live_dir, on_live;
  int priority = -1;
  int port = 25;
  std::vector<std::string> addresses;
};

void run_mx_add(const Context& ctx, const MxAddOptions& o) {
  if (o.priority < 0 || o.priority > 65535)
    throw CliError("--priority must be 0..65535");
  if (o.port < 1 || o.port > 65535)
    throw CliError("--port must be 1..65535");
  Name apex = parse_domain_name(o.domain);
  Name host = parse_domain_name(o.host);
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  MxHostRequest req{host, static_cast<std::uint16_t>(o.priority),
                    static_cast<std::uint16_t>(o.port), o.addresses, o.live_dir, o.on_live};
  MxHost h = unwrap(add_mx_host(store, apex, req, state_dir(ctx), ctx.clock->now(), ctx.actor()));
  if (ctx.json) {
    print_json({{"ok", true}, {"host", h.host.to_string()}, {"state", h.state},
                {"live_dir", h.live_dir}});
    return;
  }
  print_line("added MX host " + h.host.to_string() + " to " + apex.to_string() +
             ": its TLSA is published first; the MX record follows once a certificate is live "
             "and the records have been served (see moat status)");
}

void run_mx_del(const Context& ctx, const std::string& domain, const std::string& host) {
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  MxHost h = unwrap(remove_mx_host(store, parse_domain_name(domain), parse_domain_name(host),
                                   ctx.clock->now(), ctx.actor()));
  if (ctx.json) {
    print_json({{"ok", true}, {"host", h.host.to_string()}, {"state", h.state}});
    return;
  }
  print_line(h.state == "removed"
                 ? "removed " + h.host.to_string() + " (it was never in the MX RRset)"
                 : "withdrew the MX record of " + h.host.to_string() +
                       "; its TLSA goes after the MX TTL (moat tick)");
}

void run_mx_list(const Context& ctx, const std::string& domain) {
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  Domain d = require_domain(store, parse_domain_name(domain));
  auto hosts = unwrap(store.mx_hosts(d.id));
  Json arr = Json::array();
  for (const MxHost& h : hosts) {
    auto certs = unwrap(store.certificates(h.id));
    std::string live = "none", staged = "none";
    for (const auto& c : certs) {
      if (c.state == "live")
        live = "until " + iso8601(c.not_after);
      if (c.state == "staged")
        staged = "deployed " + iso8601(c.deployed);
    }
    if (ctx.json) {
      arr.push_back({{"host", h.host.to_string()}, {"priority", h.priority}, {"port", h.port},
                     {"state", h.state}, {"live_dir", h.live_dir}, {"on_live", h.on_live},
                     {"live_certificate", live}, {"staged_certificate", staged}});
    } else {
      print_line(h.host.to_string() + " priority " + std::to_string(h.priority) + " port " +
                 std::to_string(h.port) + " " + h.state + "; live certificate: " + live +
                 "; staged: " + staged);
    }
  }
  if (ctx.json)
    print_json(arr);
}

struct DeployOptions {
  std::string fullchain, key;
  std::vector<std::string> hosts;
  bool certbot = false;
};

void run_cert_deploy(const Context& ctx, DeployOptions o) {
  if (o.certbot) {
    // certbot --deploy-hook: RENEWED_LINEAGE is the live directory of the lineage,
    // RENEWED_DOMAINS the names it covers (space-separated).
    const char* lineage = std::getenv("RENEWED_LINEAGE");
    if (lineage == nullptr || *lineage == '\0')
      throw CliError("--certbot needs RENEWED_LINEAGE (run it as certbot's --deploy-hook)");
    o.fullchain = std::string(lineage) + "/fullchain.pem";
    o.key = std::string(lineage) + "/privkey.pem";
  } else if (o.fullchain.empty() || o.key.empty()) {
    throw CliError("give --fullchain and --key, or --certbot");
  }
  std::string chain = unwrap(read_file(o.fullchain));
  std::string key = unwrap(read_file(o.key));
  std::vector<Name> hosts;
  for (const auto& h : o.hosts)
    hosts.push_back(parse_domain_name(h));
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  FileRotationEffects effects;
  auto results =
      unwrap(deploy_certificate(store, chain, key, hosts, ctx.clock->now(), ctx.actor(), effects));
  Json arr = Json::array();
  for (const auto& r : results) {
    if (ctx.json) {
      Json j = {{"host", r.host.to_string()}, {"live_now", r.live_now}, {"web", r.web}};
      if (r.wait_serial)
        j["wait_serial"] = *r.wait_serial;
      arr.push_back(j);
    } else if (r.web) {
      print_line(r.host.to_string() + ": moat-httpsd presents it from its next poll");
    } else if (r.live_now) {
      print_line(r.host.to_string() + ": same key as the live certificate; installed now");
    } else {
      print_line(r.host.to_string() + ": new key, staged; its TLSA is published (beside any "
                                      "live one) and the certificate goes live two TLSA TTLs "
                                      "after moat-dnsd serves serial " +
                 std::to_string(*r.wait_serial) + " (moat tick)");
    }
  }
  if (ctx.json)
    print_json({{"ok", true}, {"hosts", arr}});
}

void run_cert_list(const Context& ctx, const std::string& domain) {
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  std::vector<MxHost> hosts;
  if (domain.empty()) {
    hosts = unwrap(store.all_mx_hosts());
  } else {
    Domain d = require_domain(store, parse_domain_name(domain));
    hosts = unwrap(store.mx_hosts(d.id));
  }
  Json arr = Json::array();
  for (const MxHost& h : hosts)
    for (const auto& c : unwrap(store.certificates(h.id))) {
      std::ostringstream spki;
      for (auto b : c.spki_sha256)
        spki << "0123456789abcdef"[b >> 4] << "0123456789abcdef"[b & 15];
      if (ctx.json)
        arr.push_back({{"id", c.id}, {"host", h.host.to_string()}, {"state", c.state},
                       {"names", c.names}, {"not_before", iso8601(c.not_before)},
                       {"not_after", iso8601(c.not_after)}, {"spki_sha256", spki.str()},
                       {"deployed", iso8601(c.deployed)}});
      else
        print_line(std::to_string(c.id) + " " + h.host.to_string() + " " + c.state + " [" +
                   c.names + "] valid until " + iso8601(c.not_after) + " spki " + spki.str());
    }
  if (ctx.json)
    print_json(arr);
}

} // namespace

void add_mail_commands(CLI::App& app, Context& ctx) {
  CLI::App* mx = app.add_subcommand("mx", "MX hosts, published in the safe order");
  mx->require_subcommand(1);
  auto add_opts = std::make_shared<MxAddOptions>();
  CLI::App* add = mx->add_subcommand("add", "Add an MX host (TLSA first, MX after)");
  add->add_option("DOMAIN", add_opts->domain, "The mail domain")->required();
  add->add_option("HOST", add_opts->host, "The MX host name")->required();
  add->add_option("--priority", add_opts->priority, "MX preference")->required();
  add->add_option("--addr", add_opts->addresses, "Address of the host (A/AAAA), repeatable");
  add->add_option("--port", add_opts->port, "SMTP port of the TLSA name (default 25)");
  add->add_option("--live-dir", add_opts->live_dir,
                  "Where fullchain.pem and privkey.pem go (default <state dir>/live/HOST)");
  add->add_option("--on-live", add_opts->on_live,
                  "Command run after a certificate goes live, e.g. 'systemctl reload postfix' "
                  "(split on spaces, no shell)");
  on_run(add, ctx, [&ctx, add_opts] { run_mx_add(ctx, *add_opts); });

  auto del_args = std::make_shared<std::pair<std::string, std::string>>();
  CLI::App* del = mx->add_subcommand("del", "Remove an MX host (MX first, TLSA after)");
  del->add_option("DOMAIN", del_args->first, "The mail domain")->required();
  del->add_option("HOST", del_args->second, "The MX host name")->required();
  on_run(del, ctx, [&ctx, del_args] { run_mx_del(ctx, del_args->first, del_args->second); });

  auto list_domain = std::make_shared<std::string>();
  CLI::App* list = mx->add_subcommand("list", "List the MX hosts and their state");
  list->add_option("DOMAIN", *list_domain, "The mail domain")->required();
  on_run(list, ctx, [&ctx, list_domain] { run_mx_list(ctx, *list_domain); });

  CLI::App* cert = app.add_subcommand("cert", "Certificates of the MX hosts");
  cert->require_subcommand(1);
  auto dep = std::make_shared<DeployOptions>();
  CLI::App* deploy = cert->add_subcommand("deploy", "Check and deploy a certificate");
  deploy->add_option("--fullchain", dep->fullchain, "PEM chain, leaf first");
  deploy->add_option("--key", dep->key, "PEM private key of the leaf");
  deploy->add_option("--host", dep->hosts, "Host to deploy to (default: every host it covers)");
  deploy->add_flag("--certbot", dep->certbot,
                   "Run as certbot's --deploy-hook (reads RENEWED_LINEAGE)");
  on_run(deploy, ctx, [&ctx, dep] { run_cert_deploy(ctx, *dep); });
  auto cert_domain = std::make_shared<std::string>();
  CLI::App* clist = cert->add_subcommand("list", "List deployed certificates");
  clist->add_option("DOMAIN", *cert_domain, "Only this domain's MX hosts");
  on_run(clist, ctx, [&ctx, cert_domain] { run_cert_list(ctx, *cert_domain); });
}

} // namespace moat::cli
