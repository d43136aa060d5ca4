// `moat tick` (every step whose condition now holds) and `moat status` (what is pending).
#include "cli/app.hpp"
#include "cli/commands.hpp"
#include "cli/input.hpp"
#include "cli/output.hpp"
#include "core/rotation.hpp"

#include <ctime>
#include <memory>

namespace moat::cli {
namespace {

void run_tick(const Context& ctx) {
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  FileRotationEffects effects;
  auto lines = unwrap(tick(store, ctx.clock->now(), ctx.actor(), effects));
  bool failed = false;
  Json arr = Json::array();
  for (const auto& l : lines) {
    failed = failed || l.starts_with("error: ");
    if (ctx.json)
      arr.push_back(l);
    else
      print_line(l);
  }
  if (ctx.json)
    print_json({{"ok", !failed}, {"done", arr}});
  if (failed)
    throw CliError("some steps failed; they are retried by the next moat tick");
}

void run_status(const Context& ctx, const std::string& domain_text) {
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  const UnixTime now = ctx.clock->now();
  std::vector<Domain> domains = unwrap(store.list_domains());
  auto steps = unwrap(pending_steps(store, now));
  if (!domain_text.empty()) {
    const Domain d = require_domain(store, parse_domain_name(domain_text));
    domains = {d};
    std::erase_if(steps, [&](const PendingStep& s) { return s.domain != d.name.to_string(); });
  }
  if (ctx.json) {
    Json arr = Json::array();
    for (const auto& s : steps) {
      Json j = {{"domain", s.domain}, {"host", s.host}, {"step", s.what},
                {"waits_for", s.waits_for}};
      if (s.not_before)
        j["not_before"] = iso8601(*s.not_before);
      arr.push_back(j);
    }
    print_json(arr);
    return;
  }
  for (const Domain& d : domains) {
    auto pub = unwrap(store.latest_publication(d.id));
    print_line(d.name.to_string() + " serial " + std::to_string(d.serial) +
               (pub ? ", moat-dnsd serves serial " + std::to_string(pub->serial) + " since " +
                          iso8601(pub->at)
                    : ", not served by moat-dnsd yet"));
  }
  if (steps.empty()) {
    print_line("nothing pending");
    return;
  }
  for (const auto& s : steps) {
    std::string when;
    if (s.not_before)
      when = *s.not_before <= now ? " (due now: run moat tick)" : ", not before " + iso8601(*s.not_before);
    print_line("pending: " + s.host + " (" + s.domain + "): " + s.what + " — waits for " +
               s.waits_for + when);
  }
}

} // namespace

void add_tick_commands(CLI::App& app, Context& ctx) {
  CLI::App* t = app.add_subcommand("tick", "Perform every pending step whose wait is over");
  on_run(t, ctx, [&ctx] { run_tick(ctx); });
  CLI::App* s = app.add_subcommand("status", "Show what is pending and what it waits for");
  auto domain = std::make_shared<std::string>();
  s->add_option("DOMAIN", *domain, "Only this domain");
  on_run(s, ctx, [&ctx, domain] { run_status(ctx, *domain); });
}

} // namespace moat::cli
