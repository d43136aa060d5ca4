// `moat policy ...` (MTA-STS, RFC 8461) and `moat tlsrpt ...` (RFC 8460).
#include "cli/commands.hpp"
#include "cli/input.hpp"
#include "cli/output.hpp"
#include "core/policy_state.hpp"

#include <memory>

namespace moat::cli {
namespace {

struct PolicySetOptions {
  std::string domain;
  std::string mode;
  long long max_age = -1;
  std::vector<std::string> mx_patterns;
  std::vector<std::string> https_addresses;
};

void run_policy_set(const Context& ctx, const PolicySetOptions& o) {
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  Domain d = require_domain(store, parse_domain_name(o.domain));
  StsPolicyRecord wanted = unwrap(store.sts_policy(d.id)).value_or(StsPolicyRecord{});
  if (!o.mode.empty()) {
    (void)unwrap(sts_mode_from_string(o.mode));
    wanted.mode = o.mode;
  }
  if (o.max_age >= 0) {
    if (o.max_age > kMaxStsMaxAge)
      throw CliError("--max-age must be at most " + std::to_string(kMaxStsMaxAge) +
                     " (one year, RFC 8461 §3.2)");
    wanted.max_age = static_cast<std::uint32_t>(o.max_age);
  }
  if (!o.mx_patterns.empty())
    wanted.mx_patterns = o.mx_patterns;
  if (!o.https_addresses.empty())
    wanted.https_addresses = o.https_addresses;
  StsPolicyRecord rec = unwrap(set_policy(store, d, wanted, ctx.clock->now(), ctx.actor()));
  auto policy = unwrap(current_policy(store, d));
  const std::string id = policy ? policy_id(policy_text(*policy)) : "";
  if (ctx.json) {
    print_json({{"ok", true},
                {"domain", d.name.to_string()},
                {"mode", rec.mode},
                {"max_age", rec.max_age},
                {"id", id}});
    return;
  }
  print_line("policy of " + d.name.to_string() + " set (mode " + rec.mode + ", id " + id +
             "); the _mta-sts record follows once moat-httpsd serves it (see moat status)");
}

void run_policy_show(const Context& ctx, const std::string& domain) {
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  Domain d = require_domain(store, parse_domain_name(domain));
  auto rec = unwrap(store.sts_policy(d.id));
  if (!rec)
    throw CliError(d.name.to_string() + " has no MTA-STS policy (moat policy set " +
                   d.name.to_string() + ")");
  auto policy = unwrap(current_policy(store, d));
  auto served = unwrap(store.sts_served(d.id));
  const std::string text = policy ? policy_text(*policy) : "";
  const std::string id = policy_id(text);
  if (ctx.json) {
    Json j = {{"domain", d.name.to_string()},
              {"mode", rec->mode},
              {"max_age", rec->max_age},
              {"mx_patterns", rec->mx_patterns},
              {"text", text},
              {"id", id},
              {"delete_requested", rec->delete_requested}};
    if (served)
      j["served"] = {{"id", served->policy_id}, {"since", iso8601(served->since)}};
    print_json(j);
    return;
  }
  std::string shown = text;
  std::erase(shown, '\r');
  if (!shown.empty() && shown.back() == '\n')
    shown.pop_back();
  print_line(shown);
  print_line("; id " + id +
             (served ? (served->policy_id == id
                            ? ", served by moat-httpsd since " + iso8601(served->since)
                            : ", not served yet (moat-httpsd serves " + served->policy_id + ")")
                     : ", not served yet") +
             (rec->delete_requested ? "; removal requested" : ""));
}

void run_policy_del(const Context& ctx, const std::string& domain) {
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  Domain d = require_domain(store, parse_domain_name(domain));
  unwrap(request_policy_delete(store, d, ctx.clock->now(), ctx.actor()));
  if (ctx.json)
    print_json({{"ok", true}, {"domain", d.name.to_string()}});
  else
    print_line("the MTA-STS policy of " + d.name.to_string() +
               " is removed by moat tick once senders' cached policies have expired");
}

struct TlsrptSetOptions {
  std::string domain;
  std::vector<std::string> rua;
  bool builtin = false;
  std::string path{kDefaultTlsrptPath};
};

void run_tlsrpt_set(const Context& ctx, const TlsrptSetOptions& o) {
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  Domain d = require_domain(store, parse_domain_name(o.domain));
  std::vector<std::string> uris;
  if (o.builtin)
    uris.push_back(unwrap(builtin_tlsrpt_uri(d.name, o.path)));
  uris.insert(uris.end(), o.rua.begin(), o.rua.end());
  if (uris.empty())
    throw CliError("give --rua URI or --builtin (reports POSTed to moat-httpsd)");
  std::string joined;
  for (const auto& r : uris)
    joined += (joined.empty() ? "" : ",") + r;
  unwrap(check_tlsrpt_rua(joined));
  const UnixTime now = ctx.clock->now();
  unwrap(store.transaction([&]() -> Result<void> {
    if (auto r = store.put_tlsrpt_rua(d.id, joined); !r)
      return r;
    if (auto s = store.touch_domain(d.id, now); !s)
      return std::unexpected(s.error());
    return store.audit(now, ctx.actor(), "tlsrpt set", d.name.to_string() + ": " + joined);
  }));
  // moat-httpsd serves only domains with a policy and a certificate for mta-sts.DOMAIN.
  if (!builtin_tlsrpt_path(joined, d.name).empty() &&
      (!unwrap(store.sts_policy(d.id)) || !unwrap(store.web_certificate(d.id))))
    print_notice("moat-httpsd takes reports for " + d.name.to_string() +
                 " once it has an MTA-STS policy (moat policy set) and a certificate for "
                 "mta-sts." + d.name.to_string().substr(0, d.name.to_string().size() - 1) +
                 " (moat cert deploy)");
  if (ctx.json)
    print_json({{"ok", true}, {"domain", d.name.to_string()}, {"rua", joined}});
  else
    print_line("_smtp._tls." + d.name.to_string() + " TXT \"v=TLSRPTv1; rua=" + joined + "\"");
}

void run_tlsrpt_del(const Context& ctx, const std::string& domain) {
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  Domain d = require_domain(store, parse_domain_name(domain));
  const UnixTime now = ctx.clock->now();
  unwrap(store.transaction([&]() -> Result<void> {
    auto rua = store.tlsrpt_rua(d.id);
    if (!rua)
      return std::unexpected(rua.error());
    if (!*rua)
      return fail(d.name.to_string() + " has no TLSRPT record");
    if (auto r = store.delete_tlsrpt(d.id); !r)
      return r;
    if (auto s = store.touch_domain(d.id, now); !s)
      return std::unexpected(s.error());
    return store.audit(now, ctx.actor(), "tlsrpt del", d.name.to_string());
  }));
  if (ctx.json)
    print_json({{"ok", true}, {"domain", d.name.to_string()}});
  else
    print_line("removed the TLSRPT record of " + d.name.to_string());
}

} // namespace

void add_policy_commands(CLI::App& app, Context& ctx) {
  CLI::App* policy = app.add_subcommand("policy", "The MTA-STS policy (RFC 8461)");
  policy->require_subcommand(1);
  auto set = std::make_shared<PolicySetOptions>();
  CLI::App* s = policy->add_subcommand("set", "Create or change the policy");
  s->add_option("DOMAIN", set->domain, "The mail domain")->required();
  s->add_option("--mode", set->mode, "enforce, testing (default) or none");
  s->add_option("--max-age", set->max_age, "Seconds senders may cache it (default 604800)");
  s->add_option("--mx-pattern", set->mx_patterns,
                "mx line, repeatable (default: one per MX host; *.example.test allowed)");
  s->add_option("--https-addr", set->https_addresses,
                "Address moat-httpsd listens on, published as mta-sts.DOMAIN A/AAAA; repeatable");
  on_run(s, ctx, [&ctx, set] { run_policy_set(ctx, *set); });

  auto show_domain = std::make_shared<std::string>();
  CLI::App* show =
      policy->add_subcommand("show", "Show the policy text, its id and what is served");
  show->add_option("DOMAIN", *show_domain, "The mail domain")->required();
  on_run(show, ctx, [&ctx, show_domain] { run_policy_show(ctx, *show_domain); });

  auto del_domain = std::make_shared<std::string>();
  CLI::App* del =
      policy->add_subcommand("del", "Remove the policy (after mode none, RFC 8461 §8.3)");
  del->add_option("DOMAIN", *del_domain, "The mail domain")->required();
  on_run(del, ctx, [&ctx, del_domain] { run_policy_del(ctx, *del_domain); });

  CLI::App* tlsrpt = app.add_subcommand("tlsrpt", "The TLSRPT record (RFC 8460)");
  tlsrpt->require_subcommand(1);
  auto tset = std::make_shared<TlsrptSetOptions>();
  CLI::App* ts = tlsrpt->add_subcommand("set", "Publish _smtp._tls with these report URIs");
  ts->add_option("DOMAIN", tset->domain, "The mail domain")->required();
  ts->add_option("--rua", tset->rua, "mailto: or https: URI, comma-separated or repeated")
      ->delimiter(',');
  CLI::Option* builtin = ts->add_flag(
      "--builtin", tset->builtin,
      "Reports to https://mta-sts.DOMAIN" + std::string(kDefaultTlsrptPath) +
          ", taken in by moat-httpsd (see moat reports); with --rua, both");
  ts->add_option("--path", tset->path, "The path of the --builtin URI")->needs(builtin);
  on_run(ts, ctx, [&ctx, tset] { run_tlsrpt_set(ctx, *tset); });
  auto tdel = std::make_shared<std::string>();
  CLI::App* td = tlsrpt->add_subcommand("del", "Withdraw the _smtp._tls record");
  td->add_option("DOMAIN", *tdel, "The mail domain")->required();
  on_run(td, ctx, [&ctx, tdel] { run_tlsrpt_del(ctx, *tdel); });
}

} // namespace moat::cli
