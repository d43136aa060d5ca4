// moat key list | ds
#include "cli/commands.hpp"
#include "cli/input.hpp"
#include "cli/key_info.hpp"
#include "cli/output.hpp"

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
    if (k.role == "ksk")
      line += "  " + ds_view(d, k).record;
    print_line(line);
  }
}

void run_ds(const Context& ctx, const std::string& domain_text) {
  Name apex = parse_domain_name(domain_text);
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  Domain d = require_domain(store, apex);
  std::vector<DsView> ds = active_ds(d, unwrap(store.keys(d.id)));
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

} // namespace

void add_key_commands(CLI::App& app, Context& ctx) {
  CLI::App* key = app.add_subcommand("key", "Show a domain's DNSSEC keys");
  key->require_subcommand(1);

  auto list_domain = std::make_shared<std::string>();
  CLI::App* list = key->add_subcommand("list", "List the keys with their state and DS");
  list->add_option("DOMAIN", *list_domain, "The domain")->required();
  on_run(list, ctx, [&ctx, list_domain] { run_key_list(ctx, *list_domain); });

  auto ds_domain = std::make_shared<std::string>();
  CLI::App* ds = app.add_subcommand("ds", "Print the DS records (SHA-256) for the registrar");
  ds->add_option("DOMAIN", *ds_domain, "The domain")->required();
  on_run(ds, ctx, [&ctx, ds_domain] { run_ds(ctx, *ds_domain); });
}

} // namespace moat::cli
