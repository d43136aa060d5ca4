// `moat tsig add|list|del`, `moat secondary add|list|del` and `moat acme allow|deny|list`: the
// keys, the servers that copy a zone from moat-dnsd by AXFR/IXFR (RFC 5936, 1995) and are sent
// NOTIFY (RFC 1996), and the ACME clients that may UPDATE _acme-challenge TXT records (RFC 2136).
#include "cli/commands.hpp"
#include "cli/input.hpp"
#include "cli/output.hpp"
#include "core/locations.hpp"
#include "core/tsig_key.hpp"

#include <algorithm>
#include <memory>

namespace moat::cli {
namespace {

// Imported secrets shorter than this are refused: RFC 8945 §6 asks for at least the HMAC
// output length, and 16 bytes is the floor old hmac-md5 keys met.
constexpr std::size_t kMinSecret = 16;

struct TsigAddOptions {
  std::string name;
  std::string algorithm = "hmac-sha256";
  std::string secret;
};

// The key in the forms the usual secondaries and clients take, with the secret shown once.
void print_key(const TsigKey& k) {
  std::string name = k.name.to_string();
  name.pop_back(); // configs name keys without the trailing dot
  const std::string secret = base64_encode(k.secret);
  print_line("# TSIG key " + name + " (" + k.algorithm +
             "). The secret is shown only now: copy it to the peer.");
  print_line("# BIND (named.conf):");
  print_line("key \"" + name + "\" { algorithm " + k.algorithm + "; secret \"" + secret + "\"; };");
  print_line("# Knot DNS (knot.conf):");
  print_line("key:\n  - id: " + name + "\n    algorithm: " + k.algorithm +
             "\n    secret: " + secret);
  print_line("# NSD (nsd.conf):");
  print_line("key:\n  name: \"" + name + "\"\n  algorithm: " + k.algorithm + "\n  secret: \"" +
             secret + "\"");
  print_line("# dig -y, kdig -y, knsupdate, certbot-dns-rfc2136:");
  print_line(k.algorithm + ":" + name + ":" + secret);
}

void run_tsig_add(const Context& ctx, const TsigAddOptions& o) {
  if (!tsig_algorithm_known(o.algorithm))
    throw CliError("unknown TSIG algorithm '" + o.algorithm +
                   "' (hmac-sha256, hmac-sha384, hmac-sha512, hmac-sha224, hmac-sha1)");
  TsigKey k;
  k.name = unwrap(parse_tsig_key_name(o.name));
  k.algorithm = o.algorithm;
  if (o.secret.empty()) {
    k.secret = unwrap(generate_tsig_secret(o.algorithm));
  } else {
    auto secret = base64_decode(o.secret);
    if (!secret)
      throw CliError("--secret is " + secret.error().message);
    if (secret->size() < kMinSecret)
      throw CliError("--secret is " + std::to_string(secret->size()) + " bytes; at least " +
                     std::to_string(kMinSecret) + " are needed");
    k.secret = std::move(*secret);
  }
  const UnixTime now = ctx.clock->now();
  k.created = now;
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  ctx.commit(store, now, "tsig add", k.name.to_string() + " " + k.algorithm, [&]() -> Result<void> {
    auto existing = store.find_tsig_key(k.name);
    if (!existing)
      return std::unexpected(existing.error());
    if (*existing)
      return fail("TSIG key " + k.name.to_string() +
                  " exists already; delete it first (moat tsig del)");
    return store.insert_tsig_key(k);
  });
  if (ctx.json) {
    std::string name = k.name.to_string();
    name.pop_back();
    print_json({{"name", name}, {"algorithm", k.algorithm}, {"secret", base64_encode(k.secret)}});
    return;
  }
  print_key(k);
}

void run_tsig_list(const Context& ctx) {
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  auto keys = unwrap(store.tsig_keys());
  Json arr = Json::array();
  for (const TsigKey& k : keys) {
    if (ctx.json)
      arr.push_back({{"name", k.name.to_string()},
                     {"algorithm", k.algorithm},
                     {"created", iso8601(k.created)}});
    else
      print_line(k.name.to_string() + " " + k.algorithm + " created " + iso8601(k.created));
  }
  if (ctx.json)
    print_json(arr);
}

void run_tsig_del(const Context& ctx, const std::string& text) {
  Name name = unwrap(parse_tsig_key_name(text));
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  ctx.commit(store, ctx.clock->now(), "tsig del", name.to_string(), [&]() -> Result<void> {
    auto uses = store.tsig_key_uses(name);
    if (!uses)
      return std::unexpected(uses.error());
    if (!uses->empty())
      return fail("TSIG key " + name.to_string() + " is used for " + uses->front() +
                  "; remove that first");
    auto n = store.delete_tsig_key(name);
    if (!n)
      return std::unexpected(n.error());
    if (*n == 0)
      return fail("no TSIG key " + name.to_string());
    return {};
  });
  if (ctx.json)
    print_json({{"ok", true}, {"name", name.to_string()}});
  else
    print_line("deleted TSIG key " + name.to_string());
}

struct SecondaryAddOptions {
  std::string domain, address, tsig;
};

void run_secondary_add(const Context& ctx, const SecondaryAddOptions& o) {
  Name apex = parse_domain_name(o.domain);
  ListenAddress a = unwrap(parse_peer_address(o.address, 53));
  Secondary s;
  s.address = a.host;
  s.port = a.port;
  if (!o.tsig.empty())
    s.tsig_key = unwrap(parse_tsig_key_name(o.tsig));
  const UnixTime now = ctx.clock->now();
  s.created = now;
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  ctx.commit(store, now, "secondary add",
             apex.to_string() + " " + a.to_string() +
                 (s.tsig_key ? " key " + s.tsig_key->to_string() : ""),
             [&]() -> Result<void> {
               auto d = store.find_domain(apex);
               if (!d)
                 return std::unexpected(d.error());
               if (!*d)
                 return fail("no domain " + apex.to_string());
               s.domain_id = (*d)->id;
               if (s.tsig_key) {
                 auto k = store.find_tsig_key(*s.tsig_key);
                 if (!k)
                   return std::unexpected(k.error());
                 if (!*k)
                   return fail("no TSIG key " + s.tsig_key->to_string() + " (moat tsig add)");
               }
               auto existing = store.secondaries(s.domain_id);
               if (!existing)
                 return std::unexpected(existing.error());
               for (const Secondary& e : *existing)
                 if (e.address == s.address)
                   return fail(s.address + " is already a secondary of " + apex.to_string());
               if (auto id = store.insert_secondary(s); !id)
                 return std::unexpected(id.error());
               // A new version of the zone: moat-dnsd reloads its transfer rules and sends the
               // new secondary a NOTIFY, so it need not wait for its first SOA refresh.
               auto serial = store.touch_domain(s.domain_id, now);
               return serial ? Result<void>{} : std::unexpected(serial.error());
             });
  if (ctx.json) {
    print_json({{"ok", true},
                {"domain", apex.to_string()},
                {"address", s.address},
                {"port", s.port},
                {"tsig", s.tsig_key ? s.tsig_key->to_string() : ""}});
    return;
  }
  print_line("added secondary " + a.to_string() + " to " + apex.to_string() +
             (s.tsig_key ? " (TSIG " + s.tsig_key->to_string() + ")"
                         : " (no TSIG: transfers allowed by address alone)"));
}

void run_secondary_list(const Context& ctx, const std::string& domain) {
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  Domain d = require_domain(store, parse_domain_name(domain));
  auto list = unwrap(store.secondaries(d.id));
  Json arr = Json::array();
  for (const Secondary& s : list) {
    const std::string key = s.tsig_key ? s.tsig_key->to_string() : "";
    if (ctx.json)
      arr.push_back({{"address", s.address}, {"port", s.port}, {"tsig", key}});
    else
      print_line(s.address + " port " + std::to_string(s.port) +
                 (key.empty() ? " no TSIG" : " TSIG " + key));
  }
  if (ctx.json)
    print_json(arr);
}

void run_secondary_del(const Context& ctx, const std::string& domain, const std::string& address) {
  Name apex = parse_domain_name(domain);
  ListenAddress a = unwrap(parse_peer_address(address, 53));
  const UnixTime now = ctx.clock->now();
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  ctx.commit(store, now, "secondary del", apex.to_string() + " " + a.host, [&]() -> Result<void> {
    auto d = store.find_domain(apex);
    if (!d)
      return std::unexpected(d.error());
    if (!*d)
      return fail("no domain " + apex.to_string());
    auto n = store.delete_secondary((*d)->id, a.host);
    if (!n)
      return std::unexpected(n.error());
    if (*n == 0)
      return fail("no secondary " + a.host + " for " + apex.to_string());
    auto serial = store.touch_domain((*d)->id, now); // moat-dnsd drops its transfer rights now
    return serial ? Result<void>{} : std::unexpected(serial.error());
  });
  if (ctx.json)
    print_json({{"ok", true}, {"domain", apex.to_string()}, {"address", a.host}});
  else
    print_line("removed secondary " + a.host + " from " + apex.to_string());
}

// Resolves the domain and the key inside the transaction, for `acme allow|deny`.
Result<std::int64_t> domain_and_key(Store& store, const Name& apex, const Name& key) {
  auto d = store.find_domain(apex);
  if (!d)
    return std::unexpected(d.error());
  if (!*d)
    return fail("no domain " + apex.to_string());
  auto k = store.find_tsig_key(key);
  if (!k)
    return std::unexpected(k.error());
  if (!*k)
    return fail("no TSIG key " + key.to_string() + " (moat tsig add)");
  return (*d)->id;
}

void run_acme(const Context& ctx, bool allow, const std::string& domain, const std::string& key) {
  Name apex = parse_domain_name(domain);
  Name name = unwrap(parse_tsig_key_name(key));
  const UnixTime now = ctx.clock->now();
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  ctx.commit(store, now, allow ? "acme allow" : "acme deny",
             apex.to_string() + " key " + name.to_string(), [&]() -> Result<void> {
               auto id = domain_and_key(store, apex, name);
               if (!id)
                 return std::unexpected(id.error());
               auto keys = store.acme_update_keys(*id);
               if (!keys)
                 return std::unexpected(keys.error());
               const bool listed = std::ranges::find(*keys, name) != keys->end();
               if (allow && listed)
                 return fail("key " + name.to_string() + " may update " + apex.to_string() +
                             " already");
               if (!allow && !listed)
                 return fail("key " + name.to_string() + " is not allowed for " + apex.to_string());
               // A new version of the zone, so that moat-dnsd applies the rule at once.
               if (allow) {
                 if (auto r = store.allow_acme_update(*id, name, now); !r)
                   return r;
               } else if (auto n = store.deny_acme_update(*id, name); !n) {
                 return std::unexpected(n.error());
               }
               auto serial = store.touch_domain(*id, now);
               return serial ? Result<void>{} : std::unexpected(serial.error());
             });
  if (ctx.json) {
    print_json({{"ok", true}, {"domain", apex.to_string()}, {"tsig", name.to_string()}});
    return;
  }
  print_line(allow ? "key " + name.to_string() +
                         " may now UPDATE TXT records at _acme-challenge "
                         "names of " +
                         apex.to_string()
                   : "key " + name.to_string() + " may no longer update " + apex.to_string());
}

void run_acme_list(const Context& ctx, const std::string& domain) {
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  Domain d = require_domain(store, parse_domain_name(domain));
  auto keys = unwrap(store.acme_update_keys(d.id));
  auto challenges = unwrap(store.acme_challenges(d.id));
  if (ctx.json) {
    Json k = Json::array(), c = Json::array();
    for (const Name& n : keys)
      k.push_back(n.to_string());
    for (const AcmeChallenge& x : challenges)
      c.push_back({{"owner", x.owner.to_string()},
                   {"txt", rdata_to_string(rrtype::TXT, x.rdata)},
                   {"expires", iso8601(x.expires)}});
    print_json({{"keys", k}, {"challenges", c}});
    return;
  }
  for (const Name& n : keys)
    print_line("key " + n.to_string() + " may update _acme-challenge TXT records");
  for (const AcmeChallenge& x : challenges)
    print_line("challenge " + x.owner.to_string() + " TXT " +
               rdata_to_string(rrtype::TXT, x.rdata) + " until " + iso8601(x.expires));
}

} // namespace

void add_transfer_commands(CLI::App& app, Context& ctx) {
  CLI::App* tsig = app.add_subcommand("tsig", "TSIG keys for zone transfers and updates");
  tsig->require_subcommand(1);
  auto add_opts = std::make_shared<TsigAddOptions>();
  CLI::App* add = tsig->add_subcommand("add", "Generate (or import) a key; prints it once");
  add->add_option("NAME", add_opts->name, "The key's name, as the peer will know it")->required();
  add->add_option("--algorithm", add_opts->algorithm, "hmac-sha256 (default), hmac-sha384, ...");
  add->add_option("--secret", add_opts->secret, "Import this base64 secret instead");
  on_run(add, ctx, [&ctx, add_opts] { run_tsig_add(ctx, *add_opts); });
  CLI::App* list = tsig->add_subcommand("list", "List the keys (never their secrets)");
  on_run(list, ctx, [&ctx] { run_tsig_list(ctx); });
  auto del_name = std::make_shared<std::string>();
  CLI::App* del = tsig->add_subcommand("del", "Delete a key no secondary uses");
  del->add_option("NAME", *del_name, "The key's name")->required();
  on_run(del, ctx, [&ctx, del_name] { run_tsig_del(ctx, *del_name); });

  CLI::App* sec = app.add_subcommand("secondary", "Servers that copy a zone by AXFR/IXFR");
  sec->require_subcommand(1);
  auto sadd = std::make_shared<SecondaryAddOptions>();
  CLI::App* s_add = sec->add_subcommand("add", "Allow transfers to a secondary and NOTIFY it");
  s_add->add_option("DOMAIN", sadd->domain, "The domain")->required();
  s_add->add_option("ADDR", sadd->address, "ADDR[:PORT] or [ADDR6]:PORT (NOTIFY port, 53)")
      ->required();
  s_add->add_option("--tsig", sadd->tsig, "Require this TSIG key (moat tsig add)");
  on_run(s_add, ctx, [&ctx, sadd] { run_secondary_add(ctx, *sadd); });
  auto slist = std::make_shared<std::string>();
  CLI::App* s_list = sec->add_subcommand("list", "List a domain's secondaries");
  s_list->add_option("DOMAIN", *slist, "The domain")->required();
  on_run(s_list, ctx, [&ctx, slist] { run_secondary_list(ctx, *slist); });
  auto sdel = std::make_shared<std::pair<std::string, std::string>>();
  CLI::App* s_del = sec->add_subcommand("del", "Stop transfers to a secondary");
  s_del->add_option("DOMAIN", sdel->first, "The domain")->required();
  s_del->add_option("ADDR", sdel->second, "The secondary's address")->required();
  on_run(s_del, ctx, [&ctx, sdel] { run_secondary_del(ctx, sdel->first, sdel->second); });

  CLI::App* acme = app.add_subcommand("acme", "ACME DNS-01 challenges by dynamic UPDATE");
  acme->require_subcommand(1);
  for (bool allow : {true, false}) {
    auto args = std::make_shared<std::pair<std::string, std::string>>();
    CLI::App* sub = acme->add_subcommand(
        allow ? "allow" : "deny", allow ? "Let a TSIG key UPDATE TXT at _acme-challenge names"
                                        : "Take that right away again");
    sub->add_option("DOMAIN", args->first, "The domain")->required();
    sub->add_option("--tsig", args->second, "The TSIG key (moat tsig add)")->required();
    on_run(sub, ctx, [&ctx, allow, args] { run_acme(ctx, allow, args->first, args->second); });
  }
  auto alist = std::make_shared<std::string>();
  CLI::App* a_list = acme->add_subcommand("list", "Keys allowed, and challenge records served");
  a_list->add_option("DOMAIN", *alist, "The domain")->required();
  on_run(a_list, ctx, [&ctx, alist] { run_acme_list(ctx, *alist); });
}

} // namespace moat::cli
