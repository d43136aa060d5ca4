// moat key list | rollover | ds-seen, moat ds
#include "cli/commands.hpp"
#include "cli/input.hpp"
#include "cli/key_info.hpp"
#include "cli/output.hpp"
#include "signer/key_rollover.hpp"

#include <charconv>
#include <memory>

namespace moat::cli {
namespace {

void run_key_list(const Context& ctx, const std::string& domain_text) {
  Name apex = parse_domain_name(domain_text);
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  Domain d = require_domain(store, apex);
  std::vector<KeyRecord> keys = unwrap(store.keys(d.id));
  if (ctx.json) {
    Json arr = Json::array();
    for (const KeyRecord& k : keys)
      arr.push_back(key_json(d, k));
    print_json(arr);
    return;
  }
  for (const KeyRecord& k : keys) {
    std::string line = std::to_string(k.key_tag) + "  " + k.role + "  " +
                       algorithm_label(k.algorithm) + "  " + k.state;
    // Each state the key has entered, with when (RFC 7583 timeline).
    for (const auto& [label, t] :
         {std::pair{"published", k.published_at}, std::pair{"active", k.active_at},
          std::pair{"retired", k.retired_at}, std::pair{"removed", k.removed_at}})
      if (t)
        line += std::string("  ") + label + " " + iso8601(*t);
    if (signer::is_sep(k)) {
      line += "  DS " + (k.ds_state.empty() ? std::string("not requested yet") : k.ds_state);
      if (k.ds_seen_at)
        line += " " + iso8601(*k.ds_seen_at);
      line += "  " + ds_view(d, k).record;
    }
    print_line(line);
  }
}

void run_ds(const Context& ctx, const std::string& domain_text) {
  Name apex = parse_domain_name(domain_text);
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  Domain d = require_domain(store, apex);
  std::vector<DsView> ds = wanted_ds(d, unwrap(store.keys(d.id)));
  if (ctx.json) {
    Json arr = Json::array();
    for (const DsView& v : ds)
      arr.push_back(ds_json(v));
    print_json(arr);
    return;
  }
  for (const DsView& v : ds)
    print_line(v.record);
}

struct RolloverOptions {
  std::string domain;
  std::string kind;
  std::string algorithm;
};

void run_rollover(const Context& ctx, const RolloverOptions& o) {
  const Name apex = parse_domain_name(o.domain);
  const signer::RolloverKind kind = unwrap(signer::rollover_kind_from_string(o.kind));
  std::optional<signer::Algorithm> alg;
  if (!o.algorithm.empty()) {
    if (kind != signer::RolloverKind::kAlgorithm)
      throw CliError("--algorithm goes with 'moat key rollover DOMAIN algorithm'");
    alg = unwrap(signer::algorithm_from_string(o.algorithm));
  } else if (kind == signer::RolloverKind::kAlgorithm) {
    throw CliError("an algorithm rollover needs --algorithm ed25519|ecdsap256|rsasha256");
  }
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  const Domain d = require_domain(store, apex);
  std::string line =
      unwrap(signer::start_rollover(store, d, kind, alg, ctx.clock->now(), ctx.actor()));
  if (ctx.json)
    print_json({{"ok", true}, {"domain", apex.to_string()}, {"rollover", o.kind}, {"done", line}});
  else
    print_line(apex.to_string() + ": " + line + "; moat tick takes it on, moat status " +
               apex.to_string() + " shows what it waits for");
}

void run_ds_seen(const Context& ctx, const std::string& domain_text, const std::string& tag_text) {
  const Name apex = parse_domain_name(domain_text);
  unsigned tag = 0;
  auto [end, ec] = std::from_chars(tag_text.data(), tag_text.data() + tag_text.size(), tag);
  if (ec != std::errc() || end != tag_text.data() + tag_text.size() || tag > 65535)
    throw CliError("'" + tag_text + "' is not a key tag (0-65535)");
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  const Domain d = require_domain(store, apex);
  std::string line = unwrap(
      signer::confirm_ds(store, d, static_cast<std::uint16_t>(tag), ctx.clock->now(), ctx.actor()));
  if (ctx.json)
    print_json({{"ok", true}, {"domain", apex.to_string()}, {"key_tag", tag}, {"done", line}});
  else
    print_line(line);
}

} // namespace

void add_key_commands(CLI::App& app, Context& ctx) {
  CLI::App* key = app.add_subcommand("key", "A domain's DNSSEC keys and their rollovers");
  key->require_subcommand(1);

  auto list_domain = std::make_shared<std::string>();
  CLI::App* list = key->add_subcommand("list", "List the keys with their state and DS");
  list->add_option("DOMAIN", *list_domain, "The domain")->required();
  on_run(list, ctx, [&ctx, list_domain] { run_key_list(ctx, *list_domain); });

  auto roll = std::make_shared<RolloverOptions>();
  CLI::App* rollover = key->add_subcommand("rollover", "Start a key rollover now");
  rollover->add_option("DOMAIN", roll->domain, "The domain")->required();
  rollover->add_option("KIND", roll->kind, "zsk, ksk, csk or algorithm")->required();
  rollover->add_option("--algorithm", roll->algorithm,
                       "For an algorithm rollover: ed25519, ecdsap256 or rsasha256");
  on_run(rollover, ctx, [&ctx, roll] { run_rollover(ctx, *roll); });

  auto seen_domain = std::make_shared<std::string>();
  auto seen_tag = std::make_shared<std::string>();
  CLI::App* seen =
      key->add_subcommand("ds-seen", "Confirm that the parent zone now publishes a KSK's DS");
  seen->add_option("DOMAIN", *seen_domain, "The domain")->required();
  seen->add_option("KEYTAG", *seen_tag, "The KSK's key tag")->required();
  on_run(seen, ctx, [&ctx, seen_domain, seen_tag] { run_ds_seen(ctx, *seen_domain, *seen_tag); });

  auto ds_domain = std::make_shared<std::string>();
  CLI::App* ds = app.add_subcommand("ds", "Print the DS records (SHA-256) for the registrar");
  ds->add_option("DOMAIN", *ds_domain, "The domain")->required();
  on_run(ds, ctx, [&ctx, ds_domain] { run_ds(ctx, *ds_domain); });
}

} // namespace moat::cli
