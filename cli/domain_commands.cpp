// moat domain add | list | show | set | del
#include "cli/commands.hpp"
#include "cli/input.hpp"
#include "cli/key_info.hpp"
#include "cli/output.hpp"
#include "cli/provision.hpp"
#include "core/rotation.hpp"
#include "core/zone_rules.hpp"
#include "signer/key.hpp"
#include "signer/key_rollover.hpp"

#include <algorithm>
#include <charconv>
#include <memory>
#include <optional>

namespace moat::cli {
namespace {

constexpr std::uint32_t kNsTtl = 3600;

struct DomainAddOptions {
  std::string domain;
  std::vector<std::string> ns;
  std::string soa_email;
  std::string algorithm = "ecdsap256";
  bool nsec3 = false;
  bool csk = false;
};

std::string denial_label(const Domain& d) { return d.nsec3 ? "nsec3" : "nsec"; }

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width)
    s.append(width - s.size(), ' ');
  return s;
}

void run_domain_add(const Context& ctx, const DomainAddOptions& o) {
  const UnixTime now = ctx.clock->now();
  Name apex = parse_domain_name(o.domain);
  auto alg = unwrap(signer::algorithm_from_string(o.algorithm));
  NameServers ns = parse_name_servers(apex, o.ns, kNsTtl);
  unwrap(check_zone(apex, ns.records));

  Domain d;
  d.name = apex;
  d.soa.mname = ns.names.front();
  d.soa.rname =
      o.soa_email.empty() ? unwrap(apex.prepend("hostmaster")) : mailbox_name(o.soa_email);
  d.serial = static_cast<std::uint32_t>(now);
  d.algorithm = static_cast<std::uint8_t>(alg);
  d.nsec3 = o.nsec3;
  d.created = now;

  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  std::string detail = apex.to_string() + " ns";
  for (const Name& n : ns.names)
    detail += " " + n.to_string();
  detail += " algorithm " + algorithm_label(d.algorithm) + " " + denial_label(d);
  std::vector<KeyRecord> keys =
      create_domain(ctx, store, d, ns.records, now, "domain add", detail, o.csk);

  // A name server inside the domain without an address cannot be reached (and
  // named-checkzone refuses such a zone); say so, but it may be added next.
  for (const Name& n : ns.names) {
    bool has_address = std::ranges::any_of(ns.records, [&](const Rr& rr) {
      return rr.owner == n && (rr.type == rrtype::A || rr.type == rrtype::AAAA);
    });
    if (n.is_subdomain_of(apex) && !has_address)
      print_notice("note: name server " + n.to_string() + " is inside " + apex.to_string() +
                   " but has no address; add one with --ns NAME=ADDR or 'moat record add'");
  }

  if (ctx.json) {
    Json j = {{"ok", true},
              {"domain", apex.to_string()},
              {"serial", d.serial},
              {"algorithm", algorithm_label(d.algorithm)},
              {"denial", denial_label(d)},
              {"keys", Json::array()},
              {"ds", Json::array()}};
    for (const KeyRecord& k : keys)
      j["keys"].push_back(key_json(d, k));
    for (const DsView& ds : wanted_ds(d, keys))
      j["ds"].push_back(ds_json(ds));
    print_json(j);
  } else {
    print_line("added domain " + apex.to_string() + " (" + algorithm_label(d.algorithm) + ", " +
               denial_label(d) + "; " + key_tags_summary(keys) + ")");
  }
}

void run_domain_list(const Context& ctx) {
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  std::vector<Domain> domains = unwrap(store.list_domains());
  Json arr = Json::array();
  std::vector<std::size_t> counts;
  std::size_t width = 0, alg_width = 0;
  for (const Domain& d : domains) {
    counts.push_back(unwrap(store.records(d.id)).size());
    width = std::max(width, d.name.to_string().size());
    alg_width = std::max(alg_width, algorithm_label(d.algorithm).size());
  }
  for (std::size_t i = 0; i < domains.size(); ++i) {
    const Domain& d = domains[i];
    if (ctx.json) {
      arr.push_back({{"name", d.name.to_string()},
                     {"serial", d.serial},
                     {"algorithm", algorithm_label(d.algorithm)},
                     {"algorithm_number", d.algorithm},
                     {"denial", denial_label(d)},
                     {"records", counts[i]}});
    } else {
      print_line(pad(d.name.to_string(), width) + "  serial " + std::to_string(d.serial) + "  " +
                 pad(algorithm_label(d.algorithm), alg_width) + "  " + pad(denial_label(d), 5) +
                 "  " + std::to_string(counts[i]) + (counts[i] == 1 ? " record" : " records"));
    }
  }
  if (ctx.json)
    print_json(arr);
}

void run_domain_show(const Context& ctx, const std::string& domain_text) {
  Name apex = parse_domain_name(domain_text);
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  Domain d = require_domain(store, apex);
  std::size_t count = unwrap(store.records(d.id)).size();
  std::vector<KeyRecord> keys = unwrap(store.keys(d.id));
  std::vector<DsView> ds = wanted_ds(d, keys);

  if (ctx.json) {
    Json j = {{"name", d.name.to_string()},
              {"serial", d.serial},
              {"soa",
               {{"mname", d.soa.mname.to_string()},
                {"rname", d.soa.rname.to_string()},
                {"refresh", d.soa.refresh},
                {"retry", d.soa.retry},
                {"expire", d.soa.expire},
                {"minimum", d.soa.minimum},
                {"ttl", d.soa.ttl}}},
              {"algorithm", algorithm_label(d.algorithm)},
              {"algorithm_number", d.algorithm},
              {"denial", denial_label(d)},
              {"dnskey_ttl", d.dnskey_ttl},
              {"tlsa_issuer", d.tlsa_issuer},
              {"records", count},
              {"created", iso8601(d.created)},
              {"keys", Json::array()},
              {"ds", Json::array()}};
    for (const KeyRecord& k : keys)
      j["keys"].push_back(key_json(d, k));
    for (const DsView& v : ds)
      j["ds"].push_back(ds_json(v));
    print_json(j);
    return;
  }
  print_line("domain     " + d.name.to_string());
  print_line("serial     " + std::to_string(d.serial));
  print_line("soa        " + d.soa.mname.to_string() + " " + d.soa.rname.to_string() + " refresh " +
             std::to_string(d.soa.refresh) + " retry " + std::to_string(d.soa.retry) + " expire " +
             std::to_string(d.soa.expire) + " minimum " + std::to_string(d.soa.minimum) + " ttl " +
             std::to_string(d.soa.ttl));
  print_line("algorithm  " + algorithm_label(d.algorithm) + " (" + std::to_string(d.algorithm) +
             ")");
  print_line("denial     " + std::string(d.nsec3 ? "nsec3 (0 extra iterations, no salt)" : "nsec"));
  print_line("tlsa       3 1 1" + std::string(d.tlsa_issuer ? " and 2 1 1 (issuing CA)" : ""));
  print_line("keys       ZSK lifetime " + std::to_string(d.zsk_lifetime / 86400) +
             " days, KSK lifetime " +
             (d.ksk_lifetime == 0 ? std::string("never")
                                  : std::to_string(d.ksk_lifetime / 86400) + " days"));
  print_line("signatures valid " + std::to_string(d.sig_validity / 86400) + " days, refreshed " +
             std::to_string(d.sig_refresh / 86400) + " days before expiry");
  print_line("records    " + std::to_string(count));
  print_line("created    " + iso8601(d.created));
  for (const KeyRecord& k : keys)
    print_line("key        " + std::to_string(k.key_tag) + " " + k.role + " " +
               algorithm_label(k.algorithm) + " " + k.state);
  for (const DsView& v : ds)
    print_line("ds         " + v.record);
}

struct DomainSetOptions {
  std::string domain;
  std::string tlsa_issuer;              ///< "on", "off" or "" (unchanged)
  std::optional<unsigned> zsk_lifetime; ///< days
  std::string ksk_lifetime;             ///< days or "never"
  std::optional<unsigned> sig_validity; ///< days
  std::optional<unsigned> sig_refresh;  ///< days
  bool nsec3 = false;
  bool nsec = false;

  [[nodiscard]] bool signing() const {
    return zsk_lifetime || !ksk_lifetime.empty() || sig_validity || sig_refresh || nsec3 || nsec;
  }
};

constexpr std::uint32_t kDay = 86400;

// Applies the signing options to `d`; fails on a combination that would let signatures expire
// in caches or keys roll faster than a rollover takes.
Result<void> apply_signing(Domain& d, const DomainSetOptions& o, const signer::KeyTimings& t) {
  if (o.zsk_lifetime)
    d.zsk_lifetime = *o.zsk_lifetime * kDay;
  if (o.ksk_lifetime == "never")
    d.ksk_lifetime = 0;
  else if (!o.ksk_lifetime.empty()) {
    unsigned days = 0;
    auto [end, ec] =
        std::from_chars(o.ksk_lifetime.data(), o.ksk_lifetime.data() + o.ksk_lifetime.size(), days);
    if (ec != std::errc() || end != o.ksk_lifetime.data() + o.ksk_lifetime.size() || days < 2 ||
        days > 36500)
      return fail("--ksk-lifetime: '" + o.ksk_lifetime +
                  "' is not a number of days (2-36500) "
                  "or 'never'");
    d.ksk_lifetime = days * kDay;
  }
  if (o.sig_validity)
    d.sig_validity = *o.sig_validity * kDay;
  if (o.sig_refresh)
    d.sig_refresh = *o.sig_refresh * kDay;
  if (o.nsec3 || o.nsec)
    d.nsec3 = o.nsec3;
  // A signature is replaced when less than sig-refresh is left (and new ones expire up to an
  // eighth early, spread): what a cache holds must stay valid for its TTL (RFC 6781 §4.4.2).
  if (d.sig_refresh * 2 > d.sig_validity)
    return fail("the signature refresh (" + std::to_string(d.sig_refresh / kDay) +
                " days) must be at most half the validity (" +
                std::to_string(d.sig_validity / kDay) + " days)");
  if (d.sig_refresh < t.max_zone_ttl + signer::kPropagation)
    return fail("the signature refresh must exceed the zone's longest TTL (" +
                std::to_string(t.max_zone_ttl) + " s) with margin");
  // A rollover takes about TTLkey + TTLsig plus margins; a lifetime must leave room for it.
  const std::uint32_t rollover = t.dnskey_ttl + t.max_zone_ttl + 2 * signer::kPropagation;
  if (d.zsk_lifetime < 2 * rollover || (d.ksk_lifetime > 0 && d.ksk_lifetime < 2 * rollover))
    return fail("a key lifetime must be at least twice as long as a rollover (" +
                std::to_string(2 * rollover) + " s with these TTLs)");
  return {};
}

void run_domain_set(const Context& ctx, const DomainSetOptions& o) {
  const Name apex = parse_domain_name(o.domain);
  if (o.tlsa_issuer.empty() && !o.signing())
    throw CliError("nothing to set (see moat domain set --help)");
  if (!o.tlsa_issuer.empty() && o.signing())
    throw CliError("--tlsa-issuer is changed on its own; run moat domain set twice");
  if (o.nsec3 && o.nsec)
    throw CliError("--nsec3 and --nsec exclude each other");
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  Domain d = require_domain(store, apex);
  const UnixTime now = ctx.clock->now();
  if (!o.tlsa_issuer.empty()) {
    unwrap(set_tlsa_issuer(store, apex, o.tlsa_issuer == "on", now, ctx.actor()));
    if (ctx.json)
      print_json(
          {{"ok", true}, {"domain", apex.to_string()}, {"tlsa_issuer", o.tlsa_issuer == "on"}});
    else
      print_line(apex.to_string() + ": TLSA 2 1 1 for the issuing CA " +
                 (o.tlsa_issuer == "on" ? "published beside 3 1 1" : "withdrawn"));
    return;
  }
  const signer::KeyTimings timings = unwrap(signer::key_timings(store, d));
  unwrap(apply_signing(d, o, timings));
  ctx.commit(store, now, "domain set", apex.to_string() + ": signing settings",
             [&]() -> Result<void> {
               auto current = store.find_domain_by_id(d.id);
               if (!current)
                 return std::unexpected(current.error());
               if (!*current)
                 return fail("no domain " + apex.to_string());
               Domain updated = **current;
               if (auto r = apply_signing(updated, o, timings); !r)
                 return r;
               // The new signing settings (and a new denial chain, NSEC <-> NSEC3) come with a new
               // serial; moat-dnsd swaps the whole signed zone at once, so no answer mixes the two.
               auto serial = store.touch_domain(updated.id, now);
               if (!serial)
                 return std::unexpected(serial.error());
               updated.serial = *serial;
               d = updated;
               return store.update_domain(updated);
             });
  if (ctx.json) {
    print_json(
        {{"ok", true},
         {"domain", apex.to_string()},
         {"zsk_lifetime_days", d.zsk_lifetime / kDay},
         {"ksk_lifetime_days", d.ksk_lifetime == 0 ? Json("never") : Json(d.ksk_lifetime / kDay)},
         {"sig_validity_days", d.sig_validity / kDay},
         {"sig_refresh_days", d.sig_refresh / kDay},
         {"denial", denial_label(d)},
         {"serial", d.serial}});
    return;
  }
  print_line(apex.to_string() + ": ZSK lifetime " + std::to_string(d.zsk_lifetime / kDay) +
             " days, KSK lifetime " +
             (d.ksk_lifetime == 0 ? std::string("never")
                                  : std::to_string(d.ksk_lifetime / kDay) + " days") +
             ", signatures valid " + std::to_string(d.sig_validity / kDay) + " days, refreshed " +
             std::to_string(d.sig_refresh / kDay) + " days before expiry, " + denial_label(d) +
             " (serial " + std::to_string(d.serial) + ")");
}

void run_domain_del(const Context& ctx, const std::string& domain_text) {
  const UnixTime now = ctx.clock->now();
  Name apex = parse_domain_name(domain_text);
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  Domain d = require_domain(store, apex);
  // Records and keys go with the domain row (ON DELETE CASCADE).
  ctx.commit(store, now, "domain del", apex.to_string(), [&] { return store.delete_domain(d.id); });
  if (ctx.json)
    print_json({{"ok", true}, {"domain", apex.to_string()}});
  else
    print_line("deleted domain " + apex.to_string());
}

} // namespace

void add_domain_commands(CLI::App& app, Context& ctx) {
  CLI::App* domain = app.add_subcommand("domain", "Add, list, show and delete domains");
  domain->require_subcommand(1);

  auto add_opts = std::make_shared<DomainAddOptions>();
  CLI::App* add = domain->add_subcommand("add", "Add a domain with a new KSK and ZSK");
  add->add_option("DOMAIN", add_opts->domain, "The domain (zone apex)")->required();
  add->add_option("--ns", add_opts->ns,
                  "Name server NAME, or NAME=ADDR for one inside the domain (adds its address)")
      ->required()
      ->allow_extra_args(false); // one value per --ns, so DOMAIN may follow it
  add->add_option("--soa-email", add_opts->soa_email,
                  "Responsible mailbox (default hostmaster@DOMAIN)");
  add->add_option("--algorithm", add_opts->algorithm, "ecdsap256 (default), ed25519 or rsasha256");
  add->add_flag("--nsec3", add_opts->nsec3, "NSEC3 (0 extra iterations, no salt) instead of NSEC");
  add->add_flag("--csk", add_opts->csk, "One combined signing key instead of a KSK and a ZSK");
  on_run(add, ctx, [&ctx, add_opts] { run_domain_add(ctx, *add_opts); });

  CLI::App* list = domain->add_subcommand("list", "List the domains");
  on_run(list, ctx, [&ctx] { run_domain_list(ctx); });

  auto show_name = std::make_shared<std::string>();
  CLI::App* show = domain->add_subcommand("show", "Show a domain's SOA, keys and DS records");
  show->add_option("DOMAIN", *show_name, "The domain")->required();
  on_run(show, ctx, [&ctx, show_name] { run_domain_show(ctx, *show_name); });

  auto set_opts = std::make_shared<DomainSetOptions>();
  CLI::App* set = domain->add_subcommand("set", "Change a domain's settings");
  set->add_option("DOMAIN", set_opts->domain, "The domain")->required();
  set->add_option("--tlsa-issuer", set_opts->tlsa_issuer,
                  "on: publish TLSA 2 1 1 of each MX host's issuing CA beside 3 1 1")
      ->check(CLI::IsMember({"on", "off"}));
  set->add_option("--zsk-lifetime", set_opts->zsk_lifetime, "Days before a ZSK is rolled")
      ->check(CLI::Range(1u, 3650u));
  set->add_option("--ksk-lifetime", set_opts->ksk_lifetime,
                  "Days before the KSK is rolled, or never (the default)");
  set->add_option("--sig-validity", set_opts->sig_validity, "Days a new signature is valid")
      ->check(CLI::Range(2u, 365u));
  set->add_option("--sig-refresh", set_opts->sig_refresh,
                  "Re-sign when fewer days than this are left")
      ->check(CLI::Range(1u, 182u));
  set->add_flag("--nsec3", set_opts->nsec3, "Switch to NSEC3 (0 extra iterations, no salt)");
  set->add_flag("--nsec", set_opts->nsec, "Switch to NSEC");
  on_run(set, ctx, [&ctx, set_opts] { run_domain_set(ctx, *set_opts); });

  auto del_name = std::make_shared<std::string>();
  CLI::App* del = domain->add_subcommand("del", "Delete a domain with its records and keys");
  del->add_option("DOMAIN", *del_name, "The domain")->required();
  on_run(del, ctx, [&ctx, del_name] { run_domain_del(ctx, *del_name); });
}

} // namespace moat::cli
