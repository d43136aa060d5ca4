// `moat tick` (every step whose condition now holds) and `moat status` (what is pending).
#include "cli/app.hpp"
#include "cli/commands.hpp"
#include "cli/input.hpp"
#include "cli/key_info.hpp"
#include "cli/output.hpp"
#include "core/rotation.hpp"
#include "signer/key_rollover.hpp"

#include <ctime>
#include <memory>

namespace moat::cli {
namespace {

void run_tick(const Context& ctx) {
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  FileRotationEffects effects;
  const UnixTime now = ctx.clock->now();
  auto lines = unwrap(tick(store, now, ctx.actor(), effects));
  for (std::string& l : unwrap(signer::tick_keys(store, now, ctx.actor())))
    lines.push_back(std::move(l));
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

// "ksk 29944 ecdsap256 active (DS seen), zsk 51871 ecdsap256 active; zsk rollover under way".
std::string keys_summary(const Domain& d, const std::vector<KeyRecord>& keys,
                         const std::string& rollover) {
  std::string out;
  for (const KeyRecord& k : keys) {
    if (k.state == "removed")
      continue;
    out += (out.empty() ? "" : ", ") + k.role + " " + std::to_string(k.key_tag) + " " +
           algorithm_label(k.algorithm) + " " + k.state;
    if (signer::is_sep(k))
      out += k.ds_state == "submit"      ? " (DS wanted at the parent)"
             : k.ds_state == "seen"      ? " (DS confirmed at the parent)"
             : k.ds_state == "withdrawn" ? " (DS withdrawn)"
                                         : " (DS not asked for yet)";
  }
  out += "; " + (d.nsec3 ? std::string("nsec3") : std::string("nsec"));
  if (!rollover.empty())
    out += "; " + rollover + " rollover under way";
  return out;
}

// What the admin must do at the registrar (RFC 7344 §4: what the CDS asks for, said plainly).
struct RegistrarAction {
  std::string domain;
  std::string action; ///< "add", "replace" (algorithm rollover) or "remove"
  DsView ds;
};

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
  std::vector<RegistrarAction> registrar;
  std::vector<PendingStep> scheduled;
  std::vector<std::string> rollovers; // per domain, for its keys: line
  for (const Domain& d : domains) {
    // One plan per domain gives its key steps, registrar actions and next rollover.
    const signer::KeyPlan plan = unwrap(signer::plan_keys(store, d, now));
    for (PendingStep& s : signer::key_steps(d, plan, now))
      steps.push_back(std::move(s));
    rollovers.push_back(plan.rollover);
    // In an algorithm rollover the old algorithm's DS must go with the change: a strict
    // validator wants every algorithm of the DS RRset in the DNSKEY RRset (RFC 6840 §5.11).
    for (const KeyRecord& k : plan.ds_to_add)
      registrar.push_back(
          {d.name.to_string(), plan.rollover == "algorithm" ? "replace" : "add", ds_view(d, k)});
    for (const KeyRecord& k : plan.ds_to_remove)
      registrar.push_back({d.name.to_string(), "remove", ds_view(d, k)});
    if (plan.scheduled)
      scheduled.push_back(*plan.scheduled);
  }
  if (ctx.json) {
    Json arr = Json::array();
    for (const auto& s : steps) {
      Json j = {
          {"domain", s.domain}, {"host", s.host}, {"step", s.what}, {"waits_for", s.waits_for}};
      if (s.not_before)
        j["not_before"] = iso8601(*s.not_before);
      arr.push_back(j);
    }
    Json reg = Json::array();
    for (const auto& r : registrar)
      reg.push_back({{"domain", r.domain}, {"action", r.action}, {"ds", ds_json(r.ds)}});
    Json next = Json::array();
    for (const auto& s : scheduled)
      next.push_back({{"domain", s.domain}, {"step", s.what}, {"at", iso8601(*s.not_before)}});
    print_json({{"pending", arr}, {"registrar", reg}, {"scheduled", next}});
    return;
  }
  for (std::size_t i = 0; i < domains.size(); ++i) {
    const Domain& d = domains[i];
    auto pub = unwrap(store.latest_publication(d.id));
    print_line(d.name.to_string() + " serial " + std::to_string(d.serial) +
               (pub ? ", moat-dnsd serves serial " + std::to_string(pub->serial) + " since " +
                          iso8601(pub->at)
                    : ", not served by moat-dnsd yet"));
    print_line("keys: " + keys_summary(d, unwrap(store.keys(d.id)), rollovers[i]));
  }
  for (const auto& r : registrar) {
    const std::string confirm =
        "run 'moat key ds-seen " + r.domain + " " + std::to_string(r.ds.key_tag) + "'";
    if (r.action == "add")
      print_line("registrar: add this DS record to the parent of " + r.domain +
                 "; once the parent serves it (dig DS " + r.domain + " at its servers), " +
                 confirm + ":\n    " + r.ds.record);
    else if (r.action == "replace")
      print_line("registrar: replace the DS records of " + r.domain +
                 " by this one (algorithm rollover: the old algorithm's DS must go too); once "
                 "the parent serves only it, " +
                 confirm + ":\n    " + r.ds.record);
    else
      print_line("registrar: the DS of key " + std::to_string(r.ds.key_tag) + " of " + r.domain +
                 " is no longer used; remove it from the parent if it is still there:\n    " +
                 r.ds.record);
  }
  for (const auto& s : scheduled)
    print_line("scheduled: " + s.domain + ": " + s.what + " at " + iso8601(*s.not_before));
  if (steps.empty()) {
    print_line("nothing pending");
    return;
  }
  for (const auto& s : steps) {
    std::string when;
    if (s.not_before)
      when = *s.not_before <= now ? " (due now: run moat tick)"
                                  : ", not before " + iso8601(*s.not_before);
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
